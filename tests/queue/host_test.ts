/** runtimeHost(): which reader it picks, against fake Sys tables — no io_uring, no thread. @module */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Sys } from "../../ffi/types.ts";
import { SyscallError } from "../../queue/errors.ts";
import { runtimeHost } from "../../queue/host.ts";
import type { SpawnReaderThread } from "../../queue/reader_thread.ts";

/** A Sys whose io_uring_setup fails with `errno`; enough else for a thread source to open. */
function refusing(errno: number): Sys {
  const unused = () => {
    throw new Error("not called in these tests");
  };
  return {
    mmap: unused,
    madvise: unused,
    view: unused,
    readAsync: unused,
    syscall: () => -1,
    errno: () => errno,
    eventfd: () => 99,
    write: () => 8,
  } as unknown as Sys;
}

const spawnNothing: SpawnReaderThread = () => () => {};
const options = { capacity: 4096, readSize: 1024, minRead: 272 };

describe("runtimeHost()", () => {
  it("reads with the thread where io_uring is refused (a seccomp profile, io_uring_disabled)", () => {
    const host = runtimeHost(refusing(1), spawnNothing);
    host.openSource(5, options).close();
    const { reader, why } = host.status();
    assert.equal(reader, "thread");
    assert.ok(why instanceof SyscallError && why.code === "EPERM" && why.syscall === "io_uring_setup", String(why));
  });

  it('NOTIQ_READER="thread" takes the thread without trying io_uring', () => {
    let tried = 0;
    const sys = { ...refusing(1), syscall: () => (tried++, -1) } as Sys;
    const host = runtimeHost(sys, spawnNothing, "thread");
    host.openSource(5, options).close();
    assert.deepEqual([host.status().reader, tried], ["thread", 0]);
    assert.match(String(host.status().why), /NOTIQ_READER=thread/);
  });

  it('NOTIQ_READER="uring" makes a refused io_uring an error, at the first open', () => {
    const host = runtimeHost(refusing(38), spawnNothing, "uring");
    assert.throws(
      () => host.status(),
      (err) => err instanceof SyscallError && err.code === "ENOSYS" && err.syscall === "io_uring_setup",
    );
  });

  it("refuses an unknown NOTIQ_READER before anything else", () => {
    assert.throws(
      () => runtimeHost(refusing(1), spawnNothing, "threads"),
      /^RangeError: Cannot pick a reader: NOTIQ_READER must be "uring" or "thread", got "threads"$/,
    );
  });
});
