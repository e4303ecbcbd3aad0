/**
 * The whole boundary between notiq and libc. Each method is one libc call and returns what libc
 * returns: `-1` means "ask {@linkcode Sys.errno}". No parsing, no errors, no retries live here.
 *
 * @module
 */

/** A pointer-sized argument: bytes whose address is passed, or a plain integer. */
export type Arg = Uint8Array | number;

/** The libc calls notiq makes, bound by `ffi/deno.ts`, `ffi/bun.ts`, `ffi/node.ts` or `ffi/koffi.ts`. */
export interface Sys {
  inotifyInit1(flags: number): number;
  inotifyAddWatch(fd: number, path: Uint8Array, mask: number): number;
  inotifyRmWatch(fd: number, wd: number): number;
  read(fd: number, into: Uint8Array): number;
  write(fd: number, from: Uint8Array): number;
  close(fd: number): number;
  /** `open(path, flags)`, without `O_CREAT` (so no mode). */
  open(path: Uint8Array, flags: number): number;
  /** `getdents64(fd, into, size)`: whole `struct linux_dirent64` records, 0 at the end. */
  getdents64(fd: number, into: Uint8Array): number;
  /** `statx(dirfd, path, flags, mask, into)`: `into` holds a `struct statx` (256 bytes). */
  statx(dirfd: number, path: Uint8Array, flags: number, mask: number, into: Uint8Array): number;
  /** `ioctl(fd, request, arg)`: `arg` is a buffer's address or an integer, as the request wants. */
  ioctl(fd: number, request: number, arg: Arg): number;
  /** `poll(fds, nfds, timeout)`: `fds` holds whole `struct pollfd`s (8 bytes each). */
  poll(fds: Uint8Array, timeoutMs: number): number;
  eventfd(initval: number, flags: number): number;
  /** `pipe2(fds, flags)`: `fds` receives the read end, then the write end. */
  pipe2(fds: Int32Array, flags: number): number;
  /** `syscall(number, ...)` with up to five pointer-sized arguments. */
  syscall(number: number, ...args: Arg[]): number;
  /** `statfs(path, into)`: `into` holds a `struct statfs` (120 bytes on 64-bit Linux). */
  statfs(path: Uint8Array, into: Uint8Array): number;
  /** `memfd_create(name, flags)`: an anonymous file that lives until its last fd is closed. */
  memfdCreate(name: Uint8Array, flags: number): number;
  /** `mmap(NULL, length, prot, flags, fd, offset)`: the address, or -1. */
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): number;
  /** `munmap(address, length)`. */
  munmap(address: number, length: number): number;
  /** `madvise(address, length, advice)`. */
  madvise(address: number, length: number, advice: number): number;
  /**
   * An ArrayBuffer over `length` bytes at `address`, without a copy. The runtime never frees the
   * memory: it belongs to whoever mapped it.
   */
  view(address: number, length: number): ArrayBuffer;
  /**
   * `read(fd, into)` on a thread of the runtime's own pool, so a blocking read (an eventfd's)
   * waits without blocking JavaScript. Resolves with the count, or -1 (its errno is that other
   * thread's: not readable here).
   */
  readAsync(fd: number, into: Uint8Array): Promise<number>;
  /** errno of the last failed call on this thread; read it before any other call. */
  errno(): number;
}
