/**
 * The {@linkcode Sys} table for Node >= 26.1: `node:ffi` `dlopen` of libc (`--experimental-ffi`).
 *
 * @module
 */
import { readOnPool } from "./pool_read.ts";
import type { Arg, Sys } from "./types.ts";

// The specifier is a variable so that Deno's type check does not try to resolve `node:ffi`.
const NODE_FFI = "node:ffi";
const { dlopen, getInt32, toArrayBuffer } = await import(NODE_FFI);

// A typed array passes as a pointer to its first byte, a view of a SharedArrayBuffer too (a bare
// SharedArrayBuffer does not). "pointer" also takes a bigint address, never a number. i64/u64
// take numbers and return bigints; there is no usize/isize.
const symbols = {
  inotify_init1: { arguments: ["i32"], return: "i32" }, // int (int flags)
  inotify_add_watch: { arguments: ["i32", "pointer", "u32"], return: "i32" }, // int (int fd, const char *path, uint32_t mask)
  inotify_rm_watch: { arguments: ["i32", "i32"], return: "i32" }, // int (int fd, int wd)
  read: { arguments: ["i32", "pointer", "u64"], return: "i64" }, // ssize_t (int fd, void *buf, size_t count)
  write: { arguments: ["i32", "pointer", "u64"], return: "i64" }, // ssize_t (int fd, const void *buf, size_t count)
  close: { arguments: ["i32"], return: "i32" }, // int (int fd)
  open: { arguments: ["pointer", "i32"], return: "i32" }, // int (const char *path, int flags, ...)
  getdents64: { arguments: ["i32", "pointer", "u64"], return: "i64" }, // ssize_t (int fd, void *buf, size_t count)
  statx: { arguments: ["i32", "pointer", "i32", "u32", "pointer"], return: "i32" }, // int (int dirfd, const char *path, int flags, unsigned mask, struct statx *buf)
  ioctl: { arguments: ["i32", "u64", "pointer"], return: "i32" }, // int (int fd, unsigned long request, ...)
  poll: { arguments: ["pointer", "u64", "i32"], return: "i32" }, // int (struct pollfd *fds, nfds_t nfds, int timeout)
  eventfd: { arguments: ["u32", "i32"], return: "i32" }, // int (unsigned int initval, int flags)
  pipe2: { arguments: ["pointer", "i32"], return: "i32" }, // int (int pipefd[2], int flags)
  syscall: { arguments: ["i64", "pointer", "pointer", "pointer", "pointer", "pointer"], return: "i64" }, // long (long number, ...)
  statfs: { arguments: ["pointer", "pointer"], return: "i32" }, // int (const char *path, struct statfs *buf)
  memfd_create: { arguments: ["pointer", "u32"], return: "i32" }, // int (const char *name, unsigned int flags)
  mmap: { arguments: ["u64", "u64", "i32", "i32", "i32", "i64"], return: "i64" }, // void *(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
  munmap: { arguments: ["u64", "u64"], return: "i32" }, // int (void *addr, size_t length)
  madvise: { arguments: ["u64", "u64", "i32"], return: "i32" }, // int (void *addr, size_t length, int advice)
  __errno_location: { arguments: [], return: "pointer" }, // int *(void)
};

/** Binds libc for the calling thread (errno is per thread). */
export function open(): Sys {
  const s = dlopen("libc.so.6", symbols).functions;
  const errnoAt: bigint = s.__errno_location();
  const word = (arg: Arg): bigint | Uint8Array => (typeof arg === "number" ? BigInt(arg) : arg);
  return {
    inotifyInit1: (flags) => s.inotify_init1(flags),
    inotifyAddWatch: (fd, path, mask) => s.inotify_add_watch(fd, path, mask),
    inotifyRmWatch: (fd, wd) => s.inotify_rm_watch(fd, wd),
    read: (fd, into) => Number(s.read(fd, into, into.byteLength)),
    write: (fd, from) => Number(s.write(fd, from, from.byteLength)),
    close: (fd) => s.close(fd),
    open: (path, flags) => s.open(path, flags),
    getdents64: (fd, into) => Number(s.getdents64(fd, into, into.byteLength)),
    statx: (dirfd, path, flags, mask, into) => s.statx(dirfd, path, flags, mask, into),
    ioctl: (fd, request, arg) => s.ioctl(fd, request, word(arg)),
    poll: (fds, timeoutMs) => s.poll(fds, fds.byteLength >> 3, timeoutMs),
    eventfd: (initval, flags) => s.eventfd(initval, flags),
    pipe2: (fds, flags) => s.pipe2(fds, flags),
    syscall: (number, ...args) => {
      const [a = 0n, b = 0n, c = 0n, d = 0n, e = 0n] = args.map(word);
      return Number(s.syscall(number, a, b, c, d, e));
    },
    statfs: (path, into) => s.statfs(path, into),
    memfdCreate: (name, flags) => s.memfd_create(name, flags),
    mmap: (length, prot, flags, fd, offset) => Number(s.mmap(0, length, prot, flags, fd, offset)),
    munmap: (address, length) => s.munmap(address, length),
    madvise: (address, length, advice) => s.madvise(address, length, advice),
    view: (address, length) => toArrayBuffer(BigInt(address), length, false), // false: no copy
    readAsync: readOnPool,
    errno: () => getInt32(errnoAt),
  };
}
