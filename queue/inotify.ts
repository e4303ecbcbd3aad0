/**
 * {@linkcode InotifyCore}: one inotify instance driven through a {@linkcode Sys} it is given,
 * drained by a reader thread into a ring that is parsed in place.
 *
 * @module
 */
import { resolve } from "node:path";
import type { Sys } from "../ffi/types.ts";
import { cString, describe, integer, toPath } from "./args.ts";
import { SyscallError } from "./errors.ts";
import { ADD_WATCH_BITS, IN } from "./inotify_mask.ts";
import { InotifyCursor, type InotifyEvent, MIN_READ_SIZE } from "./inotify_records.ts";
import { Drain, type Host, keptRecords, RecordBatch } from "./ring.ts";

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

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
  /** Where the record starts in the ring. */
  readonly offset: number;
  /** Where the record ends in the ring (see {@linkcode InotifyCore.bytesQueuedAfter}). */
  readonly end: number;
  /** Copies the record into a plain object that the caller may keep. */
  toEvent(): InotifyEvent;
}

/** The records of one or more kernel reads, as views: copy what you keep (`view.toEvent()`). */
export class InotifyBatch extends RecordBatch<InotifyEventView> {
  /**
   * A batch over bytes that hold inotify records.
   * @param bytes The ring's data area.
   */
  constructor(bytes: Uint8Array) {
    super(new InotifyCursor(bytes));
  }
}

// Only a net for instances dropped without close(); close() unregisters first.
const leakNet = new FinalizationRegistry<Drain>((drain) => void drain.close());

/**
 * One kernel inotify queue. Exported from mod.ts as `Inotify`, bound to the runtime's libc.
 */
export class InotifyCore implements AsyncIterable<InotifyEvent>, Disposable, AsyncDisposable {
  readonly #sys: Sys;
  readonly #drain: Drain;
  readonly #bufferSize: number;
  readonly #watches = new Map<number, WatchInfo>();
  #closed = false;
  #batch?: InotifyBatch;
  #scan?: InotifyCursor;

  /**
   * Opens an inotify instance (`inotify_init1(IN_NONBLOCK | IN_CLOEXEC)`).
   *
   * @throws {SyscallError} `EMFILE` when `fs.inotify.max_user_instances` is reached.
   */
  constructor(host: Host, options: InotifyOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Cannot create Inotify: options must be an object, got ${describe(options)}`);
    }
    const bufferSize = options.bufferSize ?? DEFAULT_BUFFER_SIZE;
    const readSize = this.#bufferSize = integer(bufferSize, "bufferSize", "create Inotify", MIN_READ_SIZE, 2 ** 30);
    const ringSize = integer(options.ringSize ?? DEFAULT_RING_SIZE, "ringSize", "create Inotify", readSize, 2 ** 30);
    const sys = this.#sys = host.sys;
    const fd = sys.inotifyInit1(O_NONBLOCK | O_CLOEXEC);
    if (fd === -1) throw new SyscallError(sys.errno(), "inotify_init1");
    this.#drain = new Drain(host, fd, { ringSize, readSize, minRead: MIN_READ_SIZE });
    leakNet.register(this, this.#drain, this);
  }

  /** True once {@linkcode close} was called. */
  get closed(): boolean {
    return this.#closed;
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
    if (typeof mask !== "number" || !Number.isInteger(mask)) {
      throw new TypeError(
        `Cannot add watch for ${JSON.stringify(target)}: mask must be an integer, got ${describe(mask)}`,
      );
    }
    const bits = mask >>> 0;
    if (bits !== mask && bits !== mask + 2 ** 32) {
      throw new RangeError(`Cannot add watch for ${JSON.stringify(target)}: mask ${mask} is not a 32-bit value`);
    }
    if ((bits & IN.ALL_EVENTS) === 0) {
      throw new RangeError(`Cannot add watch for ${JSON.stringify(target)}: mask has no event bits (IN.ALL_EVENTS)`);
    }
    if ((bits & ~ADD_WATCH_BITS) !== 0) {
      throw new RangeError(
        `Cannot add watch for ${JSON.stringify(target)}: unknown mask bits 0x${
          (bits & ~ADD_WATCH_BITS >>> 0).toString(16)
        }`,
      );
    }
    if ((bits & IN.MASK_ADD) && (bits & IN.MASK_CREATE)) {
      throw new RangeError(
        `Cannot add watch for ${JSON.stringify(target)}: MASK_ADD and MASK_CREATE exclude each other`,
      );
    }
    this.#assertOpen("add watch");
    const sys = this.#sys, fd = this.#drain.fd;
    const wd = sys.inotifyAddWatch(fd, cString(target), bits);
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
    if (typeof wd !== "number" || !Number.isInteger(wd)) {
      throw new TypeError(`Cannot remove watch: wd must be an integer, got ${describe(wd)}`);
    }
    this.#assertOpen("remove watch");
    const sys = this.#sys, fd = this.#drain.fd;
    if (sys.inotifyRmWatch(fd, wd) === -1) throw new SyscallError(sys.errno(), "inotify_rm_watch");
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
   * Bytes waiting in the kernel queue (`ioctl(FIONREAD)`). Once iteration has started the reader
   * moves them into the ring as they arrive, so this is mostly 0 then.
   */
  pendingBytes(): number {
    this.#assertOpen("count pending bytes");
    return this.#drain.pendingBytes();
  }

  /**
   * Bytes of events queued after byte `offset` of the current batch (a record's `end`): in the ring
   * and in the kernel queue; an upper bound. Which events predate a moment: `watch()` uses it to
   * tell the events that its rescan after an overflow may have seen already.
   */
  bytesQueuedAfter(offset: number): number {
    this.#assertOpen("count queued bytes");
    return this.#drain.bytesQueuedAfter(offset);
  }

  /**
   * Yields the events of each kernel read as a batch of views into the ring: the fast path. A batch
   * is valid until the next one is requested. Ends when the instance is closed.
   */
  batches(): AsyncGenerator<InotifyBatch, void, undefined> {
    const makeBatch = () => this.#batch ??= new InotifyBatch(this.#drain.data);
    return this.#drain.batches(makeBatch, (start, end) => this.#take(start, end), "Inotify");
  }

  /**
   * Yields every event as a plain object that the caller may keep. Ends on close. Leaving the loop
   * early (`break`) keeps the events not yet yielded for the next iteration.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<InotifyEvent> {
    return keptRecords(this.batches(), this.#drain, (view) => view.toEvent());
  }

  /**
   * Closes the instance: a pending iteration ends (`done`), the reader thread lets go, and the fd is
   * closed. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    leakNet.unregister(this);
    const errno = this.#drain.close();
    if (errno !== 0) throw new SyscallError(errno, "close");
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

  #assertOpen(doing: string): void {
    if (this.#closed) throw new Error(`Cannot ${doing}: this Inotify is closed`);
  }

  /**
   * Checks the records in `[start, end)` (so a bad one fails here, not halfway through a batch),
   * drops watches whose IGNORED arrived, and cuts the batch at about one read's worth.
   */
  #take(start: number, end: number): number {
    const scan = this.#scan ??= new InotifyCursor(this.#drain.data);
    scan.reset(end, start);
    while (scan.next()) {
      if (scan.offset - start >= this.#bufferSize) return scan.offset;
      if (scan.mask & IN.IGNORED) this.#watches.delete(scan.wd);
    }
    return end;
  }
}
