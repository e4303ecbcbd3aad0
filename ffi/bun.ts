/** The {@linkcode Sys} table for Bun: `bun:ffi` `dlopen` of libc. @module */
import { readOnPool } from "./pool_read.ts";
import type { Arg, Sys } from "./types.ts";

// The specifier is a variable so that Deno's type check does not try to resolve `bun:ffi`.
const BUN_FFI = "bun:ffi";
const { dlopen, ptr, read: peek, toArrayBuffer } = await import(BUN_FFI);

const symbols = {
  inotify_init1: { args: ["i32"], returns: "i32" }, // int (int flags)
  inotify_add_watch: { args: ["i32", "ptr", "u32"], returns: "i32" }, // int (int fd, const char *path, uint32_t mask)
  inotify_rm_watch: { args: ["i32", "i32"], returns: "i32" }, // int (int fd, int wd)
  read: { args: ["i32", "ptr", "u64"], returns: "i64_fast" }, // ssize_t (int fd, void *buf, size_t count)
  write: { args: ["i32", "ptr", "u64"], returns: "i64_fast" }, // ssize_t (int fd, const void *buf, size_t count)
  close: { args: ["i32"], returns: "i32" }, // int (int fd)
  open: { args: ["ptr", "i32"], returns: "i32" }, // int (const char *path, int flags, ...)
  getdents64: { args: ["i32", "ptr", "u64"], returns: "i64_fast" }, // ssize_t (int fd, void *buf, size_t count)
  statx: { args: ["i32", "ptr", "i32", "u32", "ptr"], returns: "i32" }, // int (int dirfd, const char *path, int flags, unsigned mask, struct statx *buf)
  ioctl: { args: ["i32", "u64", "u64"], returns: "i32" }, // int (int fd, unsigned long request, ...)
  poll: { args: ["ptr", "u64", "i32"], returns: "i32" }, // int (struct pollfd *fds, nfds_t nfds, int timeout)
  eventfd: { args: ["u32", "i32"], returns: "i32" }, // int (unsigned int initval, int flags)
  pipe2: { args: ["ptr", "i32"], returns: "i32" }, // int (int pipefd[2], int flags)
  syscall: { args: ["i64", "u64", "u64", "u64", "u64", "u64"], returns: "i64_fast" }, // long (long number, ...)
  statfs: { args: ["ptr", "ptr"], returns: "i32" }, // int (const char *path, struct statfs *buf)
  memfd_create: { args: ["ptr", "u32"], returns: "i32" }, // int (const char *name, unsigned int flags)
  mmap: { args: ["u64", "u64", "i32", "i32", "i32", "i64"], returns: "i64_fast" }, // void *(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
  munmap: { args: ["u64", "u64"], returns: "i32" }, // int (void *addr, size_t length)
  madvise: { args: ["u64", "u64", "i32"], returns: "i32" }, // int (void *addr, size_t length, int advice)
  __errno_location: { args: [], returns: "ptr" }, // int *(void)
};

/** Binds libc for the calling thread (errno is per thread). */
export function open(): Sys {
  const s = dlopen("libc.so.6", symbols).symbols;
  const errnoAt: number = s.__errno_location();
  const word = (arg: Arg): number => (typeof arg === "number" ? arg : ptr(arg));
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
      const [a = 0, b = 0, c = 0, d = 0, e = 0] = args.map(word);
      return Number(s.syscall(number, a, b, c, d, e));
    },
    statfs: (path, into) => s.statfs(path, into),
    memfdCreate: (name, flags) => s.memfd_create(name, flags),
    mmap: (length, prot, flags, fd, offset) => Number(s.mmap(0, length, prot, flags, fd, offset)),
    munmap: (address, length) => s.munmap(address, length),
    madvise: (address, length, advice) => s.madvise(address, length, advice),
    view: (address, length) => toArrayBuffer(address, 0, length),
    // node:fs runs the read on Bun's thread pool: a blocking fd blocks that thread, not this one.
    readAsync: readOnPool,
    errno: () => peek.i32(errnoAt, 0),
  };
}
