/**
 * Proof that the VM's kernel has what notiq needs: the general notification queue
 * (CONFIG_WATCH_QUEUE: opens a notification pipe through FFI and sizes its queue) and io_uring with
 * the features the io_uring reader uses (IORING_OP_READ_MULTISHOT, Linux >= 6.7; incremental
 * provided-buffer rings, IOU_PBUF_RING_INC, Linux >= 6.12). Runs only in the guest (named *.vm.ts so
 * that `deno test tests/` and `bun test tests/` on the host, whose kernel fails with ENOPKG, skip
 * it):
 *
 *   bash tests/vm/run.sh -- sh -c 'deno test -A --no-check tests/vm/smoke.vm.ts && bun test ./tests/vm/smoke.vm.ts'
 *
 * libc is bound here directly (not through ffi/) so that this checks the kernel, not our bindings.
 * Uses node:test so that one file runs under both `deno test` and `bun test`.
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { syscallNumbers } from "../../queue/linux.ts";

/** `O_NOTIFICATION_PIPE` from linux/watch_queue.h: it is `O_EXCL`. */
const O_NOTIFICATION_PIPE = 0o200;
const O_CLOEXEC = 0o2000000;
/** `IOC_WATCH_QUEUE_SET_SIZE` = `_IO('W', 0x60)`. */
const IOC_WATCH_QUEUE_SET_SIZE = 0x5760;

/** io_uring ABI (include/uapi/linux/io_uring.h of 6.12; the host's 6.1 headers predate some of it). */
const IORING = {
  /** `struct io_uring_params`: 10 u32 then two 40-byte offset structs. */
  PARAMS_SIZE: 120,
  PARAMS_FEATURES: 20,
  REGISTER_PROBE: 8,
  REGISTER_PBUF_RING: 22,
  UNREGISTER_PBUF_RING: 23,
  OP_READ_MULTISHOT: 49,
  /** `io_uring_probe_op.flags`: the opcode is supported. */
  OP_SUPPORTED: 1,
  /** `io_uring_buf_reg.flags`: the kernel allocates the ring (mmap it at IORING_OFF_PBUF_RING). */
  PBUF_RING_MMAP: 1,
  /** `io_uring_buf_reg.flags`: buffers are consumed incrementally (Linux >= 6.12). */
  PBUF_RING_INC: 2,
} as const;

interface Libc {
  pipe2(fds: Int32Array, flags: number): number;
  ioctl(fd: number, request: number, arg: number): number;
  close(fd: number): number;
  /** `syscall(number, a, b, c, d)` with pointer-sized arguments: a Uint8Array is passed by address. */
  syscall(number: number, ...args: (number | Uint8Array)[]): number;
  errno(): number;
}

async function openLibc(): Promise<Libc> {
  if ("Deno" in globalThis) {
    const s = Deno.dlopen("libc.so.6", {
      pipe2: { parameters: ["buffer", "i32"], result: "i32" },
      ioctl: { parameters: ["i32", "u64", "u64"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      syscall: { parameters: ["i64", "u64", "u64", "u64", "u64"], result: "i64" },
      __errno_location: { parameters: [], result: "pointer" },
    }).symbols;
    const arg = (a: number | Uint8Array | undefined) =>
      a instanceof Uint8Array
        ? BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a as Uint8Array<ArrayBuffer>)))
        : BigInt(a ?? 0);
    return {
      pipe2: (fds, flags) => s.pipe2(fds, flags),
      ioctl: (fd, request, arg) => s.ioctl(fd, BigInt(request), BigInt(arg)),
      close: (fd) => s.close(fd),
      syscall: (n, a, b, c, d) => Number(s.syscall(BigInt(n), arg(a), arg(b), arg(c), arg(d))),
      errno: () => new Deno.UnsafePointerView(s.__errno_location()!).getInt32(),
    };
  }
  // A static `import "bun:ffi"` breaks Deno, which resolves it while loading the module.
  const spec = "bun:ffi";
  // deno-lint-ignore no-explicit-any
  const { dlopen, read, ptr } = (await import(spec)) as any;
  const s = dlopen("libc.so.6", {
    pipe2: { args: ["ptr", "i32"], returns: "i32" },
    ioctl: { args: ["i32", "u64", "u64"], returns: "i32" },
    close: { args: ["i32"], returns: "i32" },
    syscall: { args: ["i64", "u64", "u64", "u64", "u64"], returns: "i64" },
    __errno_location: { args: [], returns: "ptr" },
  }).symbols;
  const arg = (a: number | Uint8Array | undefined) => BigInt(a instanceof Uint8Array ? ptr(a) : a ?? 0);
  return {
    pipe2: (fds, flags) => s.pipe2(fds, flags),
    ioctl: (fd, request, arg) => s.ioctl(fd, BigInt(request), BigInt(arg)),
    close: (fd) => s.close(fd),
    syscall: (n, a, b, c, d) => Number(s.syscall(BigInt(n), arg(a), arg(b), arg(c), arg(d))),
    errno: () => read.i32(s.__errno_location(), 0),
  };
}

const libc = await openLibc();

