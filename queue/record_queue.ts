/**
 * {@linkcode RecordQueue}: one kernel queue's fd and how its records reach the consumer — the
 * {@linkcode Source} opened at the first iteration, `batches()` of views decoded in place, the
 * `for await` of kept copies, and close. `Inotify` and `WatchQueue` compose one and keep only their
 * own system calls.
 *
 * @module
 */
import { SyscallError } from "./errors.ts";
import { IOCTL } from "./linux.ts";
import type { Host, Run, Source, SourceOptions } from "./source.ts";

/** A record cursor that is itself the view a batch yields. */
export interface RecordCursor {
  /** Starts a walk over `[start, end)` of its bytes. */
  reset(end: number, start?: number): void;
  /**
   * Steps to the next record; false at the end.
   * @throws {RangeError} When the bytes cannot be such records.
   */
  next(): boolean;
  /** The byte offset of the current record. */
  readonly offset: number;
  /** The byte offset just past the current record. */
  readonly end: number;
}

/** What a {@linkcode RecordQueue} needs to know of its records. */
export interface RecordFormat<View, Kept> {
  /** The public class, for messages: `"Inotify"`. */
  readonly owner: string;
  /** How its fd is read. */
  readonly source: SourceOptions;
  /** A cursor over `bytes`. */
  cursor(bytes: Uint8Array): RecordCursor & View;
  /** A copy of the current record that the caller may keep. */
  keep(view: View): Kept;
  /** Sees every record once, in order, as its batch is handed out (e.g. to drop a removed watch). */
  observe?(view: View): void;
}

/**
 * The records of about one kernel read, decoded in place, as `batches()` yields them. Iterating
 * yields the same view object for every record, valid until the next batch is requested: copy
 * what you keep.
 */
export class RecordBatch<View> implements Iterable<View> {
  #cursor?: RecordCursor & View;
  #start = 0;
  #end = 0;

  /** Points the batch at `[start, end)` of the bytes `cursor` walks. */
  set(cursor: RecordCursor & View, start: number, end: number): void {
    this.#cursor = cursor;
    this.#start = start;
    this.#end = end;
  }

  /** Bytes of records in this batch. */
  get byteLength(): number {
    return this.#end - this.#start;
  }

  /** Where the record after the last one iterated starts (the batch's start before any). */
  get consumed(): number {
    return this.#cursor?.end ?? this.#start;
  }

  /** Walks the records; allocates nothing per record. */
  [Symbol.iterator](): Iterator<View> {
    const done: IteratorResult<View> = { done: true, value: undefined };
    const cursor = this.#cursor;
    if (!cursor) return { next: () => done };
    cursor.reset(this.#end, this.#start);
    const more: IteratorResult<View> = { done: false, value: cursor };
    return { next: () => (cursor.next() ? more : done) };
  }
}

/** The cursors over one region: one to check and cut a run, one that the batch walks. */
interface Cursors<View> {
  bytes: Uint8Array;
  scan: RecordCursor & View;
  walk: RecordCursor & View;
}

// Only a net for queues whose owner was dropped without close(); close() unregisters first.
const leakNet = new FinalizationRegistry<RecordQueue<unknown, unknown>>((queue) => void queue.close());

/** One kernel queue's fd, read through a {@linkcode Source} from the first iteration on. */
export class RecordQueue<View, Kept> {
  /** The queue's fd (closed by {@linkcode close}). */
  readonly fd: number;
  readonly #host: Host;
  readonly #format: RecordFormat<View, Kept>;
  readonly #otherFd: number;
  #source?: Source;
  #cursors: Cursors<View>[] = [];
  #iterating = false;
  #closed = false;
  #batch?: RecordBatch<View>;
  #held?: number; // how much of the run handed out last was consumed, when not all of it

  /**
   * @param fd The fd to read, nonblocking.
   * @param owner The public object: if it is dropped without close(), a finalizer closes the fds
   *   (it must not be referenced by `format`, or it is never dropped).
   * @param otherFd An fd closed with it (a notification pipe's write end), or -1.
   */
  constructor(host: Host, fd: number, format: RecordFormat<View, Kept>, owner: object, otherFd = -1) {
    this.#host = host;
    this.fd = fd;
    this.#format = format;
    this.#otherFd = otherFd;
    leakNet.register(owner, this as RecordQueue<unknown, unknown>, this);
  }

