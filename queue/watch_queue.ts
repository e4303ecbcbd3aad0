/**
 * {@linkcode WatchQueue}: one general notification queue (a pipe opened with
 * `O_NOTIFICATION_PIPE`) — its system calls, and its records read through a
 * {@linkcode RecordQueue} and parsed in place.
 *
 * @module
 */
import type { Sys } from "../ffi/types.ts";
import { describe, integer } from "./args.ts";
import { SyscallError } from "./errors.ts";
import { KEYCTL, keyctl } from "./keys.ts";
import { ERRNO, IOCTL, O } from "./linux.ts";
import { type RecordBatch, RecordQueue } from "./record_queue.ts";
import type { Host } from "./source.ts";
import { MAX_RECORD_SIZE, MIN_READ_SIZE, type WatchNotification, WatchQueueCursor } from "./watch_queue_records.ts";

/** `KEYCTL_CAPS1_NOTIFICATIONS`: in byte 1 of `KEYCTL_CAPABILITIES`. */
const CAPS1_NOTIFICATIONS = 0x04;

/** The most notes a queue may hold (the kernel's limit for `IOC_WATCH_QUEUE_SET_SIZE`). */
export const MAX_QUEUE_SIZE = 512;
/** Default notes a queue holds. */
export const DEFAULT_QUEUE_SIZE = 256;
/** The most filters `setFilter` takes (the kernel's limit). */
export const MAX_FILTERS = 16;
/** `WATCH_INFO_LENGTH`: the bits of `info` that hold the length, which filters may not test. */
const INFO_LENGTH = 0x7f;
/** Bytes of one read: the most a full queue of 512 notes can hold, with room for a LOSS record. */
const READ_SIZE = MAX_QUEUE_SIZE * (MAX_RECORD_SIZE + 1) + MIN_READ_SIZE;
/** Bytes of the ring the reader drains the queue into: 16,384 key notifications. */
const RING_SIZE = 256 * 1024;

/** Options of `new WatchQueue()`. */
export interface WatchQueueOptions {
  /**
   * Notification slots in the kernel queue, 1 to 512; default 256. The kernel rounds it up to
   * whole pages of 32 notes. When the queue is full, further notifications are dropped and a
   * `LOSS` notification says so.
   */
  size?: number;
}

/**
 * One filter rule: notifications of `type` pass when their subtype is in `subtypes` and
 * `(info & infoMask) === infoFilter`. `REMOVAL` and `LOSS` notifications are never filtered out.
 */
export interface WatchFilter {
  /** A {@linkcode WATCH_TYPE}; types the kernel does not know are ignored (so they block everything). */
  type: number;
  /** Subtypes that pass, 0 to 255; default all. */
  subtypes?: number[];
  /**
   * Bits of `info` to compare, e.g. `0xff00` for the watch id. May not include the length bits
   * (`0x7f`). Default 0.
   */
  infoMask?: number;
  /** The value those bits must have, e.g. `watchId << 8`; only bits within `infoMask`. Default 0. */
  infoFilter?: number;
}

/**
 * What a batch yields: a view of one record, decoded in place and valid until the next batch is
 * requested; `payload` is a view into the ring.
 */
export interface WatchNotificationView extends WatchNotification {
  /** Copies the record into a plain object that the caller may keep. */
  toNotification(): WatchNotification;
}

/** The records of about one kernel read, as views: copy what you keep (`view.toNotification()`). */
export type WatchQueueBatch = RecordBatch<WatchNotificationView>;

/**
 * Finds out whether this kernel and process can use the general notification queue for keys: a
 * notification pipe opens (else `pipe2` `ENOPKG`: no `CONFIG_WATCH_QUEUE`; `EINVAL`: Linux < 5.8)
 * and `keyctl` is allowed and knows notifications (else `EPERM`/`ENOSYS`: a seccomp filter;
 * `ENOTSUP`: no `CONFIG_KEY_NOTIFICATIONS`). Leaves no fd open.
 *
 * @returns undefined when it can, else the error that says why not.
 */
export function probeWatchQueue(sys: Sys): Error | undefined {
  const fds = new Int32Array(2);
  if (sys.pipe2(fds, O.NOTIFICATION_PIPE | O.NONBLOCK | O.CLOEXEC) === -1) {
    return new SyscallError(sys.errno(), "pipe2");
  }
  sys.close(fds[0]);
  sys.close(fds[1]);
  const caps = new Uint8Array(2);
  try {
    keyctl(sys, KEYCTL.CAPABILITIES, caps, caps.byteLength);
  } catch (err) {
    return err as Error;
  }
  if ((caps[1] & CAPS1_NOTIFICATIONS) === 0) return new SyscallError(ERRNO.EOPNOTSUPP, "keyctl");
  return undefined;
}

