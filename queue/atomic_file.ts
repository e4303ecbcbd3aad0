/**
 * {@linkcode writeFileAtomic}: a file replaced whole or not at all — written to a temporary file in
 * the same directory, flushed, then renamed over the target (rename(2) is atomic within a file
 * system), so a crash or a failed write leaves the old file as it was.
 *
 * @module
 */
import * as nodeFs from "node:fs";
import { constants } from "node:os";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import { SyscallError } from "./errors.ts";

/** The node:fs calls {@linkcode writeFileAtomic} makes (tests pass one that fails on purpose). */
export interface FileIo {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
}

/** The temporary files {@linkcode writeFileAtomic} makes for `path`: `.NAME.PID.RANDOM.tmp` beside it. */
export function isTemporaryOf(path: string, candidate: string): boolean {
  const prefix = join(dirname(path), `.${basename(path)}.`);
  return candidate.startsWith(prefix) && candidate.endsWith(".tmp");
}

/**
 * Replaces `path` with `bytes` atomically. A crash in the middle may leave a temporary file
 * (`.NAME.PID.RANDOM.tmp`) beside it, never a half-written `path`.
 *
 * @throws {SyscallError} From `open`, `write`, `fsync` or `rename` (`EACCES`, `EROFS`, `ENOSPC`...),
 *   with the path; the temporary file is removed first.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array, io: FileIo = nodeFs): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let fd: number;
  try {
    fd = io.openSync(temp, "wx");
  } catch (err) {
    throw syscallError(err, "open", temp);
  }
  let step = "write";
  try {
    for (let at = 0; at < bytes.length;) at += io.writeSync(fd, bytes, at, bytes.length - at);
    step = "fsync";
    io.fsyncSync(fd); // the bytes are on disk before the name points at them
    step = "close";
    io.closeSync(fd);
    fd = -1;
    step = "rename";
    io.renameSync(temp, path);
  } catch (err) {
    if (fd !== -1) {
      try {
        io.closeSync(fd);
      } catch { /* the error that matters is the first */ }
    }
    try {
      io.unlinkSync(temp);
    } catch { /* never made, or gone */ }
    throw syscallError(err, step, step === "rename" ? path : temp);
  }
  syncDirectory(dirname(path), io);
}

/** fsync(2) of a directory, so the rename itself survives a power cut; best effort. */
function syncDirectory(dir: string, io: FileIo): void {
  try {
    const fd = io.openSync(dir, "r");
    try {
      io.fsyncSync(fd);
    } finally {
      io.closeSync(fd);
    }
  } catch { /* not every file system or runtime lets a directory be opened or synced */ }
}

/**
 * A node:fs error as a {@linkcode SyscallError} (same code, errno and path); anything else as it is.
 * @param syscall Used when the error does not name its call.
 */
export function syscallError(err: unknown, syscall: string, path: string): unknown {
  if (err instanceof SyscallError) return err;
  const e = err as { errno?: unknown; syscall?: unknown; code?: unknown };
  if (typeof e?.code !== "string") return err;
  // Deno's node:fs errors may carry only the code ("No space left on device (os error 28)").
  const errno = typeof e.errno === "number" ? Math.abs(e.errno) : (constants.errno as Record<string, number>)[e.code];
  if (errno === undefined) return err;
  return new SyscallError(errno, typeof e.syscall === "string" ? e.syscall : syscall, path);
}
