/**
 * Whole files through {@linkcode Sys}: {@linkcode writeFileAtomic} replaces a file whole or not at
 * all (a temporary file in the same directory, written, fsync'ed, then renamed over the target:
 * rename(2) is atomic within a file system), and {@linkcode readFileWhole} reads one. Through FFI
 * like the rest, so Deno asks no read or write permission of its own (FFI holds them all already).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import process from "node:process";
import type { Sys } from "../ffi/types.ts";
import { cString } from "./args.ts";
import { SyscallError } from "./errors.ts";
import { ERRNO, O, syscallNumbers } from "./linux.ts";

const CREATE_NEW = O.WRONLY | O.CREAT | O.EXCL | O.CLOEXEC;
const MODE = 0o666; // less the umask, as any new file
const READ_CHUNK = 1 << 20;

/** Whether `candidate` is one of the temporary files {@linkcode writeFileAtomic} makes for `path`. */
export function isTemporaryOf(path: string, candidate: string): boolean {
  const prefix = join(dirname(path), `.${basename(path)}.`);
  return candidate.startsWith(prefix) && candidate.endsWith(".tmp");
}

/**
 * Replaces `path` with `bytes` atomically. A crash in the middle may leave a temporary file
 * (`.NAME.PID.RANDOM.tmp`) beside it, never a half-written `path`.
 *
 * @param path An absolute path.
 * @throws {SyscallError} From `openat`, `write`, `fsync` or `renameat2` (`EACCES`, `EROFS`,
 *   `ENOSPC`...), with the path; the temporary file is removed first.
 */
export function writeFileAtomic(sys: Sys, path: string, bytes: Uint8Array): void {
  const nr = syscallNumbers();
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  const tempC = cString(temp);
  // Absolute paths: the directory fd argument is not used (0, never AT_FDCWD's negative number).
  const fd = sys.syscall(nr.openat, 0, tempC, CREATE_NEW, MODE);
  if (fd === -1) throw new SyscallError(sys.errno(), "openat", temp);
  let failed: SyscallError | undefined;
  for (let at = 0; at < bytes.length && !failed;) {
    const n = sys.write(fd, bytes.subarray(at));
    if (n === -1) {
      const errno = sys.errno();
      if (errno !== ERRNO.EINTR) failed = new SyscallError(errno, "write", temp);
    } else at += n;
  }
  // fsync before the rename: the name must never point at bytes not yet on disk.
  if (!failed && sys.syscall(nr.fsync, fd) === -1) failed = new SyscallError(sys.errno(), "fsync", temp);
  if (sys.close(fd) === -1 && !failed) failed = new SyscallError(sys.errno(), "close", temp);
  if (!failed && sys.syscall(nr.renameat2, 0, tempC, 0, cString(path), 0) === -1) {
    failed = new SyscallError(sys.errno(), "renameat2", path);
  }
  if (failed) {
    sys.syscall(nr.unlinkat, 0, tempC, 0);
    throw failed;
  }
  // And the directory, so the rename itself survives a power cut (best effort: not every file system can).
  const dir = sys.open(cString(dirname(path)), O.RDONLY | O.DIRECTORY | O.CLOEXEC);
  if (dir !== -1) {
    sys.syscall(nr.fsync, dir);
    sys.close(dir);
  }
}

/**
 * The bytes of a file.
 * @throws {SyscallError} From `open` (`ENOENT`, `EACCES`...) or `read`, with the path.
 */
export function readFileWhole(sys: Sys, path: string): Uint8Array {
  const fd = sys.open(cString(path), O.RDONLY | O.CLOEXEC);
  if (fd === -1) throw new SyscallError(sys.errno(), "open", path);
  try {
    let buffer = new Uint8Array(READ_CHUNK);
    let at = 0;
    for (;;) {
      if (at === buffer.length) {
        const grown = new Uint8Array(buffer.length * 2);
        grown.set(buffer);
        buffer = grown;
      }
      const n = sys.read(fd, buffer.subarray(at));
      if (n === 0) return buffer.subarray(0, at);
      if (n === -1) {
        const errno = sys.errno();
        if (errno !== ERRNO.EINTR) throw new SyscallError(errno, "read", path);
      } else at += n;
    }
  } finally {
    sys.close(fd);
  }
}