test("pipe2(O_NOTIFICATION_PIPE) opens a notification pipe", () => {
  const fds = new Int32Array(2);
  const rc = libc.pipe2(fds, O_NOTIFICATION_PIPE | O_CLOEXEC);
  const errno = rc < 0 ? libc.errno() : 0;
  assert.equal(rc, 0, `pipe2 failed, errno ${errno} (65 = ENOPKG: kernel without CONFIG_WATCH_QUEUE)`);
  assert.ok(fds[0] > 2 && fds[1] > 2, `fds ${fds[0]}, ${fds[1]}`);
  libc.close(fds[0]);
  libc.close(fds[1]);
});

test("IOC_WATCH_QUEUE_SET_SIZE sizes the queue", () => {
  const fds = new Int32Array(2);
  assert.equal(libc.pipe2(fds, O_NOTIFICATION_PIPE | O_CLOEXEC), 0, `pipe2: errno ${libc.errno()}`);
  try {
    const rc = libc.ioctl(fds[0], IOC_WATCH_QUEUE_SET_SIZE, 1);
    const errno = rc < 0 ? libc.errno() : 0;
    assert.equal(rc, 0, `ioctl(IOC_WATCH_QUEUE_SET_SIZE, 1) failed, errno ${errno}`);
  } finally {
    libc.close(fds[0]);
    libc.close(fds[1]);
  }
});

const { ioUringSetup, ioUringRegister } = syscallNumbers();

/** Runs `fn` with a fresh io_uring fd of 8 entries, closed afterwards. */
function withRing(fn: (fd: number, params: Uint8Array) => void): void {
  const params = new Uint8Array(IORING.PARAMS_SIZE);
  const fd = libc.syscall(ioUringSetup, 8, params);
  const errno = fd < 0 ? libc.errno() : 0;
  assert.ok(fd > 2, `io_uring_setup failed, errno ${errno} (38 = ENOSYS: no CONFIG_IO_URING; 1 = EPERM: disabled)`);
  try {
    fn(fd, params);
  } finally {
    libc.close(fd);
  }
}

test("io_uring is enabled: io_uring_setup returns an fd", () => {
  // kernel.io_uring_disabled (Linux >= 6.6): 0 allows everyone, 1 a group, 2 no one.
  const sysctl = "/proc/sys/kernel/io_uring_disabled";
  if (existsSync(sysctl)) assert.equal(readFileSync(sysctl, "utf8").trim(), "0", sysctl);
  withRing((_fd, params) => {
    const features = new DataView(params.buffer).getUint32(IORING.PARAMS_FEATURES, true);
    assert.notEqual(features, 0, "io_uring_params.features is empty");
  });
});

test("io_uring has IORING_OP_READ_MULTISHOT (Linux >= 6.7)", () => {
  withRing((fd) => {
    // struct io_uring_probe: u8 last_op, u8 ops_len, u16, u32[3], then 256 ops of 8 bytes (u8 op, u8, u16 flags, u32).
    const probe = new Uint8Array(16 + 256 * 8);
    const rc = libc.syscall(ioUringRegister, fd, IORING.REGISTER_PROBE, probe, 256);
    assert.equal(rc, 0, `io_uring_register(IORING_REGISTER_PROBE) failed, errno ${rc < 0 ? libc.errno() : 0}`);
    const lastOp = probe[0];
    assert.ok(lastOp >= IORING.OP_READ_MULTISHOT, `last_op ${lastOp}: the kernel predates IORING_OP_READ_MULTISHOT`);
    const flags = new DataView(probe.buffer).getUint16(16 + IORING.OP_READ_MULTISHOT * 8 + 2, true);
    assert.ok(flags & IORING.OP_SUPPORTED, "IORING_OP_READ_MULTISHOT is not supported");
  });
});

test("io_uring registers an incremental provided-buffer ring (IOU_PBUF_RING_INC, Linux >= 6.12)", () => {
  withRing((fd) => {
    // struct io_uring_buf_reg: u64 ring_addr (0: the kernel allocates, IOU_PBUF_RING_MMAP), u32 ring_entries,
    // u16 bgid, u16 flags, u64 resv[3]. Kernels before 6.12 refuse the unknown IOU_PBUF_RING_INC flag (EINVAL).
    const reg = new Uint8Array(40);
    const view = new DataView(reg.buffer);
    view.setUint32(8, 8, true);
    view.setUint16(12, 1, true);
    view.setUint16(14, IORING.PBUF_RING_MMAP | IORING.PBUF_RING_INC, true);
    const rc = libc.syscall(ioUringRegister, fd, IORING.REGISTER_PBUF_RING, reg, 1);
    assert.equal(rc, 0, `IORING_REGISTER_PBUF_RING with IOU_PBUF_RING_INC failed, errno ${rc < 0 ? libc.errno() : 0}`);
    const unreg = new Uint8Array(40);
    new DataView(unreg.buffer).setUint16(12, 1, true);
    assert.equal(libc.syscall(ioUringRegister, fd, IORING.UNREGISTER_PBUF_RING, unreg, 1), 0, `errno ${libc.errno()}`);
  });
});
