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
import { cString } from "./args.ts";
import { SyscallError } from "./errors.ts";
import { decodeName } from "./inotify_records.ts";

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
const PATH_SIZE = 4096; // PATH_MAX; a longer path goes as its own buffer, for the kernel's ENAMETOOLONG
const ENOENT = 2, ENOTDIR = 20, ELOOP = 40;
const utf8 = new TextEncoder();

/** Listing and stat through libc, with buffers reused from call to call (one thread's). */
export class FsCalls {
  readonly #sys: Sys;
  readonly #listing = new Uint8Array(LISTING_SIZE);
  readonly #cursor = new DirentCursor(this.#listing);
  readonly #stat = new Uint8Array(STATX_SIZE);
  readonly #statView = new DataView(this.#stat.buffer);
  readonly #path = new Uint8Array(PATH_SIZE);

  constructor(sys: Sys) {
    this.#sys = sys;
  }

  /**
   * The entries of a directory but `.` and `..`, in the kernel's order.
   * @throws {SyscallError} From `open` (`ENOENT`, `ENOTDIR`, `EACCES`...) or `getdents64`, with the path.
   */
  list(path: string): DirEntry[] {
    const sys = this.#sys;
    const fd = sys.open(this.#cPath(path), O_RDONLY_DIRECTORY_CLOEXEC);
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
   * `lstat`: the path itself, a symbolic link included. Undefined when it does not exist.
   * @throws {SyscallError} From `statx` for anything but `ENOENT` and `ENOTDIR` (e.g. `EACCES`).
   */
  lstat(path: string): FileStat | undefined {
    return this.#statx(path, AT_SYMLINK_NOFOLLOW);
  }

  /**
   * `stat`: what the path leads to through symbolic links. Undefined when that does not exist,
   * a dangling link and a link loop (`ELOOP`) included.
   * @throws {SyscallError} From `statx` for any other error.
   */
  stat(path: string): FileStat | undefined {
    return this.#statx(path, 0);
  }

  #statx(path: string, flags: number): FileStat | undefined {
    const sys = this.#sys;
    if (sys.statx(AT_FDCWD, this.#cPath(path), flags, STATX_WANTED, this.#stat) === -1) {
      const errno = sys.errno();
      if (errno === ENOENT || errno === ENOTDIR || (errno === ELOOP && flags === 0)) return undefined;
      throw new SyscallError(errno, "statx", path);
    }
    const v = this.#statView;
    return {
      type: v.getUint16(28, true) >> 12, // stx_mode's S_IFMT bits are d_type's values
      dev: v.getUint32(136, true) * 2 ** 20 + v.getUint32(140, true), // stx_dev_major, stx_dev_minor
      ino: v.getUint32(32, true) + v.getUint32(36, true) * 2 ** 32,
      size: v.getUint32(40, true) + v.getUint32(44, true) * 2 ** 32,
      mtimeMs: Number(v.getBigInt64(112, true)) * 1000 + v.getUint32(120, true) / 1e6, // stx_mtime
    };
  }

  /** `path` as a C string, in a buffer reused from call to call. */
  #cPath(path: string): Uint8Array {
    const { read, written } = utf8.encodeInto(path, this.#path);
    if (read < path.length || written === PATH_SIZE) return cString(path);
    this.#path[written] = 0;
    return this.#path;
  }
}
