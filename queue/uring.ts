/**
 * {@linkcode uringSources}: {@linkcode Source}s that the kernel itself fills through this thread's
 * io_uring — no reader thread, so no JavaScript isolate to pay for — while keeping what the reader
 * thread guaranteed: events leave the kernel queue while JavaScript is busy.
 *
 * How a source reads its fd:
 * - A multishot read (`IORING_OP_READ_MULTISHOT`, Linux 6.7) runs as task work on this thread
 *   whenever the fd becomes readable and reads into a buffer we provide, consumed piece by piece
 *   (`IOU_PBUF_RING_INC`, Linux 6.12): each read lands right after the previous one, so a region
 *   fills as one contiguous run of whole records, parsed in place. The ring is COOP_TASKRUN (see
 *   queue/io_uring.ts): while JavaScript runs, a read takes what arrived since the last timer tick
 *   or system call; while the thread sleeps, each arrival wakes it and is read at once.
 * - Before the first read is armed, what the kernel queue already holds (a backlog made before
 *   the first `next()`) is read here with read(2), at most `readSize` bytes per `next()`, into the
 *   start of a region while the consumer keeps up (the same pages, warm, each time); the
 *   multishot read is armed once a read(2) leaves the queue empty (it had less than a read's
 *   worth), continuing in that region. Until then the backlog waits in the kernel queue, as it did
 *   before the first `next()`.
 * - A read ends when the rest of its region is too small for the next record (inotify: EINVAL,
 *   a notification pipe: ENOBUFS, also for its 8-byte LOSS record; an exactly full region:
 *   ENOBUFS); rewriting a buffer the kernel may pick would race with it (it writes `addr` and `len`
 *   back into our memory as it consumes). So each source has two regions (half its capacity each),
 *   each the only buffer of its own buffer group, and a group's buffer is rewritten only while no
 *   request uses that group.
 * - The read of one region is hard-linked (`IOSQE_IO_HARDLINK`) to a read of the other, free
 *   region: when the first ends at its region's end, the kernel starts the second by itself, so a
 *   busy thread has both regions to fill, not one. Once the consumer frees the first region, the
 *   running read is cancelled and submitted again, continuing where it was, with the freed region
 *   linked behind it (one `io_uring_enter`; the cancelled read reads no more once the
 *   cancellation is submitted, so the fd's order is kept).
 * - When the consumer has caught up and the running region is more than `switchAt` bytes full,
 *   the running read is cancelled, which starts the linked one at the start of the other region:
 *   the pages touched stay few and a burst finds the whole capacity free.
 * - How far a region is filled is read from its buffer's `len`, which the kernel updates after each
 *   read: completions only say that something happened (and when a read ended).
 * - Each read that finds records posts one completion; a multishot read whose completion finds the
 *   completion queue (65,536 entries) full ends. So from the source's first `next()` until
 *   {@linkcode Source.pause} (the consumer's loop ended) or close, completions are reaped even
 *   while the consumer awaits something else: an eventfd read stays pending on the runtime's pool
 *   (re-armed at most every 8 ms then, so a trickle of events costs no turn of the event loop
 *   each), which also keeps the process alive, as an iteration in progress should. Only while the
 *   thread is blocked (a synchronous system call, a loop that makes system calls) do completions
 *   pile up: at least one record each.
 * - With both regions unread, nothing reads: the kernel queue fills behind us, then reports its
 *   own loss in band (IN_Q_OVERFLOW, watch_queue's LOSS record) — loss is never silent.
 * - The fd must stay open until {@linkcode Source.close} returns; a read holds its own reference
 *   to the file, so closing the fd first would not stop it.
 *
 * @module
 */
import { clearImmediate, setImmediate } from "node:timers";
import type { Sys } from "../ffi/types.ts";
import { SyscallError } from "./errors.ts";
import { bufReg, IORING_CQE_F, IORING_REGISTER, IOU_PBUF_RING, IoUring, probeIoUring } from "./io_uring.ts";
import { ERRNO, MMAP } from "./linux.ts";
import type { OpenSource, Run, Source, SourceOptions } from "./source.ts";

const PAGE = 4096;
const SWITCH_AT = 64 * 1024;
const CLOSE_ROUNDS = 8;

/** Options of {@linkcode uringSources}, for tests and benches. */
export interface UringSourcesOptions {
  /**
   * Completion queue entries of the thread's io_uring, a power of 2 up to 65,536 (the default).
   * A blocked thread's completions pile up there, one per read (a busy thread's, one per timer
   * tick): each holds at least one record.
   */
  cqEntries?: number;
  /**
   * Bytes a region may hold before a consumer that has caught up makes the reads go on at the start
   * of the other region; default 64 KiB (at most a quarter of a region).
   */
  switchAt?: number;
}

