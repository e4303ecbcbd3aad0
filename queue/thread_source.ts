/**
 * The {@linkcode Source} of the reader-thread path: a {@linkcode Ring} that the consumer and the
 * process's {@linkcode ReaderThread} both fill from the fd.
 *
 * A consumer that finds the ring empty reads the fd itself (what the kernel already has costs one
 * read(2), not a thread wake and an event-loop task). The ring goes to the reader thread at the
 * first `next()` if the thread runs already; else the first time the consumer has to wait, or at
 * the first turn of the event loop after its first `next()`, whichever comes first: the process's
 * first ring starts the thread, which takes 4-9 ms in Bun and 25-45 in Deno, where creating a
 * worker blocks its caller — a cost not worth paying before it is needed.
 *
 * @module
 */
import { clearImmediate, setImmediate, setInterval } from "node:timers";
import type { Sys } from "../ffi/types.ts";
import { SyscallError } from "./errors.ts";
import type { ReaderThread } from "./reader_thread.ts";
import { Ring } from "./ring.ts";
import type { OpenSource, Run, Source, SourceOptions } from "./source.ts";

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

/**
 * Rings of closed sources, by byte length, for the next source to use: a SharedArrayBuffer lives
 * until every isolate that held it collects garbage, which the reader thread's seldom does (3,000
 * rings of 1 MiB made and closed in Deno held 580 MiB). A few are kept; the rest are dropped.
 */
const spareRings = new Map<number, SharedArrayBuffer[]>();
const SPARE_RINGS = 4;

/** Sources that read through `reader`, the process's reader thread. */
export function threadSources(sys: Sys, reader: ReaderThread): OpenSource {
  return (fd, options) => new ThreadSource(sys, reader, fd, options);
}

class ThreadSource implements Source {
  readonly #sys: Sys;
  readonly #reader: ReaderThread;
  readonly #fd: number;
  readonly #options: SourceOptions;
  readonly #ring: Ring;
  #detach?: () => void; // set once the ring is handed to the reader thread
  #threadError?: Error;
  #run: Run | undefined;
  #closed = false;

  constructor(sys: Sys, reader: ReaderThread, fd: number, options: SourceOptions) {
    this.#sys = sys;
    this.#reader = reader;
    this.#fd = fd;
    this.#options = options;
    const { capacity, minRead } = options;
    const spare = spareRings.get(Ring.byteLength(capacity, minRead))?.pop();
    this.#ring = new Ring(capacity, minRead, () => reader.kick(), spare);
    if (this.#ring.start()) {
      if (reader.started) this.#handOver();
      else setImmediate(() => this.#closed || this.#handOverQuietly());
    }
  }

  async next(consumed?: number): Promise<Run | undefined> {
    const ring = this.#ring, sys = this.#sys, fd = this.#fd;
    const { readSize, minRead } = this.#options;
    this.#release(consumed);
    for (;;) {
      if (this.#closed) return undefined;
      const token = ring.published();
      const span = ring.available();
      if (span) return this.#run = { bytes: ring.data, start: span[0], end: span[1] };
      if (ring.fill(sys, fd, readSize, minRead)) continue;
      if (this.#threadError) throw this.#threadError;
      const errno = ring.failure();
      if (errno === -1) throw new Error(`Cannot read fd ${fd}: end of file`);
      if (errno !== 0) throw new SyscallError(errno, "read");
      this.#handOver(); // only the reader thread can wake us
      // The look comes at the next turn of the loop: by then close() may have closed the fd.
      await this.#wait(token, () => !this.#closed && ring.fill(sys, fd, readSize, minRead));
    }
  }

  pause(): void {
    // The reader thread reads whether or not anyone iterates; only a wait keeps the process alive.
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const ring = this.#ring;
    ring.wake();
    // A dead thread reads nothing; a ring it never let go of may still reach it: not reused.
    const letGo = this.#threadError ? false : ring.stopReader() || !this.#detach;
    this.#detach?.();
    if (letGo) {
      const spares = spareRings.get(ring.buffer.byteLength) ?? [];
      if (spares.length < SPARE_RINGS) spareRings.set(ring.buffer.byteLength, [...spares, ring.buffer]);
    }
  }

  /** Gives the run handed out last back to the producer, up to `consumed`. */
  #release(consumed?: number): void {
    const run = this.#run;
    if (!run) return;
    this.#run = undefined;
    this.#ring.release(consumed ?? run.end);
  }

  /**
   * Resolves when the reader thread published after `token` was taken, or when `look`, run once at
   * the next turn of the event loop, returns true. That look catches what this thread made itself
   * (a write, then back to the event loop: the event is queued by then) without waiting for the
   * reader thread's wake-up to reach this thread.
   */
  async #wait(token: number, look: () => boolean): Promise<void> {
    const ring = this.#ring;
    const published = ring.waitAsync(token);
    if (!published) return;
    keepAlive.hold();
    let looking: ReturnType<typeof setImmediate> | undefined;
    try {
      await new Promise<void>((resolve) => {
        published.then(() => resolve());
        const meanwhile = () => ring.published() !== token; // by the reader, meanwhile
        looking = setImmediate(() => (meanwhile() || look() || meanwhile()) && resolve());
      });
    } finally {
      keepAlive.release();
      clearImmediate(looking);
    }
  }

  /** Hands the ring to the reader thread, once; throws if the thread cannot start. */
  #handOver(): void {
    if (this.#detach) return;
    const ring = this.#ring;
    const { readSize, minRead } = this.#options;
    this.#detach = this.#reader.add({ ring: ring.buffer, fd: this.#fd, readSize, minRead }, (err) => {
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
