import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadSys } from "../../ffi/load.ts";
import { MMAP, O } from "../../queue/linux.ts";

// The Sys members whose binding differs most between runtimes: pointers into shared memory,
// memory the runtime did not allocate, and a read on the runtime's own pool.
const sys = await loadSys();
const cString = (text: string) => new TextEncoder().encode(`${text}\0`);

describe("Sys (this runtime's binding)", () => {
  it("read() fills a view of a SharedArrayBuffer at its offset", () => {
    const fds = new Int32Array(2);
    assert.equal(sys.pipe2(fds, O.CLOEXEC), 0);
    try {
      assert.equal(sys.write(fds[1]!, new TextEncoder().encode("abc")), 3);
      const shared = new Uint8Array(new SharedArrayBuffer(16));
      assert.equal(sys.read(fds[0]!, shared.subarray(5, 9)), 3);
      assert.deepEqual([...shared.subarray(4, 9)], [0, 97, 98, 99, 0]);
    } finally {
      sys.close(fds[0]!);
      sys.close(fds[1]!);
    }
  });

  it("errno() is the errno of the last failed call", () => {
    assert.equal(sys.close(-1), -1);
    assert.equal(sys.errno(), 9); // EBADF
  });

  it("view() is the mapped memory itself, not a copy", () => {
    const fd = sys.memfdCreate(cString("notiq-sys-test"), 1); // MFD_CLOEXEC
    assert.ok(fd >= 0, `memfd_create: errno ${sys.errno()}`);
    const length = 8192;
    const address = sys.mmap(length, MMAP.PROT_READ | MMAP.PROT_WRITE, MMAP.PRIVATE | MMAP.ANONYMOUS, -1, 0);
    try {
      assert.ok(address > 0, `mmap: errno ${sys.errno()}`);
      const a = new Uint8Array(sys.view(address, length));
      const b = new Uint8Array(sys.view(address, length));
      assert.equal(a.byteLength, length);
      a[length - 1] = 42;
      assert.equal(b[length - 1], 42);
      assert.equal(sys.madvise(address, length, MMAP.DONTNEED), 0);
      assert.equal(b[length - 1], 0);
    } finally {
      assert.equal(sys.munmap(address, length), 0);
      sys.close(fd);
    }
  });

  it("readAsync() waits on the pool while JavaScript runs", async () => {
    const fds = new Int32Array(2);
    assert.equal(sys.pipe2(fds, O.CLOEXEC), 0);
    try {
      const into = new Uint8Array(8);
      const pending = sys.readAsync(fds[0]!, into);
      await new Promise((resolve) => setImmediate(resolve)); // the read is parked on another thread by now, or soon
      sys.write(fds[1]!, new TextEncoder().encode("hi"));
      assert.equal(await pending, 2);
      assert.deepEqual([...into.subarray(0, 2)], [104, 105]);
    } finally {
      sys.close(fds[0]!);
      sys.close(fds[1]!);
    }
  });

  it("statfs() fills a struct statfs", () => {
    const into = new Uint8Array(120);
    assert.equal(sys.statfs(cString("/proc"), into), 0);
    assert.equal(new DataView(into.buffer).getBigInt64(0, true), 0x9fa0n); // PROC_SUPER_MAGIC
  });
});
