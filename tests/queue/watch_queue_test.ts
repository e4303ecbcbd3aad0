/** WatchQueue against a fake Sys: the exact calls and structs it makes, with no kernel. @module */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Arg, Sys } from "../../ffi/types.ts";
import { SyscallError } from "../../queue/errors.ts";
import type { Host } from "../../queue/source.ts";
import { probeWatchQueue, WatchQueue } from "../../queue/watch_queue.ts";
import { KEY_NOTIFY, WATCH_TYPE } from "../../queue/watch_queue_records.ts";
import { KEY_SPEC } from "../../queue/keys.ts";

type Call = [string, ...unknown[]];

/** A Sys that records every call; `fail` makes the named call return -1 with that errno. */
function fakeHost(fail: Record<string, number> = {}, caps = [0xff, 0x07]) {
  const calls: Call[] = [];
  let errno = 0;
  const result = (name: string, ok: number) => {
    if (name in fail) {
      errno = fail[name];
      return -1;
    }
    return ok;
  };
  const sys: Partial<Sys> = {
    pipe2(fds: Int32Array, flags: number) {
      calls.push(["pipe2", flags]);
      fds.set([100, 101]);
      return result("pipe2", 0);
    },
    ioctl(fd: number, request: number, arg: Arg) {
      calls.push(["ioctl", fd, request, typeof arg === "number" ? arg : [...arg]]);
      return result(`ioctl ${request.toString(16)}`, 0);
    },
    syscall(nr: number, ...args: Arg[]) {
      calls.push(["syscall", nr, ...args.map((a) => (typeof a === "number" ? a : "buffer"))]);
      if (args[0] === 31 && args[1] instanceof Uint8Array) args[1].set(caps);
      return result(`keyctl ${args[0]}`, 0);
    },
    close(fd: number) {
      calls.push(["close", fd]);
      return 0;
    },
    errno: () => errno,
  };
  const host: Host = {
    sys: sys as Sys,
    openSource: () => {
      throw new Error("no reading in these tests");
    },
  };
  return { host, calls };
}

const FLAGS = 0o200 | 0o4000 | 0o2000000; // O_NOTIFICATION_PIPE | O_NONBLOCK | O_CLOEXEC
const SET_SIZE = 0x5760, SET_FILTER = 0x5761;

