/**
 * {@linkcode Source}: where one queue's records come from — its fd, read by the kernel (io_uring)
 * or by the reader thread into memory that the consumer parses in place — and {@linkcode Host}, what
 * the queues are given to reach the kernel.
 *
 * @module
 */
import type { Sys } from "../ffi/types.ts";

/** A run of unread bytes holding whole records, in memory that the consumer parses in place. */
export interface Run {
  /** The memory: one stable object per region (consumers cache a cursor per `bytes`). */
  readonly bytes: Uint8Array;
  readonly start: number;
  readonly end: number;
}

/** Where one queue's records come from: its fd, read by the kernel or a thread into memory. */
export interface Source {
  /**
   * Gives back the run handed out last, up to `consumed` (default: all of it; the rest is handed
   * out again), then resolves with the next run of unread records, waiting for the kernel when
   * there is none. Undefined once closed.
   * @throws {SyscallError} When the fd cannot be read any more.
   */
  next(consumed?: number): Promise<Run | undefined>;
  /**
   * The consumer stopped iterating (its loop ended): from its first {@linkcode next} until now the
   * source may keep the process alive (the io_uring source reaps completions meanwhile); no more.
   * Reading goes on as far as it can without the consumer; the next `next()` resumes.
   */
  pause(): void;
  /**
   * Stops every read of the fd into this source's memory, wakes a pending {@linkcode next}
   * (undefined), and gives the memory back. When it returns the fd may be closed. Idempotent.
   */
  close(): void;
}

/** How a {@linkcode Source} reads its fd. */
export interface SourceOptions {
  /** Bytes of unread records it may hold (the `ringSize` option). */
  capacity: number;
  /** The largest read. */
  readSize: number;
  /**
   * The smallest read that always takes the next record: 272 for inotify (else `EINVAL`), 128 for
   * a notification pipe (else `ENOBUFS`).
   */
  minRead: number;
}

/** Opens a {@linkcode Source} for a nonblocking fd; reading starts at its first `next()`. */
export type OpenSource = (fd: number, options: SourceOptions) => Source;

/** What the queues are given: libc, and how to read an fd. mod.ts makes the runtime's. */
export interface Host {
  readonly sys: Sys;
  readonly openSource: OpenSource;
}
