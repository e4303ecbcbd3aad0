import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { KEY_SPEC, keys, SyscallError } from "../../mod.ts";
import { bindKeys } from "../../queue/keys.ts";
import { syscallNumbers } from "../../queue/linux.ts";
import type { Sys } from "../../ffi/types.ts";

/** Why key calls cannot run here (a seccomp filter, as in Docker), or false when they can. */
function keysBlocked(): string | false {
  try {
    keys.keyringId(KEY_SPEC.PROCESS_KEYRING, true);
    return false;
  } catch (err) {
    if (err instanceof SyscallError && ["EPERM", "ENOSYS", "EACCES"].includes(err.code)) {
      return `key management blocked: ${err.message}`;
    }
    throw err;
  }
}

const skip = keysBlocked();
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** The serial numbers a keyring holds (KEYCTL_READ of a keyring: u32s). */
function members(ring: number): number[] {
  const bytes = keys.readKey(ring);
  return [...new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)];
}

describe("keys (real kernel)", { skip }, () => {
  let ring = 0;
  let n = 0;
  before(() => {
    ring = keys.addKey("keyring", `notiq-keys-test-${process.pid}`, "", KEY_SPEC.PROCESS_KEYRING);
  });
  after(() => {
    if (ring) keys.unlinkKey(ring, KEY_SPEC.PROCESS_KEYRING);
  });

  it("addKey() creates a user key in a keyring; readKey() returns its payload", () => {
    const key = keys.addKey("user", `k${n++}`, "secret", ring);
    assert.ok(key > 0);
    assert.equal(decode(keys.readKey(key)), "secret");
    assert.ok(members(ring).includes(key));
  });

  it("addKey() takes bytes, including NULs and bytes that are not UTF-8", () => {
    const payload = new Uint8Array([0, 1, 0xff, 0xfe, 0]);
    const key = keys.addKey("user", `k${n++}`, payload, ring);
    assert.deepEqual([...keys.readKey(key)], [...payload]);
  });

  it("addKey() of an existing type and description updates that key and returns its serial", () => {
    const key = keys.addKey("user", `k${n}`, "one", ring);
    assert.equal(keys.addKey("user", `k${n++}`, "two", ring), key);
    assert.equal(decode(keys.readKey(key)), "two");
  });

  it("readKey() grows its buffer for a payload over 256 bytes", () => {
    const big = "x".repeat(3000);
    const key = keys.addKey("user", `k${n++}`, big, ring);
    assert.equal(decode(keys.readKey(key)), big);
  });

  it("updateKey() replaces the payload", () => {
    const key = keys.addKey("user", `k${n++}`, "v1", ring);
    keys.updateKey(key, new TextEncoder().encode("v2"));
    assert.equal(decode(keys.readKey(key)), "v2");
  });

  it("revokeKey() makes reads fail with EKEYREVOKED", () => {
    const key = keys.addKey("user", `k${n++}`, "v", ring);
    keys.revokeKey(key);
    assert.throws(
      () => keys.readKey(key),
      (err) => err instanceof SyscallError && err.code === "EKEYREVOKED" && err.syscall === "keyctl",
    );
  });

  it("invalidateKey() makes the key unreadable", () => {
    const key = keys.addKey("user", `k${n++}`, "v", ring);
    keys.invalidateKey(key);
    // ENOKEY while it is still linked; EACCES once the garbage collector unlinked it (no longer possessed)
    assert.throws(
      () => keys.readKey(key),
      (err) => err instanceof SyscallError && ["ENOKEY", "EACCES"].includes(err.code),
    );
  });

  it("unlinkKey() and linkKey() take a key out of a keyring and put it back", () => {
    const key = keys.addKey("user", `k${n++}`, "v", ring);
    const other = keys.addKey("keyring", `r${n++}`, "", ring);
    keys.linkKey(key, other);
    keys.unlinkKey(key, ring);
    assert.ok(!members(ring).includes(key));
    assert.deepEqual(members(other), [key]);
    keys.linkKey(key, ring);
    assert.ok(members(ring).includes(key));
  });

  it("clearKeyring() empties a keyring", () => {
    const other = keys.addKey("keyring", `r${n++}`, "", ring);
    keys.addKey("user", "a", "1", other);
    keys.addKey("user", "b", "2", other);
    assert.equal(members(other).length, 2);
    keys.clearKeyring(other);
    assert.deepEqual(members(other), []);
  });

  it("setKeyTimeout() is accepted, and 0 clears it", () => {
    const key = keys.addKey("user", `k${n++}`, "v", ring);
    keys.setKeyTimeout(key, 3600);
    keys.setKeyTimeout(key, 0);
    assert.equal(decode(keys.readKey(key)), "v");
  });

  it("keyringId() resolves a KEY_SPEC to a serial number", () => {
    const id = keys.keyringId(KEY_SPEC.PROCESS_KEYRING);
    assert.ok(id > 0);
    assert.ok(members(id).includes(ring));
  });

  it("joinSessionKeyring() joins a new named or anonymous session keyring and returns its serial", () => {
    // (Joining the same name again finds the keyring only if its owner granted others Search.)
    const id = keys.joinSessionKeyring(`notiq-session-${process.pid}`);
    assert.ok(id > 0);
    assert.equal(keys.keyringId(KEY_SPEC.SESSION_KEYRING), id);
    assert.ok(keys.joinSessionKeyring() !== id, "an anonymous session keyring is a new one");
  });

  it("errors are SyscallErrors naming add_key or keyctl", () => {
    // the "user" type refuses an empty payload
    assert.throws(
      () => keys.addKey("user", `k${n++}`, "", ring),
      (err) => err instanceof SyscallError && err.code === "EINVAL" && err.syscall === "add_key",
    );
    assert.throws(
      () => keys.addKey("no-such-type", "x", "v", ring),
      (err) => err instanceof SyscallError && err.code === "ENODEV" && err.syscall === "add_key",
    );
    assert.throws(
      () => keys.revokeKey(0x7ffffff0),
      (err) =>
        err instanceof SyscallError && err.code === "ENOKEY" &&
        /^ENOKEY: required key not available, keyctl$/.test(err.message),
    );
  });
});

