/**
 * {@linkcode Watcher}: a running `watch()` — the driver that feeds one inotify instance's records
 * to a {@linkcode WatchTree} and hands the tree's events to the consumer.
 *
 * It owns what involves time and the event loop: the setup in slices, the loop over batches, the
 * rename timer, the settle stage (a {@linkcode Settler} fed with the time, and its timer), overflow
 * repair (a mark, then a rescan), the `poll` timer (a {@linkcode Poller} says when; it walks),
 * {@linkcode Watcher.sync}, {@linkcode Watcher.writeSnapshot}, abort and close.
 * The reader thread drains the kernel queue into the instance's ring all the time, but records
 * become events only while the consumer asks for them: a consumer that stops lets the ring fill,
 * then the kernel queue, and that overflow is repaired by a rescan.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { resolve } from "node:path";
import { toPath } from "./args.ts";
import { abortError } from "./errors.ts";
import { filesystemsOfTrees, type TreeFilesystem } from "./filesystems.ts";
import { FsCalls } from "./fs_calls.ts";
import { Inotify, type InotifyBatch } from "./inotify.ts";
import { IN } from "./inotify_mask.ts";
import { Poller } from "./poller.ts";
import { QueueMarker } from "./queue_marker.ts";
import { RENAME_WAIT_MS } from "./rename_pairing.ts";
import { Settler } from "./settle.ts";
import { type SnapshotInfo, writeTreeSnapshot } from "./snapshot.ts";
import type { Host } from "./source.ts";
import { TreeFilesystems } from "./tree_filesystems.ts";
import { userWatchLimit } from "./watch_limit.ts";
import { watchConfig, type WatchEvent, type WatchEventKind, type WatchOptions } from "./watch_options.ts";
import { type TreePort, type TreeRecord, type TreeSink, WatchTree } from "./watch_tree.ts";

/** Counters of a watcher, from {@linkcode Watcher.stats}. */
export interface WatchStats {
  /** inotify watches this watcher holds (one per watched directory). */
  watches: number;
  /** Events handed to the consumer. */
  events: number;
  /** `IN_Q_OVERFLOW` records seen. */
  overflows: number;
  /** Rescans run to repair overflows. */
  rescans: number;
  /** Milliseconds the last rescan took (0 before the first). */
  lastRescanMs: number;
  /** Events held by `settle` now, as they came (0 without `settle`). */
  held: number;
  /**
   * The file systems of the watched trees: each root's, then every mount inside it, with what inotify
   * reports there (`"full"`, `"local-only"`: not the changes made elsewhere, `"none"`). Looked at
   * once the watches are in place, again after each rescan and before each `poll` walk.
   */
  filesystems: readonly TreeFilesystem[];
  /** Walks made for `poll` (0 without it, or when no tree needs it). */
  polls: number;
  /** Milliseconds the last of them took (0 before the first). */
  lastPollMs: number;
}

/** Where a `sync()` resolves: a place in the output, after the events read before its mark. */
class SyncPoint {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
  /** When `sync()` was called: a `poll` walk begun after it has seen every change before it. */
  readonly at = performance.now();
  constructor(resolve: () => void, reject: (err: unknown) => void) {
    this.resolve = resolve;
    this.reject = reject;
  }
}

const SETUP_SLICE = 1000; // directories set up between yields to the event loop
const MAX_TIMER_MS = 0x7fffffff; // setTimeout fires at once for longer delays

/**
 * A running `watch()`: iterate it for {@linkcode WatchEvent}s. mod.ts binds the runtime's host.
 */
