/**
 * The Linux numbers notiq passes to or gets from the kernel outside the inotify and watch_queue
 * record formats: errno values, open/pipe/eventfd/mmap flags, ioctl requests and the system call
 * numbers libc has no wrapper for. One place, so no module declares its own copy.
 *
 * @module
 */
import process from "node:process";

/** errno values (`<asm-generic/errno-base.h>`, `<asm-generic/errno.h>`). */
export const ERRNO = {
  ENOENT: 2,
  EINTR: 4,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EEXIST: 17,
  ENOTDIR: 20,
  EINVAL: 22,
  ENOSPC: 28,
  ENOSYS: 38,
  ELOOP: 40,
  ENOBUFS: 105,
  EOPNOTSUPP: 95,
  ECANCELED: 125,
  EPERM: 1,
} as const;

/** `O_*` flags of open(2), pipe2(2), inotify_init1(2), eventfd(2) and memfd_create(2). */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  /** Create the file if it does not exist (open/openat then take a mode). */
  CREAT: 0o100,
  /** With `O_CREAT`: fail with `EEXIST` if it exists. */
  EXCL: 0o200,
  /** `O_EXCL`, which pipe2 reads as `O_NOTIFICATION_PIPE`. */
  NOTIFICATION_PIPE: 0o200,
  NONBLOCK: 0o4000,
  DIRECTORY: 0o200000,
  /** Fail with `ELOOP` when the last component is a symbolic link. */
  NOFOLLOW: 0o400000,
  CLOEXEC: 0o2000000,
  /** An fd that only names a place in the file tree (no reads; enough for `/proc/self/fd/N`). */
  PATH: 0o10000000,
} as const;

/** `ioctl(2)` requests. */
export const IOCTL = {
  /** Bytes waiting to be read, into an `int`. */
  FIONREAD: 0x541b,
  /** `_IO('W', 0x60)`: a notification queue's size in notes. */
  WATCH_QUEUE_SET_SIZE: 0x5760,
  /** `_IO('W', 0x61)`: a `struct watch_notification_filter *`. */
  WATCH_QUEUE_SET_FILTER: 0x5761,
} as const;

/** `mmap(2)` and `madvise(2)` arguments. */
export const MMAP = {
  PROT_READ: 1,
  PROT_WRITE: 2,
  SHARED: 0x01,
  PRIVATE: 0x02,
  ANONYMOUS: 0x20,
  POPULATE: 0x8000,
  /** `MADV_DONTNEED`: give the pages back; the mapping stays and reads zeros. */
  DONTNEED: 4,
} as const;

/** `statx(2)` and `*at(2)` arguments. */
export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
} as const;

/** System call numbers that libc has no wrapper for, by `process.arch`. */
export interface SyscallNumbers {
  addKey: number;
  keyctl: number;
  ioUringSetup: number;
  ioUringEnter: number;
  ioUringRegister: number;
  openat: number;
  renameat2: number;
  fsync: number;
  unlinkat: number;
  readlinkat: number;
}

const SYSCALLS: Record<string, SyscallNumbers> = {
  // io_uring came after the tables were unified: the same numbers everywhere.
  // openat and the rest: used with an extra argument (a mode) or where arm64 has no plain call (rename).
  x64: {
    addKey: 248,
    keyctl: 250,
    ioUringSetup: 425,
    ioUringEnter: 426,
    ioUringRegister: 427,
    openat: 257,
    renameat2: 316,
    fsync: 74,
    unlinkat: 263,
    readlinkat: 267,
  },
  arm64: {
    addKey: 217,
    keyctl: 219,
    ioUringSetup: 425,
    ioUringEnter: 426,
    ioUringRegister: 427,
    openat: 56,
    renameat2: 276,
    fsync: 82,
    unlinkat: 35,
    readlinkat: 78,
  },
};

/**
 * The system call numbers for `arch` (a `process.arch` value).
 * @throws {Error} On an architecture notiq does not know the numbers of.
 */
export function syscallNumbers(arch: string = process.arch): SyscallNumbers {
  const numbers = SYSCALLS[arch];
  if (!numbers) throw new Error(`Cannot make system calls: no numbers for architecture ${arch}`);
  return numbers;
}