describe("keys argument checks (no system call)", () => {
  const calls: number[][] = [];
  const sys = { syscall: (nr: number) => (calls.push([nr]), 1), errno: () => 0 } as unknown as Sys;
  const fake = bindKeys(sys, "x64");

  it("refuse wrong types and out-of-range serials before any system call", () => {
    assert.throws(() => fake.addKey(1 as unknown as string, "d", "p", 0), TypeError);
    assert.throws(() => fake.addKey("user", "d\0x", "p", 0), /NUL/);
    assert.throws(() => fake.addKey("user", "d", 5 as unknown as string, 0), TypeError);
    assert.throws(() => fake.revokeKey(2 ** 31), RangeError);
    assert.throws(() => fake.revokeKey(1.5), TypeError);
    assert.throws(() => fake.setKeyTimeout(1, -1), RangeError);
    assert.deepEqual(calls, []);
  });

  it("pass KEY_SPEC values as the kernel's 32-bit key_serial_t", () => {
    const args: (number | Uint8Array)[][] = [];
    const s = { syscall: (...a: (number | Uint8Array)[]) => (args.push(a), 0), errno: () => 0 } as unknown as Sys;
    bindKeys(s, "arm64").unlinkKey(5, KEY_SPEC.SESSION_KEYRING);
    assert.deepEqual(args, [[219, 9, 5, 0xfffffffd]]);
  });
});

describe("syscallNumbers()", () => {
  it("knows x86_64 and aarch64 and refuses other architectures", () => {
    const x64 = syscallNumbers("x64");
    assert.deepEqual([x64.addKey, x64.keyctl, x64.ioUringSetup, x64.ioUringEnter, x64.ioUringRegister], [
      248,
      250,
      425,
      426,
      427,
    ]);
    assert.deepEqual([syscallNumbers("arm64").addKey, syscallNumbers("arm64").keyctl], [217, 219]);
    assert.throws(() => syscallNumbers("mips"), /no numbers for architecture mips/);
    assert.throws(() => bindKeys({} as Sys, "mips").revokeKey(1), /no numbers for architecture mips/);
  });
});