export class Watcher implements AsyncIterable<WatchEvent>, AsyncDisposable {
  /** Resolves once the initial watches are in place; rejects if a root cannot be watched. */
  readonly ready: Promise<void>;
  readonly #ino: Inotify;
  readonly #tree: WatchTree;
  readonly #marker: QueueMarker;
  readonly #poller: Poller;
  readonly #host: Host;
  readonly #wanted: ReadonlySet<WatchEventKind>;
  readonly #rescan: boolean;
  readonly #recursive: boolean;
  readonly #followSymlinks: boolean;
  /** An overflow left the tree unrepaired (`onOverflow: "report"`): it no longer knows the disk. */
  #lost = false;
  /** The settle stage; undefined without `settle` (then nothing on the way from tree to output). */
  readonly #settler: Settler | undefined;
  /** Where every event goes on its way to the consumer: #fromTree, or #settle with `settle`. */
  readonly #sink: TreeSink;
  /** What the settler let out, before the kinds are picked from it. */
  #settled: WatchEvent[] = [];
  /** The time the tree's events are handed to the settler with: when their batch was read. */
  #now = 0;
  readonly #signal?: AbortSignal;
  readonly #onAbort = () => void this.close();
  #out: (WatchEvent | SyncPoint)[] = [];
  #outAt = 0;
  /** `sync()` calls not resolved yet. */
  readonly #syncs = new Set<SyncPoint>();
  /** Sync points read while a rename half was held, and how many batches ended since. */
  #heldSyncs: { point: SyncPoint; batches: number }[] = [];
  #failure?: { error: unknown }; // thrown once by the iteration, then it is done
  #failed = false;
  #closed = false;
  #setupDone = false;
  #batches?: AsyncGenerator<InotifyBatch, void, undefined>;
  #nextBatch?: Promise<IteratorResult<InotifyBatch, void>>;
  #chain: Promise<unknown> = Promise.resolve();
  #asking = 0; // calls of next() not answered yet: they are answered in order, through #chain
  readonly #answered = () => void this.#asking--;
  #stats = { events: 0, overflows: 0, rescans: 0, lastRescanMs: 0 };

