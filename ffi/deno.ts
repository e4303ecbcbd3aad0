/** The {@linkcode Sys} table for Deno: `Deno.dlopen` of libc. @module */
import type { Arg, Sys } from "./types.ts";

const symbols = {
  inotify_init1: { parameters: ["i32"], result: "i32" }, // int (int flags)
  inotify_add_watch: { parameters: ["i32", "buffer", "u32"], result: "i32" }, // int (int fd, const char *path, uint32_t mask)
  inotify_rm_watch: { parameters: ["i32", "i32"], result: "i32" }, // int (int fd, int wd)
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" }, // ssize_t (int fd, void *buf, size_t count)
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" }, // ssize_t (int fd, const void *buf, size_t count)
  close: { parameters: ["i32"], result: "i32" }, // int (int fd)
  open: { parameters: ["buffer", "i32"], result: "i32" }, // int (const char *path, int flags, ...)
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "isize" }, // ssize_t (int fd, void *buf, size_t count)
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" }, // int (int dirfd, const char *path, int flags, unsigned mask, struct statx *buf)
  ioctl: { parameters: ["i32", "u64", "u64"], result: "i32" }, // int (int fd, unsigned long request, ...)
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" }, // int (struct pollfd *fds, nfds_t nfds, int timeout)
  eventfd: { parameters: ["u32", "i32"], result: "i32" }, // int (unsigned int initval, int flags)
  pipe2: { parameters: ["buffer", "i32"], result: "i32" }, // int (int pipefd[2], int flags)
  syscall: { parameters: ["i64", "u64", "u64", "u64", "u64", "u64"], result: "i64" }, // long (long number, ...)
  statfs: { parameters: ["buffer", "buffer"], result: "i32" }, // int (const char *path, struct statfs *buf)
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" }, // int (const char *name, unsigned int flags)
  mmap: { parameters: ["usize", "usize", "i32", "i32", "i32", "i64"], result: "isize" }, // void *(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
  munmap: { parameters: ["usize", "usize"], result: "i32" }, // int (void *addr, size_t length)
  madvise: { parameters: ["usize", "usize", "i32"], result: "i32" }, // int (void *addr, size_t length, int advice)
  __errno_location: { parameters: [], result: "pointer" }, // int *(void)
} as const satisfies Deno.ForeignLibraryInterface;

// The same read(2), run on a thread of Deno's blocking pool: the call returns a promise.
const waiting = {
  read: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true }, // ssize_t (int fd, void *buf, size_t count)
} as const satisfies Deno.ForeignLibraryInterface;

/** Binds libc for the calling thread (errno is per thread). */
export function open(): Sys {
  const s = Deno.dlopen("libc.so.6", symbols).symbols;
  const pool = Deno.dlopen("libc.so.6", waiting).symbols;
  const errnoView = new Deno.UnsafePointerView(s.__errno_location()!);
  const word = (arg: Arg): bigint =>
    typeof arg === "number" ? BigInt(arg) : BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(arg)));
  return {
    inotifyInit1: (flags) => s.inotify_init1(flags),
    inotifyAddWatch: (fd, path, mask) => s.inotify_add_watch(fd, path, mask),
    inotifyRmWatch: (fd, wd) => s.inotify_rm_watch(fd, wd),
    read: (fd, into) => Number(s.read(fd, into, BigInt(into.byteLength))),
    write: (fd, from) => Number(s.write(fd, from, BigInt(from.byteLength))),
    close: (fd) => s.close(fd),
    open: (path, flags) => s.open(path, flags),
    getdents64: (fd, into) => Number(s.getdents64(fd, into, BigInt(into.byteLength))),
    statx: (dirfd, path, flags, mask, into) => s.statx(dirfd, path, flags, mask, into),
    ioctl: (fd, request, arg) => s.ioctl(fd, BigInt(request), word(arg)),
    poll: (fds, timeoutMs) => s.poll(fds, BigInt(fds.byteLength >> 3), timeoutMs),
    eventfd: (initval, flags) => s.eventfd(initval, flags),
    pipe2: (fds, flags) => s.pipe2(fds, flags),
    syscall: (number, ...args) => {
      const [a = 0n, b = 0n, c = 0n, d = 0n, e = 0n] = args.map(word);
      return Number(s.syscall(BigInt(number), a, b, c, d, e));
    },
    statfs: (path, into) => s.statfs(path, into),
    memfdCreate: (name, flags) => s.memfd_create(name, flags),
    mmap: (length, prot, flags, fd, offset) => Number(s.mmap(0n, BigInt(length), prot, flags, fd, BigInt(offset))),
    munmap: (address, length) => s.munmap(BigInt(address), BigInt(length)),
    madvise: (address, length, advice) => s.madvise(BigInt(address), BigInt(length), advice),
    view: (address, length) =>
      Deno.UnsafePointerView.getArrayBuffer(Deno.UnsafePointer.create(BigInt(address))!, length),
    readAsync: async (fd, into) => Number(await pool.read(fd, into, BigInt(into.byteLength))),
    errno: () => errnoView.getInt32(),
  };
}
