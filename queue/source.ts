// queue/source.ts (the lead writes it; copy it into your branch verbatim so you can compile)
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
   * there is none. Undefined once closed. Rejects with a SyscallError when the fd cannot be read.
   */
  next(consumed?: number): Promise<Run | undefined>;
  /**
   * Stops every read of the fd into this source's memory, wakes a pending next() (undefined), and
   * gives the memory back. When it returns the fd may be closed. Idempotent, synchronous.
   */
  close(): void;
}
/** How a Source reads its fd. */
export interface SourceOptions {
  /** Bytes of unread records it may hold (the `ringSize` option; default 8 MiB). */
  capacity: number;
  /** The largest read. */
  readSize: number;
  /** The smallest read that always takes the next record: 272 for inotify (else EINVAL), 128 for a notification pipe (else ENOBUFS). */
  minRead: number;
}
/** Opens a Source for a nonblocking fd; reading starts at the first next(). */
export type OpenSource = (fd: number, options: SourceOptions) => Source;
