/**
 * The file-system calls `watch()` makes, through the same {@linkcode Sys} as the queues: directory
 * listings with open(2) + getdents64(2), decoded in place like the event records, and statx(2).
 * Listing 10,001 directories took 65-70 ms with node:fs's readdirSync in Deno (46-52 in Bun) and
 * 42-46 ms this way, nearly all of it the kernel's; lstat and stat cost a Stats object less. Names
 * are decoded as event names are (decodeName), so a listed name and an event's name for the same
 * file are the same string, and Deno's permissions are not asked (FFI already holds them all).
 *
 * @module
 */
import type { Sys } from "../ffi/types.ts";
import { CPath } from "./args.ts";
import { SyscallError } from "./errors.ts";
import { decodeName } from "./inotify_records.ts";
import { O } from "./linux.ts";

/** File types, as `d_type` gives them (and `st_mode >> 12`). */
export const FILE_TYPE = {
  UNKNOWN: 0,
  FIFO: 1,
  CHARACTER_DEVICE: 2,
  DIRECTORY: 4,
  BLOCK_DEVICE: 6,
  FILE: 8,
  SYMLINK: 10,
  SOCKET: 12,
} as const;

/** One entry of a directory listing. */
export interface DirEntry {
  /** The name, decoded as event names are. */
  readonly name: string;
  /** One of {@linkcode FILE_TYPE}; never UNKNOWN (then the entry was lstat'ed). */
  readonly type: number;
}

/** What `statx` says of a file, as far as the watcher needs it. */
export interface FileStat {
  /** One of {@linkcode FILE_TYPE}. */
  readonly type: number;
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  /** Modification time in ms, with the nanoseconds as a fraction (as node:fs's `mtimeMs`). */
  readonly mtimeMs: number;
  /** Modification time exactly: seconds since the epoch and nanoseconds. */
  readonly mtimeSec: number;
  readonly mtimeNsec: number;
}

/**
 * A `struct statx` decoded in place: every field is overwritten by the next {@linkcode Statx.decode},
 * so a walk of many files allocates nothing per file. The one statx decoder: {@linkcode FsCalls}'s
 * `lstat` and `stat` copy from it.
 */
export class Statx {
  /** One of {@linkcode FILE_TYPE} (`stx_mode`'s S_IFMT bits are d_type's values). */
  type = 0;
  /** `stx_dev_major` and `stx_dev_minor` as one number: major * 2^20 + minor. */
  dev = 0;
  /** `stx_ino`, high and low 32 bits (exact: an overlayfs inode may use all 64). */
  inoHigh = 0;
  inoLow = 0;
  /** `stx_size` (exact up to 2^53). */
  size = 0;
  /** `stx_mtime`: seconds since the epoch (may be negative) and nanoseconds, exact. */
  mtimeSec = 0;
  mtimeNsec = 0;

  /** `stx_ino` as a number, exact below 2^53. */
  get ino(): number {
    return this.inoHigh * 2 ** 32 + this.inoLow;
  }

  /** Modification time in ms, with the nanoseconds as a fraction (as node:fs's `mtimeMs`). */
  get mtimeMs(): number {
    return this.mtimeSec * 1000 + this.mtimeNsec / 1e6;
  }

  /** Reads the fields from the `struct statx` in `view`. */
  decode(view: DataView): void {
    this.type = view.getUint16(28, true) >> 12;
    this.dev = view.getUint32(136, true) * 2 ** 20 + view.getUint32(140, true);
    this.inoLow = view.getUint32(32, true);
    this.inoHigh = view.getUint32(36, true);
    this.size = view.getUint32(40, true) + view.getUint32(44, true) * 2 ** 32;
    // stx_mtime: tv_sec (i64) at 112, tv_nsec (u32) at 120
    this.mtimeSec = view.getInt32(116, true) * 2 ** 32 + view.getUint32(112, true);
    this.mtimeNsec = view.getUint32(120, true);
  }
}

/** `dir/name`, for a `dir` that may end with a slash (the root, `/`). */
export function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/** Bytes of `struct linux_dirent64` before its name: d_ino, d_off, d_reclen, d_type. */
const DIRENT_HEADER = 19;

/**
 * Walks the `struct linux_dirent64` records of one getdents64(2) result, allocating nothing.
 * The fields describe the current record until the next call to {@linkcode DirentCursor.next}.
 */
export class DirentCursor {
  /** The current record's `d_type`. */
  type = 0;
  /** Where the current record's name starts. */
  nameStart = 0;
  /** Where it ends (its NUL). */
  nameEnd = 0;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #next = 0;
  #end = 0;

