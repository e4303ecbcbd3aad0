/**
 * A single-producer, single-consumer byte ring in a SharedArrayBuffer that a reader thread fills
 * from a file descriptor, and the {@linkcode Drain} that a queue reads it through.
 *
 * The producer `read()`s straight into the ring, so each kernel read lands as one contiguous run of
 * whole records; when the space left at the end is too small for a read, it records where the data
 * ends (WRAP) and continues at 0. The consumer parses the records in place and then releases them.
 * The producer is whoever holds the LOCK word: the reader thread, or the consumer itself when it
 * finds the ring empty — it then reads what the kernel already has without a trip through another
 * thread (a write-then-read round trip costs one read(2), not a thread wake and an event-loop task).
 * When the ring is full the producer stops reading: the kernel queue fills up behind it and the
 * kernel itself reports the loss (IN_Q_OVERFLOW, watch_queue's LOSS) — loss is never silent.
 *
 * @module
 */
import { clearImmediate, setImmediate, setInterval } from "node:timers";
import type { Sys } from "../ffi/types.ts";
import { SyscallError } from "./errors.ts";

// Control words (Int32) at the start of the SharedArrayBuffer.
const WRITE = 0; // producer's offset: data is [READ, WRITE), or [READ, WRAP) then [0, WRITE)
const READ = 1; // consumer's offset
const WRAP = 2; // where the data ends before the producer went back to 0
const STATE = 3; // STARTING, RUNNING, CLOSING or STOPPED
const PUBLISHED = 4; // bumped when data is added or the consumer must look again; consumer waits on it
const FREED = 5; // bumped when space is freed
const ERRNO = 6; // the producer's fatal errno, or -1 for end of file
const GO = 7; // set by the consumer's first read: until then the reader leaves the fd alone
const LOCK = 8; // who may produce: FREE, READER or CONSUMER
const WANT_ROOM = 9; // set by a reader that found the ring full: the consumer's release() kicks it
const CONTROL_BYTES = 64;

const STARTING = 0; // handed to the reader thread, which has not touched the fd yet
const RUNNING = 1;
const CLOSING = 2;
const STOPPED = 3;

const FREE = 0;
const READER = 1;
const CONSUMER = 2;

const SPIN_LIMIT = 10_000; // Ring.fill(): tries for LOCK, tens of µs
const FULL = 0; // produce(): no room for a read
const END_OF_FILE = -4096; // produce(): read() returned 0 (beyond any negated errno)

const EINTR = 4;
const EAGAIN = 11;
const FIONREAD = 0x541b;

/** What the reader thread is given for each ring. */
export interface ReaderJob {
  /** The ring, made by {@linkcode Ring}. */
  ring: SharedArrayBuffer;
  /** The nonblocking fd to drain. */
  fd: number;
  /** The largest read. */
  readSize: number;
  /** The smallest read that can always take the next record. */
  minRead: number;
}

/** The process's reader thread, as a {@linkcode Drain} uses it (queue/reader.ts). */
export interface Reader {
  /** True while a thread runs: from the first {@linkcode add} until the thread fails. */
  readonly started: boolean;
  /** Hands a ring to the thread; `onError` hears if the thread dies. Returns how to let go. */
  add(job: ReaderJob, onError: (err: Error) => void): () => void;
  /** Wakes the thread to look at every ring's control words. */
  kick(): void;
}

/**
 * A pending waitAsync does not keep Deno's event loop alive; a timer does. One timer, ref'd while
 * any consumer waits: referencing it costs 0.15 µs in Deno where a new timer costs 2.
 */
const keepAlive = {
  waiting: 0,
  timer: undefined as ReturnType<typeof setInterval> | undefined,
  hold(): void {
    if (this.waiting++ === 0) (this.timer ??= setInterval(() => {}, 2 ** 30)).ref();
  },
  release(): void {
    if (--this.waiting === 0) this.timer!.unref();
  },
};

