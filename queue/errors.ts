/**
 * The one door from errno to Error: {@linkcode SyscallError}, shaped like node:fs errors.
 *
 * @module
 */
import { getSystemErrorMap } from "node:util";

/** Fixes we know, keyed by `"<syscall> <code>"`. */
const HINTS: Record<string, string> = {
  "inotify_add_watch ENOSPC": "too many watches: raise fs.inotify.max_user_watches",
  "inotify_init1 EMFILE": "too many inotify instances: raise fs.inotify.max_user_instances",
  "inotify_init1 ENFILE": "the system-wide limit on open files was reached",
  "pipe2 ENOPKG": "this kernel was built without CONFIG_WATCH_QUEUE",
  "pipe2 EINVAL": "this kernel has no O_NOTIFICATION_PIPE (Linux >= 5.8 with CONFIG_WATCH_QUEUE)",
  "keyctl EPERM": "key management is not permitted here (a seccomp filter, as in many containers?)",
  "keyctl ENOSYS": "key management is blocked (a seccomp filter, as in many containers?) or absent",
  "add_key EPERM": "key management is not permitted here (a seccomp filter, as in many containers?)",
  "add_key ENOSYS": "key management is blocked (a seccomp filter, as in many containers?) or absent",
  "add_key EDQUOT": "the key quota is full: raise kernel.keys.maxkeys or kernel.keys.maxbytes",
  "keyctl EDQUOT": "the key quota is full: raise kernel.keys.maxkeys or kernel.keys.maxbytes",
  "keyctl ENOTSUP": "this kernel was built without CONFIG_KEY_NOTIFICATIONS",
  "keyctl EBUSY": "this queue already watches that key",
  "keyctl EBADSLT": "this queue does not watch that key",
};

/** errnos missing from libuv's table, as [code, text]. */
const UNLISTED: Record<number, [string, string]> = {
  65: ["ENOPKG", "package not installed"],
  126: ["ENOKEY", "required key not available"],
  127: ["EKEYEXPIRED", "key has expired"],
  128: ["EKEYREVOKED", "key has been revoked"],
  129: ["EKEYREJECTED", "key was rejected by service"],
  105: ["ENOBUFS", "no buffer space available"],
  57: ["EBADSLT", "invalid slot"],
  122: ["EDQUOT", "disk quota exceeded"],
};

/**
 * A failed system call, shaped like the errors of node:fs: message `CODE: text, syscall 'path'`.
 *
 * @example Catching a missing path
 * ```ts
 * import { Inotify, IN, SyscallError } from "@notiq/notiq";
 * import assert from "node:assert/strict";
 *
 * using ino = new Inotify();
 * assert.throws(() => ino.addWatch("/no/such/dir", IN.CREATE), (err) =>
 *   err instanceof SyscallError && err.code === "ENOENT" && err.path === "/no/such/dir");
 * ```
 */
export class SyscallError extends Error {
  /** Always `"SyscallError"`. */
  override name = "SyscallError";
  /** The errno name, e.g. `"ENOENT"`. */
  readonly code: string;
  /** The errno, negative as node:fs has it: `-2`. */
  readonly errno: number;
  /** The system call that failed, e.g. `"inotify_add_watch"`. */
  readonly syscall: string;
  /** The path involved, when there is one. */
  declare readonly path?: string; // `declare`: no own `path: undefined` when there is no path

  /**
   * Describes a failed call from its errno, with a hint where the fix is known.
   * @param errno The positive errno that libc reported.
   * @param syscall The failed call's name.
   * @param path The path it was given, if any.
   */
  constructor(errno: number, syscall: string, path?: string) {
    const [code, text] = getSystemErrorMap().get(-errno) ?? UNLISTED[errno] ??
      ["UNKNOWN", `unknown error ${errno}`];
    const hint = HINTS[`${syscall} ${code}`];
    super(`${code}: ${text}, ${syscall}${path === undefined ? "" : ` '${path}'`}${hint ? ` (${hint})` : ""}`);
    this.code = code;
    this.errno = -errno;
    this.syscall = syscall;
    if (path !== undefined) (this as { path?: string }).path = path;
  }
}

/** The error `node:fs/promises` `watch()` rejects with on abort, in Node, Deno and Bun alike. */
export function abortError(signal: AbortSignal): Error {
  const err = new Error("The operation was aborted", { cause: signal.reason });
  return Object.assign(err, { name: "AbortError", code: "ABORT_ERR" });
}