const probed = new WeakMap<Sys, Error | undefined>();
const shared = new WeakMap<Sys, OpenSource>();

/**
 * How this thread opens io_uring {@linkcode Source}s, if io_uring can read here: one io_uring
 * instance, made at the first open, serves every source of the thread.
 *
 * @param sys libc, bound for this thread.
 * @param options Sizes, for tests and benches; without them, every call with the same `sys`
 * returns the same function (one io_uring per thread).
 * @returns how to open a source, or the error that says why io_uring cannot be used (then use the
 * reader thread): a {@linkcode SyscallError} when `io_uring_setup` is refused (EPERM or ENOSYS
 * under Docker's and Kubernetes' default seccomp profiles, or `kernel.io_uring_disabled`), an Error
 * when the kernel is older than 6.12.
 */
export function uringSources(sys: Sys, options?: UringSourcesOptions): OpenSource | Error {
  if (!probed.has(sys)) probed.set(sys, probeIoUring(sys));
  const why = probed.get(sys);
  if (why) return why;
  if (!options) {
    let open = shared.get(sys);
    if (!open) shared.set(sys, open = opener(sys, {}));
    return open;
  }
  return opener(sys, options);
}

function opener(sys: Sys, options: UringSourcesOptions): OpenSource {
  let thread: Thread | undefined;
  return (fd, sourceOptions) => {
    thread ??= new Thread(sys, options);
    return new UringSource(thread, fd, sourceOptions);
  };
}

/** Memory the kernel reads into: mapped once, never unmapped (a view kept by a user stays valid). */
interface Region {
  readonly address: number;
  readonly size: number;
  /** One view per region, for as long as the process lives. */
  readonly bytes: Uint8Array;
}

/** A buffer group with a ring of one buffer, in a page of its own (the kernel wants it aligned). */
interface Group {
  readonly bgid: number;
  /** `struct io_uring_buf { u64 addr; u32 len; u16 bid; u16 resv }`; `resv` of entry 0 is the ring's tail. */
  readonly entry: DataView;
  /** The tail we published last. */
  tail: number;
}

/** What a thread's sources share: the io_uring, and memory given back by closed sources. */
class Thread {
  readonly sys: Sys;
  readonly ring: IoUring;
  readonly switchAt: number;
  readonly #regions = new Map<number, Region[]>();
  readonly #groups: Group[] = [];
  #bgids = 0;

  constructor(sys: Sys, options: UringSourcesOptions) {
    this.sys = sys;
    const cqEntries = options.cqEntries ?? 65536;
    this.ring = new IoUring(sys, { sqEntries: Math.min(64, cqEntries), cqEntries });
    this.switchAt = options.switchAt ?? SWITCH_AT;
  }

  /** A region of `size` bytes (a multiple of the page size): a returned one, else a new mapping. */
  region(size: number): Region {
    const pooled = this.#regions.get(size)?.pop();
    if (pooled) return pooled;
    const sys = this.sys;
    const address = sys.mmap(size, MMAP.PROT_READ | MMAP.PROT_WRITE, MMAP.PRIVATE | MMAP.ANONYMOUS, -1, 0);
    if (address === -1) throw new SyscallError(sys.errno(), "mmap");
    return { address, size, bytes: new Uint8Array(sys.view(address, size)) };
  }

  /** Takes a region back: its pages go back to the system (reads of it see zeros) until reused. */
  giveRegion(region: Region): void {
    this.sys.madvise(region.address, region.size, MMAP.DONTNEED);
    let pool = this.#regions.get(region.size);
    if (!pool) this.#regions.set(region.size, pool = []);
    pool.push(region);
  }

  /** A buffer group no request uses: a returned one (still registered), else a new one. */
  group(): Group {
    const pooled = this.#groups.pop();
    if (pooled) return pooled;
    const sys = this.sys, ring = this.ring;
    const page = sys.mmap(PAGE, MMAP.PROT_READ | MMAP.PROT_WRITE, MMAP.PRIVATE | MMAP.ANONYMOUS, -1, 0);
    if (page === -1) throw new SyscallError(sys.errno(), "mmap");
    const bgid = this.#bgids++;
    const reg = bufReg(page, bgid, IOU_PBUF_RING.INC);
    if (sys.syscall(ring.syscalls.ioUringRegister, ring.fd, IORING_REGISTER.PBUF_RING, reg, 1) === -1) {
      const err = new SyscallError(sys.errno(), "io_uring_register");
      sys.munmap(page, PAGE);
      throw err;
    }
    return { bgid, entry: new DataView(sys.view(page, 16)), tail: 0 };
  }

