/**
 * {@linkcode Inotify}: one inotify instance — its system calls, and its records read through a
 * {@linkcode RecordQueue} and parsed in place.
 *
 * @module
 */
import { resolve } from "node:path";
import { CPath, describe, integer, toPath } from "./args.ts";
import { SyscallError } from "./errors.ts";
import { ADD_WATCH_BITS, IN } from "./inotify_mask.ts";
import { InotifyCursor, type InotifyEvent, MIN_READ_SIZE } from "./inotify_records.ts";
import { O } from "./linux.ts";
import { type RecordBatch, RecordQueue } from "./record_queue.ts";
import type { Host } from "./source.ts";

/** Default bytes of one kernel read: about 2,000 events with short names. */
export const DEFAULT_BUFFER_SIZE = 64 * 1024;
/**
 * Default ring: 8 MiB holds 262,144 events with names of up to 15 bytes (32 bytes each), or
 * 174,762 with names up to 31 bytes: 16 times the kernel's default queue of 16,384 events, so a
 * burst of 100,000 events waits here while the main thread is busy. Pages are only touched as
 * they are used.
 */
export const DEFAULT_RING_SIZE = 8 * 1024 * 1024;

/** Options of `new Inotify()`. */
export interface InotifyOptions {
  /** Bytes of one kernel read; at least 272 (16 + NAME_MAX + 1). Default 64 KiB. */
  bufferSize?: number;
  /** Bytes of the ring the reader drains the kernel queue into; at least `bufferSize`. Default 8 MiB. */
  ringSize?: number;
}

/** A live watch: the path it was added with and its mask (without MASK_ADD/MASK_CREATE). */
export interface WatchInfo {
  /** The path given to `addWatch` (the latest, when one inode was added by several names). */
  readonly path: string;
  /** The watch's mask as the kernel holds it: events and flags. */
  readonly mask: number;
}

/**
 * What a batch yields: a view of one record, decoded in place and valid until the next batch is
 * requested. `name` is decoded when read; `nameBytes` is a view into the ring.
 */
export interface InotifyEventView extends InotifyEvent {
  /** Copies the record into a plain object that the caller may keep. */
  toEvent(): InotifyEvent;
}

/** The records of about one kernel read, as views: copy what you keep (`view.toEvent()`). */
export type InotifyBatch = RecordBatch<InotifyEventView>;

/**
 * One kernel inotify queue: add watches by path, then read their events with `for await` (plain
 * objects) or `batches()` (zero-copy views). Reading starts with the first iteration; from then on
 * the kernel queue is drained into memory in the background (io_uring, or the reader thread where
 * io_uring cannot be used), so events are not lost while the JavaScript thread is busy.
 */
export class Inotify implements AsyncIterable<InotifyEvent>, Disposable, AsyncDisposable {
  readonly #host: Host;
  readonly #queue: RecordQueue<InotifyEventView, InotifyEvent>;
  readonly #watches = new Map<number, WatchInfo>();
  readonly #path = new CPath();

