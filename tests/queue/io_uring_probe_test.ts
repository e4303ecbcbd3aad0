import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Arg, Sys } from "../../ffi/types.ts";
import { IORING_OP, IORING_REGISTER, probeIoUring } from "../../queue/io_uring.ts";
import { SyscallError } from "../../queue/errors.ts";
import { syscallNumbers } from "../../queue/linux.ts";

const NR = syscallNumbers("x64");

/**
 * A kernel that knows io_uring opcodes up to `lastOp` and answers IORING_REGISTER_PBUF_RING with
 * `pbufErrno` (0: accepted); records every fd it opened and closed.
 */
function fakeKernel(lastOp: number, pbufErrno: number) {
  let errno = 0;
  const open = new Set<number>(), mapped = new Set<number>();
  const fail = (e: number) => (errno = e, -1);
  const sys = {
    syscall(nr: number, ...args: Arg[]): number {
      if (nr === NR.ioUringSetup) return open.add(7), 7;
      if (nr !== NR.ioUringRegister) return fail(38);
      const [, opcode, arg] = args as [number, number, Uint8Array];
      if (opcode === IORING_REGISTER.PROBE) {
        arg[0] = lastOp; // u8 last_op, then io_uring_probe_op { u8 op; u8 resv; u16 flags; u32 resv2 } from byte 16
        for (let op = 0; op <= lastOp; op++) arg[16 + 8 * op + 2] = 1; // IO_URING_OP_SUPPORTED
        return 0;
      }
      if (opcode === IORING_REGISTER.PBUF_RING) return pbufErrno ? fail(pbufErrno) : 0;
      return fail(22);
    },
    mmap: (length: number) => (mapped.add(length), 0x10000),
    munmap: (_address: number, length: number) => (mapped.delete(length), 0),
    close: (fd: number) => (open.delete(fd), 0),
    madvise: () => 0,
    view: () => new ArrayBuffer(0),
    readAsync: () => Promise.resolve(-1),
    eventfd: () => -1,
    errno: () => errno,
  } as unknown as Sys;
  return { sys, open, mapped };
}

describe("probeIoUring()", () => {
  it("accepts a kernel with READ_MULTISHOT and incremental buffer rings, leaving nothing open", () => {
    const { sys, open, mapped } = fakeKernel(IORING_OP.READ_MULTISHOT + 10, 0);
    assert.equal(probeIoUring(sys, "x64"), undefined);
    assert.deepEqual([open.size, mapped.size], [0, 0]);
  });

  it("refuses a kernel older than 6.7 (no IORING_OP_READ_MULTISHOT)", () => {
    const { sys, open } = fakeKernel(IORING_OP.READ_MULTISHOT - 1, 0);
    assert.match(String(probeIoUring(sys, "x64")), /READ_MULTISHOT \(Linux >= 6\.7\)/);
    assert.equal(open.size, 0);
  });

  it("refuses a kernel older than 6.12 (IOU_PBUF_RING_INC is EINVAL), with the SyscallError as cause", () => {
    const { sys, open, mapped } = fakeKernel(IORING_OP.READ_MULTISHOT, 22);
    const err = probeIoUring(sys, "x64");
    assert.match(String(err), /incrementally consumed buffer rings \(Linux >= 6\.12\)/);
    assert.ok(err?.cause instanceof SyscallError && err.cause.code === "EINVAL");
    assert.deepEqual([open.size, mapped.size], [0, 0]);
  });

  it("refuses an architecture it has no system call numbers for", () => {
    assert.match(String(probeIoUring(fakeKernel(255, 0).sys, "mips")), /no numbers for architecture mips/);
  });

  it("refuses a binding without the calls it needs", () => {
    const { sys } = fakeKernel(255, 0);
    const old = { ...sys, readAsync: undefined } as unknown as Sys;
    assert.match(String(probeIoUring(old, "x64")), /no readAsync\(\)/);
  });
});
