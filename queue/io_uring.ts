/**
 * {@linkcode IoUring}: one io_uring instance mapped into this thread, through which requests are
 * submitted and their completions handed back to whoever submitted them — including to a consumer
 * that awaits them on the event loop, woken through an eventfd the kernel signals.
 *
 * The kernel completes our requests as task work on this thread, so reads go on while JavaScript
 * is busy. The instance is set up with `IORING_SETUP_COOP_TASKRUN` (Linux 5.19): the kernel then
 * never interrupts this thread while it runs; the work waits for its next way back to user space,
 * from a system call or an interrupt (the timer tick: every 4 ms at HZ=250). A multishot read thus
 * takes, at each tick, whatever arrived since the last one: 200-900 completions (medians ~300) for
 * a burst of 100,000 events while JavaScript spun 2 s. Without it each event interrupted the
 * thread and was read alone, a completion each, until the completion queue (65,536) was full and
 * the read ended: 5 bursts in 6 then overflowed the kernel queue. A thread asleep in an
 * interruptible wait (the event loop's epoll_wait, a futex, a blocking system call) is still woken
 * at once: the kernel's TWA_SIGNAL_NO_IPI wakes such a sleeper, and skips only the interrupt of a
 * running thread. So a thread that sleeps reads each event as it comes, a completion each.
 * Completions are only looked at when this thread calls {@linkcode IoUring.reap}. The sleeping
 * system call is restarted after the work, except those that return EINTR on any signal
 * (epoll_wait, which event loops retry; socket waits with a timeout).
 *
 * `/usr/include/linux/io_uring.h` here is Linux 6.1's: newer numbers carry their version.
 *
 * @module
 */
import { clearTimeout, setTimeout } from "node:timers";
import type { Sys } from "../ffi/types.ts";
import { SyscallError } from "./errors.ts";
import { ERRNO, MMAP, O, type SyscallNumbers, syscallNumbers } from "./linux.ts";

/** `enum io_uring_op` values used here. */
export const IORING_OP = {
  ASYNC_CANCEL: 14,
  /** Linux 6.7: reads whenever the fd is readable, into provided buffers, until it fails. */
  READ_MULTISHOT: 49,
} as const;

/** `IOSQE_*` flags of a submission. */
export const IOSQE = {
  /** The next submission starts when this one ends, whatever its result. */
  IO_HARDLINK: 1 << 3,
  BUFFER_SELECT: 1 << 5,
  /** No completion when it succeeds (Linux 5.17). */
  CQE_SKIP_SUCCESS: 1 << 6,
} as const;

/** `IORING_SETUP_*` flags. */
export const IORING_SETUP = {
  CQSIZE: 1 << 3,
  /** Task work waits for the thread's next return to user space: no interrupt per completion (Linux 5.19). */
  COOP_TASKRUN: 1 << 8,
  /** Go on submitting after a submission fails (Linux 5.18). */
  SUBMIT_ALL: 1 << 7,
} as const;

/** `IORING_REGISTER_*` opcodes. */
export const IORING_REGISTER = {
  EVENTFD: 4,
  PROBE: 8,
  PBUF_RING: 22,
} as const;

/** `IORING_CQE_F_*` flags of a completion. */
export const IORING_CQE_F = {
  /** A multishot request stays armed: more completions will come. */
  MORE: 1 << 1,
} as const;

/** `IOU_PBUF_RING_*` flags of `struct io_uring_buf_reg`. */
export const IOU_PBUF_RING = {
  /** Linux 6.12: a buffer is consumed piece by piece, each completion after the last. */
  INC: 2,
} as const;

const ENTER_GETEVENTS = 1;
const SQ_CQ_OVERFLOW = 1 << 1; // in the SQ ring's flags: completions wait in the kernel's overflow list
const CQ_EVENTFD_DISABLED = 1; // in the CQ ring's flags: the kernel does not signal the eventfd
const FEAT_SINGLE_MMAP = 1;
const OFF_SQ_RING = 0;
const OFF_SQES = 0x10000000;
const SQE_SIZE = 64;
const CQE_SIZE = 16;
const PARAMS_SIZE = 120; // struct io_uring_params
const OP_SUPPORTED = 1; // IO_URING_OP_SUPPORTED in struct io_uring_probe_op
const ONE = new Uint8Array(new BigUint64Array([1n]).buffer);

/** Called with each completion of a request: `res` (bytes or a negated errno) and the CQE flags. */
export type OnCompletion = (res: number, flags: number) => void;

