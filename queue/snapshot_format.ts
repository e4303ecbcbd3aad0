/**
 * The snapshot file's bytes: {@linkcode SnapshotEncoder} writes them, {@linkcode decodeSnapshot}
 * checks and reads them. Version 1, all numbers little-endian:
 *
 * ```text
 * offset size
 *      0    8  magic 89 4E 51 53 4E 41 50 0A ("\x89NQSNAP\n": the high byte and the newline catch
 *              a 7-bit or text-mode copy, as PNG's do)
 *      8    2  format version: 1 (a newer one is refused, never guessed at)
 *     10    2  flags: bit 0 = symbolic links were followed; the other bits are 0
 *     12    4  number of entries
 *     16    8  length of the whole file in bytes (so a cut file says "truncated", not "corrupt")
 *     24    8  when the walk started, ms since the epoch (f64)
 *     32    8  when it ended (f64): a file whose mtime falls in [start - 50 ms, end + 50 ms] may have
 *              changed again within the same timestamp tick, and is reported as modified
 *     40       roots: varint count, then for each a varint length and the absolute path (UTF-8)
 *       ...    the entries, parents before children; the first ones are the roots, in order
 * length-4 4  CRC-32 of every byte before it
 * ```
 *
 * An entry (6 to 10 bytes beside its name on a tree made at once; a varint is LEB128, 7 bits a
 * byte, and zigzag maps signed deltas to unsigned: 0, -1, 1, -2... -> 0, 1, 2, 3...):
 *
 * ```text
 * 1 byte   bits 0-3 type (d_type: 1 fifo, 2 char device, 4 directory, 6 block device, 8 file,
 *          10 symbolic link, 12 socket); bit 4 DEV: the device follows (always for a root, else
 *          only where it differs from the parent's: a mount point); bit 5 WIDE_INO; bit 6
 *          WIDE_MTIME; bit 7 is 0
 * varint   zigzag(parent index - the previous entry's parent index); a root's parent is -1, and
 *          the first entry's previous is -1. Siblings are contiguous in a walk: mostly one 0 byte
 * varint   name length, then the name's bytes exactly as the kernel gave them (not necessarily
 *          UTF-8); a root's name is empty (its path is in the header)
 * varint   DEV only: the device, major * 2^20 + minor
 * varint   zigzag(inode - the previous narrow entry's inode); WIDE_INO (inode >= 2^52, as on
 *          overlayfs with xino): the high and the low 32 bits as two varints
 * varint   size in bytes
 * varint   zigzag((mtime s - previous s) * 1e9 + (mtime ns - previous ns)): files written together
 *          differ by microseconds, 2-3 bytes; WIDE_MTIME (seconds apart by 2^22 or more):
 *          zigzag(s - previous s), then ns
 * ```
 *
 * @module
 */
import { crc32 } from "./crc32.ts";
import type { EntrySink, EntryStat, SnapshotHeader } from "./entry_table.ts";
import { EntryTable } from "./entry_table.ts";
import { FILE_TYPE } from "./fs_calls.ts";

/** The first 8 bytes of every snapshot file. */
export const SNAPSHOT_MAGIC: Uint8Array = new Uint8Array([0x89, 0x4e, 0x51, 0x53, 0x4e, 0x41, 0x50, 0x0a]);
/** The format version this module writes, and the newest it reads. */
export const SNAPSHOT_VERSION = 1;

const HEADER_SIZE = 40;
const FLAG_FOLLOW_SYMLINKS = 1;
const DEV = 0x10, WIDE_INO = 0x20, WIDE_MTIME = 0x40, RESERVED = 0x80;
const TYPES = new Set<number>([1, 2, 4, 6, 8, 10, 12]);
const WIDE_INO_HIGH = 2 ** 20; // inodes from 2^52 on: their deltas would not be exact numbers
const WIDE_SECONDS = 2 ** 22; // (2^22 s) * 1e9 < 2^52: the ns delta is an exact number below
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** Why a snapshot file was refused. */
export type SnapshotProblem = "foreign" | "version" | "truncated" | "corrupt";

/**
 * A snapshot file that cannot be used: not a snapshot (`foreign`), written by a newer format
 * (`version`), cut short (`truncated`), or changed since it was written (`corrupt`: the checksum
 * or the structure does not hold). Never a partial answer.
 */
export class SnapshotError extends Error {
  /** Always `"SnapshotError"`. */
  override name = "SnapshotError";
  /** What is wrong with it. */
  readonly problem: SnapshotProblem;
  /** The snapshot file. */
  readonly path: string;

