#!/usr/bin/env bash
# Runs a command in a qemu guest whose kernel has CONFIG_WATCH_QUEUE, and exits with its status:
#
#   bash tests/vm/run.sh -- <command> [args...]
#
# The guest sees the host's root read-only and the repo read-write (both over 9p, same paths),
# and runs the command as root in the caller's current directory. A per-run 9p share at /run/vm-fs
# is what tests change from the host side (tests/vm/host_change.ts, served by host_agent.mjs, which
# runs on the host for the duration of the run). See tests/vm/README.md.
#
# Environment knobs: VM_MEM (guest memory, default 4G), VM_TIMEOUT (seconds for the guest, default
# 3000), VM_KEEP=1 (keep the run's temp dir with console.log), VM_JOBS (make -j, default nproc),
# VM_BUILD_DIR (kernel cache, default tests/vm/.build; point it outside a fresh clone to reuse it).
set -euo pipefail

VM="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$VM/../.." && pwd -P)"
BUILD="$(realpath -m "${VM_BUILD_DIR:-$VM/.build}")"
CWD="$(pwd -P)"
MEM="${VM_MEM:-4G}"
TIMEOUT="${VM_TIMEOUT:-3000}"
JOBS="${VM_JOBS:-$(nproc)}"

if [[ "${1:-}" != "--" || $# -lt 2 ]]; then
  echo "usage: bash tests/vm/run.sh -- <command> [args...]" >&2
  exit 2
fi
shift

log() { echo "notiq-vm: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- 1. Debian packages -------------------------------------------------------------------------
# Installed here, not by CI, so that a fresh machine needs nothing but this script.
# The kernel: Debian's linux-source-$KVER (bookworm-security carries 6.12; 6.12 is needed for io_uring's
# IORING_OP_READ_MULTISHOT (>= 6.7) and incremental provided-buffer rings (IOU_PBUF_RING_INC, >= 6.12)).
KVER=6.12
PKGS=(qemu-system-x86 busybox-static "linux-source-$KVER" build-essential flex bison bc libelf-dev
  libssl-dev cpio xz-utils)
t=$(now)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  # --no-install-recommends: qemu's recommends (GUI, OVMF, block drivers) are large and unused.
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
    --no-install-recommends "${missing[@]}"; } >"${TMPDIR:-/tmp}/notiq-vm-apt.log" 2>&1 || {
    cat "${TMPDIR:-/tmp}/notiq-vm-apt.log" >&2
    log "apt-get failed"
    exit 125
  }
fi
T_APT=$(since "$t")

# --- 2. Kernel ----------------------------------------------------------------------------------
# Cached as .build/bzImage; rebuilt when the fragment or the Debian kernel source version changes.
t=$(now)
SRC_VER="$(dpkg-query -W -f='${Version}' "linux-source-$KVER")"
KEY="$(sha256sum <"$VM/kernel.config" | cut -d' ' -f1) linux-source-$KVER=$SRC_VER"
# One build at a time: concurrent runs wait here for the build, then reuse it.
mkdir -p "$BUILD"
exec 9>"$BUILD/lock"
flock 9
if [[ -f "$BUILD/bzImage" && "$(cat "$BUILD/bzImage.key" 2>/dev/null)" == "$KEY" ]]; then
  KERNEL_STATE=cached
else
  KERNEL_STATE=built
  KSRC="$BUILD/linux-source-$KVER"
  # Keep the source tree between builds (incremental rebuilds) unless the package version moved.
  # src.version holds "linux-source-<KVER>=<version>": a switch of KVER or of the package version re-extracts.
  if [[ "$(cat "$BUILD/src.version" 2>/dev/null)" != "linux-source-$KVER=$SRC_VER" ]]; then
    log "extracting /usr/src/linux-source-$KVER.tar.xz"
    rm -rf "$BUILD"/linux-source-* "$BUILD/src.version"
    tar -xf "/usr/src/linux-source-$KVER.tar.xz" -C "$BUILD"
    echo "linux-source-$KVER=$SRC_VER" >"$BUILD/src.version"
    log "extracted in $(since "$t")s"
  fi
  log "building the kernel ($SRC_VER, make -j$JOBS); log in $BUILD/build.log"
  (
    cd "$KSRC"
    make tinyconfig
    scripts/kconfig/merge_config.sh -m .config "$VM/kernel.config"
    make olddefconfig
  ) >"$BUILD/build.log" 2>&1 || { tail -50 "$BUILD/build.log" >&2; log "kernel config failed"; exit 125; }
  # olddefconfig silently drops options whose dependencies are not met: check that each stuck.
  bad=0
  while read -r opt; do
    grep -qx "$opt" "$KSRC/.config" || { log "kernel option did not stick: $opt"; bad=1; }
  done < <(grep -E '^CONFIG_[A-Z0-9_]+=y$' "$VM/kernel.config")
  ((bad == 0)) || exit 125
  make -C "$KSRC" -j"$JOBS" bzImage >>"$BUILD/build.log" 2>&1 ||
    { tail -50 "$BUILD/build.log" >&2; log "kernel build failed"; exit 125; }
  # Replaced by rename: a qemu of another run may be reading the old one.
  cp "$KSRC/arch/x86/boot/bzImage" "$BUILD/bzImage.new" && mv "$BUILD/bzImage.new" "$BUILD/bzImage"
  echo "$KEY" >"$BUILD/bzImage.key"
fi
exec 9>&-
T_KERNEL=$(since "$t")

# --- 3. Initramfs and the run's shared directory ------------------------------------------------
RUN="$(mktemp -d "${TMPDIR:-/tmp}/notiq-vm.XXXXXX")"
QEMU_PID=
AGENT_PID=
cleanup() {
  [[ -n "$QEMU_PID" ]] && kill "$QEMU_PID" 2>/dev/null
  [[ -n "$AGENT_PID" ]] && kill "$AGENT_PID" 2>/dev/null
  if [[ "${VM_KEEP:-}" == 1 ]]; then log "kept $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT

mkdir -p "$RUN/initramfs/bin" "$RUN/initramfs/dev" "$RUN/out" "$RUN/fs"
cp /bin/busybox "$RUN/initramfs/bin/busybox"
cp "$VM/init" "$RUN/initramfs/init"
chmod 755 "$RUN/initramfs/init"
(cd "$RUN/initramfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$RUN/initramfs.gz"

# The host agent: carries out the guest's requests for host-side changes under the "hostfs" share
# ($RUN/fs on the host, /run/vm-fs in the guest); requests and answers pass through $RUN/out/agent.
# Without node on the host, the guest gets no NOTIQ_VM_AGENT and hostChange() says why.
if command -v node >/dev/null; then
  mkdir -p "$RUN/out/agent"
  node "$VM/host_agent.mjs" "$RUN/out/agent" "$RUN/fs" /run/vm-fs </dev/null 2>"$RUN/agent.log" &
  AGENT_PID=$!
else
  log "no node on the host: tests/vm/host_change.ts will not work in this run"
fi

# The command, as a script for the host's /bin/sh in the guest; each argument single-quoted.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
  echo "REPO=$(q "$REPO")"
} >"$RUN/out/vars"
{
  # A clean environment: writable HOME/DENO_DIR/TMPDIR on tmpfs (the host's root is read-only),
  # the repo's node_modules/.bin first on PATH. NOTIQ_VM=1 tells tests they run in the guest.
  echo "export PATH=$(q "$REPO/node_modules/.bin"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  echo "export HOME=/tmp/home DENO_DIR=/tmp/deno TMPDIR=/tmp LANG=C.UTF-8 NOTIQ_VM=1"
  echo "export DENO_NO_UPDATE_CHECK=1 DO_NOT_TRACK=1"
  if [[ -n "$AGENT_PID" ]]; then echo "export NOTIQ_VM_HOST_FS=/run/vm-fs NOTIQ_VM_AGENT=/run/vm/agent"; fi
  for v in CI NO_COLOR FORCE_COLOR; do # passed through when set on the host
    if [[ -n "${!v+set}" ]]; then echo "export $v=$(q "${!v}")"; fi
  done
  echo "mkdir -p /tmp/home"
  echo "cd $(q "$CWD") || exit 126"
  printf 'exec'
  for a in "$@"; do printf ' %s' "$(q "$a")"; done
  echo
} >"$RUN/out/cmd"
touch "$RUN/out/stdout" "$RUN/out/stderr"

# --- 4. Boot ------------------------------------------------------------------------------------
# KVM is not usable on these machines: TCG, with -cpu max for the AVX2 Bun needs. thread=single (both vCPUs
# on one host thread): under multi-threaded TCG, Node (24 and 26) crashed now and then inside V8 (SIGSEGV, or
# SIGTRAP "Check failed: it->second.Size() > offset", its JIT page tracking): 9 of 140 short runs; 0 of 30 with
# node --single-threaded (no V8 background threads), 0 of 80 with thread=single, which is about 1.3x slower.
# -smp needs explicit sockets, or the guest comes up with one CPU. tsc=reliable: under TCG the TSC
# looks unstable to the kernel, which would fall back to a slow clocksource. panic=-1: a panic
# reboots, so qemu exits instead of hanging.
t=$(now)
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
  -accel tcg,thread=single -cpu max -smp 2,sockets=2,cores=1,threads=1 -m "$MEM" \
  -nodefaults -no-user-config -no-reboot -display none -monitor none \
  -serial "file:$RUN/console.log" \
  -kernel "$BUILD/bzImage" -initrd "$RUN/initramfs.gz" \
  -append "console=ttyS0 tsc=reliable quiet panic=-1 rdinit=/init" \
  -device virtio-rng-pci \
  -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap" \
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
  -fsdev "local,id=repo,path=$REPO,security_model=none,multidevs=remap" \
  -device virtio-9p-pci,fsdev=repo,mount_tag=repo \
  -fsdev "local,id=out,path=$RUN/out,security_model=none" \
  -device virtio-9p-pci,fsdev=out,mount_tag=out \
  -fsdev "local,id=hostfs,path=$RUN/fs,security_model=none" \
  -device virtio-9p-pci,fsdev=hostfs,mount_tag=hostfs \
  </dev/null >"$RUN/qemu.log" 2>&1 &
QEMU_PID=$!
# Stream the command's output as the guest writes it (tail exits after qemu, having read all).
tail -n +1 -s 0.2 -f --pid="$QEMU_PID" "$RUN/out/stdout" &
TAIL1=$!
tail -n +1 -s 0.2 -f --pid="$QEMU_PID" "$RUN/out/stderr" >&2 &
TAIL2=$!
qemu_status=0
wait "$QEMU_PID" || qemu_status=$?
QEMU_PID=
wait "$TAIL1" "$TAIL2" || true
T_QEMU=$(since "$t")
if [[ -n "$AGENT_PID" ]] && ! kill -0 "$AGENT_PID" 2>/dev/null; then
  log "the host agent exited during the run; its log:"
  cat "$RUN/agent.log" >&2
  AGENT_PID=
fi

# --- 5. Result ----------------------------------------------------------------------------------
start=$(sed -n 's/^NOTIQ_VM_START \([0-9.]*\).*/\1/p' "$RUN/console.log" | tr -d '\r')
read -r status end < <(sed -n 's/^NOTIQ_VM_EXIT \([0-9]*\) \([0-9.]*\).*/\1 \2/p' "$RUN/console.log" | tr -d '\r') || true
[[ -n "${status:-}" ]] || status=$(cat "$RUN/out/status" 2>/dev/null) || true
if [[ -z "${status:-}" ]]; then
  log "no exit status from the guest (qemu exit $qemu_status$( ((qemu_status == 124)) && echo ", timed out after ${TIMEOUT}s")); console:"
  tail -c 20000 "$RUN/console.log" >&2 || true
  cat "$RUN/qemu.log" >&2 || true
  exit 125
fi
# Boot = qemu start to the command's start (guest uptime); shutdown = the rest of qemu's time.
awk -v apt="$T_APT" -v k="$T_KERNEL" -v ks="$KERNEL_STATE" -v q="$T_QEMU" -v s="$start" -v e="$end" \
  -v st="$status" 'BEGIN { cmd = e == "" ? "?" : sprintf("%.1fs", e - s)
    printf "notiq-vm: times: apt %.1fs, kernel %.1fs (%s), boot %.1fs, command %s, qemu total %.1fs; exit %d\n", apt, k, ks, s, cmd, q, st }' >&2
exit "$status"