/**
 * Makes an io_uring instance: `io_uring_setup` with `params` (a `struct io_uring_params` whose
 * `flags` and `cq_entries` the caller filled in).
 * @returns its fd, or the error.
 */
function setup(sys: Sys, nr: SyscallNumbers, entries: number, params: Uint8Array): number | SyscallError {
  const fd = sys.syscall(nr.ioUringSetup, entries, params);
  return fd === -1 ? new SyscallError(sys.errno(), "io_uring_setup") : fd;
}

/** Whether the kernel knows each of `ops` (`IORING_REGISTER_PROBE`). */
function supports(sys: Sys, nr: SyscallNumbers, fd: number, ops: number[]): boolean[] | SyscallError {
  const count = 256;
  const probe = new Uint8Array(16 + 8 * count); // struct io_uring_probe, then io_uring_probe_op[]
  if (sys.syscall(nr.ioUringRegister, fd, IORING_REGISTER.PROBE, probe, count) === -1) {
    return new SyscallError(sys.errno(), "io_uring_register");
  }
  const view = new DataView(probe.buffer);
  const last = probe[0];
  return ops.map((op) => op <= last && (view.getUint16(16 + 8 * op + 2, true) & OP_SUPPORTED) !== 0);
}

/**
 * Finds out whether this kernel and process can read an fd through io_uring the way
 * queue/uring.ts does: io_uring is allowed (seccomp filters and `kernel.io_uring_disabled` refuse
 * `io_uring_setup` with EPERM or ENOSYS), `IORING_OP_READ_MULTISHOT` exists (Linux 6.7) and buffer
 * rings take `IOU_PBUF_RING_INC` (Linux 6.12). Leaves nothing open.
 *
 * @returns undefined when it can, else the error that says why not.
 */
export function probeIoUring(sys: Sys, arch?: string): Error | undefined {
  for (const call of ["syscall", "mmap", "madvise", "view", "readAsync", "eventfd"] as const) {
    if (typeof sys[call] !== "function") return new Error(`Cannot read with io_uring: this binding has no ${call}()`);
  }
  let nr: SyscallNumbers;
  try {
    nr = syscallNumbers(arch);
  } catch (err) {
    return err as Error;
  }
  const fd = setup(sys, nr, 1, new Uint8Array(PARAMS_SIZE));
  if (typeof fd !== "number") return fd;
  let page = -1;
  try {
    const known = supports(sys, nr, fd, [IORING_OP.READ_MULTISHOT, IORING_OP.ASYNC_CANCEL]);
    if (known instanceof Error) return known;
    if (!known.every(Boolean)) {
      return new Error("Cannot read with io_uring: this kernel has no IORING_OP_READ_MULTISHOT (Linux >= 6.7)");
    }
    page = sys.mmap(4096, MMAP.PROT_READ | MMAP.PROT_WRITE, MMAP.PRIVATE | MMAP.ANONYMOUS, -1, 0);
    if (page === -1) return new SyscallError(sys.errno(), "mmap");
    if (sys.syscall(nr.ioUringRegister, fd, IORING_REGISTER.PBUF_RING, bufReg(page, 0, IOU_PBUF_RING.INC), 1) === -1) {
      const cause = new SyscallError(sys.errno(), "io_uring_register");
      return new Error(
        "Cannot read with io_uring: this kernel has no incrementally consumed buffer rings (Linux >= 6.12)",
        { cause },
      );
    }
    return undefined;
  } finally {
    sys.close(fd); // frees the buffer ring's registration with it
    if (page !== -1) sys.munmap(page, 4096); // never viewed: nothing can still point into it
  }
}

/** A `struct io_uring_buf_reg` for a ring of one entry at `address`. */
export function bufReg(address: number, bgid: number, flags: number): Uint8Array {
  const reg = new Uint8Array(40); // u64 ring_addr; u32 ring_entries; u16 bgid; u16 flags; u64 resv[3]
  const view = new DataView(reg.buffer);
  view.setBigUint64(0, BigInt(address), true);
  view.setUint32(8, 1, true);
  view.setUint16(12, bgid, true);
  view.setUint16(14, flags, true);
  return reg;
}

/** Sizes of an {@linkcode IoUring}. */
export interface IoUringOptions {
  /** Submission queue entries (a power of 2). */
  sqEntries: number;
  /**
   * Completion queue entries (a power of 2, up to 65,536): while this thread runs no JavaScript that
   * reaps them (blocked in a system call, or busy), completions pile up here, one per read; a
   * multishot read that finds it full ends (its last completion waits in the kernel's overflow list
   * until {@linkcode IoUring.reap}).
   */
  cqEntries: number;
}