/** The consumer's side of the ring (runs on the main thread). */
export class Ring {
  /** Hand this to the reader thread. */
  readonly buffer: SharedArrayBuffer;
  /** The data area, where records are parsed in place. */
  readonly data: Uint8Array;
  readonly #ctl: Int32Array;
  readonly #kick: () => void;

  /**
   * @param capacity Bytes of records the ring can hold.
   * @param minRead The smallest useful read: added as slack so a read always fits once drained.
   * @param kick Wakes the reader thread (see {@linkcode Reader.kick}).
   */
  constructor(capacity: number, minRead: number, kick: () => void) {
    this.#kick = kick;
    // Slack of 2 reads: an empty ring always has room for one read at its end or its start.
    this.buffer = new SharedArrayBuffer(CONTROL_BYTES + capacity + 2 * minRead);
    this.#ctl = new Int32Array(this.buffer, 0, CONTROL_BYTES / 4);
    this.data = new Uint8Array(this.buffer, CONTROL_BYTES);
  }

  /**
   * The offsets of the next run of unread bytes, or undefined when there is none now.
   * @returns [start, end) within {@linkcode data}.
   */
  available(): [number, number] | undefined {
    const ctl = this.#ctl;
    for (;;) {
      const read = Atomics.load(ctl, READ);
      const write = Atomics.load(ctl, WRITE);
      if (read === write) return undefined;
      if (read < write) return [read, write];
      const wrap = Atomics.load(ctl, WRAP);
      if (read < wrap) return [read, wrap];
      this.release(0); // the producer went back to 0: follow it
    }
  }

  /**
   * Reads what the kernel has now into the ring, on this thread, unless the reader thread is
   * producing at this instant. Errors are left to the reader thread, which reports them.
   * @returns true if bytes were added.
   */
  fill(sys: Sys, fd: number, readSize: number, minRead: number): boolean {
    const ctl = this.#ctl;
    // The reader thread holds LOCK for one nonblocking read: what it reads is published in
    // microseconds, sooner than a wake from it would reach this thread. Spin that long, no longer.
    for (let spins = 0; Atomics.compareExchange(ctl, LOCK, FREE, CONSUMER) !== FREE; spins++) {
      if (spins === SPIN_LIMIT) return false;
    }
    try {
      return produce(sys, ctl, this.data, fd, readSize, minRead) > 0;
    } finally {
      Atomics.store(ctl, LOCK, FREE);
      Atomics.notify(ctl, LOCK);
    }
  }

