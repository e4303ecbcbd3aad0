/**
 * The protocol of a single-producer, single-consumer byte ring in a SharedArrayBuffer that a reader
 * thread fills from a file descriptor: {@linkcode Ring} is the consumer's side, {@linkcode RingProducer}
 * the thread's.
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
import type { Sys } from "../ffi/types.ts";
import { ERRNO } from "./linux.ts";

// Control words (Int32) at the start of the SharedArrayBuffer.
const WRITE = 0; // producer's offset: data is [READ, WRITE), or [READ, WRAP) then [0, WRITE)
const READ = 1; // consumer's offset
const WRAP = 2; // where the data ends before the producer went back to 0
const STATE = 3; // STARTING, RUNNING, CLOSING or STOPPED
const PUBLISHED = 4; // bumped when data is added or the consumer must look again; consumer waits on it
const FREED = 5; // bumped when space is freed
const FAILURE = 6; // the producer's fatal errno, or -1 for end of file
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

/** What the reader thread is given for each ring. */
export interface RingJob {
  /** The ring, made by {@linkcode Ring}. */
  ring: SharedArrayBuffer;
  /** The nonblocking fd to drain. */
  fd: number;
  /** The largest read. */
  readSize: number;
  /** The smallest read that can always take the next record. */
  minRead: number;
}

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
   * @param kick Wakes the reader thread, to look at this ring's control words.
   * @param reuse The buffer of a ring that no thread holds any more (see {@linkcode stopReader}),
   *   of the same capacity and minRead: its memory is used again.
   */
  constructor(capacity: number, minRead: number, kick: () => void, reuse?: SharedArrayBuffer) {
    this.#kick = kick;
    // Slack of 2 reads: an empty ring always has room for one read at its end or its start.
    this.buffer = reuse ?? new SharedArrayBuffer(Ring.byteLength(capacity, minRead));
    this.#ctl = new Int32Array(this.buffer, 0, CONTROL_BYTES / 4);
    this.#ctl.fill(0);
    this.data = new Uint8Array(this.buffer, CONTROL_BYTES);
  }

  /** Bytes of the SharedArrayBuffer of a ring of `capacity`. */
  static byteLength(capacity: number, minRead: number): number {
    return CONTROL_BYTES + capacity + 2 * minRead;
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
   * Resolves when something is published after `token` was taken; undefined when it was already.
   * A pending wait does not keep Deno's event loop alive: the caller keeps it alive.
   */
  waitAsync(token: number): Promise<unknown> | undefined {
    const waiting = Atomics.waitAsync(this.#ctl, PUBLISHED, token);
    return waiting.async ? waiting.value : undefined;
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
    return Atomics.load(this.#ctl, STATE) === STOPPED ? Atomics.load(this.#ctl, FAILURE) : 0;
  }

  /**
   * Takes the ring from the reader thread and returns once the thread has left every call on the
   * fd, so the fd may be closed. Synchronous: the thread only ever blocks in poll(), which the
   * kick (made once the state says CLOSING) ends, so this takes microseconds.
   * @returns true when the thread itself let go of the ring; false when it had not taken it yet
   *   (a ring posted to it may still arrive there, so its buffer must not be used again).
   */
  stopReader(): boolean {
    const ctl = this.#ctl;
    for (;;) {
      const state = Atomics.load(ctl, STATE);
      if (state === STOPPED) return true;
      if (state === STARTING) {
        // Not taken yet: make sure it never touches the fd. No need to wait.
        if (Atomics.compareExchange(ctl, STATE, STARTING, STOPPED) === STARTING) return false;
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
  readonly #job: RingJob;
  readonly #ctl: Int32Array;
  readonly #data: Uint8Array;
  #full = -1; // FREED as it was when the ring was found full, else -1

  constructor(job: RingJob) {
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
    if (errno === ERRNO.EINTR) return Next.Again;
    if (errno === ERRNO.EAGAIN) return Next.Poll;
    return this.#stop(errno);
  }

  #stop(errno: number): Next {
    const ctl = this.#ctl;
    Atomics.store(ctl, FAILURE, errno);
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