/**
 * One io_uring instance used from this thread: submissions, completions dispatched by `user_data`,
 * and one wait on the event loop shared by every consumer.
 */
export class IoUring {
  /** The instance's fd. */
  readonly fd: number;
  readonly #sys: Sys;
  readonly #nr: SyscallNumbers;
  readonly #u32: Uint32Array; // the SQ and CQ rings (one mapping)
  readonly #i32: Int32Array;
  readonly #sqes: Uint32Array; // the submission entries, 16 words each
  readonly #sqeBytes: Uint8Array;
  readonly #sqTail: number; // word offsets in #u32
  readonly #sqFlags: number;
  readonly #sqArray: number;
  readonly #sqMask: number;
  readonly #cqHead: number;
  readonly #cqTail: number;
  readonly #cqFlags: number;
  readonly #cqes: number;
  readonly #cqMask: number;
  readonly #eventFd: number;
  readonly #counter = new Uint8Array(8); // what the pending eventfd read fills in
  readonly #handlers = new Map<number, OnCompletion>();
  #tail = 0; // SQ tail with what is prepared but not yet submitted
  #submitted = 0; // SQ tail the kernel was told about
  #serial = 0;
  #reaping = false;
  #again = false;
  readonly #waiters = new Set<() => void>();
  #keepers = 0;
  readonly #paceMs: number;
  #pace?: ReturnType<typeof setTimeout>;
  #reading = false;
  #readFailures = 0;
  #failure?: Error;

  /**
   * Makes the instance and its eventfd.
   * @throws {SyscallError} If a system call fails (`io_uring_setup`, `mmap`, `eventfd`, ...).
   */
  constructor(sys: Sys, options: IoUringOptions) {
    this.#sys = sys;
    this.#paceMs = Math.max(1, Math.floor(options.cqEntries / 8192)); // see keep()
    const nr = this.#nr = syscallNumbers();
    const params = new Uint8Array(PARAMS_SIZE);
    const p = new DataView(params.buffer);
    p.setUint32(4, options.cqEntries, true);
    p.setUint32(8, IORING_SETUP.CQSIZE | IORING_SETUP.SUBMIT_ALL | IORING_SETUP.COOP_TASKRUN, true);
    const fd = setup(sys, nr, options.sqEntries, params);
    if (typeof fd !== "number") throw fd;
    this.fd = fd;
    let eventFd = -1;
    try {
      if ((p.getUint32(20, true) & FEAT_SINGLE_MMAP) === 0) {
        throw new Error("Cannot read with io_uring: the kernel has no IORING_FEAT_SINGLE_MMAP (Linux >= 5.4)");
      }
      const sqEntries = p.getUint32(0, true), cqEntries = p.getUint32(4, true);
      const sq = (field: number) => p.getUint32(40 + field, true); // struct io_sqring_offsets
      const cq = (field: number) => p.getUint32(80 + field, true); // struct io_cqring_offsets
      const size = Math.max(sq(24) + 4 * sqEntries, cq(20) + CQE_SIZE * cqEntries);
      const rings = this.#map(size, OFF_SQ_RING);
      this.#u32 = new Uint32Array(rings);
      this.#i32 = new Int32Array(rings);
      const sqes = this.#map(SQE_SIZE * sqEntries, OFF_SQES);
      this.#sqes = new Uint32Array(sqes);
      this.#sqeBytes = new Uint8Array(sqes);
      this.#sqTail = sq(4) >> 2;
      this.#sqMask = this.#u32[sq(8) >> 2];
      this.#sqFlags = sq(16) >> 2;
      this.#sqArray = sq(24) >> 2;
      this.#cqHead = cq(0) >> 2;
      this.#cqTail = cq(4) >> 2;
      this.#cqMask = this.#u32[cq(8) >> 2];
      this.#cqes = cq(20) >> 2;
      this.#cqFlags = cq(24) >> 2;
      this.#tail = this.#submitted = this.#u32[this.#sqTail];
      // Blocking: the runtime's pool thread waits in read() until the kernel signals it.
      eventFd = sys.eventfd(0, O.CLOEXEC);
      if (eventFd === -1) throw new SyscallError(sys.errno(), "eventfd");
      if (
        sys.syscall(
          nr.ioUringRegister,
          fd,
          IORING_REGISTER.EVENTFD,
          new Uint8Array(new Int32Array([eventFd]).buffer),
          1,
        ) === -1
      ) {
        throw new SyscallError(sys.errno(), "io_uring_register");
      }
      this.#eventFd = eventFd;
      this.#u32[this.#cqFlags] |= CQ_EVENTFD_DISABLED; // until someone waits
    } catch (err) {
      if (eventFd !== -1) sys.close(eventFd);
      sys.close(fd); // the mappings stay (a few pages, never viewed again)
      throw err;
    }
  }

