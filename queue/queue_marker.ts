/**
 * {@linkcode QueueMarker}: marks a point in one inotify instance's queue without touching any file
 * system, so that the reader knows when it has read everything queued before that point.
 *
 * One inotify instance queues all of its events in one order. The marker makes a memfd, which
 * lives in no file system anyone watches, and watches it through `/proc/self/fd/N` for `OPEN` and
 * `CLOSE_NOWRITE` in that same instance. A mark opens `/proc/self/fd/N` read-only and closes it:
 * the kernel queues `OPEN`, then `CLOSE_NOWRITE`. The kernel merges an event only into the last
 * one queued when both are the same, and two marks in a row queue OPEN, CLOSE_NOWRITE, OPEN,
 * CLOSE_NOWRITE, so none is ever merged: the k-th `CLOSE_NOWRITE` read is the k-th mark. (Writes
 * through the memfd's own fd queue nothing: the watch sees only opens through the path.)
 *
 * A queue overflow drops events, marks included: {@linkcode lost} then starts over on a new wd.
 *
 * @module
 */
import type { Sys } from "../ffi/types.ts";
import { cString } from "./args.ts";
import { SyscallError } from "./errors.ts";
import { IN } from "./inotify_mask.ts";
import { O } from "./linux.ts";

/** The inotify instance's calls the marker needs (an `Inotify` fits). */
export interface MarkerWatches {
  addWatch(path: string, mask: number): number;
  rmWatch(wd: number): void;
}

const MFD_CLOEXEC = 1;

/** Marks in one inotify instance's queue. Nothing is opened before the first {@linkcode mark}. */
export class QueueMarker {
  readonly #sys: Sys;
  readonly #watches: MarkerWatches;
  #memfd = -1;
  #path?: Uint8Array;
  #wd = -1;
  /** Watches given up after an overflow: their records are still the marker's. */
  readonly #retired = new Set<number>();
  /** What to run when each mark not yet read is read, oldest first. */
  #waiting: (() => void)[] = [];
  #closed = false;

  /**
   * @param sys For memfd_create, open and close.
   * @param watches The inotify instance whose queue is marked.
   */
  constructor(sys: Sys, watches: MarkerWatches) {
    this.#sys = sys;
    this.#watches = watches;
  }

  /**
   * Queues a mark: `reached` runs from {@linkcode take} once the mark's record is read, after
   * every record queued before this call.
   * @throws {SyscallError} From `memfd_create`, `inotify_add_watch` or `open` (no `/proc`, say).
   */
  mark(reached: () => void): void {
    if (this.#closed) throw new Error("Cannot mark: this marker is closed");
    const sys = this.#sys;
    if (this.#memfd < 0) {
      const fd = sys.memfdCreate(cString("notiq-marker"), MFD_CLOEXEC);
      if (fd === -1) throw new SyscallError(sys.errno(), "memfd_create");
      this.#memfd = fd;
      this.#path = cString(`/proc/self/fd/${fd}`);
    }
    if (this.#wd < 0) this.#wd = this.#watches.addWatch(`/proc/self/fd/${this.#memfd}`, IN.OPEN | IN.CLOSE_NOWRITE);
    const fd = sys.open(this.#path!, O.RDONLY | O.CLOEXEC);
    if (fd === -1) throw new SyscallError(sys.errno(), "open", `/proc/self/fd/${this.#memfd}`);
    sys.close(fd);
    this.#waiting.push(reached);
  }

  /**
   * Looks at a record before anyone else: true when it is the marker's (nobody else should see
   * it). Reading a mark's `CLOSE_NOWRITE` runs its `reached`.
   */
  take(wd: number, mask: number): boolean {
    if (wd === this.#wd && wd >= 0) { // wd -1 is Q_OVERFLOW's
      if (mask & IN.CLOSE_NOWRITE) this.#waiting.shift()?.();
      return true;
    }
    if (!this.#retired.has(wd)) return false;
    if (mask & IN.IGNORED) this.#retired.delete(wd);
    return true;
  }

  /**
   * After a `Q_OVERFLOW`: marks not read yet may have been dropped. Returns what they were to run
   * (for the caller to mark again once it has caught up) and moves the marker to a new wd, so that
   * records of those marks that were not dropped are told apart.
   */
  lost(): (() => void)[] {
    const lost = this.#waiting;
    this.#waiting = [];
    if (this.#wd >= 0) {
      this.#retired.add(this.#wd);
      try {
        this.#watches.rmWatch(this.#wd);
      } catch {
        // the instance is closing
      }
      this.#wd = -1;
    }
    return lost;
  }

  /** Closes the memfd (its watch goes with the inotify instance). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiting = [];
    if (this.#memfd >= 0) this.#sys.close(this.#memfd);
    this.#memfd = -1;
  }
}