/**
 * One general notification queue (Linux >= 5.8 with `CONFIG_WATCH_QUEUE`): a pipe opened with
 * `O_NOTIFICATION_PIPE` that the kernel writes notification records into — today, changes to keys
 * and keyrings watched with {@linkcode WatchQueue.watchKey}.
 */
export class WatchQueue implements AsyncIterable<WatchNotification>, Disposable, AsyncDisposable {
  readonly #sys: Sys;
  readonly #queue: RecordQueue<WatchNotificationView, WatchNotification>;

  /**
   * Opens a notification pipe (`pipe2(O_NOTIFICATION_PIPE)`) and sizes its queue
   * (`IOC_WATCH_QUEUE_SET_SIZE`): without a size the kernel drops every notification.
   *
   * @param options The queue's size.
   * @param host The runtime's libc and reader: mod.ts passes them.
   * @throws {SyscallError} `pipe2` `ENOPKG` (a kernel without `CONFIG_WATCH_QUEUE`), `EINVAL`
   *   (Linux < 5.8); `ioctl` `EPERM` (over the `fs.pipe-user-pages-soft` limit), `ENOMEM`.
   */
  constructor(options: WatchQueueOptions = {}, host: Host) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Cannot create WatchQueue: options must be an object, got ${describe(options)}`);
    }
    const size = integer(options.size ?? DEFAULT_QUEUE_SIZE, "size", "create WatchQueue", 1, MAX_QUEUE_SIZE);
    const sys = this.#sys = host.sys;
    const fds = new Int32Array(2);
    if (sys.pipe2(fds, O.NOTIFICATION_PIPE | O.NONBLOCK | O.CLOEXEC) === -1) {
      throw new SyscallError(sys.errno(), "pipe2");
    }
    const [readFd, writeFd] = fds;
    if (sys.ioctl(readFd, IOCTL.WATCH_QUEUE_SET_SIZE, size) === -1) {
      const errno = sys.errno();
      sys.close(readFd);
      sys.close(writeFd);
      throw new SyscallError(errno, "ioctl");
    }
    // The write end stays open until close(): once it is closed, poll() reports POLLHUP forever.
    this.#queue = new RecordQueue(
      host,
      readFd,
      {
        owner: "WatchQueue",
        source: { capacity: RING_SIZE, readSize: READ_SIZE, minRead: MIN_READ_SIZE },
        cursor: (bytes) => new WatchQueueCursor(bytes),
        keep: (view) => view.toNotification(),
      },
      this,
      writeFd,
    );
  }

  /** True once {@linkcode close} was called. */
  get closed(): boolean {
    return this.#queue.closed;
  }

  /**
   * Replaces the queue's filter (`IOC_WATCH_QUEUE_SET_FILTER`): from now on only notifications
   * that match one of `filters` are queued. `null` removes the filter. `REMOVAL` and `LOSS`
   * notifications always pass.
   *
   * @param filters 1 to 16 rules; e.g. `{ type: WATCH_TYPE.KEY_NOTIFY, subtypes: [KEY_NOTIFY.LINKED] }`,
   *   or by watch id: `{ type: WATCH_TYPE.KEY_NOTIFY, infoMask: 0xff00, infoFilter: id << 8 }`.
   */
  setFilter(filters: WatchFilter[] | null): void {
    const doing = "set filter";
    let arg: Uint8Array | number = 0;
    if (filters !== null) {
      if (!Array.isArray(filters)) {
        throw new TypeError(`Cannot ${doing}: filters must be an array or null, got ${describe(filters)}`);
      }
      if (filters.length < 1 || filters.length > MAX_FILTERS) {
        throw new RangeError(
          `Cannot ${doing}: give 1 to ${MAX_FILTERS} filters (null removes the filter), got ${filters.length}`,
        );
      }
      // struct watch_notification_filter { u32 nr_filters, __reserved; struct watch_notification_type_filter filters[] }
      // struct watch_notification_type_filter { u32 type, info_filter, info_mask, subtype_filter[8] }: 44 bytes
      const bytes = new Uint8Array(8 + 44 * filters.length);
      const view = new DataView(bytes.buffer);
      view.setUint32(0, filters.length, true);
      filters.forEach((f, i) => {
        if (typeof f !== "object" || f === null) {
          throw new TypeError(`Cannot ${doing}: filter ${i} must be an object, got ${describe(f)}`);
        }
        const at = 8 + 44 * i;
        const type = integer(f.type, `filter ${i} type`, doing, 0, 0xffffffff);
        const infoMask = integer(f.infoMask ?? 0, `filter ${i} infoMask`, doing, 0, 0xffffffff);
        const infoFilter = integer(f.infoFilter ?? 0, `filter ${i} infoFilter`, doing, 0, 0xffffffff);
        if (infoMask & INFO_LENGTH) {
          throw new RangeError(`Cannot ${doing}: filter ${i} infoMask may not include the length bits 0x7f`);
        }
        if (infoFilter & ~infoMask) {
          throw new RangeError(
            `Cannot ${doing}: filter ${i} infoFilter 0x${infoFilter.toString(16)} has bits outside infoMask 0x${
              infoMask.toString(16)
            }`,
          );
        }
        view.setUint32(at, type, true);
        view.setUint32(at + 4, infoFilter, true);
        view.setUint32(at + 8, infoMask, true);
        if (f.subtypes === undefined) {
          for (let w = 0; w < 8; w++) view.setUint32(at + 12 + 4 * w, 0xffffffff, true);
        } else {
          if (!Array.isArray(f.subtypes)) {
            throw new TypeError(`Cannot ${doing}: filter ${i} subtypes must be an array, got ${describe(f.subtypes)}`);
          }
          for (const s of f.subtypes) {
            const subtype = integer(s, `filter ${i} subtype`, doing, 0, 255);
            const word = at + 12 + 4 * (subtype >> 5);
            view.setUint32(word, (view.getUint32(word, true) | (1 << (subtype & 31))) >>> 0, true);
          }
        }
      });
      arg = bytes;
    }
    this.#queue.assertOpen(doing);
    if (this.#sys.ioctl(this.#queue.fd, IOCTL.WATCH_QUEUE_SET_FILTER, arg) === -1) {
      throw new SyscallError(this.#sys.errno(), "ioctl");
    }
  }

  /**
   * Watches a key or keyring (`keyctl(KEYCTL_WATCH_KEY, key, fd, watchId)`): its changes arrive as
   * `KEY_NOTIFY` notifications carrying `watchId`; a keyring's also tell of keys linked, unlinked
   * and cleared. When the key is destroyed, a `REMOVAL` notification ends the watch.
   *
   * @param keyId A key serial number or a `KEY_SPEC` value (the keyring is created if needed).
   * @param watchId 0 to 255, carried by every notification of this watch.
   * @throws {SyscallError} `keyctl` `ENOKEY`, `EACCES` (no View permission), `EBUSY` (watched
   *   already by this queue), `ENOTSUP` (no `CONFIG_KEY_NOTIFICATIONS`), `EPERM`/`ENOSYS` (a
   *   seccomp filter).
   */
  watchKey(keyId: number, watchId: number): void {
    const key = integer(keyId, "keyId", "watch key", -(2 ** 31), 2 ** 31 - 1);
    const id = integer(watchId, "watchId", "watch key", 0, 255);
    this.#queue.assertOpen("watch key");
    keyctl(this.#sys, KEYCTL.WATCH_KEY, key >>> 0, this.#queue.fd, id);
  }

  /**
   * Stops watching a key (`keyctl(KEYCTL_WATCH_KEY, key, fd, -1)`); a `REMOVAL` notification follows.
   *
   * @throws {SyscallError} `keyctl` `EBADSLT` when this queue does not watch the key.
   */
  unwatchKey(keyId: number): void {
    const key = integer(keyId, "keyId", "unwatch key", -(2 ** 31), 2 ** 31 - 1);
    this.#queue.assertOpen("unwatch key");
    keyctl(this.#sys, KEYCTL.WATCH_KEY, key >>> 0, this.#queue.fd, 0xffffffff);
  }

  /**
   * Bytes waiting in the kernel queue (`ioctl(FIONREAD)`). Once iteration has started the reader
   * moves them into the ring as they arrive, so this is mostly 0 then. A `LOSS` record still owed is
   * not counted: it appears on the next read only.
   */
  pendingBytes(): number {
    return this.#queue.pendingBytes();
  }

  /**
   * Yields the notifications of each kernel read as a batch of views: the fast path. A batch is
   * valid until the next one is requested. Ends when the queue is closed.
   */
  batches(): AsyncGenerator<WatchQueueBatch, void, undefined> {
    return this.#queue.batches(this);
  }

  /**
   * Yields every notification as a plain object that the caller may keep. Ends on close. Leaving
   * the loop early (`break`) keeps the notifications not yet yielded for the next loop.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<WatchNotification> {
    return this.#queue.kept(this);
  }

  /**
   * Closes the queue: a pending iteration ends (`done`), reading stops, both ends of the pipe are
   * closed and the kernel drops this queue's watches. Idempotent.
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