  /**
   * @param path The snapshot file.
   * @param problem What is wrong with it.
   * @param detail The words after the problem.
   */
  constructor(path: string, problem: SnapshotProblem, detail: string) {
    super(`Cannot read snapshot '${path}': ${detail}`);
    this.problem = problem;
    this.path = path;
  }
}

/** One entry as a caller of {@linkcode encodeSnapshot} gives it. */
export interface SnapshotEntry {
  /** The index of the parent directory's entry (entries are numbered from 0 as given); -1 for a root. */
  readonly parent: number;
  /** The name in its directory: a string (written as UTF-8) or the exact bytes. Empty for a root. */
  readonly name: string | Uint8Array;
  /** One of {@linkcode FILE_TYPE}. */
  readonly type: number;
  /** The device: major * 2^20 + minor. */
  readonly dev: number;
  /** The inode number (exact below 2^53). */
  readonly ino: number;
  readonly size: number;
  /** Modification time: seconds since the epoch and nanoseconds. */
  readonly mtimeSec: number;
  readonly mtimeNsec: number;
}

/**
 * Writes a snapshot's bytes as entries come: an {@linkcode EntrySink} a walk feeds directly.
 * Entries must come parents first, roots first and in the header's order.
 */
export class SnapshotEncoder implements EntrySink {
  #out: Uint8Array;
  #at = 0;
  #count = 0;
  readonly #roots: number;
  #devs: number[] = []; // per entry: only directories' are read back, as their children's parent
  #prevParent = -1;
  #prevIno = 0;
  #prevSec = 0;
  #prevNsec = 0;