  /** Takes back a group that no request uses any more. */
  giveGroup(group: Group): void {
    this.#groups.push(group);
  }
}

/** One of a source's two regions, with the buffer group whose one buffer points into it. */
class Half {
  readonly region: Region;
  readonly group: Group;
  /** The consumer's offset. */
  read = 0;
  /** Requests that read into it, or will (a linked read not started yet). */
  live = 0;
  /** In the source's list of regions to consume, in the fd's order. */
  queued = false;

  constructor(region: Region, group: Group) {
    this.region = region;
    this.group = group;
  }

  /** Bytes the kernel may still read into it. */
  get left(): number {
    return this.group.entry.getUint32(8, true);
  }

  /** Bytes the kernel has read into it: the buffer's `len` shrinks as each read is committed. */
  get written(): number {
    return this.region.size - this.group.entry.getUint32(8, true);
  }

  /** Points the group's buffer at the whole region again. Only while no request uses the group. */
  reset(): void {
    const entry = this.group.entry, { address, size } = this.region;
    // len 0: the kernel used the buffer up and moved its head past it (or we never published one)
    const publish = entry.getUint32(8, true) === 0;
    this.#point(address, size);
    entry.setUint16(12, 0, true); // bid
    if (publish) entry.setUint16(14, this.group.tail = (this.group.tail + 1) & 0xffff, true); // after the fields
    this.read = 0;
  }

  /**
   * Moves the buffer past `n` bytes read into it on this thread, as the kernel does after its own
   * reads. Only while no request uses the group, and never to `len` 0 (which the kernel takes for
   * a buffer it used up).
   */
  advance(n: number): void {
    const at = this.written + n;
    this.#point(this.region.address + at, this.region.size - at);
  }

  #point(address: number, len: number): void {
    const entry = this.group.entry;
    entry.setUint32(0, address % 2 ** 32, true);
    entry.setUint32(4, Math.floor(address / 2 ** 32), true);
    entry.setUint32(8, len, true);
  }
}

/** A multishot read submitted for a source. */
interface Request {
  serial: number;
  readonly half: Half;
  /** Linked behind another read that has not ended yet. */
  pending: boolean;
  /** The read linked behind this one. */
  spare?: Request;
}

/** A {@linkcode Source} read by the kernel through the thread's io_uring. */
class UringSource implements Source {
  readonly #thread: Thread;
  readonly #fd: number;
  readonly #regionSize: number;
  readonly #readSize: number;
  readonly #minRead: number;
  readonly #switchAt: number;
  #halves?: [Half, Half];
  /** Regions with records to consume or being read into, oldest first. */
  #fifo: Half[] = [];
  readonly #requests = new Map<number, Request>();
  /** The kernel's reads were submitted once: the backlog was read here (see the module's comment). */
  #armed = false;
  #handed?: Half;
  #handedStart = 0;
  #handedEnd = 0;
  #error?: Error;
  #closed = false;
  #nexting = false;
  #wake?: () => void;
  /** Between the first `next()` and `pause()`: the thread's io_uring keeps reaping completions. */
  #iterating = false;

