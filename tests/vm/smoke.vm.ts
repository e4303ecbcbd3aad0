/**
 * Proof that the VM's kernel has the general notification queue (CONFIG_WATCH_QUEUE): opens a
 * notification pipe through FFI and sizes its queue. Runs only in the guest (named *.vm.ts so
 * that `deno test tests/` and `bun test tests/` on the host, whose kernel fails with ENOPKG, skip
 * it):
 *
 *   bash tests/vm/run.sh -- sh -c 'deno test -A --no-check tests/vm/smoke.vm.ts && bun test ./tests/vm/smoke.vm.ts'
 *
 * libc is bound here directly (not through ffi/) so that this checks the kernel, not our bindings.
 * Uses node:test so that one file runs under `deno test`, `bun test` and `node --test` (Node >= 26.1,
 * node:ffi).
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";

/** `O_NOTIFICATION_PIPE` from linux/watch_queue.h: it is `O_EXCL`. */
const O_NOTIFICATION_PIPE = 0o200;
const O_CLOEXEC = 0o2000000;
/** `IOC_WATCH_QUEUE_SET_SIZE` = `_IO('W', 0x60)`. */
const IOC_WATCH_QUEUE_SET_SIZE = 0x5760;

interface Libc {
  pipe2(fds: Int32Array, flags: number): number;
  ioctl(fd: number, request: number, arg: number): number;
  close(fd: number): number;
  errno(): number;
}

async function openLibc(): Promise<Libc> {
  if ("Deno" in globalThis) {
    const s = Deno.dlopen("libc.so.6", {
      pipe2: { parameters: ["buffer", "i32"], result: "i32" },
      ioctl: { parameters: ["i32", "u64", "u64"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      __errno_location: { parameters: [], result: "pointer" },
    }).symbols;
    return {
      pipe2: (fds, flags) => s.pipe2(fds, flags),
      ioctl: (fd, request, arg) => s.ioctl(fd, BigInt(request), BigInt(arg)),
      close: (fd) => s.close(fd),
      errno: () => new Deno.UnsafePointerView(s.__errno_location()!).getInt32(),
    };
  }
  if (!("Bun" in globalThis)) { // Node: node:ffi
    const spec = "node:ffi";
    // deno-lint-ignore no-explicit-any
    const { dlopen, getInt32 } = (await import(spec)) as any;
    const s = dlopen("libc.so.6", {
      pipe2: { arguments: ["pointer", "i32"], return: "i32" },
      ioctl: { arguments: ["i32", "u64", "u64"], return: "i32" },
      close: { arguments: ["i32"], return: "i32" },
      __errno_location: { arguments: [], return: "pointer" },
    }).functions;
    return {
      pipe2: (fds, flags) => s.pipe2(fds, flags),
      ioctl: (fd, request, arg) => s.ioctl(fd, request, arg),
      close: (fd) => s.close(fd),
      errno: () => getInt32(s.__errno_location()),
    };
  }
  // A static `import "bun:ffi"` breaks Deno, which resolves it while loading the module.
  const spec = "bun:ffi";
  // deno-lint-ignore no-explicit-any
  const { dlopen, read } = (await import(spec)) as any;
  const s = dlopen("libc.so.6", {
    pipe2: { args: ["ptr", "i32"], returns: "i32" },
    ioctl: { args: ["i32", "u64", "u64"], returns: "i32" },
    close: { args: ["i32"], returns: "i32" },
    __errno_location: { args: [], returns: "ptr" },
  }).symbols;
  return {
    pipe2: (fds, flags) => s.pipe2(fds, flags),
    ioctl: (fd, request, arg) => s.ioctl(fd, BigInt(request), BigInt(arg)),
    close: (fd) => s.close(fd),
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