describe("WatchQueue (fake Sys)", () => {
  it("opens a nonblocking notification pipe and sizes the queue on its read end", () => {
    const { host, calls } = fakeHost();
    new WatchQueue({ size: 1 }, host).close();
    assert.deepEqual(calls, [["pipe2", FLAGS], ["ioctl", 100, SET_SIZE, 1], ["close", 100], ["close", 101]]);
  });

  it("sizes the queue to 256 notes by default", () => {
    const { host, calls } = fakeHost();
    new WatchQueue(undefined, host).close();
    assert.deepEqual(calls[1], ["ioctl", 100, SET_SIZE, 256]);
  });

  it("refuses a bad size before any system call", () => {
    const { host, calls } = fakeHost();
    for (const size of [0, 513, -1]) assert.throws(() => new WatchQueue({ size }, host), RangeError);
    for (const size of [1.5, "3", 2n]) {
      assert.throws(() => new WatchQueue({ size: size as number }, host), TypeError);
    }
    assert.throws(() => new WatchQueue(null as unknown as object, host), TypeError);
    assert.deepEqual(calls, []);
  });

  it("pipe2 ENOPKG says the kernel lacks CONFIG_WATCH_QUEUE; EINVAL names Linux 5.8", () => {
    assert.throws(
      () => new WatchQueue(undefined, fakeHost({ pipe2: 65 }).host),
      (err) =>
        err instanceof SyscallError && err.code === "ENOPKG" && err.syscall === "pipe2" &&
        /CONFIG_WATCH_QUEUE/.test(err.message),
    );
    assert.throws(
      () => new WatchQueue(undefined, fakeHost({ pipe2: 22 }).host),
      (err) => err instanceof SyscallError && err.code === "EINVAL" && /5\.8/.test(err.message),
    );
  });

  it("closes both ends when sizing fails", () => {
    const { host, calls } = fakeHost({ "ioctl 5760": 1 });
    assert.throws(
      () => new WatchQueue(undefined, host),
      (err) => err instanceof SyscallError && err.code === "EPERM" && err.syscall === "ioctl",
    );
    assert.deepEqual(calls.slice(2), [["close", 100], ["close", 101]]);
  });

  it("setFilter() writes struct watch_notification_filter", () => {
    const { host, calls } = fakeHost();
    using q = new WatchQueue(undefined, host);
    q.setFilter([
      {
        type: WATCH_TYPE.KEY_NOTIFY,
        subtypes: [KEY_NOTIFY.LINKED, KEY_NOTIFY.UPDATED, 33, 255],
        infoMask: 0xff00,
        infoFilter: 0x0200,
      },
      { type: 7 },
    ]);
    const [name, fd, request, bytes] = calls[2] as [string, number, number, number[]];
    assert.deepEqual([name, fd, request, bytes.length], ["ioctl", 100, SET_FILTER, 8 + 2 * 44]);
    const u32 = Array.from(
      { length: bytes.length / 4 },
      (_, i) => new DataView(new Uint8Array(bytes).buffer).getUint32(4 * i, true),
    );
    assert.deepEqual(u32, [
      2,
      0, // nr_filters, __reserved
      1,
      0x0200,
      0xff00,
      0b110,
      0b10,
      0,
      0,
      0,
      0,
      0,
      0x80000000, // type, info_filter, info_mask, subtype_filter[8]
      7,
      0,
      0,
      ...Array(8).fill(0xffffffff), // no subtypes given: all of them
    ]);
  });

  it("setFilter(null) removes the filter (a NULL argument)", () => {
    const { host, calls } = fakeHost();
    using q = new WatchQueue(undefined, host);
    q.setFilter(null);
    assert.deepEqual(calls[2], ["ioctl", 100, SET_FILTER, 0]);
  });

  it("setFilter() refuses what the kernel would refuse, before the ioctl", () => {
    const { host, calls } = fakeHost();
    using q = new WatchQueue(undefined, host);
    const K = WATCH_TYPE.KEY_NOTIFY;
    const bad: [unknown, ErrorConstructor | RangeErrorConstructor, RegExp][] = [
      [[], RangeError, /give 1 to 16 filters \(null removes the filter\), got 0/],
      [Array(17).fill({ type: K }), RangeError, /got 17/],
      [[{ type: K, infoMask: 0xff7f }], RangeError, /length bits/],
      [
        [{ type: K, infoMask: 0xff00, infoFilter: 0x10000 }],
        RangeError,
        /infoFilter 0x10000 has bits outside infoMask 0xff00/,
      ],
      [[{ type: K, subtypes: [256] }], RangeError, /filter 0 subtype must be from 0 to 255, got 256/],
      [[{ type: -1 }], RangeError, /type/],
      [[{ type: K, subtypes: 3 }], TypeError, /subtypes must be an array/],
      [[null], TypeError, /filter 0 must be an object/],
      ["x", TypeError, /must be an array or null/],
    ];
    for (const [filters, type, message] of bad) {
      assert.throws(
        () => q.setFilter(filters as never),
        (err) => err instanceof type && message.test((err as Error).message),
      );
    }
    assert.equal(calls.length, 2);
  });

  it("watchKey()/unwatchKey() call keyctl(KEYCTL_WATCH_KEY, key, read fd, id or -1)", () => {
    const { host, calls } = fakeHost();
    using q = new WatchQueue(undefined, host);
    q.watchKey(0x224494c8, 255);
    q.watchKey(KEY_SPEC.SESSION_KEYRING, 0);
    q.unwatchKey(0x224494c8);
    const keyctl = process.arch === "arm64" ? 219 : 250;
    assert.deepEqual(calls.slice(2), [
      ["syscall", keyctl, 32, 0x224494c8, 100, 255],
      ["syscall", keyctl, 32, 0xfffffffd, 100, 0],
      ["syscall", keyctl, 32, 0x224494c8, 100, 0xffffffff],
    ]);
  });

  it("watchKey() refuses a watch id outside 0..255 and failures carry keyctl hints", () => {
    const { host } = fakeHost({ "keyctl 32": 57 });
    using q = new WatchQueue(undefined, host);
    assert.throws(() => q.watchKey(1, 256), RangeError);
    assert.throws(() => q.watchKey(1, -1), RangeError);
    assert.throws(() => q.watchKey(2 ** 31, 1), RangeError);
    assert.throws(
      () => q.unwatchKey(5),
      (err) => err instanceof SyscallError && err.code === "EBADSLT" && /does not watch that key/.test(err.message),
    );
  });

  it("a closed queue answers before touching its fds; close() is idempotent", () => {
    const { host, calls } = fakeHost();
    const q = new WatchQueue(undefined, host);
    q.close();
    q.close();
    assert.equal(q.closed, true);
    assert.throws(() => q.watchKey(1, 1), /Cannot watch key: this WatchQueue is closed/);
    assert.throws(() => q.setFilter(null), /closed/);
    assert.throws(() => q.pendingBytes(), /closed/);
    assert.deepEqual(calls.slice(2), [["close", 100], ["close", 101]]);
  });
});

describe("probeWatchQueue (fake Sys)", () => {
  it("is undefined when the pipe opens and keyctl reports notifications; closes both ends", () => {
    const { host, calls } = fakeHost();
    assert.equal(probeWatchQueue(host.sys), undefined);
    assert.deepEqual(calls, [["pipe2", FLAGS], ["close", 100], ["close", 101], ["syscall", 250, 31, "buffer", 2]]);
  });

  const cases: [string, Record<string, number>, number[] | undefined, RegExp][] = [
    [
      "pipe2 ENOPKG",
      { pipe2: 65 },
      undefined,
      /^ENOPKG: .*pipe2 \(this kernel was built without CONFIG_WATCH_QUEUE\)$/,
    ],
    ["pipe2 EINVAL", { pipe2: 22 }, undefined, /^EINVAL: .*pipe2 .*5\.8/],
    ["keyctl EPERM", { "keyctl 31": 1 }, undefined, /^EPERM: .*keyctl .*seccomp/],
    ["keyctl ENOSYS", { "keyctl 31": 38 }, undefined, /^ENOSYS: .*keyctl .*seccomp/],
    [
      "no KEYCTL_CAPS1_NOTIFICATIONS",
      {},
      [0xff, 0x03],
      /^ENOTSUP: .*keyctl \(this kernel was built without CONFIG_KEY_NOTIFICATIONS\)$/,
    ],
  ];
  for (const [what, fail, caps, message] of cases) {
    it(`says why not: ${what}`, () => {
      const err = probeWatchQueue(fakeHost(fail, caps).host.sys);
      assert.ok(err instanceof SyscallError, String(err));
      assert.match(err.message, message);
    });
  }
});