  constructor(thread: Thread, fd: number, options: SourceOptions) {
    const { capacity, readSize, minRead } = options;
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`Cannot open source: capacity ${capacity}`);
    if (!(Number.isInteger(minRead) && minRead > 0)) throw new RangeError(`Cannot open source: minRead ${minRead}`);
    if (!(Number.isInteger(readSize) && readSize >= minRead)) {
      throw new RangeError(`Cannot open source: readSize ${readSize}`);
    }
    this.#thread = thread;
    this.#fd = fd;
    this.#minRead = minRead;
    this.#regionSize = Math.ceil(Math.max(Math.ceil(capacity / 2), 2 * minRead) / PAGE) * PAGE;
    this.#readSize = Math.min(readSize, this.#regionSize - 1);
    this.#switchAt = Math.min(thread.switchAt, this.#regionSize / 4);
  }

  async next(consumed?: number): Promise<Run | undefined> {
    if (this.#closed) return undefined;
    if (this.#nexting) throw new Error("Cannot read: a next() of this source is pending already");
    this.#nexting = true;
    try {
      this.#giveBack(consumed);
      if (!this.#iterating) {
        this.#iterating = true;
        this.#thread.ring.keep();
      }
      return await this.#next();
    } finally {
      this.#nexting = false;
    }
  }

  pause(): void {
    if (!this.#iterating) return;
    this.#iterating = false;
    this.#thread.ring.unkeep();
  }

  async #next(): Promise<Run | undefined> {
    const ring = this.#thread.ring;
    for (;;) {
      try {
        ring.reap();
        if (!this.#closed && !this.#error) {
          const halves = this.#halves ??= this.#allocate();
          if (this.#armed) this.#policy(halves);
          else this.#readHere(halves);
        }
      } catch (err) {
        this.#error ??= err as Error;
      }
      if (this.#closed) return undefined;
      const run = this.#run();
      if (run) {
        this.#handed = this.#fifo[0];
        this.#handedStart = run.start;
        this.#handedEnd = run.end;
        if (this.#armed) ring.wait(); // completions are reaped while the consumer is away
        return run;
      }
      if (this.#error) throw this.#error;
      if (ring.failure) throw ring.failure;
      await this.#wait();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    this.pause();
    const ring = this.#thread.ring;
    // Cancelling a read starts the one linked behind it: cancel again until none is left.
    for (let round = 0; this.#requests.size > 0 && round < CLOSE_ROUNDS; round++) {
      for (const serial of this.#requests.keys()) ring.cancel(serial);
      try {
        ring.submit(); // the cancelled reads end in task work on the way out of this call
        ring.reap();
      } catch {
        break;
      }
    }
    const halves = this.#halves;
    this.#halves = undefined;
    this.#fifo = [];
    this.#handed = undefined;
    if (!halves || this.#requests.size > 0) return; // the kernel may still write there: never reuse it
    for (const half of halves) {
      this.#thread.giveRegion(half.region);
      this.#thread.giveGroup(half.group);
    }
  }

  #allocate(): [Half, Half] {
    const thread = this.#thread;
    return [
      new Half(thread.region(this.#regionSize), thread.group()),
      new Half(thread.region(this.#regionSize), thread.group()),
    ];
  }

  #giveBack(consumed: number | undefined): void {
    const half = this.#handed;
    if (!half) return;
    this.#handed = undefined;
    if (consumed === undefined) consumed = this.#handedEnd;
    if (!(this.#handedStart <= consumed && consumed <= this.#handedEnd)) {
      throw new RangeError(`Cannot give back up to ${consumed}: the run was ${this.#handedStart}..${this.#handedEnd}`);
    }
    half.read = consumed;
  }

  /** Drops consumed regions that no read uses any more from the list, then the first unread run. */
  #run(): Run | undefined {
    const fifo = this.#fifo;
    while (fifo.length > 0 && fifo[0].live === 0 && fifo[0].read === fifo[0].written) fifo.shift()!.queued = false;
    if (fifo.length === 0) return undefined;
    const half = fifo[0], end = half.written;
    return half.read < end ? { bytes: half.region.bytes, start: half.read, end } : undefined;
  }

  /**
   * Before the kernel's reads are armed: reads what the kernel queue holds with one read(2) into
   * the first region (from its start once consumed, so the same pages serve every read), and arms
   * the kernel's reads once the queue is left empty or the region has no room for a read.
   */
  #readHere(halves: [Half, Half]): void {
    this.#run(); // drops a consumed region: it starts over
    const half = halves[0], sys = this.#thread.sys;
    if (!half.queued) {
      half.reset();
      half.queued = true;
      this.#fifo.push(half);
    }
    const room = Math.min(this.#readSize, half.left - 1); // never to len 0 (see advance())
    let n = -1;
    if (room >= this.#minRead) {
      const at = half.written;
      while ((n = sys.read(this.#fd, half.region.bytes.subarray(at, at + room))) === -1) {
        const errno = sys.errno();
        if (errno === ERRNO.EAGAIN) break;
        if (errno !== ERRNO.EINTR) throw new SyscallError(errno, "read");
      }
      if (n === 0) throw new Error(`Cannot read fd ${this.#fd}: end of file`);
      if (n > 0) half.advance(n);
    }
    // What is left in the queue would have fitted in the room left: it is empty (as of this read).
    if (n === -1 || room - n >= this.#minRead) {
      this.#armed = true;
      this.#policy(halves);
    }
  }

  /** Submits the reads the state calls for (see the module's comment). */
  #policy(halves: [Half, Half]): void {
    const fifo = this.#fifo, minRead = this.#minRead;
    this.#run(); // drops consumed regions
    let running: Request | undefined, spare: Request | undefined, started = 0;
    for (const request of this.#requests.values()) {
      if (request.pending) spare = request;
      else running = request, started++;
    }
    if (started > 1) return; // a cancelled read has not ended yet: look again when it has
    const free = halves.filter((half) => !half.queued && half.live === 0);
    if (!running) {
      if (spare) return; // cannot be: a linked read stops pending when the read before it ends
      const last = fifo.at(-1);
      if (last && last.live === 0 && last.left >= minRead) this.#read(last, free[0]); // e.g. after CQ overflow
      else if (free.length > 0) this.#read(free[0], free[1]);
      return;
    }
    const caughtUp = fifo.every((half) => half.read === half.written);
    const switching = caughtUp && running.half.written > this.#switchAt;
    const ring = this.#thread.ring;
    if (spare) {
      if (!switching) return;
      ring.cancel(running.serial); // the linked read starts at the start of the other region
      this.#submit();
    } else if (free.length > 0) {
      if (switching) {
        ring.cancel(running.serial);
        this.#read(free[0], undefined);
      } else {
        // Link the freed region behind the running read: cancel it, go on in a new one (which
        // ends at once if its region has no room left, and the linked one takes over).
        ring.cancel(running.serial);
        this.#read(running.half, free[0]);
      }
    }
  }

  /**
   * Submits a read into `half` (where it was, or from its start if it is not queued), with a read
   * from the start of `spare` linked behind it.
   */
  #read(half: Half, spare: Half | undefined): void {
    const first = this.#submitRead(half, spare !== undefined);
    if (spare) {
      first.spare = this.#submitRead(spare, false);
      first.spare.pending = true;
    }
    this.#submit();
  }

  /**
   * Submits what was prepared, then reaps at once what that completed in the same call (a
   * cancelled read ends in task work on the way out of it): after a switch, the cancelled read's
   * region is linked behind the new one now, not a turn of the event loop later, so a burst right
   * after it finds both regions (when called from a handler, the running reap looks again).
   */
  #submit(): void {
    const ring = this.#thread.ring;
    ring.submit();
    ring.reap();
  }

  #submitRead(half: Half, link: boolean): Request {
    if (!half.queued) {
      half.reset();
      half.queued = true;
      this.#fifo.push(half);
    }
    half.live++;
    const request: Request = { serial: 0, half, pending: false };
    const serial = this.#thread.ring.readMultishot(
      this.#fd,
      half.group.bgid,
      link,
      (res, flags) => this.#completed(request, res, flags),
    );
    request.serial = serial;
    this.#requests.set(serial, request);
    return request;
  }

  #completed(request: Request, res: number, flags: number): void {
    if ((flags & IORING_CQE_F.MORE) !== 0) return this.#wake?.(); // records landed
    this.#requests.delete(request.serial);
    request.half.live--;
    if (request.spare) request.spare.pending = false; // it starts now
    if (!this.#closed && !this.#error) {
      try {
        this.#error = this.#failed(request.half, res);
        if (!this.#error) this.#policy(this.#halves!);
      } catch (err) {
        this.#error = err as Error;
      }
    }
    this.#wake?.();
  }

  /** The error a read's last result means, if it is one. */
  #failed(half: Half, res: number): Error | undefined {
    // > 0: the completion queue was full (the records are in the region); ECANCELED: ours.
    if (res > 0 || res === -ERRNO.ECANCELED) return undefined;
    // The region's end: too small for the next record (inotify EINVAL, a notification pipe
    // ENOBUFS), or full (ENOBUFS: no buffer).
    if ((res === -ERRNO.EINVAL || res === -ERRNO.ENOBUFS) && half.left < this.#minRead) return undefined;
    if (res === 0) return new Error(`Cannot read fd ${this.#fd}: end of file`);
    return new SyscallError(-res, "read");
  }

  /**
   * Resolves when a completion for this source was reaped, when it is closed, or when a look at
   * the next turn of the event loop finds records: what this thread made itself (a write, then
   * back to the event loop) is there by then, as the kernel read it on the way out of that call.
   * Only if that look finds nothing does the thread's io_uring wait on the runtime's pool.
   */
  #wait(): Promise<void> {
    const ring = this.#thread.ring;
    return new Promise<void>((resolve) => {
      let look: ReturnType<typeof setImmediate> | undefined;
      const wake = () => {
        if (this.#wake !== wake) return;
        this.#wake = undefined;
        clearImmediate(look);
        ring.release(wake);
        resolve();
      };
      this.#wake = wake;
      ring.hold(wake);
      look = setImmediate(() => {
        look = undefined;
        try {
          ring.reap();
        } catch (err) {
          this.#error ??= err as Error;
        }
        if (this.#error || this.#run()) wake();
        else ring.wait();
      });
    });
  }
}
