/**
 * Zero-copy decoding of the records the kernel's general notification queue writes
 * (`struct watch_notification` and its extensions in `<linux/watch_queue.h>`), in place.
 *
 * @module
 */

/** `enum watch_notification_type`: what a record is about. */
export const WATCH_TYPE = {
  /** Records about the queue itself: {@linkcode WATCH_META}. */
  META: 0,
  /** Key and keyring changes: {@linkcode KEY_NOTIFY} (`struct key_notification`). */
  KEY_NOTIFY: 1,
} as const;

/** Subtypes of {@linkcode WATCH_TYPE.META} (`enum watch_meta_notification_subtype`). */
export const WATCH_META = {
  /** A watch is gone: removed with `unwatchKey`, or its object was destroyed. */
  REMOVAL: 0,
  /** Notifications were dropped because the queue was full. */
  LOSS: 1,
} as const;

/** Subtypes of {@linkcode WATCH_TYPE.KEY_NOTIFY} (`enum key_notification_subtype`). */
export const KEY_NOTIFY = {
  /** The key was instantiated; `aux` is the error code (0 on success). */
  INSTANTIATED: 0,
  /** The key's payload was updated. */
  UPDATED: 1,
  /** Key `aux` was linked into the watched keyring `keyId`. */
  LINKED: 2,
  /** Key `aux` was unlinked from the watched keyring `keyId`. */
  UNLINKED: 3,
  /** The watched keyring was cleared. */
  CLEARED: 4,
  /** The key was revoked. */
  REVOKED: 5,
  /** The key was invalidated. */
  INVALIDATED: 6,
  /** The key's attributes (permissions, owner, timeout) changed. */
  SETATTR: 7,
} as const;

/** Bytes of `struct watch_notification`: the header every record starts with. */
export const HEADER_SIZE = 8;
/** Bytes of `struct key_notification`: header, `key_id`, `aux`. */
export const KEY_NOTIFICATION_SIZE = 16;
/** The longest record: its length field has 7 bits. */
export const MAX_RECORD_SIZE = 0x7f;
/**
 * The smallest read that always takes the next record: a read returns whole records only, and one
 * whose next record does not fit fails with `ENOBUFS`.
 */
export const MIN_READ_SIZE = 128;

/** One notification as a plain object the caller may keep. */
export interface WatchNotification {
  /** A {@linkcode WATCH_TYPE}. */
  readonly type: number;
  /** Type-specific: a {@linkcode KEY_NOTIFY} or {@linkcode WATCH_META} subtype. */
  readonly subtype: number;
  /** The id given to `watchKey` (0 to 255); 0 for `LOSS`. */
  readonly watchId: number;
  /** Type-specific flags: bits 16 to 31 of `info` (0 for keys). */
  readonly flags: number;
  /** Bytes of the whole record, header included (8 to 127). */
  readonly length: number;
  /** The record's bytes after its 8-byte header, copied. */
  readonly payload: DataView;
  /** `KEY_NOTIFY`: the key or keyring affected; `REMOVAL`: the watched key, when the kernel says. */
  readonly keyId?: number;
  /** `KEY_NOTIFY`: per-subtype data, e.g. the key linked or unlinked. */
  readonly aux?: number;
}

/**
 * Walks the records in a byte range one at a time, allocating nothing (but for {@linkcode payload},
 * made on request). The fields describe the current record until the next call to
 * {@linkcode WatchQueueCursor.next}. Records are not aligned: everything is read through a
 * DataView, little-endian.
 *
 * @example Walking a buffer
 * ```ts ignore
 * const c = new WatchQueueCursor(bytes);
 * c.reset(bytes.byteLength);
 * while (c.next()) console.log(c.type, c.subtype, c.watchId, c.keyId);
 * ```
 */
export class WatchQueueCursor {
  /** The current record's {@linkcode WATCH_TYPE} (low 24 bits of its first word). */
  type = 0;
  /** The current record's subtype (high 8 bits of its first word). */
  subtype = 0;
  /** The current record's watch id (bits 8 to 15 of `info`). */
  watchId = 0;
  /** The current record's type-specific flags (bits 16 to 31 of `info`). */
  flags = 0;
  /** The current record's length in bytes, header included. */
  length = 0;
  /** `KEY_NOTIFY`: the key affected; `REMOVAL` of 16 bytes: the id of the watched object. */
  keyId: number | undefined = undefined;
  /** `KEY_NOTIFY`: per-subtype data. */
  aux: number | undefined = undefined;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #at = 0;
  #end = 0;

