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
export const MIN_READ_SIZE: number = HEADER_SIZE + NAME_MAX + 1;
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
  let any = 0;
  for (let i = start; i < end; i++) any |= bytes[i];
  // slice(): TextDecoder refuses views of a SharedArrayBuffer
  if (any >= 0x80) return utf8.decode(bytes.slice(start, end));
  return ascii(bytes, start, end - start);
}

const code = String.fromCharCode;

/**
 * An ASCII name as a flat string: one fromCharCode call with the bytes as arguments, 2-5x faster
 * than adding a character at a time (V8 and JSC), and nothing allocated but the string.
 */
// deno-fmt-ignore
function ascii(b: Uint8Array, s: number, n: number): string {
  switch (n) {
    case 0: return "";
    case 1: return code(b[s]);
    case 2: return code(b[s], b[s + 1]);
    case 3: return code(b[s], b[s + 1], b[s + 2]);
    case 4: return code(b[s], b[s + 1], b[s + 2], b[s + 3]);
    case 5: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4]);
    case 6: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5]);
    case 7: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6]);
    case 8: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7]);
    case 9: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8]);
    case 10: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9]);
    case 11: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10]);
    case 12: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10], b[s + 11]);
    case 13: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10], b[s + 11], b[s + 12]);
    case 14: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10], b[s + 11], b[s + 12], b[s + 13]);
    case 15: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10], b[s + 11], b[s + 12], b[s + 13], b[s + 14]);
    case 16: return code(b[s], b[s + 1], b[s + 2], b[s + 3], b[s + 4], b[s + 5], b[s + 6], b[s + 7], b[s + 8], b[s + 9], b[s + 10], b[s + 11], b[s + 12], b[s + 13], b[s + 14], b[s + 15]);
    default: return code.apply(null, b.subarray(s, s + n) as unknown as number[]);
  }
}

// The name cache behind InotifyCursor.name: direct-mapped, shared by every cursor of this thread.
// Fields of up to 64 bytes (names of up to 63) are cached: 1,024 slots, 64 KiB of words.
const CACHE_BITS = 10;
const CACHED_FIELD = 64;
const CACHED_WORDS = CACHED_FIELD / 4;
const cachedWords = new Int32Array((1 << CACHE_BITS) * CACHED_WORDS);
const cachedLength = new Int32Array(1 << CACHE_BITS);
const cachedNames: string[] = new Array<string>(1 << CACHE_BITS).fill("");

// Kept names are copied into 8 KiB slabs, as node:fs pools small Buffers: each event gets a view
// of its own bytes. In V8 a view costs ~15 ns where `new Uint8Array(n)` or `slice()` cost ~200 ns.
// A kept nameBytes keeps its slab alive (8 KiB at most), as a pooled Buffer does.
const SLAB_SIZE = 8192;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabBytes = new Uint8Array(slab);
let slabUsed = 0;

/** A copy of `bytes[start, end)` that the caller owns (a view of its own range of a slab). */
function copyBytes(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const length = end - start;
  if (length > SLAB_SIZE - slabUsed) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabBytes = new Uint8Array(slab);
    slabUsed = 0;
  }
  const at = slabUsed;
  for (let i = 0; i < length; i++) slabBytes[at + i] = bytes[start + i];
  slabUsed = at + length;
  return new Uint8Array(slab, at, length);
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

  /**
   * The current record's name, decoded on demand. Names repeat (the same few files change again
   * and again), so decoded names are kept by the exact bytes of their padded name field: a name
   * seen before costs a hash and a compare of 4 to 16 words instead of a decode and a new string.
   */
  get name(): string {
    const fieldLength = this.#nameLength;
    if (fieldLength === 0) return "";
    const start = this.#at + HEADER_SIZE;
    if (fieldLength > CACHED_FIELD) return decodeName(this.#bytes, start, this.#nameEnd());
    // The field is the name, its NUL and zero padding: the same name always has the same field.
    const view = this.#view;
    const words = fieldLength >> 2;
    let hash = fieldLength;
    for (let i = 0; i < words; i++) hash = Math.imul(hash ^ view.getInt32(start + 4 * i, true), 0x9e3779b1);
    const slot = hash >>> (32 - CACHE_BITS);
    const base = slot * CACHED_WORDS;
    if (cachedLength[slot] === fieldLength) {
      let i = 0;
      while (i < words && cachedWords[base + i] === view.getInt32(start + 4 * i, true)) i++;
      if (i === words) return cachedNames[slot];
    }
    const name = decodeName(this.#bytes, start, this.#nameEnd());
    for (let i = 0; i < words; i++) cachedWords[base + i] = view.getInt32(start + 4 * i, true);
    cachedLength[slot] = fieldLength;
    cachedNames[slot] = name;
    return name;
  }

  /** The current record's name bytes: a view, valid while the bytes under it are. */
  get nameBytes(): Uint8Array {
    return this.#bytes.subarray(this.#at + HEADER_SIZE, this.#nameEnd());
  }

  /** The current record as a plain object that owns its bytes. */
  toEvent(): InotifyEvent {
    const start = this.#at + HEADER_SIZE;
    const nameBytes = copyBytes(this.#bytes, start, this.#nameLength === 0 ? start : this.#nameEnd());
    return { wd: this.wd, mask: this.mask, cookie: this.cookie, name: this.name, nameBytes };
  }
}