  /**
   * Opens an inotify instance (`inotify_init1(IN_NONBLOCK | IN_CLOEXEC)`).
   *
   * @param options Read and ring sizes.
   * @param host The runtime's libc and reader: mod.ts passes them.
   * @throws {SyscallError} `EMFILE` when `fs.inotify.max_user_instances` is reached.
   */
  constructor(options: InotifyOptions = {}, host: Host) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Cannot create Inotify: options must be an object, got ${describe(options)}`);
    }
    const bufferSize = options.bufferSize ?? DEFAULT_BUFFER_SIZE;
    const readSize = integer(bufferSize, "bufferSize", "create Inotify", MIN_READ_SIZE, 2 ** 30);
    const capacity = integer(options.ringSize ?? DEFAULT_RING_SIZE, "ringSize", "create Inotify", readSize, 2 ** 30);
    this.#host = host;
    const fd = host.sys.inotifyInit1(O.NONBLOCK | O.CLOEXEC);
    if (fd === -1) throw new SyscallError(host.sys.errno(), "inotify_init1");
    const watches = this.#watches;
    this.#queue = new RecordQueue(host, fd, {
      owner: "Inotify",
      source: { capacity, readSize, minRead: MIN_READ_SIZE },
      cursor: (bytes) => new InotifyCursor(bytes),
      keep: (view) => view.toEvent(),
      observe: (view) => {
        if (view.mask & IN.IGNORED) watches.delete(view.wd);
      },
    }, this);
  }

  /** True once {@linkcode close} was called. */
  get closed(): boolean {
    return this.#queue.closed;
  }

  /**
   * Watches a path (`inotify_add_watch`). A path already watched by this instance (the same inode,
   * by any name) keeps its wd: its mask is replaced, or ORed in with `IN.MASK_ADD`.
   *
   * @param path A file or directory.
   * @param mask Events from `IN`, plus flags (`ONLYDIR`, `DONT_FOLLOW`, `EXCL_UNLINK`,
   *   `MASK_ADD`, `MASK_CREATE`, `ONESHOT`).
   * @returns The watch descriptor that events carry as `wd`.
   * @throws {SyscallError} `ENOENT` (no such path), `EACCES`, `ENOTDIR` (with `IN.ONLYDIR`),
   *   `EEXIST` (with `IN.MASK_CREATE` on a watched path), `ENOSPC` (`fs.inotify.max_user_watches`).
   */
  addWatch(path: string | URL, mask: number): number {
    const target = toPath(path, "add watch");
    const bits = checkMask(mask, target);
    this.#queue.assertOpen("add watch");
    const sys = this.#host.sys;
    const wd = sys.inotifyAddWatch(this.#queue.fd, this.#path.of(target), bits);
    if (wd === -1) throw new SyscallError(sys.errno(), "inotify_add_watch", target);
    const kept = bits & ~(IN.MASK_ADD | IN.MASK_CREATE);
    const before = this.#watches.get(wd);
    this.#watches.set(wd, { path: target, mask: ((bits & IN.MASK_ADD) && before ? before.mask | kept : kept) >>> 0 });
    return wd;
  }

  /**
   * Removes a watch (`inotify_rm_watch`). It leaves {@linkcode watches} at once; an `IGNORED`
   * event for it follows in the stream.
   *
   * @throws {SyscallError} `EINVAL` if `wd` is not a live watch of this instance.
   */
  rmWatch(wd: number): void {
    integer(wd, "wd", "remove watch", -(2 ** 31), 2 ** 31 - 1);
    this.#queue.assertOpen("remove watch");
    const sys = this.#host.sys;
    if (sys.inotifyRmWatch(this.#queue.fd, wd) === -1) throw new SyscallError(sys.errno(), "inotify_rm_watch");
    this.#watches.delete(wd);
  }

  /** The live watches by wd. A watch leaves when removed or when its `IGNORED` event is read. */
  get watches(): ReadonlyMap<number, WatchInfo> {
    return this.#watches;
  }

  /** The wd of a path watched by this instance (compared as absolute paths), if any. */
  findWatch(path: string | URL): number | undefined {
    const target = resolve(toPath(path, "find watch"));
    for (const [wd, info] of this.#watches) if (resolve(info.path) === target) return wd;
    return undefined;
  }

  /**
   * Bytes waiting in the kernel queue (`ioctl(FIONREAD)`). Once iteration has started they are
   * moved into memory as they arrive, so this is mostly 0 then.
   */
  pendingBytes(): number {
    return this.#queue.pendingBytes();
  }

  /**
   * Yields the events of each kernel read as a batch of views: the fast path. A batch is valid
   * until the next one is requested. Ends when the instance is closed.
   */
  batches(): AsyncGenerator<InotifyBatch, void, undefined> {
    return this.#queue.batches(this);
  }

  /**
   * Yields every event as a plain object that the caller may keep. Ends on close. Leaving the loop
   * early (`break`) keeps the events not yet yielded for the next iteration.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<InotifyEvent> {
    return this.#queue.kept(this);
  }

  /**
   * Closes the instance: a pending iteration ends (`done`), reading stops, and the fd is closed.
   * Idempotent.
   */
  close(): void {
    this.#queue.close();
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** The mask `addWatch` passes on, as an unsigned 32-bit value; a TypeError or RangeError if it cannot be. */
function checkMask(mask: unknown, target: string): number {
  const doing = `add watch for ${JSON.stringify(target)}`;
  if (typeof mask !== "number" || !Number.isInteger(mask)) {
    throw new TypeError(`Cannot ${doing}: mask must be an integer, got ${describe(mask)}`);
  }
  const bits = mask >>> 0;
  if (bits !== mask && bits !== mask + 2 ** 32) {
    throw new RangeError(`Cannot ${doing}: mask ${mask} is not a 32-bit value`);
  }
  if ((bits & IN.ALL_EVENTS) === 0) throw new RangeError(`Cannot ${doing}: mask has no event bits (IN.ALL_EVENTS)`);
  if ((bits & ~ADD_WATCH_BITS) !== 0) {
    throw new RangeError(`Cannot ${doing}: unknown mask bits 0x${(bits & ~ADD_WATCH_BITS >>> 0).toString(16)}`);
  }
  if ((bits & IN.MASK_ADD) && (bits & IN.MASK_CREATE)) {
    throw new RangeError(`Cannot ${doing}: MASK_ADD and MASK_CREATE exclude each other`);
  }
  return bits;
}