  /** True once {@linkcode close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Throws the error of a closed instance: its fd number may be someone else's by now. */
  assertOpen(doing: string): void {
    if (this.#closed) throw new Error(`Cannot ${doing}: this ${this.#format.owner} is closed`);
  }

  /** Bytes waiting in the kernel queue, not yet read (`ioctl(FIONREAD)`). */
  pendingBytes(): number {
    this.assertOpen("count pending bytes");
    const { sys } = this.#host;
    const count = new Int32Array(1);
    if (sys.ioctl(this.fd, IOCTL.FIONREAD, new Uint8Array(count.buffer)) === -1) {
      throw new SyscallError(sys.errno(), "ioctl");
    }
    return count[0];
  }

  /**
   * Yields one batch per run of unread records (cut at about one read's worth), each valid until
   * the next is requested. One consumer at a time; ends once closed.
   */
  async *batches(owner?: object): AsyncGenerator<RecordBatch<View>, void, undefined> {
    // The iteration holds the public object: dropped while its loop waits, the leak net would close it.
    void owner;
    if (this.#closed) return;
    if (this.#iterating) throw new Error(`Cannot iterate: this ${this.#format.owner} is being iterated already`);
    this.#iterating = true;
    const source = this.#source ??= this.#host.openSource(this.fd, this.#format.source);
    const batch = this.#batch ??= new RecordBatch<View>();
    let last: Run | undefined;
    try {
      for (let run; (run = await source.next(this.#takeHeld())) !== undefined;) {
        const cursors = this.#cursorsFor(run.bytes);
        const end = this.#scan(cursors.scan, run.start, run.end);
        if (end < run.end) this.#held = end; // the rest comes as the next batch
        last = run;
        batch.set(cursors.walk, run.start, end);
        yield batch;
      }
    } finally {
      this.#iterating = false;
      if (last && !this.#closed) this.#held ??= last.end; // released at the next iteration's first next()
      source.pause(); // the loop ended: nothing keeps the process alive for it
    }
  }

  /**
   * Every record as a copy the caller may keep. Leaving the loop early (`break`) gives back only
   * what was yielded: the rest comes in the next loop.
   */
  kept(owner?: object): AsyncIterableIterator<Kept> {
    const batches = this.batches(owner);
    const keep = this.#format.keep;
    let batch: RecordBatch<View> | undefined;
    let records: Iterator<View> | undefined;
    const finished: IteratorResult<Kept> = { done: true, value: undefined };
    return {
      next: async (): Promise<IteratorResult<Kept>> => {
        for (;;) {
          const record = records?.next();
          if (record && !record.done) return { done: false, value: keep(record.value) };
          const next = await batches.next();
          if (next.done) return finished;
          batch = next.value;
          records = batch[Symbol.iterator]();
        }
      },
      return: async (): Promise<IteratorResult<Kept>> => {
        if (batch && records) this.#held = batch.consumed; // give back only what was yielded
        await batches.return();
        return finished;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /**
   * Ends a pending iteration, stops all reading of the fd, then closes it (and the other fd).
   * Idempotent.
   * @throws {SyscallError} From `close`.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    leakNet.unregister(this); // before close(2): the finalizer must never see these fd numbers again
    this.#source?.close();
    const { sys } = this.#host;
    let errno = sys.close(this.fd) === -1 ? sys.errno() : 0;
    if (this.#otherFd !== -1 && sys.close(this.#otherFd) === -1) errno ||= sys.errno();
    if (errno !== 0) throw new SyscallError(errno, "close");
  }

  /** How much of the last run was consumed, if not all: given back with the next `next()`. */
  #takeHeld(): number | undefined {
    const held = this.#held;
    this.#held = undefined;
    return held;
  }

  #cursorsFor(bytes: Uint8Array): Cursors<View> {
    let cursors = this.#cursors.find((c) => c.bytes === bytes);
    if (!cursors) {
      const { cursor } = this.#format;
      cursors = { bytes, scan: cursor(bytes), walk: cursor(bytes) };
      this.#cursors = [cursors, ...this.#cursors.slice(0, 3)]; // a source has one to three regions
    }
    return cursors;
  }

  /**
   * Checks the records of `[start, end)` (so a bad one fails here, not halfway through the
   * consumer's loop), shows each to `observe`, and returns where the batch ends: after about one
   * read's worth.
   */
  #scan(scan: RecordCursor & View, start: number, end: number): number {
    const { observe, source } = this.#format;
    scan.reset(end, start);
    while (scan.next()) {
      if (scan.offset - start >= source.readSize) return scan.offset;
      observe?.(scan);
    }
    return end;
  }
}