  /** A cursor over records in `bytes`. */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Starts a walk over the first `end` bytes. */
  reset(end: number): void {
    this.#next = 0;
    this.#end = end;
  }

  /**
   * Steps to the next record; false at the end.
   * @throws {RangeError} If a record's length does not fit the bytes, or its name has no NUL.
   */
  next(): boolean {
    const at = this.#next;
    const left = this.#end - at;
    if (left <= 0) return false;
    if (left < DIRENT_HEADER + 1) throw new RangeError(`Cannot decode dirent at byte ${at}: only ${left} bytes left`);
    const length = this.#view.getUint16(at + 16, true);
    if (length < DIRENT_HEADER + 1 || length > left) {
      throw new RangeError(`Cannot decode dirent at byte ${at}: length ${length} with ${left} bytes left`);
    }
    const bytes = this.#bytes, start = at + DIRENT_HEADER, end = at + length;
    let nul = start;
    while (nul < end && bytes[nul] !== 0) nul++;
    if (nul === end) throw new RangeError(`Cannot decode dirent at byte ${at}: name has no NUL`);
    this.type = bytes[at + 18];
    this.nameStart = start;
    this.nameEnd = nul;
    this.#next = end;
    return true;
  }

  /** True for the `.` and `..` entries. */
  get isDots(): boolean {
    const b = this.#bytes, s = this.nameStart, n = this.nameEnd - s;
    return b[s] === 0x2e && (n === 1 || (n === 2 && b[s + 1] === 0x2e));
  }

  /** The current record's name. */
  name(): string {
    return decodeName(this.#bytes, this.nameStart, this.nameEnd);
  }
}

const O_RDONLY_DIRECTORY_CLOEXEC = 0o200000 | 0o2000000;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_WANTED = 0x1 | 0x2 | 0x40 | 0x100 | 0x200; // TYPE | MODE | MTIME | INO | SIZE
const STATX_SIZE = 256;
const LISTING_SIZE = 32 * 1024;
const NAME_SIZE = 256; // NAME_MAX + its NUL
const ENOENT = 2, ENOTDIR = 20, ELOOP = 40;
const utf8Decoder = new TextDecoder();

/** What {@linkcode FsCalls.scan} calls for each entry: its name is `names[start, end)`. */
export type ScanEach = (names: Uint8Array, start: number, end: number, st: Statx) => void;

/** Listing and stat through libc, with buffers reused from call to call (one thread's). */
export class FsCalls {
  readonly #sys: Sys;
  readonly #listing = new Uint8Array(LISTING_SIZE);
  readonly #cursor = new DirentCursor(this.#listing);
  readonly #stat = new Uint8Array(STATX_SIZE);
  readonly #statView = new DataView(this.#stat.buffer);
  readonly #st = new Statx();
  readonly #path = new CPath();
  readonly #name = new Uint8Array(NAME_SIZE);

  constructor(sys: Sys) {
    this.#sys = sys;
  }