  /** The system call numbers of this architecture. */
  get syscalls(): SyscallNumbers {
    return this.#nr;
  }

  /** Why the instance stopped working (completions were dropped, or the wait failed), if it did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  #map(size: number, offset: number): ArrayBuffer {
    const sys = this.#sys;
    const address = sys.mmap(size, MMAP.PROT_READ | MMAP.PROT_WRITE, MMAP.SHARED, this.fd, offset);
    if (address === -1) throw new SyscallError(sys.errno(), "mmap");
    return sys.view(address, size);
  }

  /** Words of the next submission entry, zeroed; prepared entries go to the kernel at {@linkcode submit}. */
  #entry(): number {
    if (((this.#tail - this.#submitted) >>> 0) > this.#sqMask) this.submit(); // the queue is full: send it first
    const index = this.#tail & this.#sqMask;
    this.#u32[this.#sqArray + index] = index;
    this.#tail = (this.#tail + 1) >>> 0;
    const at = index * (SQE_SIZE / 4);
    this.#sqes.fill(0, at, at + SQE_SIZE / 4);
    return at;
  }

  /**
   * Prepares a multishot read of `fd` into the buffer ring `bgid`; `onCompletion` hears each of its
   * completions, the last one without {@linkcode IORING_CQE_F.MORE}.
   * @param link Hard-link the request prepared next: it starts when this one ends, however it ends.
   * @returns the request's serial, for {@linkcode cancel}.
   */
  readMultishot(fd: number, bgid: number, link: boolean, onCompletion: OnCompletion): number {
    const at = this.#entry();
    const serial = this.#serial = ((this.#serial + 1) >>> 0) || 1; // 0 is the cancellations' user_data
    const b = at * 4;
    this.#sqeBytes[b] = IORING_OP.READ_MULTISHOT;
    this.#sqeBytes[b + 1] = IOSQE.BUFFER_SELECT | (link ? IOSQE.IO_HARDLINK : 0);
    this.#sqes[at + 1] = fd; // s32 fd; addr and len stay 0 (the buffer comes from the ring)
    this.#sqes[at + 8] = serial; // u64 user_data
    this.#sqeBytes[b + 40] = bgid & 0xff; // u16 buf_group
    this.#sqeBytes[b + 41] = bgid >> 8;
    this.#handlers.set(serial, onCompletion);
    return serial;
  }

  /**
   * Prepares the cancellation of request `serial`. It completes silently when it finds the request;
   * the request itself ends with `-ECANCELED`.
   */
  cancel(serial: number): void {
    const at = this.#entry();
    this.#sqeBytes[at * 4] = IORING_OP.ASYNC_CANCEL;
    this.#sqeBytes[at * 4 + 1] = IOSQE.CQE_SKIP_SUCCESS;
    this.#sqes[at + 1] = -1;
    this.#sqes[at + 4] = serial; // u64 addr: the user_data to match
    this.#sqes[at + 8] = 0; // user_data 0: no handler
  }

  /**
   * Hands the prepared requests to the kernel, which starts them at once (a read takes what the fd
   * has); completions are left for {@linkcode reap}. Then runs pending task work and moves
   * completions from the kernel's overflow list into the queue.
   * @throws {SyscallError} If `io_uring_enter` fails.
   */
  submit(): void {
    const count = (this.#tail - this.#submitted) >>> 0;
    Atomics.store(this.#u32, this.#sqTail, this.#tail);
    this.#submitted = this.#tail;
    this.#enter(count);
  }

  #enter(count: number): void {
    const sys = this.#sys;
    for (;;) {
      if (sys.syscall(this.#nr.ioUringEnter, this.fd, count, 0, ENTER_GETEVENTS, 0) !== -1) return;
      const errno = sys.errno();
      if (errno === ERRNO.EINTR) continue;
      const err = new SyscallError(errno, "io_uring_enter");
      if (errno !== EBADR) throw err;
      // The kernel had no memory to keep completions it could not queue, and dropped them: which
      // reads ended is unknown from here on.
      const dropped = new Error("Cannot read with io_uring: the kernel dropped completions (EBADR)", { cause: err });
      this.#fail(dropped);
      throw dropped;
    }
  }

  /**
   * Hands every completion in the queue to its request's handler, then those from the kernel's
   * overflow list. Handlers may prepare and submit; what that completes is handed out in this
   * same call. Not reentrant: a call from inside a handler only makes the running one look again.
   */
  reap(): void {
    if (this.#reaping) {
      this.#again = true;
      return;
    }
    this.#reaping = true;
    try {
      const u32 = this.#u32, i32 = this.#i32, mask = this.#cqMask, cqes = this.#cqes;
      do {
        this.#again = false;
        let head = u32[this.#cqHead];
        for (let tail = Atomics.load(u32, this.#cqTail); head !== tail; tail = Atomics.load(u32, this.#cqTail)) {
          const at = cqes + (head & mask) * (CQE_SIZE / 4);
          const serial = u32[at], res = i32[at + 2], flags = u32[at + 3];
          head = (head + 1) >>> 0;
          Atomics.store(u32, this.#cqHead, head); // before the handler: its submissions may complete at once
          const handler = this.#handlers.get(serial);
          if (!handler) continue; // a cancellation that found nothing
          if ((flags & IORING_CQE_F.MORE) === 0) this.#handlers.delete(serial);
          handler(res, flags);
        }
        if ((Atomics.load(u32, this.#sqFlags) & SQ_CQ_OVERFLOW) !== 0) {
          this.#enter(0); // moves what fits from the overflow list into the queue
          this.#again = true;
        }
      } while (this.#again);
    } finally {
      this.#reaping = false;
    }
  }

  /**
   * Someone waits for a completion: from now on the kernel signals the eventfd. `wake` is called if
   * the instance fails; completions wake their waiters through their handlers. Call
   * {@linkcode wait} once a look found nothing, and {@linkcode release} when done waiting.
   */
  hold(wake: () => void): void {
    this.#waiters.add(wake);
    this.#listen();
  }

  /**
   * `wake` waits no more. With no waiter and no {@linkcode keep} left, the eventfd goes quiet again
   * and a pending read of it is ended (a pending read keeps the process alive).
   */
  release(wake: () => void): void {
    if (this.#waiters.delete(wake)) this.#quiet();
  }

  /**
   * An iteration is in progress whose consumer may be away (awaiting something else): until
   * {@linkcode unkeep}, completions are reaped as they come, at most once per pace (8 ms with
   * 65,536 completion entries: filling them in that time takes 8 million reads a second, each of
   * them on this thread). This keeps the process alive, as a waiter does.
   */
  keep(): void {
    this.#keepers++;
    this.#listen();
  }

  /** An iteration {@linkcode keep} announced is over. */
  unkeep(): void {
    this.#keepers--;
    this.#quiet();
  }

  #listen(): void {
    this.#u32[this.#cqFlags] &= ~CQ_EVENTFD_DISABLED;
  }

  #quiet(): void {
    if (this.#waiters.size !== 0 || this.#keepers !== 0) return;
    this.#u32[this.#cqFlags] |= CQ_EVENTFD_DISABLED;
    clearTimeout(this.#pace);
    this.#pace = undefined;
    if (this.#reading) this.#sys.write(this.#eventFd, ONE);
  }

  /** Stops for good: every waiter is woken to find {@linkcode failure} set. */
  #fail(err: Error): void {
    this.#failure ??= err;
    for (const wake of [...this.#waiters]) wake();
  }

  /**
   * Makes sure a read of the eventfd is pending on the runtime's pool while anyone waits or keeps:
   * when the kernel signals, the completions are reaped (their handlers wake their waiters) and the
   * next read starts — at once if anyone waits, else (only {@linkcode keep}) after a pace, so that
   * a trickle of events, a completion each, costs a turn of the event loop per pace, not per event.
   */
  wait(): void {
    if (this.#reading || this.#failure || (this.#waiters.size === 0 && this.#keepers === 0)) return;
    clearTimeout(this.#pace);
    this.#pace = undefined;
    this.#reading = true;
    this.#sys.readAsync(this.#eventFd, this.#counter).then((n) => {
      this.#reading = false;
      try {
        // -1 should not happen on our eventfd; a few in a row mean it never will work.
        this.#readFailures = n === -1 ? this.#readFailures + 1 : 0;
        if (this.#readFailures > 3) throw new Error("Cannot wait for io_uring completions: read(eventfd) failed");
        this.reap();
      } catch (err) {
        this.#fail(err as Error);
        return;
      }
      if (this.#waiters.size > 0) this.wait();
      else if (this.#keepers > 0) this.#pace ??= setTimeout(() => this.wait(), this.#paceMs);
    });
  }
}

const EBADR = 53;
