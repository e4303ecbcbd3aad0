/**
 * The few calls of the kernel's key management facility (keyrings(7)) that produce key
 * notifications: `add_key(2)` and `keyctl(2)`, made through `syscall(2)` as libc has no wrapper.
 *
 * @module
 */
import type { Arg, Sys } from "../ffi/types.ts";
import { cString, describe, integer } from "./args.ts";
import { SyscallError } from "./errors.ts";
import { syscallNumbers } from "./linux.ts";

/** The special keyring ids (`KEY_SPEC_*` in `<linux/keyctl.h>`), resolved per process. */
export const KEY_SPEC = {
  THREAD_KEYRING: -1,
  PROCESS_KEYRING: -2,
  SESSION_KEYRING: -3,
  USER_KEYRING: -4,
  USER_SESSION_KEYRING: -5,
  GROUP_KEYRING: -6,
  REQKEY_AUTH_KEY: -7,
  REQUESTOR_KEYRING: -8,
} as const;

/** `keyctl(2)` operations used here (`KEYCTL_*` in `<linux/keyctl.h>`). */
export const KEYCTL = {
  GET_KEYRING_ID: 0,
  JOIN_SESSION_KEYRING: 1,
  UPDATE: 2,
  REVOKE: 3,
  SETPERM: 5,
  CLEAR: 7,
  LINK: 8,
  UNLINK: 9,
  READ: 11,
  SET_TIMEOUT: 15,
  INVALIDATE: 21,
  CAPABILITIES: 31,
  WATCH_KEY: 32,
} as const;

/** `syscall(nr, ...args)`, throwing a SyscallError named `name` when it fails. */
function call(sys: Sys, nr: number, name: string, ...args: Arg[]): number {
  const rc = sys.syscall(nr, ...args);
  if (rc === -1) throw new SyscallError(sys.errno(), name);
  return rc;
}

/**
 * `keyctl(operation, ...args)` through `syscall(2)`.
 * @throws {SyscallError} With `syscall` `"keyctl"`.
 */
export function keyctl(sys: Sys, operation: number, ...args: Arg[]): number {
  return call(sys, syscallNumbers().keyctl, "keyctl", operation, ...args);
}

/** The key calls, bound to a {@linkcode Sys}. Key and keyring ids may be {@linkcode KEY_SPEC} values. */
export interface Keys {
  /**
   * Creates or updates a key and links it into `keyring` (`add_key(2)`).
   * @param type `"user"`, `"logon"`, `"keyring"` (payload must be empty), ...
   * @returns The key's serial number.
   * @throws {SyscallError} `EINVAL` (a payload the type refuses), `EDQUOT` (the key quota,
   *   `kernel.keys.maxkeys`/`maxbytes`), `EACCES`, `ENOKEY` (no such keyring).
   */
  addKey(type: string, description: string, payload: string | Uint8Array, keyring: number): number;
  /** Replaces a key's payload (`KEYCTL_UPDATE`): an `UPDATED` notification. */
  updateKey(key: number, payload: string | Uint8Array): void;
  /** Revokes a key (`KEYCTL_REVOKE`): a `REVOKED` notification. */
  revokeKey(key: number): void;
  /** Unlinks a key from a keyring (`KEYCTL_UNLINK`): `UNLINKED` on the keyring. */
  unlinkKey(key: number, keyring: number): void;
  /** Invalidates a key (`KEYCTL_INVALIDATE`): `INVALIDATED`, then the key is destroyed soon after. */
  invalidateKey(key: number): void;
  /**
   * Joins the named session keyring, creating it if needed, or a new anonymous one without a name
   * (`KEYCTL_JOIN_SESSION_KEYRING`).
   * @returns The session keyring's serial number.
   */
  joinSessionKeyring(name?: string): number;
  /** Links a key into a keyring (`KEYCTL_LINK`): `LINKED` on the keyring. */
  linkKey(key: number, keyring: number): void;
  /** Unlinks every key in a keyring (`KEYCTL_CLEAR`): `CLEARED` on the keyring. */
  clearKeyring(keyring: number): void;
  /** Sets a key to expire in `seconds` (0: never) (`KEYCTL_SET_TIMEOUT`): a `SETATTR` notification. */
  setKeyTimeout(key: number, seconds: number): void;
  /** The payload of a key the caller may read (`KEYCTL_READ`); a keyring reads as its keys' u32 ids. */
  readKey(key: number): Uint8Array;
  /** The serial number of a key or keyring, e.g. of a {@linkcode KEY_SPEC} (`KEYCTL_GET_KEYRING_ID`). */
  keyringId(key: number, create?: boolean): number;
}