  /**
   * The entries of a directory but `.` and `..`, in the kernel's order.
   * @throws {SyscallError} From `open` (`ENOENT`, `ENOTDIR`, `EACCES`...) or `getdents64`, with the path.
   */
  list(path: string): DirEntry[] {
    const sys = this.#sys;
    const fd = sys.open(this.#path.of(path), O_RDONLY_DIRECTORY_CLOEXEC);
    if (fd === -1) throw new SyscallError(sys.errno(), "open", path);
    const entries: DirEntry[] = [];
    try {
      const cursor = this.#cursor;
      for (let n; (n = sys.getdents64(fd, this.#listing)) !== 0;) {
        if (n === -1) throw new SyscallError(sys.errno(), "getdents64", path);
        cursor.reset(n);
        while (cursor.next()) {
          if (cursor.isDots) continue;
          entries.push({ name: cursor.name(), type: cursor.type });
        }
      }
    } finally {
      sys.close(fd);
    }
    // Some file systems leave d_type UNKNOWN: ask them (after the listing, once its fd is closed).
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry.type !== FILE_TYPE.UNKNOWN) continue;
      const type = this.lstat(join(path, entry.name))?.type ?? FILE_TYPE.UNKNOWN;
      entries[i] = { name: entry.name, type };
    }
    return entries;
  }

  /**
   * Lists a directory and statx()es each entry but `.` and `..` relative to its fd: no path walk
   * from the root per entry, and names that are not UTF-8 reach the kernel as they are. `each`
   * gets the name's bytes and the decoded {@linkcode Statx}, both valid only during the call. An
   * entry gone before its statx is skipped. Nothing is allocated per entry.
   *
   * @param path The directory as a C string (NUL-terminated bytes), so any name can be in it.
   * @param followPath Open `path` through a final symbolic link (else `O_NOFOLLOW`).
   * @param followEntries statx() symbolic links through (a dangling link, or a loop, stays a link).
   * @returns false when `path` is gone or no longer a directory (`ENOENT`, `ENOTDIR`, `ELOOP`).
   * @throws {SyscallError} From `open` (`EACCES`...), `getdents64` or `statx`, with the path.
   */
  scan(path: Uint8Array, followPath: boolean, followEntries: boolean, each: ScanEach): boolean {
    const sys = this.#sys;
    const fd = sys.open(path, O_RDONLY_DIRECTORY_CLOEXEC | (followPath ? 0 : O.NOFOLLOW));
    if (fd === -1) {
      const errno = sys.errno();
      if (errno === ENOENT || errno === ENOTDIR || errno === ELOOP) return false;
      throw new SyscallError(errno, "open", cStringText(path));
    }
    try {
      const cursor = this.#cursor, listing = this.#listing, name = this.#name, st = this.#st;
      for (let n; (n = sys.getdents64(fd, listing)) !== 0;) {
        if (n === -1) throw new SyscallError(sys.errno(), "getdents64", cStringText(path));
        cursor.reset(n);
        while (cursor.next()) {
          if (cursor.isDots) continue;
          const start = cursor.nameStart, end = cursor.nameEnd;
          for (let i = start; i <= end; i++) name[i - start] = listing[i]; // with its NUL
          if (sys.statx(fd, name, AT_SYMLINK_NOFOLLOW, STATX_WANTED, this.#stat) === -1) {
            const errno = sys.errno();
            if (errno === ENOENT) continue; // gone since the listing
            throw new SyscallError(errno, "statx", joinText(path, listing, start, end));
          }
          st.decode(this.#statView);
          if (
            followEntries && st.type === FILE_TYPE.SYMLINK && sys.statx(fd, name, 0, STATX_WANTED, this.#stat) === 0
          ) {
            st.decode(this.#statView);
          }
          each(listing, start, end, st);
        }
      }
    } finally {
      sys.close(fd);
    }
    return true;
  }

  /**
   * `lstat`: the path itself, a symbolic link included. Undefined when it does not exist.
   * @throws {SyscallError} From `statx` for anything but `ENOENT` and `ENOTDIR` (e.g. `EACCES`).
   */
  lstat(path: string): FileStat | undefined {
    return this.#fileStat(path, AT_SYMLINK_NOFOLLOW);
  }

  /**
   * `stat`: what the path leads to through symbolic links. Undefined when that does not exist,
   * a dangling link and a link loop (`ELOOP`) included.
   * @throws {SyscallError} From `statx` for any other error.
   */
  stat(path: string): FileStat | undefined {
    return this.#fileStat(path, 0);
  }

  /**
   * `stat` (`follow`) or `lstat` of a path into the one {@linkcode Statx} of this FsCalls, valid
   * until its next call. Undefined as for {@linkcode stat}.
   * @throws {SyscallError} From `statx`, as {@linkcode stat}.
   */
  statx(path: string, follow: boolean): Statx | undefined {
    const flags = follow ? 0 : AT_SYMLINK_NOFOLLOW;
    const sys = this.#sys;
    if (sys.statx(AT_FDCWD, this.#path.of(path), flags, STATX_WANTED, this.#stat) === -1) {
      const errno = sys.errno();
      if (errno === ENOENT || errno === ENOTDIR || (errno === ELOOP && flags === 0)) return undefined;
      throw new SyscallError(errno, "statx", path);
    }
    this.#st.decode(this.#statView);
    return this.#st;
  }

  #fileStat(path: string, flags: number): FileStat | undefined {
    const st = this.statx(path, flags === 0);
    if (!st) return undefined;
    return {
      type: st.type,
      dev: st.dev,
      ino: st.ino,
      size: st.size,
      mtimeMs: st.mtimeMs,
      mtimeSec: st.mtimeSec,
      mtimeNsec: st.mtimeNsec,
    };
  }
}

/** A C string's text (for messages), without its NUL. */
function cStringText(path: Uint8Array): string {
  const nul = path.indexOf(0);
  return utf8Decoder.decode(nul === -1 ? path : path.subarray(0, nul));
}

/** `dir/name` as text, for messages. */
function joinText(dir: Uint8Array, names: Uint8Array, start: number, end: number): string {
  return join(cStringText(dir), utf8Decoder.decode(names.subarray(start, end)));
}