  /** @param bytes Where the records are; a range of it is chosen by {@linkcode reset}. */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Starts a walk over `bytes[start, end)`, which must begin on a record. */
  reset(end: number, start = 0): void {
    if (!(0 <= start && start <= end && end <= this.#bytes.byteLength)) {
      throw new RangeError(`Cannot walk bytes ${start}..${end}: the buffer holds ${this.#bytes.byteLength}`);
    }
    this.#at = start;
    this.length = 0;
    this.#end = end;
  }

  /**
   * Steps to the next record.
   *
   * @returns false at the end of the range.
   * @throws {RangeError} If the bytes cannot be notification records: a truncated header, a length
   *   under 8, a record running past the end, or a key record shorter than 16 bytes.
   */
  next(): boolean {
    const at = this.#at + this.length;
    const left = this.#end - at;
    if (left <= 0) return false;
    if (left < HEADER_SIZE) {
      throw new RangeError(`Cannot decode watch_queue record at byte ${at}: only ${left} bytes left`);
    }
    const view = this.#view;
    const info = view.getUint32(at + 4, true);
    const length = info & MAX_RECORD_SIZE;
    if (length < HEADER_SIZE) {
      throw new RangeError(`Cannot decode watch_queue record at byte ${at}: impossible length ${length}`);
    }
    if (length > left) {
      throw new RangeError(`Cannot decode watch_queue record at byte ${at}: its ${length} bytes run past the end`);
    }
    const word = view.getUint32(at, true);
    const type = word & 0xffffff;
    const subtype = word >>> 24;
    let keyId: number | undefined, aux: number | undefined;
    if (type === WATCH_TYPE.KEY_NOTIFY) {
      if (length < KEY_NOTIFICATION_SIZE) {
        throw new RangeError(`Cannot decode watch_queue record at byte ${at}: a key notification of ${length} bytes`);
      }
      keyId = view.getInt32(at + 8, true);
      aux = view.getInt32(at + 12, true);
    } else if (type === WATCH_TYPE.META && subtype === WATCH_META.REMOVAL && length >= 16) {
      // struct watch_notification_removal: a u64 id; for keys, the key's serial
      keyId = view.getUint32(at + 8, true) + view.getUint32(at + 12, true) * 2 ** 32;
    }
    this.type = type;
    this.subtype = subtype;
    this.watchId = (info >>> 8) & 0xff;
    this.flags = info >>> 16;
    this.keyId = keyId;
    this.aux = aux;
    this.#at = at;
    this.length = length;
    return true;
  }

  /** The byte offset of the current record. */
  get offset(): number {
    return this.#at;
  }

  /** The byte offset just past the current record: where the next one starts. */
  get end(): number {
    return this.#at + this.length;
  }

  /** The current record's bytes after its header: a view, valid while the bytes under it are. */
  get payload(): DataView {
    const bytes = this.#bytes;
    return new DataView(bytes.buffer, bytes.byteOffset + this.#at + HEADER_SIZE, this.length - HEADER_SIZE);
  }

  /** The current record as a plain object that owns its bytes. */
  toNotification(): WatchNotification {
    const start = this.#at + HEADER_SIZE;
    // slice(): a copy on an ArrayBuffer of its own, even when the ring is a SharedArrayBuffer
    const payload = new DataView(this.#bytes.slice(start, this.#at + this.length).buffer);
    const n: { -readonly [K in keyof WatchNotification]: WatchNotification[K] } = {
      type: this.type,
      subtype: this.subtype,
      watchId: this.watchId,
      flags: this.flags,
      length: this.length,
      payload,
    };
    if (this.keyId !== undefined) n.keyId = this.keyId;
    if (this.aux !== undefined) n.aux = this.aux;
    return n;
  }
}

const TYPE_NAMES: Record<number, string> = { 0: "META", 1: "KEY_NOTIFY" };
const SUBTYPE_NAMES: Record<number, Record<number, string>> = {
  0: Object.fromEntries(Object.entries(WATCH_META).map(([k, v]) => [v, k])),
  1: Object.fromEntries(Object.entries(KEY_NOTIFY).map(([k, v]) => [v, k])),
};

/**
 * Names a notification's type and subtype, e.g. `["KEY_NOTIFY", "LINKED"]`; numbers the kernel
 * may add later come back as their decimal value.
 */
export function describeNotification(n: { type: number; subtype: number }): [string, string] {
  return [TYPE_NAMES[n.type] ?? String(n.type), SUBTYPE_NAMES[n.type]?.[n.subtype] ?? String(n.subtype)];
}