  /** Starts a file with `header`; `capacity` is a first guess at its size in bytes. */
  constructor(header: SnapshotHeader, capacity = 64 * 1024) {
    this.#out = new Uint8Array(Math.max(capacity, 1024));
    const view = new DataView(this.#out.buffer);
    this.#out.set(SNAPSHOT_MAGIC, 0);
    view.setUint16(8, SNAPSHOT_VERSION, true);
    view.setUint16(10, header.followSymlinks ? FLAG_FOLLOW_SYMLINKS : 0, true);
    view.setFloat64(24, header.startMs, true);
    view.setFloat64(32, header.endMs, true);
    this.#at = HEADER_SIZE;
    this.#roots = header.roots.length;
    this.#varint(header.roots.length);
    for (const root of header.roots) {
      const bytes = utf8.encode(root);
      this.#varint(bytes.length);
      this.#bytes(bytes, 0, bytes.length);
    }
  }

  /** Entries added so far. */
  get count(): number {
    return this.#count;
  }

  add(parent: number, names: Uint8Array, start: number, end: number, st: EntryStat): number {
    const index = this.#count;
    if (parent >= index || parent < -1 || (parent === -1) !== (index < this.#roots)) {
      throw new RangeError(
        `Cannot encode snapshot entry ${index}: parent ${parent} is not an earlier entry (or -1 for the ${this.#roots} roots)`,
      );
    }
    if (end - start > 255) throw new RangeError(`Cannot encode snapshot entry ${index}: name of ${end - start} bytes`);
    this.#reserve(40 + end - start);
    const type = st.type;
    const dev = st.dev;
    let flags = type & 0x0f;
    if (parent < 0 || this.#devs[parent] !== dev) flags |= DEV;
    const wideIno = st.inoHigh >= WIDE_INO_HIGH;
    if (wideIno) flags |= WIDE_INO;
    const dSec = st.mtimeSec - this.#prevSec;
    const wideMtime = dSec >= WIDE_SECONDS || dSec <= -WIDE_SECONDS;
    if (wideMtime) flags |= WIDE_MTIME;
    const out = this.#out;
    out[this.#at++] = flags;
    this.#zigzag(parent - this.#prevParent);
    this.#prevParent = parent;
    this.#varint(end - start);
    this.#bytes(names, start, end);
    if (flags & DEV) this.#varint(dev);
    if (wideIno) {
      this.#varint(st.inoHigh);
      this.#varint(st.inoLow);
    } else {
      const ino = st.inoHigh * 2 ** 32 + st.inoLow;
      this.#zigzag(ino - this.#prevIno);
      this.#prevIno = ino;
    }
    this.#varint(st.size);
    if (wideMtime) {
      this.#zigzag(dSec);
      this.#varint(st.mtimeNsec);
    } else {
      this.#zigzag(dSec * 1e9 + (st.mtimeNsec - this.#prevNsec));
    }
    this.#prevSec = st.mtimeSec;
    this.#prevNsec = st.mtimeNsec;
    if (type === FILE_TYPE.DIRECTORY) this.#devs[index] = dev;
    this.#count = index + 1;
    return index;
  }

  /**
   * The whole file: count, length and checksum filled in. The encoder is spent.
   * @param endMs When the walk ended, if not the header's.
   */
  finish(endMs?: number): Uint8Array {
    this.#reserve(4);
    const length = this.#at + 4;
    const view = new DataView(this.#out.buffer);
    if (endMs !== undefined) view.setFloat64(32, endMs, true);
    view.setUint32(12, this.#count, true);
    view.setUint32(16, length % 2 ** 32, true);
    view.setUint32(20, Math.floor(length / 2 ** 32), true);
    view.setUint32(this.#at, crc32(this.#out, 0, this.#at), true);
    return this.#out.subarray(0, length);
  }

  #reserve(bytes: number): void {
    if (this.#at + bytes <= this.#out.length) return;
    const grown = new Uint8Array(Math.max(this.#out.length * 2, this.#at + bytes));
    grown.set(this.#out.subarray(0, this.#at));
    this.#out = grown;
  }

  #bytes(from: Uint8Array, start: number, end: number): void {
    this.#reserve(end - start);
    const out = this.#out;
    let at = this.#at;
    for (let i = start; i < end; i++) out[at++] = from[i];
    this.#at = at;
  }

  /** An unsigned integer below 2^64 (exact below 2^53), LEB128. */
  #varint(value: number): void {
    const out = this.#out;
    let at = this.#at;
    while (value >= 0x80000000) {
      out[at++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    while (value >= 0x80) {
      out[at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    out[at++] = value;
    this.#at = at;
  }

  #zigzag(value: number): void {
    this.#varint(value >= 0 ? value * 2 : -value * 2 - 1);
  }
}

/**
 * The bytes of a snapshot of `entries`, for a caller that has them as objects (a watcher's tree).
 * @throws {RangeError} When an entry's parent is not an earlier entry, or a name is longer than 255 bytes.
 */
export function encodeSnapshot(header: SnapshotHeader, entries: Iterable<SnapshotEntry>): Uint8Array {
  const encoder = new SnapshotEncoder(header);
  const st = { type: 0, dev: 0, inoHigh: 0, inoLow: 0, size: 0, mtimeSec: 0, mtimeNsec: 0 };
  for (const entry of entries) {
    const name = typeof entry.name === "string" ? utf8.encode(entry.name) : entry.name;
    st.type = entry.type;
    st.dev = entry.dev;
    st.inoHigh = Math.floor(entry.ino / 2 ** 32);
    st.inoLow = entry.ino % 2 ** 32;
    st.size = entry.size;
    st.mtimeSec = entry.mtimeSec;
    st.mtimeNsec = entry.mtimeNsec;
    encoder.add(entry.parent, name, 0, name.length, st);
  }
  return encoder.finish();
}

/** A decoded snapshot: its header, and its entries in a table whose names are the file's bytes. */
export interface Snapshot {
  readonly header: SnapshotHeader;
  readonly entries: EntryTable;
}

/**
 * Checks and decodes a snapshot file's bytes.
 * @param path The file's path, for messages.
 * @throws {SnapshotError} `foreign`, `version`, `truncated` or `corrupt`.
 */
export function decodeSnapshot(bytes: Uint8Array, path: string): Snapshot {
  const fail = (problem: SnapshotProblem, detail: string) => new SnapshotError(path, problem, detail);
  const length = bytes.length;
  for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) {
    if (i >= length) throw fail("truncated", `truncated: ${length} bytes, not even the magic number`);
    if (bytes[i] !== SNAPSHOT_MAGIC[i]) {
      throw fail("foreign", "not a notiq snapshot (it does not start with the magic number 89 4E 51 53 4E 41 50 0A)");
    }
  }
  if (length < HEADER_SIZE + 5) throw fail("truncated", `truncated: ${length} bytes, shorter than a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  const version = view.getUint16(8, true);
  if (version > SNAPSHOT_VERSION) {
    throw fail(
      "version",
      `written in format version ${version}, newer than the ${SNAPSHOT_VERSION} this notiq reads (update notiq, or write the snapshot again)`,
    );
  }
  if (version === 0) throw fail("corrupt", "corrupt: format version 0");
  const expected = view.getUint32(16, true) + view.getUint32(20, true) * 2 ** 32;
  if (length < expected) throw fail("truncated", `truncated: ${length} of ${expected} bytes`);
  if (length > expected) throw fail("corrupt", `corrupt: ${length} bytes where the header says ${expected}`);
  const stored = view.getUint32(length - 4, true), computed = crc32(bytes, 0, length - 4);
  if (stored !== computed) {
    throw fail("corrupt", `corrupt: checksum ${hex(computed)} where the file says ${hex(stored)}`);
  }
  const flags = view.getUint16(10, true);
  if (flags & ~FLAG_FOLLOW_SYMLINKS) throw fail("corrupt", `corrupt: unknown flags ${hex(flags)}`);
  const count = view.getUint32(12, true);
  const end = length - 4;
  let at = HEADER_SIZE;
  const bad = (what: string) => fail("corrupt", `corrupt: ${what} at byte ${at}`);

  const varint = (): number => {
    let value = 0, shift = 0;
    for (;;) {
      if (at >= end) throw bad("a number runs past the end");
      const b = bytes[at++];
      if (shift < 28) value |= (b & 0x7f) << shift;
      else value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return shift < 28 ? value >>> 0 : value;
      shift += 7;
      if (shift > 63) throw bad("a number longer than 10 bytes");
    }
  };
  const zigzag = (): number => {
    const z = varint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  };

  const rootCount = varint();
  if (rootCount === 0) throw bad("no roots");
  const roots: string[] = [];
  for (let r = 0; r < rootCount; r++) {
    const n = varint();
    if (n === 0 || n > end - at) throw bad(`root ${r} of ${n} bytes`);
    roots.push(utf8Decoder.decode(bytes.subarray(at, at + n)));
    at += n;
  }
  const entries = new EntryTable(count, bytes);
  const devs = new Float64Array(count);
  let prevParent = -1, prevIno = 0, prevSec = 0, prevNsec = 0;
  for (let i = 0; i < count; i++) {
    if (at >= end) throw bad(`entry ${i} of ${count} missing`);
    const flags = bytes[at++];
    const type = flags & 0x0f;
    if (flags & RESERVED || !TYPES.has(type)) throw bad(`entry ${i} has flags ${hex(flags)}`);
    const parent = prevParent + zigzag();
    prevParent = parent;
    const isRoot = i < rootCount;
    if (isRoot ? parent !== -1 : parent < 0 || parent >= i || entries.type[parent] !== FILE_TYPE.DIRECTORY) {
      throw bad(`entry ${i} has parent ${parent}`);
    }
    const nameLength = varint();
    if ((nameLength === 0) !== isRoot || nameLength > 255 || nameLength > end - at) {
      throw bad(`entry ${i} has a name of ${nameLength} bytes`);
    }
    const nameStart = at;
    at += nameLength;
    let dev: number;
    if (flags & DEV) dev = varint();
    else if (isRoot) throw bad(`root entry ${i} has no device`);
    else dev = devs[parent];
    devs[i] = dev;
    let inoHigh: number, inoLow: number;
    if (flags & WIDE_INO) {
      inoHigh = varint();
      inoLow = varint();
      if (inoHigh >= 2 ** 32 || inoLow >= 2 ** 32) throw bad(`entry ${i} has inode ${inoHigh}:${inoLow}`);
    } else {
      const ino = prevIno + zigzag();
      if (ino < 0 || ino >= 2 ** 52) throw bad(`entry ${i} has inode ${ino}`);
      prevIno = ino;
      inoHigh = Math.floor(ino / 2 ** 32);
      inoLow = ino % 2 ** 32;
    }
    const size = varint();
    let sec: number, nsec: number;
    if (flags & WIDE_MTIME) {
      sec = prevSec + zigzag();
      nsec = varint();
    } else {
      const d = zigzag() + prevNsec; // ns from the previous entry's whole second
      const s = Math.floor(d / 1e9);
      sec = prevSec + s;
      nsec = d - s * 1e9;
    }
    if (nsec >= 1e9) throw bad(`entry ${i} has mtime nanoseconds ${nsec}`);
    prevSec = sec;
    prevNsec = nsec;
    entries.addRef(parent, nameStart, nameStart + nameLength, type, dev, inoHigh, inoLow, size, sec, nsec);
  }
  if (at !== end) throw bad(`${end - at} bytes after the last entry`);
  const header: SnapshotHeader = {
    roots,
    followSymlinks: (flags & FLAG_FOLLOW_SYMLINKS) !== 0,
    startMs: view.getFloat64(24, true),
    endMs: view.getFloat64(32, true),
  };
  return { header, entries };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}
