/**
 * The {@linkcode Sys} table for Node without `node:ffi` (22, 24): the `koffi` package's `load` of
 * libc. koffi is an optional dependency, imported only here.
 *
 * @module
 */
import { readOnPool } from "./pool_read.ts";
import type { Sys } from "./types.ts";

// The specifier is a variable so that Deno's type check does not try to resolve `koffi`.
const KOFFI = "koffi";
const koffi = (await import(KOFFI)).default;

// `void *` takes a typed array (its memory, not a copy; a view of a SharedArrayBuffer too), an
// integer address or null. 64-bit integers come back as numbers while they fit.
const prototypes = {
  inotify_init1: "int inotify_init1(int flags)",
  inotify_add_watch: "int inotify_add_watch(int fd, const char *path, uint32_t mask)",
  inotify_rm_watch: "int inotify_rm_watch(int fd, int wd)",
  read: "int64_t read(int fd, void *buf, uint64_t count)",
  write: "int64_t write(int fd, const void *buf, uint64_t count)",
  close: "int close(int fd)",
  open: "int open(const void *path, int flags)",
  getdents64: "int64_t getdents64(int fd, void *buf, uint64_t count)",
  statx: "int statx(int dirfd, const void *path, int flags, uint32_t mask, void *buf)",
  ioctl: "int ioctl(int fd, uint64_t request, void *arg)",
  poll: "int poll(void *fds, uint64_t nfds, int timeout)",
  eventfd: "int eventfd(uint32_t initval, int flags)",
  pipe2: "int pipe2(void *pipefd, int flags)",
  syscall: "int64_t syscall(int64_t number, void *a, void *b, void *c, void *d, void *e)",
  statfs: "int statfs(const void *path, void *buf)",
  memfd_create: "int memfd_create(const void *name, uint32_t flags)",
  mmap: "int64_t mmap(uint64_t addr, uint64_t length, int prot, int flags, int fd, int64_t offset)",
  munmap: "int munmap(uint64_t addr, uint64_t length)",
  madvise: "int madvise(uint64_t addr, uint64_t length, int advice)",
} as const;

/** Binds libc for the calling thread (koffi keeps errno per thread). */
export function open(): Sys {
  const libc = koffi.load("libc.so.6");
  const s = Object.fromEntries(Object.entries(prototypes).map(([name, proto]) => [name, libc.func(proto)])) as Record<
    keyof typeof prototypes,
    // deno-lint-ignore no-explicit-any
    (...args: any[]) => number
  >;
  return {
    inotifyInit1: (flags) => s.inotify_init1(flags),
    inotifyAddWatch: (fd, path, mask) => s.inotify_add_watch(fd, path, mask),
    inotifyRmWatch: (fd, wd) => s.inotify_rm_watch(fd, wd),
    read: (fd, into) => s.read(fd, into, into.byteLength),
    write: (fd, from) => s.write(fd, from, from.byteLength),
    close: (fd) => s.close(fd),
    open: (path, flags) => s.open(path, flags),
    getdents64: (fd, into) => s.getdents64(fd, into, into.byteLength),
    statx: (dirfd, path, flags, mask, into) => s.statx(dirfd, path, flags, mask, into),
    ioctl: (fd, request, arg) => s.ioctl(fd, request, arg),
    poll: (fds, timeoutMs) => s.poll(fds, fds.byteLength >> 3, timeoutMs),
    eventfd: (initval, flags) => s.eventfd(initval, flags),
    pipe2: (fds, flags) => s.pipe2(fds, flags),
    syscall: (number, a = 0, b = 0, c = 0, d = 0, e = 0) => s.syscall(number, a, b, c, d, e),
    statfs: (path, into) => s.statfs(path, into),
    memfdCreate: (name, flags) => s.memfd_create(name, flags),
    mmap: (length, prot, flags, fd, offset) => s.mmap(0, length, prot, flags, fd, offset),
    munmap: (address, length) => s.munmap(address, length),
    madvise: (address, length, advice) => s.madvise(address, length, advice),
    view: (address, length) => koffi.view(address, length),
    readAsync: readOnPool,
    errno: () => koffi.errno(),
  };
}
