/**
 * The reader thread: one per process, started with the first ring, it polls every ring's fd and
 * reads each readable one into its ring, so events leave the kernel queues while the JavaScript
 * thread is busy. One thread (one JS isolate, 18-33 MiB) serves every queue: a second instance
 * costs a ring and an fd, not a thread.
 *
 * The main thread hands rings over through a MessagePort (a SharedArrayBuffer can travel no other
 * way) and kicks an eventfd in the thread's poll set; the thread takes the messages with
 * `receiveMessageOnPort`, as it never returns to its event loop.
 *
 * @module
 */
import type { Sys } from "../ffi/types.ts";
import { SyscallError } from "./errors.ts";
import { ERRNO, O } from "./linux.ts";
import { Next, type RingJob, RingProducer } from "./ring.ts";

/** What the thread is started with. */
export interface ReaderInit {
  /** Int32 words: [POSTED], the count of jobs posted to the thread. */
  control: SharedArrayBuffer;
  /** The eventfd that {@linkcode ReaderThread.kick} writes. */
  wakeFd: number;
}

/** Starts the thread (ffi/reader_thread.ts); returns how to post it a job. */
export type SpawnReaderThread = (init: ReaderInit, onError: (err: Error) => void) => (job: RingJob) => void;

const POSTED = 0;
const POLLIN = 1;
const ONE = new Uint8Array(new BigUint64Array([1n]).buffer);

/** The main thread's side of the reader thread: started with the first ring handed to it. */
export class ReaderThread {
  readonly #sys: Sys;
  readonly #spawn: SpawnReaderThread;
  #post?: (job: RingJob) => void;
  #control: Int32Array = new Int32Array(1);
  #wakeFd = -1;
  readonly #listeners = new Set<(err: Error) => void>();

  constructor(sys: Sys, spawn: SpawnReaderThread) {
    this.#sys = sys;
    this.#spawn = spawn;
  }

  /** True while a thread runs: from the first {@linkcode add} until the thread fails. */
  get started(): boolean {
    return this.#post !== undefined;
  }

  /** Hands a ring to the thread; `onError` hears if the thread dies. Returns how to let go. */
  add(job: RingJob, onError: (err: Error) => void): () => void {
    if (!this.#post) this.#start();
    this.#post!(job);
    Atomics.add(this.#control, POSTED, 1); // after the post: the thread counts on the message
    this.kick();
    this.#listeners.add(onError);
    return () => this.#listeners.delete(onError);
  }

  /** Wakes the thread to look at every ring's control words. */
  kick(): void {
    if (this.#wakeFd !== -1) this.#sys.write(this.#wakeFd, ONE); // -1: no thread yet, nothing to wake
  }

  #start(): void {
    const sys = this.#sys;
    const wakeFd = sys.eventfd(0, O.NONBLOCK | O.CLOEXEC);
    if (wakeFd === -1) throw new SyscallError(sys.errno(), "eventfd");
    const control = new Int32Array(new SharedArrayBuffer(4));
    try {
      this.#post = this.#spawn({ control: control.buffer, wakeFd }, (err) => {
        // Every ring it filled fails; the next ring starts a new thread. The old eventfd stays
        // open: those rings may still kick it, and a closed fd number could be someone else's.
        this.#post = undefined;
        for (const onError of this.#listeners) onError(err);
        this.#listeners.clear();
      });
    } catch (err) {
      sys.close(wakeFd); // e.g. Deno without --allow-read: nothing started, nothing kept
      throw err;
    }
    this.#control = control;
    this.#wakeFd = wakeFd;
  }
}

/** A ring the thread serves, and where its fd sits in the poll set. */
interface Served {
  ring: RingProducer;
  /** Worth a read: poll() said so, or it was not polled. */
  ready: boolean;
  /** Its pollfd's index, or -1. */
  slot: number;
}

/**
 * The thread's loop: take new rings, step each one, then block in poll() on the readable ones and
 * the eventfd. Never returns; the thread is unref'd and ends with the process.
 * @param receive The next job posted, if it has arrived.
 */
export function runReaders(sys: Sys, init: ReaderInit, receive: () => RingJob | undefined): never {
  const control = new Int32Array(init.control);
  const served: Served[] = [];
  let received = 0;
  let pollFds = new Int32Array(0); // struct pollfd { int fd; short events; short revents; }
  const counter = new Uint8Array(8);
  for (;;) {
    while (received < Atomics.load(control, POSTED)) {
      const job = receive(); // posted before POSTED was bumped: here, or a moment away
      if (job) served.push({ ring: new RingProducer(job), ready: true, slot: -1 }), received++;
    }
    if (pollFds.length < 2 * (served.length + 1)) pollFds = new Int32Array(4 * (served.length + 1));
    pollFds[0] = init.wakeFd;
    pollFds[1] = POLLIN;
    let count = 1, timeout = -1;
    for (let i = 0; i < served.length;) {
      const s = served[i];
      const next = s.ring.step(sys, s.ready);
      if (next === Next.Done) {
        served[i] = served[served.length - 1];
        served.pop();
        continue;
      }
      s.slot = -1;
      s.ready = next !== Next.Poll;
      if (next === Next.Poll) {
        pollFds[2 * count] = s.ring.fd;
        pollFds[2 * count + 1] = POLLIN;
        s.slot = count++;
      } else if (next === Next.Again) timeout = 0;
      i++;
    }
    const polled = sys.poll(new Uint8Array(pollFds.buffer, 0, 8 * count), timeout);
    if (polled === -1) {
      const errno = sys.errno();
      if (errno !== ERRNO.EINTR) throw new SyscallError(errno, "poll");
      continue;
    }
    if (pollFds[1] >>> 16) sys.read(init.wakeFd, counter); // revents: reset the eventfd
    for (const s of served) if (s.slot >= 0) s.ready = pollFds[2 * s.slot + 1] >>> 16 !== 0;
  }
}
