/**
 * {@linkcode Poller}: `watch()`'s answer to file systems that give no events, for the driver. It
 * looks at the trees' file systems (at setup, after every rescan and before every walk: mounts come
 * and go), sends the warnings, reads again a subtree whose mount came or went, and with `poll` walks
 * the polled places every `ms` through the tree, whose rescan diff turns what changed into events.
 * It keeps no timer: the driver's wait for the next batch ends at {@linkcode Poller.due}, so a walk
 * happens only while a consumer waits, and nothing is spent when no place is polled.
 *
 * @module
 */
import type { TreeFilesystem } from "./filesystems.ts";
import type { TreeFilesystems } from "./tree_filesystems.ts";
import type { TreeSink, WatchTree } from "./watch_tree.ts";

/** The file system checks and the polling of one watcher's tree. */
export class Poller {
  /** Milliseconds between walks; 0 without `poll`. */
  readonly ms: number;
  /** Walks made so far. */
  walks = 0;
  /** Milliseconds the last walk took, its look at the file systems included. */
  lastWalkMs = 0;
  readonly #tree: WatchTree;
  readonly #filesystems: TreeFilesystems;
  readonly #sink: TreeSink;
  readonly #clock: () => number;
  #due = Infinity;
  /** When the last walk began. */
  #walked = -Infinity;

  /**
   * @param tree The watcher's tree: walked, and read again where a mount came or went.
   * @param filesystems The decisions, from the trees' file systems.
   * @param ms `poll` in ms; 0 when off.
   * @param sink Where the warnings go (the tree's events go through the tree's own sink).
   * @param clock Milliseconds, as the driver counts them.
   */
  constructor(
    tree: WatchTree,
    filesystems: TreeFilesystems,
    ms: number,
    sink: TreeSink,
    clock: () => number = () => performance.now(),
  ) {
    this.#tree = tree;
    this.#filesystems = filesystems;
    this.ms = ms;
    this.#sink = sink;
    this.#clock = clock;
  }

  /** When the next walk is due, on the clock; Infinity when nothing is polled. */
  get due(): number {
    return this.#due;
  }

  /** Whether any place is polled (then `sync()` walks before it resolves). */
  get polling(): boolean {
    return this.#due !== Infinity;
  }

  /** The trees' file systems as last looked at (`stats().filesystems`). */
  get filesystems(): readonly TreeFilesystem[] {
    return this.#filesystems.filesystems;
  }

  /** The first look, once the watches are in place: warnings are sent, polled places set. */
  start(): void {
    this.#look(this.#clock());
  }

  /** After an overflow's rescan: mounts that came or went meanwhile are found. */
  rescanned(): void {
    this.#look(this.#clock());
  }

  /** Looks at the file systems again, then walks every polled place; the next walk is due `ms` later. */
  poll(): void {
    const start = this.#walked = this.#clock();
    this.#look(start);
    this.#tree.poll();
    this.walks++;
    this.lastWalkMs = this.#clock() - start;
    if (this.#due !== Infinity) this.#due = start + this.ms;
  }

  /**
   * For a `sync()` called at `since` (on the clock): a walk that began after it has seen every
   * change completed before the call; else one is made now.
   */
  pollSince(since: number): void {
    if (this.polling && this.#walked <= since) this.poll();
  }

  #look(now: number): void {
    const { warnings, remounted } = this.#filesystems.look(this.#tree.roots);
    for (const { path, isDirectory, message } of warnings) this.#sink({ kind: "warning", path, isDirectory, message });
    for (const path of remounted) this.#tree.rescanAt(path);
    const polled = this.#filesystems.polled;
    this.#tree.setPolled(polled);
    if (polled.length === 0 || this.ms === 0) this.#due = Infinity;
    else if (this.#due === Infinity) this.#due = now + this.ms;
  }
}
