/**
 * Proof that the VM's kernel has what notiq needs: the general notification queue
 * (CONFIG_WATCH_QUEUE: a notification pipe opens and its queue can be sized) and io_uring with the
 * features the io_uring reader uses (IORING_OP_READ_MULTISHOT, Linux >= 6.7; incremental
 * provided-buffer rings, Linux >= 6.12). Runs only in the guest (named *.vm.ts so that the host's
 * `deno test tests/`, `bun test tests/` and `node --test`, whose kernel fails with ENOPKG, skip it):
 *
 *   bash tests/vm/run.sh -- sh -c 'deno test -A --no-check tests/vm/smoke.vm.ts && bun test ./tests/vm/smoke.vm.ts'
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { loadSys } from "../../ffi/load.ts";
import { probeIoUring } from "../../queue/io_uring.ts";
import { IOCTL, O } from "../../queue/linux.ts";

const sys = await loadSys();

test("pipe2(O_NOTIFICATION_PIPE) opens a notification pipe, and IOC_WATCH_QUEUE_SET_SIZE sizes it", () => {
  const fds = new Int32Array(2);
  const rc = sys.pipe2(fds, O.NOTIFICATION_PIPE | O.CLOEXEC);
  assert.equal(rc, 0, `pipe2 failed, errno ${rc < 0 ? sys.errno() : 0} (65 = ENOPKG: no CONFIG_WATCH_QUEUE)`);
  try {
    const sized = sys.ioctl(fds[0], IOCTL.WATCH_QUEUE_SET_SIZE, 1);
    assert.equal(sized, 0, `ioctl(IOC_WATCH_QUEUE_SET_SIZE, 1) failed, errno ${sized < 0 ? sys.errno() : 0}`);
  } finally {
    sys.close(fds[0]);
    sys.close(fds[1]);
  }
});

test("io_uring can read for notiq: multishot reads into incremental buffer rings", () => {
  // kernel.io_uring_disabled (Linux >= 6.6): 0 allows everyone, 1 a group, 2 no one.
  const sysctl = "/proc/sys/kernel/io_uring_disabled";
  if (existsSync(sysctl)) assert.equal(readFileSync(sysctl, "utf8").trim(), "0", sysctl);
  assert.equal(probeIoUring(sys), undefined);
});
