/**
 * Zero-copy decoding of `struct inotify_event` records in place, wherever the kernel wrote them.
 *
 * @module
 */

/** Bytes of `struct inotify_event` before its name: wd, mask, cookie, len. */
export const HEADER_SIZE = 16;
/** The longest file name Linux allows, in bytes. */
export const NAME_MAX = 255;
/** The smallest read buffer that always holds the next event; a smaller one fails with EINVAL. */
export const MIN_READ_SIZE = HEADER_SIZE + NAME_MAX + 1;
/** The largest `len`: NAME_MAX plus the NUL, padded to 16 bytes. */
const MAX_NAME_FIELD = 256;

/** One inotify event as a plain object the caller may keep. */
export interface InotifyEvent {
  /** The watch descriptor, as returned by `addWatch`; -1 for `Q_OVERFLOW`. */
  readonly wd: number;
  /** Bits from `IN`: what happened, plus `ISDIR` when the subject is a directory. */
  readonly mask: number;
  /** Equal for the `MOVED_FROM` and `MOVED_TO` of one rename, otherwise 0. */
  readonly cookie: number;
  /** The file name inside the watched directory, as UTF-8; `""` for the watched object itself. */
  readonly name: string;
  /** The name's exact bytes: names that are not UTF-8 lose nothing here. */
  readonly nameBytes: Uint8Array;
}

const utf8 = new TextDecoder();

/**
 * Decodes `bytes[start, end)` as UTF-8, with a fast path for ASCII names (the common case) that
 * avoids a TextDecoder call.
 */
export function decodeName(bytes: Uint8Array, start: number, end: number): string {
  let name = "";
  for (let i = start; i < end; i++) {
    const byte = bytes[i];
    // slice(): TextDecoder refuses views of a SharedArrayBuffer
    if (byte >= 0x80) return utf8.decode(bytes.slice(start, end));
    name += String.fromCharCode(byte);
  }
  return name;
}

/**
 * Walks the records in a byte range one at a time, allocating nothing. The fields describe the
 * current record and stay valid until the next call to {@linkcode InotifyCursor.next}.
 *
 * @example Walking a buffer
 * ```ts ignore
 * const c = new InotifyCursor(bytes);
 * c.reset(bytes.byteLength);
 * while (c.next()) console.log(c.wd, c.mask, c.name);
 * ```
 */
export class InotifyCursor {
  /** The current record's watch descriptor. */
  wd = 0;
  /** The current record's mask. */
  mask = 0;
  /** The current record's cookie. */
  cookie = 0;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #at = -HEADER_SIZE;
  #nameLength = 0;
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
    this.#at = start - HEADER_SIZE;
    this.#nameLength = 0;
    this.#end = end;
  }

  /**
   * Steps to the next record.
   *
   * @returns false at the end of the range.
   * @throws {RangeError} If the bytes cannot be inotify records (a truncated header, a `len`
   * that is not a multiple of 16 up to 256, or a name running past the end).
   */
  next(): boolean {
    const at = this.#at + HEADER_SIZE + this.#nameLength;
    const left = this.#end - at;
    if (left <= 0) return false;
    if (left < HEADER_SIZE) {
      throw new RangeError(`Cannot decode inotify record at byte ${at}: only ${left} bytes left`);
    }
    const nameLength = this.#view.getUint32(at + 12, true);
    if ((nameLength & 15) !== 0 || nameLength > MAX_NAME_FIELD) {
      throw new RangeError(`Cannot decode inotify record at byte ${at}: impossible name length ${nameLength}`);
    }
    if (nameLength > left - HEADER_SIZE) {
      throw new RangeError(`Cannot decode inotify record at byte ${at}: name runs past the end`);
    }
    this.wd = this.#view.getInt32(at, true);
    this.mask = this.#view.getUint32(at + 4, true);
    this.cookie = this.#view.getUint32(at + 8, true);
    this.#at = at;
    this.#nameLength = nameLength;
    return true;
  }

  /** The byte offset of the current record. */
  get offset(): number {
    return this.#at;
  }

  /** The byte offset just past the current record: where the next one starts. */
  get end(): number {
    return this.#at + HEADER_SIZE + this.#nameLength;
  }

  /** End of the current record's name: before the NUL padding (1 to 16 bytes). */
  #nameEnd(): number {
    const start = this.#at + HEADER_SIZE;
    let end = start + this.#nameLength;
    while (end > start && this.#bytes[end - 1] === 0) end--;
    return end;
  }

  /** The current record's name, decoded on demand. */
  get name(): string {
    return this.#nameLength === 0 ? "" : decodeName(this.#bytes, this.#at + HEADER_SIZE, this.#nameEnd());
  }

  /** The current record's name bytes: a view, valid while the bytes under it are. */
  get nameBytes(): Uint8Array {
    return this.#bytes.subarray(this.#at + HEADER_SIZE, this.#nameEnd());
  }

  /** The current record as a plain object that owns its bytes. */
  toEvent(): InotifyEvent {
    return { wd: this.wd, mask: this.mask, cookie: this.cookie, name: this.name, nameBytes: this.nameBytes.slice() };
  }
}