  /** Bytes the producer has added after `offset` (a position in the run handed out last). */
  unreadAfter(offset: number): number {
    const write = Atomics.load(this.#ctl, WRITE);
    return offset <= write ? write - offset : Atomics.load(this.#ctl, WRAP) - offset + write;
  }

  /** Gives the bytes before `offset` back to the producer. */
  release(offset: number): void {
    const ctl = this.#ctl;
    Atomics.store(ctl, READ, offset);
    Atomics.add(ctl, FREED, 1);
    if (Atomics.load(ctl, WANT_ROOM) !== 0) {
      Atomics.store(ctl, WANT_ROOM, 0);
      this.#kick();
    }
  }

  /** A token for {@linkcode wait}: take it before checking {@linkcode available}. */
  published(): number {
    return Atomics.load(this.#ctl, PUBLISHED);
  }

  /**
   * Resolves when something was published after `token` was taken (at once if it was), or when
   * `look`, run once at the next turn of the event loop, returns true. That look catches what this
   * thread made itself (a write, then back to the event loop: the event is queued by then) without
   * waiting for the reader thread's wake-up to reach this thread.
   */
  async wait(token: number, look: () => boolean): Promise<void> {
    const waiting = Atomics.waitAsync(this.#ctl, PUBLISHED, token);
    if (!waiting.async) return;
    keepAlive.hold();
    let looking: ReturnType<typeof setImmediate> | undefined;
    try {
      await new Promise<void>((resolve) => {
        waiting.value.then(() => resolve());
        const published = () => this.published() !== token; // by the reader, meanwhile
        looking = setImmediate(() => (published() || look() || published()) && resolve());
      });
    } finally {
      keepAlive.release();
      clearImmediate(looking);
    }
  }

  /**
   * Lets the reader start reading (at once, or as soon as it has the ring). Idempotent.
   * @returns true the first time.
   */
  start(): boolean {
    if (Atomics.compareExchange(this.#ctl, GO, 0, 1) !== 0) return false;
    this.#kick();
    return true;
  }

  /** Wakes a pending {@linkcode wait} (e.g. on close). */
  wake(): void {
    Atomics.add(this.#ctl, PUBLISHED, 1);
    Atomics.notify(this.#ctl, PUBLISHED);
  }

  /** Why the reader stopped on its own: its errno, -1 for end of file, 0 if it did not. */
  failure(): number {
    return Atomics.load(this.#ctl, STATE) === STOPPED ? Atomics.load(this.#ctl, ERRNO) : 0;
  }

  /**
   * Takes the ring from the reader thread and returns once the thread has left every call on the
   * fd, so the fd may be closed. Synchronous: the thread only ever blocks in poll(), which the
   * kick (made once the state says CLOSING) ends, so this takes microseconds.
   */
  stopReader(): void {
    const ctl = this.#ctl;
    for (;;) {
      const state = Atomics.load(ctl, STATE);
      if (state === STOPPED) return;
      if (state === STARTING) {
        // Not taken yet: make sure it never touches the fd. No need to wait.
        if (Atomics.compareExchange(ctl, STATE, STARTING, STOPPED) === STARTING) return;
        continue;
      }
      if (state === RUNNING && Atomics.compareExchange(ctl, STATE, RUNNING, CLOSING) === RUNNING) this.#kick();
      Atomics.wait(ctl, STATE, CLOSING, 50);
    }
  }
}

/** What the reader thread does with a ring next: see {@linkcode RingProducer.step}. */
export const Next = {
  /** Stopped: forget the ring. */
  Done: 0,
  /** Not to be read now (not started, or full): look again at the next kick. */
  Idle: 1,
  /** Read again as soon as poll() says the fd is readable. */
  Poll: 2,
  /** Read again without waiting. */
  Again: 3,
} as const;
/** One of {@linkcode Next}'s values. */
export type Next = typeof Next[keyof typeof Next];

/** The reader thread's side of a ring. */
export class RingProducer {
  /** The fd it fills from. */
  readonly fd: number;
  readonly #job: ReaderJob;
  readonly #ctl: Int32Array;
  readonly #data: Uint8Array;
  #full = -1; // FREED as it was when the ring was found full, else -1

  constructor(job: ReaderJob) {
    this.#job = job;
    this.fd = job.fd;
    this.#ctl = new Int32Array(job.ring, 0, CONTROL_BYTES / 4);
    this.#data = new Uint8Array(job.ring, CONTROL_BYTES);
  }

  /**
   * Follows the consumer's control words (start, close) and, if the fd may have data (`ready`),
   * reads it once into the ring. Never blocks but for the consumer's one-read hold of LOCK.
   */
  step(sys: Sys, ready: boolean): Next {
    const ctl = this.#ctl;
    let state = Atomics.load(ctl, STATE);
    if (state === STARTING && Atomics.compareExchange(ctl, STATE, STARTING, RUNNING) === STARTING) state = RUNNING;
    if (state === CLOSING) return this.#stop(0);
    if (state !== RUNNING) return Next.Done;
    if (Atomics.load(ctl, GO) === 0) return Next.Idle; // until the first read, events wait in the kernel
    const freed = Atomics.load(ctl, FREED);
    if (this.#full === freed) return Next.Idle; // full: the kernel queue fills behind us
    this.#full = -1;
    if (!ready) return Next.Poll;
    while (Atomics.compareExchange(ctl, LOCK, FREE, READER) !== FREE) Atomics.wait(ctl, LOCK, CONSUMER);
    const n = produce(sys, ctl, this.#data, this.fd, this.#job.readSize, this.#job.minRead);
    Atomics.store(ctl, LOCK, FREE);
    if (n > 0) return Next.Poll;
    if (n === FULL) {
      Atomics.store(ctl, WANT_ROOM, 1);
      if (Atomics.load(ctl, FREED) !== freed) return Next.Again; // freed meanwhile: no kick coming
      this.#full = freed;
      return Next.Idle;
    }
    const errno = n === END_OF_FILE ? -1 : -n;
    if (errno === EINTR) return Next.Again;
    if (errno === EAGAIN) return Next.Poll;
    return this.#stop(errno);
  }

  #stop(errno: number): Next {
    const ctl = this.#ctl;
    Atomics.store(ctl, ERRNO, errno);
    Atomics.store(ctl, STATE, STOPPED);
    Atomics.notify(ctl, STATE);
    Atomics.add(ctl, PUBLISHED, 1); // the consumer must look: it may be waiting for data
    Atomics.notify(ctl, PUBLISHED);
    return Next.Done;
  }
}

/**
 * One read(2) into the ring at WRITE, wrapping to 0 first when the end has no room; the caller
 * holds LOCK. Publishes what it read.
 * @returns the bytes read, FULL when the ring has no room, END_OF_FILE, or the negated errno.
 */
function produce(sys: Sys, ctl: Int32Array, data: Uint8Array, fd: number, readSize: number, minRead: number): number {
  for (;;) {
    const write = Atomics.load(ctl, WRITE);
    const read = Atomics.load(ctl, READ);
    // Room for a read: up to the end (keeping READ < WRITE) or up to READ - 1 once wrapped.
    const room = write >= read ? data.byteLength - write : read - write - 1;
    if (room < minRead) {
      if (write < read || read <= minRead) return FULL; // the kernel queue fills behind us
      Atomics.store(ctl, WRAP, write);
      Atomics.store(ctl, WRITE, 0);
      continue;
    }
    const n = sys.read(fd, data.subarray(write, write + Math.min(room, readSize)));
    if (n <= 0) return n === 0 ? END_OF_FILE : -sys.errno();
    Atomics.store(ctl, WRITE, write + n);
    Atomics.add(ctl, PUBLISHED, 1);
    Atomics.notify(ctl, PUBLISHED);
    return n;
  }
}

/** What a queue needs from the runtime: libc, and the reader thread. */
export interface Host {
  sys: Sys;
  reader: Reader;
}

/** How a {@linkcode Drain} reads its fd. */
export interface DrainOptions {
  /** Bytes of records the ring holds. */
  ringSize: number;
  /** The largest read. */
  readSize: number;
  /** The smallest read that always takes the next record (else EINVAL or ENOBUFS). */
  minRead: number;
}

/**
 * A nonblocking fd that, from the first {@linkcode next} on, the consumer and the reader thread
 * drain into a ring (see {@linkcode next} for when the thread takes it).
 * Holds no reference to the queue that uses it, so it can be a FinalizationRegistry's held
 * value: {@linkcode close} is safe to call from a finalizer.
 */
export class Drain {
  /** The fd drained. */
  readonly fd: number;
  readonly #host: Host;
  readonly #options: DrainOptions;
  #ring?: Ring;
  #detach?: () => void; // set once the ring is handed to the reader thread
  #threadError?: Error;
  #held = -1; // end of the run handed out; released when the next one is asked for
  #closed = false;
  #iterating = false;

  constructor(host: Host, fd: number, options: DrainOptions) {
    this.#host = host;
    this.fd = fd;
    this.#options = options;
  }

  /** The ring's bytes, where records are parsed in place. */
  get data(): Uint8Array {
    return this.#attach().data;
  }

  /**
   * Releases the run handed out before, then waits for the next run of unread bytes. What the
   * kernel already has is read on this thread. The ring goes to the reader thread at the first
   * call if the thread runs already; else the first time this has to wait, or at the first turn
   * of the event loop after the first call, whichever comes first: the process's first ring
   * starts the thread, which takes 4-9 ms in Bun and 25-45 in Deno, where creating a worker
   * blocks its caller — a cost not worth paying before it is needed.
   * @returns [start, end) within {@linkcode data}, or undefined once closed.
   * @throws {SyscallError} If the reader thread met an error it cannot get past.
   */
  async next(): Promise<[number, number] | undefined> {
    const ring = this.#attach();
    const { sys } = this.#host, { readSize, minRead } = this.#options;
    if (ring.start()) {
      if (this.#host.reader.started) this.#handOver();
      else setImmediate(() => this.#closed || this.#handOverQuietly());
    }
    this.releaseHeld();
    for (;;) {
      if (this.#closed) return undefined;
      const token = ring.published();
      const span = ring.available();
      if (span) return span;
      if (ring.fill(sys, this.fd, readSize, minRead)) continue;
      if (this.#threadError) throw this.#threadError;
      const errno = ring.failure();
      if (errno === -1) throw new Error(`Cannot read fd ${this.fd}: end of file`);
      if (errno !== 0) throw new SyscallError(errno, "read");
      this.#handOver(); // only the reader thread can wake us
      // The look comes at the next turn of the loop: by then close() may have closed the fd.
      await ring.wait(token, () => !this.#closed && ring.fill(sys, this.fd, readSize, minRead));
    }
  }

  /**
   * A queue's `batches()`: yields `batch` pointed at each run of unread records, cut where `take`
   * says (it checks the records and returns where the batch ends). One consumer at a time; ends
   * once closed. `makeBatch` runs at the first `next()`, so nothing starts before iteration does.
   */
  async *batches<Batch extends { set(start: number, end: number): void }>(
    makeBatch: () => Batch,
    take: (start: number, end: number) => number,
    owner: string,
  ): AsyncGenerator<Batch, void, undefined> {
    if (this.#closed) return;
    if (this.#iterating) throw new Error(`Cannot iterate: this ${owner} is being iterated already`);
    this.#iterating = true;
    try {
      const batch = makeBatch();
      for (let span; (span = await this.next());) {
        const end = take(span[0], span[1]);
        this.hold(end);
        batch.set(span[0], end);
        yield batch;
      }
    } finally {
      this.#iterating = false;
      this.releaseHeld();
    }
  }

  /** Bytes waiting in the kernel queue, not yet read into the ring (`ioctl(FIONREAD)`). */
  pendingBytes(): number {
    const { sys } = this.#host;
    const count = new Int32Array(1);
    if (sys.ioctl(this.fd, FIONREAD, new Uint8Array(count.buffer)) === -1) throw new SyscallError(sys.errno(), "ioctl");
    return count[0];
  }

  /**
   * Bytes of records queued after `offset` of the run handed out last: in the ring, then in the
   * kernel queue. An upper bound: a read that moves bytes between the two counts is counted twice.
   */
  bytesQueuedAfter(offset: number): number {
    const pending = this.pendingBytes(); // first: counted the other way round, a read could hide bytes
    return pending + this.#attach().unreadAfter(offset);
  }

  /** Keeps the bytes before `end` until the next call to {@linkcode next} or {@linkcode releaseHeld}. */
  hold(end: number): void {
    this.#held = end;
  }

  /** Gives held bytes back to the reader now (e.g. when an iteration ends). */
  releaseHeld(): void {
    if (this.#held >= 0 && !this.#closed) this.#ring!.release(this.#held);
    this.#held = -1;
  }

  /**
   * Ends a pending {@linkcode next}, takes the ring from the reader thread (close(2) would wake
   * nobody) and then closes the fd. Idempotent.
   * @returns 0, or the errno of closing the fd.
   */
  close(): number {
    if (this.#closed) return 0;
    this.#closed = true;
    if (this.#ring) {
      this.#ring.wake();
      if (!this.#threadError) this.#ring.stopReader(); // a dead thread reads nothing
      this.#detach?.();
    }
    const { sys } = this.#host;
    return sys.close(this.fd) === -1 ? sys.errno() : 0;
  }

  #attach(): Ring {
    const { reader } = this.#host;
    return this.#ring ??= new Ring(this.#options.ringSize, this.#options.minRead, () => reader.kick());
  }

  /** Hands the ring to the reader thread, once; throws if the thread cannot start. */
  #handOver(): void {
    if (this.#detach) return;
    const ring = this.#attach();
    const { readSize, minRead } = this.#options;
    this.#detach = this.#host.reader.add({ ring: ring.buffer, fd: this.fd, readSize, minRead }, (err) => {
      this.#threadError = err;
      ring.wake();
    });
  }

  #handOverQuietly(): void {
    try {
      this.#handOver();
    } catch {
      // the next wait tries again and reports it
    }
  }
}

/** What a {@linkcode RecordBatch} walks with: a record cursor that is itself the view it yields. */
export interface RecordCursor {
  /** Starts a walk over `[start, end)`. */
  reset(end: number, start?: number): void;
  /** Steps to the next record; false at the end. */
  next(): boolean;
  /** The byte offset just past the current record. */
  readonly end: number;
}

/**
 * The records of one or more kernel reads, decoded in place, as a queue's `batches()` yields it.
 * Iterating yields the same view object for every record, so copy what you keep.
 */
export class RecordBatch<View> implements Iterable<View> {
  readonly #cursor: RecordCursor & View;
  #start = 0;
  #end = 0;

  /**
   * A batch walked by `cursor`; {@linkcode set} picks the range.
   * @param cursor A cursor over the ring's data area.
   */
  constructor(cursor: RecordCursor & View) {
    this.#cursor = cursor;
  }

  /** Points the batch at `[start, end)`. */
  set(start: number, end: number): void {
    this.#start = start;
    this.#end = end;
    this.#cursor.reset(end, start);
  }

  /** Bytes of records in this batch. */
  get byteLength(): number {
    return this.#end - this.#start;
  }

  /** Where the record after the last one iterated starts (the batch's start before any). */
  get consumed(): number {
    return this.#cursor.end;
  }

  /** Walks the records; allocates nothing per record. */
  [Symbol.iterator](): Iterator<View> {
    const cursor = this.#cursor;
    cursor.reset(this.#end, this.#start);
    const more: IteratorResult<View> = { done: false, value: cursor };
    const done: IteratorResult<View> = { done: true, value: undefined };
    return { next: () => (cursor.next() ? more : done) };
  }
}

/**
 * The `for await` of a queue: every record of `batches`, copied by `keep` into an object the caller
 * may keep. Leaving the loop early (`break`) gives back only what was yielded: the rest comes in
 * the next loop.
 */
export function keptRecords<View, Kept>(
  batches: AsyncGenerator<RecordBatch<View>, void, undefined>,
  drain: Drain,
  keep: (view: View) => Kept,
): AsyncIterableIterator<Kept> {
  let batch: RecordBatch<View> | undefined;
  let records: Iterator<View> | undefined;
  const finished: IteratorResult<Kept> = { done: true, value: undefined };
  return {
    async next(): Promise<IteratorResult<Kept>> {
      for (;;) {
        const record = records?.next();
        if (record && !record.done) return { done: false, value: keep(record.value) };
        const next = await batches.next();
        if (next.done) return finished;
        batch = next.value;
        records = batch[Symbol.iterator]();
      }
    },
    async return(): Promise<IteratorResult<Kept>> {
      if (batch) drain.hold(batch.consumed); // give back only what was yielded
      await batches.return();
      return finished;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