const encoder = new TextEncoder();

function serial(value: unknown, name: string, doing: string): number {
  // The kernel truncates the unsigned long to key_serial_t, a 32-bit signed integer.
  return integer(value, name, doing, -(2 ** 31), 2 ** 31 - 1) >>> 0;
}

function text(value: unknown, name: string, doing: string): Uint8Array {
  if (typeof value !== "string") {
    throw new TypeError(`Cannot ${doing}: ${name} must be a string, got ${describe(value)}`);
  }
  if (value.includes("\0")) throw new TypeError(`Cannot ${doing}: ${name} contains a NUL byte`);
  return cString(value);
}

function bytes(value: unknown, doing: string): Uint8Array {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  throw new TypeError(`Cannot ${doing}: payload must be a string or a Uint8Array, got ${describe(value)}`);
}

/**
 * Binds the key calls to `sys`.
 * @param arch Picks the system call numbers; `process.arch` by default.
 */
export function bindKeys(sys: Sys, arch?: string): Keys {
  const nr = () => syscallNumbers(arch); // thrown at the first call on an unknown architecture
  const keyctl = (...args: Arg[]): number => call(sys, nr().keyctl, "keyctl", ...args);
  return {
    addKey(type, description, payload, keyring) {
      const doing = "add key";
      const t = text(type, "type", doing), d = text(description, "description", doing);
      const p = bytes(payload, doing), ring = serial(keyring, "keyring", doing);
      return call(sys, nr().addKey, "add_key", t, d, p.byteLength ? p : 0, p.byteLength, ring);
    },
    updateKey(key, payload) {
      const p = bytes(payload, "update key");
      keyctl(KEYCTL.UPDATE, serial(key, "key", "update key"), p.byteLength ? p : 0, p.byteLength);
    },
    revokeKey(key) {
      keyctl(KEYCTL.REVOKE, serial(key, "key", "revoke key"));
    },
    unlinkKey(key, keyring) {
      keyctl(KEYCTL.UNLINK, serial(key, "key", "unlink key"), serial(keyring, "keyring", "unlink key"));
    },
    invalidateKey(key) {
      keyctl(KEYCTL.INVALIDATE, serial(key, "key", "invalidate key"));
    },
    joinSessionKeyring(name) {
      return keyctl(KEYCTL.JOIN_SESSION_KEYRING, name === undefined ? 0 : text(name, "name", "join session keyring"));
    },
    linkKey(key, keyring) {
      keyctl(KEYCTL.LINK, serial(key, "key", "link key"), serial(keyring, "keyring", "link key"));
    },
    clearKeyring(keyring) {
      keyctl(KEYCTL.CLEAR, serial(keyring, "keyring", "clear keyring"));
    },
    setKeyTimeout(key, seconds) {
      integer(seconds, "seconds", "set key timeout", 0, 2 ** 32 - 1);
      keyctl(KEYCTL.SET_TIMEOUT, serial(key, "key", "set key timeout"), seconds);
    },
    readKey(key) {
      const id = serial(key, "key", "read key");
      // The payload may change between the calls: retry until it fits.
      for (let size = 256;;) {
        const into = new Uint8Array(size);
        const length = keyctl(KEYCTL.READ, id, into, size);
        if (length <= size) return into.slice(0, length);
        size = length;
      }
    },
    keyringId(key, create = false) {
      return keyctl(KEYCTL.GET_KEYRING_ID, serial(key, "key", "get keyring id"), create ? 1 : 0);
    },
  };
}