  /**
   * Checks the arguments, opens the inotify instance and starts placing the watches.
   *
   * @param paths Directories or files; relative paths are resolved against the working directory.
   * @param options See {@linkcode WatchOptions}.
   * @param host libc and the reader thread (mod.ts passes the runtime's).
   * @throws {TypeError} On a bad path or option; `AbortError` if `signal` is already aborted.
   */
  constructor(paths: string | URL | readonly (string | URL)[], options: WatchOptions | undefined, host: Host) {
    const config = watchConfig(paths, options);
    this.#host = host;
    this.#wanted = config.wanted;
    this.#rescan = config.rescan;
    this.#recursive = config.recursive;
    this.#followSymlinks = config.followSymlinks;
    const ino = this.#ino = new Inotify(config.inotify, host);
    const fs = new FsCalls(host.sys);
    const port: TreePort = {
      addWatch: (path, mask) => ino.addWatch(path, mask),
      rmWatch: (wd) => ino.rmWatch(wd),
      list: (path) => fs.list(path),
      lstat: (path) => fs.lstat(path),
      stat: (path) => fs.stat(path),
      watchLimit: userWatchLimit,
    };
    // Without settle the sink is the plain one: no settle work on the hot path.
    this.#settler = config.settle > 0 ? new Settler(config.settle) : undefined;
    this.#sink = this.#settler ? (ev, replaced) => this.#settle(ev, replaced) : (ev) => this.#fromTree(ev);
    this.#tree = new WatchTree(port, config, this.#sink);
    const filesystems = new TreeFilesystems({ filesystemsOf: (roots) => filesystemsOfTrees(host.sys, roots) }, {
      poll: config.poll > 0,
      recursive: config.recursive,
      exclude: config.exclude,
    });
    this.#poller = new Poller(this.#tree, filesystems, config.poll, this.#sink);
    this.#marker = new QueueMarker(host.sys, ino);
    if (config.signal) {
      this.#signal = config.signal;
      config.signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    this.ready = this.#setup(config.roots);
    this.ready.catch(() => {}); // reported by the iteration too: never an unhandled rejection
  }

  /**
   * Counters — watches held, events delivered, overflows, rescans, events held by `settle`, `poll`
   * walks — and the file systems of the trees.
   */
  stats(): WatchStats {
    const poller = this.#poller;
    return {
      watches: this.#tree.watches,
      ...this.#stats,
      held: this.#settler?.held ?? 0,
      filesystems: poller.filesystems,
      polls: poller.walks,
      lastPollMs: poller.lastWalkMs,
    };
  }

  /** True once closed (by {@linkcode close}, the signal, or leaving a `for await` loop). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Resolves once every event of the changes that completed before this call has been yielded to
   * the consumer, and the consumer has asked for the next one (so a `for await` body has handled
   * them). With `settle`, the events held when the mark is read are folded and yielded first (the
   * window ends there). Writes nothing and opens nothing in the watched trees: it marks the point in
   * the kernel queue with an event of its own (see {@linkcode QueueMarker}), never shown to the
   * consumer.
   *
   * Records become events only while a consumer iterates: without one, this stays pending until
   * iteration starts (or the watcher closes).
   *
   * @throws {Error} Rejects when the watcher closes first (an `AbortError` when `signal` aborted
   *   it), or with a `SyscallError` when the mark cannot be made (`memfd_create`, `open` of
   *   `/proc/self/fd/N`, `inotify_add_watch`).
   * @example Waiting for the events of what was just done
   * ```ts
   * import { watch } from "@notiq/notiq";
   * import assert from "node:assert/strict";
   * import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
   *
   * const dir = mkdtempSync("/tmp/notiq-");
   * const watcher = watch(dir, { events: ["create"] });
   * await watcher.ready;
   * const seen: string[] = [];
   * const consuming = (async () => {
   *   for await (const ev of watcher) seen.push(ev.path);
   * })();
   * writeFileSync(`${dir}/a`, "");
   * writeFileSync(`${dir}/b`, "");
   * await watcher.sync();
   * assert.deepEqual(seen, [`${dir}/a`, `${dir}/b`]);
   * await watcher.close();
   * await consuming;
   * rmSync(dir, { recursive: true });
   * ```
   */
  sync(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Cannot sync: this watcher is closed"));
    return new Promise<void>((resolve, reject) => {
      const point = new SyncPoint(resolve, reject);
      try {
        this.#marker.mark(() => this.#syncReached(point));
      } catch (err) {
        reject(err);
        return;
      }
      this.#syncs.add(point);
    });
  }

  /**
   * Writes what this watcher knows of its trees to `file` as a snapshot, without walking the disk:
   * {@linkcode changesSince} on it later gives what changed since. The tree holds every change whose
   * event has been read, handed to the consumer or not: after `await sync()` it holds every change
   * completed before that call. Files that an event said changed are looked at again, and each
   * directory (a statx each; nothing is listed). The snapshot file and its temporary files are not
   * recorded when they are inside a tree. A closed watcher can still write what it knew. Replaced
   * atomically, as by `writeSnapshot()`.
   *
   * Roots that are gone are not in the snapshot (nor walked by `changesSince`). Names that are not
   * UTF-8 are recorded as the watcher names them (with U+FFFD), so `changesSince` reports them as
   * created again.
   *
   * @returns How many entries, and the file's size.
   * @example Saving what a watcher knows, for the next run
   * ```ts
   * import { changesSince, watch } from "@notiq/notiq";
   * import assert from "node:assert/strict";
   * import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
   *
   * const dir = mkdtempSync("/tmp/notiq-");
   * const watcher = watch(dir);
   * await watcher.ready;
   * await watcher.writeSnapshot(`${dir}.snapshot`);
   * await watcher.close();
   * writeFileSync(`${dir}/made-while-nothing-watched`, "");
   * assert.deepEqual(await changesSince(`${dir}.snapshot`), [
   *   { kind: "create", path: `${dir}/made-while-nothing-watched`, isDirectory: false },
   * ]);
   * rmSync(dir, { recursive: true });
   * rmSync(`${dir}.snapshot`);
   * ```
   * @throws {Error} When the watcher is not `recursive`, or an overflow went unrepaired
   *   (`onOverflow: "report"`): then it does not know the trees; when no root exists any more; a
   *   failed setup (as `ready`). {@linkcode SyscallError} from writing `file`.
   */
  async writeSnapshot(file: string | URL): Promise<SnapshotInfo> {
    const target = resolve(toPath(file, "write snapshot"));
    if (!this.#recursive) {
      throw new Error("Cannot write snapshot: this watcher is not recursive, and a snapshot holds whole trees");
    }
    await this.ready;
    if (this.#lost) {
      throw new Error(
        'Cannot write snapshot: events were lost in an overflow and not repaired (onOverflow: "report"), so this watcher does not know the trees',
      );
    }
    return writeTreeSnapshot(this.#host.sys, target, this.#tree, this.#followSymlinks);
  }

  /**
   * Yields events until closed. Leaving the loop early (`break`) closes the watcher, as with
   * `node:fs/promises` `watch()`.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<WatchEvent> {
    return {
      next: () => {
        // An event in hand, with no call still pending before this one: no trip through the chain.
        const value = this.#asking === 0 ? this.#take() : undefined;
        if (value) {
          this.#stats.events++;
          return Promise.resolve({ done: false, value });
        }
        this.#asking++;
        const next = this.#chain.then(() => this.#next());
        this.#chain = next.then(this.#answered, this.#answered);
        return next;
      },
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /**
   * Closes the inotify instance (its watches go with it); a pending iteration ends, pending
   * {@linkcode sync} calls reject. With `settle`, the held events are folded and still yielded to
   * a consumer that iterates on, before the end (as the events read already are: close drops only
   * what the kernel still held). Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (this.#settler !== undefined) this.#flushSettled();
    this.#tree.clear();
    this.#failSyncs(
      this.#signal?.aborted ? abortError(this.#signal) : new Error("Cannot sync: the watcher was closed first"),
    );
    try {
      return this.#ino[Symbol.asyncDispose]();
    } finally {
      this.#marker.close(); // after the instance: its watch on the memfd goes with it
    }
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- setup ----

  async #setup(roots: readonly string[]): Promise<void> {
    await Promise.resolve(); // let watch() return first
    try {
      this.#tree.addRoots(roots);
      while (!this.#closed && this.#tree.setUp(SETUP_SLICE)) await new Promise((done) => setImmediate(done));
      // The trees' file systems: warnings, or the places to poll (their events enter #sink, so
      // that settle folds them too).
      if (!this.#closed) this.#poller.start();
    } catch (err) {
      this.#failure = { error: err };
      await this.close();
      throw err;
    } finally {
      this.#setupDone = true;
    }
  }

  // ---- the loop ----

  async #next(): Promise<IteratorResult<WatchEvent, undefined>> {
    for (;;) {
      const value = this.#take();
      if (value) {
        this.#stats.events++;
        return { done: false, value };
      }
      if (this.#failure && !this.#failed) {
        this.#failed = true;
        throw this.#failure.error;
      }
      if (this.#closed) {
        if (this.#signal?.aborted && !this.#failed) {
          this.#failed = true;
          throw abortError(this.#signal);
        }
        return { done: true, value: undefined };
      }
      if (!this.#setupDone) {
        await this.ready.catch(() => {}); // the failure is kept in #failure
        continue;
      }
      this.#batches ??= this.#ino.batches();
      const pending = this.#nextBatch ??= this.#batches.next();
      // Timers run only while a consumer waits here: the rename timer while a MOVED_FROM waits for
      // its partner, the settle timer while events are held (until they are due), the poll timer
      // while a tree is polled.
      const moves = this.#tree.holdsMoves;
      let wait = moves ? RENAME_WAIT_MS : Infinity;
      if (this.#settler !== undefined && this.#settler.held > 0) {
        const left = this.#settler.due - performance.now();
        if (left <= 0) {
          this.#flushSettled();
          continue;
        }
        wait = Math.min(wait, Math.ceil(left), MAX_TIMER_MS);
      }
      const due = this.#poller.due; // Infinity unless something is polled: then nothing more is done
      if (due !== Infinity) {
        const left = due - performance.now();
        if (left <= 0) {
          this.#poll();
          continue;
        }
        wait = Math.min(wait, Math.ceil(left), MAX_TIMER_MS);
      }
      let result: IteratorResult<InotifyBatch, void> | undefined;
      try {
        result = wait === Infinity ? await pending : await raceTimeout(pending, wait);
      } catch (err) {
        this.#nextBatch = undefined;
        if (!this.#closed) this.#failure = { error: err }, await this.close();
        continue;
      }
      if (result === undefined) { // a timer ran out (settle, poll: the loop does what is due)
        if (moves && wait === RENAME_WAIT_MS) { // the partner of a held MOVED_FROM did not come: moved out
          this.#now = performance.now();
          this.#tree.flushMoves();
          this.#releaseHeldSyncs(true);
        }
        continue;
      }
      this.#nextBatch = undefined;
      if (result.done) continue;
      if (this.#settler !== undefined) this.#now = performance.now();
      for (const record of result.value) this.#record(record);
      this.#tree.endBatch();
      this.#releaseHeldSyncs(false);
    }
  }

  #record(record: TreeRecord): void {
    if (this.#marker.take(record.wd, record.mask)) return;
    if (record.mask & IN.Q_OVERFLOW) this.#overflow();
    else this.#tree.record(record);
  }

  /**
   * The next event for the consumer. Sync points on the way resolve: the consumer asks for the
   * event after them, so it has handled every event before them.
   */
  #take(): WatchEvent | undefined {
    while (this.#outAt < this.#out.length) {
      const entry = this.#out[this.#outAt++];
      if (this.#outAt === this.#out.length) this.#out = [], this.#outAt = 0;
      if (!(entry instanceof SyncPoint)) return entry;
      if (this.#syncs.delete(entry)) entry.resolve();
    }
    return undefined;
  }

  /** Every event of the tree passes here on its way to the consumer, without `settle`. */
  #fromTree(ev: WatchEvent): void {
    if (this.#wanted.has(ev.kind)) this.#out.push(ev);
  }

  /**
   * With `settle`, the tree's events go into the settler with the time their batch was read; what
   * it lets out (what was due, or everything held before an overflow or error) goes on. The kinds
   * are picked after folding: the settler folds the whole story (a save by rename is a `modify`).
   */
  #settle(ev: WatchEvent, replaced: boolean | undefined): void {
    this.#settler!.add(ev, this.#now, this.#settled, replaced);
    if (this.#settled.length > 0) this.#passSettled();
  }

  /** Folds and passes on everything held: when due, and for a sync point, an overflow, close. */
  #flushSettled(): void {
    this.#settler!.flush(this.#settled);
    if (this.#settled.length > 0) this.#passSettled();
  }

  #passSettled(): void {
    for (const ev of this.#settled) if (this.#wanted.has(ev.kind)) this.#out.push(ev);
    this.#settled.length = 0;
  }

  /**
   * A sync point goes into the output after every event before it: with `poll`, those of a walk
   * begun after the `sync()` call; with `settle`, the held ones, flushed.
   */
  #deliverSync(point: SyncPoint): void {
    if (this.#poller.polling) this.#poll(point.at);
    if (this.#settler !== undefined) this.#flushSettled();
    this.#out.push(point);
  }

  /** A `poll` walk (for a sync, only if none began after `since`): its events enter #sink. */
  #poll(since?: number): void {
    if (this.#settler !== undefined) this.#now = performance.now();
    if (since === undefined) this.#poller.poll();
    else this.#poller.pollSince(since);
  }

  // ---- sync points ----

  /**
   * A sync's mark was read: every record queued before it has been read too. A rename half held
   * now may be a move out that completed before the sync (its delete is owed first), or half of a
   * rename that raced the sync: RenamePairing tells them apart by the end of the next batch.
   */
  #syncReached(point: SyncPoint): void {
    // With `poll`, at the end of the batch: the walk comes after the records read with the mark.
    if (this.#tree.holdsMoves || this.#poller.polling) this.#heldSyncs.push({ point, batches: 0 });
    else this.#deliverSync(point);
  }

  /** After a batch (or, `all`, once the held halves were flushed): the sync points now owed nothing. */
  #releaseHeldSyncs(all: boolean): void {
    if (this.#heldSyncs.length === 0) return;
    const holds = !all && this.#tree.holdsMoves;
    const still: { point: SyncPoint; batches: number }[] = [];
    for (const held of this.#heldSyncs) {
      // A half held when the point was read is paired or moved out by the end of the batch after it.
      if (!holds || ++held.batches >= 2) this.#deliverSync(held.point);
      else still.push(held);
    }
    this.#heldSyncs = still;
  }

  #failSyncs(err: unknown): void {
    for (const point of this.#syncs) point.reject(err);
    this.#syncs.clear();
    this.#heldSyncs = [];
  }

  // ---- overflow ----

  /**
   * A Q_OVERFLOW: report it, mark the queue, rescan. Records queued before that mark describe
   * changes made before the rescan began, which it has seen: the tree passes over them until the
   * mark is read. Records after it are applied as usual: the tree's handlers take a change the
   * rescan saw already as no change (a create of a known name, a delete or rename of an unknown one).
   */
  #overflow(): void {
    this.#stats.overflows++;
    this.#tree.flushMoves();
    this.#releaseHeldSyncs(true);
    const again = this.#marker.lost(); // marks the kernel may have dropped: made again below
    this.#tree.overflow();
    if (this.#rescan) {
      this.#tree.stale = true;
      again.push(() => {
        this.#tree.stale = false;
      });
    }
    if (again.length > 0) {
      try {
        this.#marker.mark(() => {
          for (const reached of again) reached();
        });
      } catch (err) {
        this.#tree.stale = false; // replayed then: nearly always right, where skipping for ever is wrong
        this.#failSyncs(err);
      }
    }
    if (!this.#rescan) {
      this.#lost = true;
      return;
    }
    const start = performance.now();
    this.#tree.rescan();
    this.#poller.rescanned(); // mounts that came or went meanwhile
    this.#stats.rescans++;
    this.#stats.lastRescanMs = performance.now() - start;
  }
}

/** Resolves with `promise`'s value, or with undefined after `ms` if it has not settled. */
function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let cancel = () => {};
  const timeout = new Promise<undefined>((done) => {
    const timer = setTimeout(done, ms);
    cancel = () => clearTimeout(timer);
  });
  return Promise.race([promise, timeout]).finally(cancel);
}
