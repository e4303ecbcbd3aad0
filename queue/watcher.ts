/**
 * {@linkcode WatcherCore}: `watch()` — recursive watches of whole trees on one {@linkcode Inotify},
 * renames paired by cookie, and overflow repaired by a rescan diffed against the known tree.
 *
 * The watcher keeps a tree of what it knows (directories with their wd, files with what `lstat`
 * last saw), read through {@linkcode FsCalls}. Events are resolved against it, so a renamed
 * directory's contents get their new paths by moving one node, and a rescan after an overflow
 * reports exactly the difference.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { setImmediate } from "node:timers";
import { abortError, SyscallError } from "./errors.ts";
import { describe, toPath } from "./args.ts";
import { type DirEntry, FILE_TYPE, FsCalls, join } from "./fs_calls.ts";
import { DEFAULT_BUFFER_SIZE, Inotify, type InotifyBatch, type InotifyOptions } from "./inotify.ts";
import { IN } from "./inotify_mask.ts";
import { type MoveHalf, RENAME_WAIT_MS, RenamePairing } from "./rename_pairing.ts";
import type { Host } from "./source.ts";

/** What a {@linkcode WatchEvent} reports. */
export type WatchEventKind =
  | "create"
  | "modify"
  | "attrib"
  | "close_write"
  | "close_nowrite"
  | "open"
  | "access"
  | "delete"
  | "rename"
  | "overflow"
  | "error";

/** Every kind, in the order the CLI lists them. */
export const WATCH_EVENT_KINDS: readonly WatchEventKind[] = [
  "create",
  "modify",
  "attrib",
  "close_write",
  "close_nowrite",
  "open",
  "access",
  "delete",
  "rename",
  "overflow",
  "error",
];

/** The kinds reported when `events` is not given: all but `open`, `access`, `close_nowrite`. */
export const DEFAULT_WATCH_EVENT_KINDS: readonly WatchEventKind[] = WATCH_EVENT_KINDS.filter((k) =>
  k !== "open" && k !== "access" && k !== "close_nowrite"
);

/** One change, with absolute paths. */
export interface WatchEvent {
  /** What happened. `overflow` and `error` are always reported. */
  readonly kind: WatchEventKind;
  /** The absolute path of what changed (for `overflow`, the watched root it concerns). */
  readonly path: string;
  /** `rename` only: where it was before. */
  readonly oldPath?: string;
  /** True when the subject is a directory. */
  readonly isDirectory: boolean;
  /** `error` only: why a directory could not be watched (e.g. a {@linkcode WatchLimitError}). */
  readonly error?: Error;
}

/** Options of `watch()`. */
export interface WatchOptions extends InotifyOptions {
  /** Watch new subdirectories as they appear, and the existing ones. Default true. */
  recursive?: boolean;
  /** The kinds to report; default {@linkcode DEFAULT_WATCH_EVENT_KINDS}. */
  events?: readonly WatchEventKind[];
  /** Paths for which this returns true are not reported, and excluded directories get no watch. */
  exclude?: (path: string) => boolean;
  /** Descend into symbolic links to directories (each directory once: no loops). Default false. */
  followSymlinks?: boolean;
  /** Abort closes the watcher; a pending iteration rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** On kernel queue overflow: `"rescan"` (default) repairs the tree, `"report"` only reports. */
  onOverflow?: "rescan" | "report";
}

/** Counters of a watcher, from {@linkcode WatcherCore.stats}. */
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
}

/**
 * `ENOSPC` from `inotify_add_watch`, with the numbers needed to fix it: the watches this watcher
 * holds, how many its trees need, and the limit `fs.inotify.max_user_watches` (per user, shared by
 * every process of that user).
 */
export class WatchLimitError extends SyscallError {
  /** Always `"WatchLimitError"`. */
  override name = "WatchLimitError";
  /** Watches this watcher held when the limit was hit. */
  readonly watchesHeld: number;
  /** Watches the watched trees need (one per directory). */
  readonly watchesNeeded: number;
  /** `fs.inotify.max_user_watches`, or -1 if unreadable. */
  readonly limit: number;

  /**
   * An ENOSPC from `inotify_add_watch`, with the numbers that explain it.
   * @param path The directory that could not be watched.
   * @param watchesHeld Watches held when the limit was hit.
   * @param watchesNeeded Watches the trees need.
   * @param limit `fs.inotify.max_user_watches`, or -1.
   */
  constructor(path: string, watchesHeld: number, watchesNeeded: number, limit: number) {
    super(ENOSPC, "inotify_add_watch", path);
    this.watchesHeld = watchesHeld;
    this.watchesNeeded = watchesNeeded;
    this.limit = limit;
    const suggest = 2 ** Math.ceil(Math.log2(Math.max(limit, 0) + watchesNeeded - watchesHeld + 1));
    this.message = `ENOSPC: inotify watch limit reached, inotify_add_watch '${path}': this watcher holds ` +
      `${watchesHeld} watches and the tree needs ${watchesNeeded}; fs.inotify.max_user_watches is ` +
      `${limit < 0 ? "unknown" : limit} for all processes of this user (raise it: ` +
      `sysctl fs.inotify.max_user_watches=${suggest})`;
  }
}

const ENOSPC = 28;
const ALWAYS = IN.CREATE | IN.DELETE | IN.MOVED_FROM | IN.MOVED_TO | IN.DELETE_SELF | IN.MOVE_SELF;
const KIND_BITS: [number, WatchEventKind][] = [
  [IN.MODIFY, "modify"],
  [IN.ATTRIB, "attrib"],
  [IN.CLOSE_WRITE, "close_write"],
  [IN.CLOSE_NOWRITE, "close_nowrite"],
  [IN.OPEN, "open"],
  [IN.ACCESS, "access"],
];
// A directory's own open/read/close come from our scans as much as from anyone: never reported.
const NAMESPACE = IN.CREATE | IN.DELETE | IN.MOVED_FROM | IN.MOVED_TO; // what changes a directory's names
const DIR_READS = IN.OPEN | IN.ACCESS | IN.CLOSE_NOWRITE;
const SETUP_SLICE = 1000; // directories set up between yields to the event loop

/** One known file or directory. Paths are not stored: a rename moves one node. */
class Node {
  name: string;
  parent: Node | undefined;
  /** Directories only: the entries known inside. */
  readonly children: Map<string, Node> | undefined;
  /** The watch, or -1. */
  wd = -1;
  /** Roots: the absolute path watched. */
  root: string | undefined;
  /** Reached through a symbolic link (followSymlinks). */
  link = false;
  /** Files: what lstat last saw; ino -1 when never looked at. */
  ino = -1;
  mtimeMs = 0;
  size = 0;

  constructor(name: string, parent: Node | undefined, isDirectory: boolean) {
    this.name = name;
    this.parent = parent;
    this.children = isDirectory ? new Map() : undefined;
  }
}

function pathOf(node: Node): string {
  if (node.root !== undefined) return node.root;
  const names: string[] = [];
  let n: Node | undefined = node;
  for (; n && n.root === undefined; n = n.parent) names.push(n.name);
  let path = n?.root ?? "";
  for (let i = names.length - 1; i >= 0; i--) path = join(path, names[i]);
  return path;
}

/**
 * The watch limit that applies: `fs.inotify.max_user_watches`, or the lower
 * `user.max_inotify_watches` of the user namespace we run in. -1 when neither is readable.
 */
function userLimit(): number {
  let limit = -1;
  for (const file of ["/proc/sys/fs/inotify/max_user_watches", "/proc/sys/user/max_inotify_watches"]) {
    try {
      const value = Number.parseInt(readFileSync(file, "utf8"), 10);
      if (value >= 0 && (limit < 0 || value < limit)) limit = value;
    } catch {
      // not readable here
    }
  }
  return limit;
}

/**
 * A running `watch()`: iterate it for {@linkcode WatchEvent}s. Exported from mod.ts as `Watcher`.
 * Events are read from the kernel only while the consumer asks for them, so a consumer that stops
 * lets the kernel queue fill: the overflow is then repaired by a rescan.
 */
export class WatcherCore implements AsyncIterable<WatchEvent>, AsyncDisposable {
  /** Resolves once the initial watches are in place; rejects if a root cannot be watched. */
  readonly ready: Promise<void>;
  readonly #ino: Inotify;
  readonly #readSize: number;
  readonly #fs: FsCalls;
  readonly #byWd = new Map<number, Node>();
  readonly #roots: Node[] = [];
  readonly #pairing: RenamePairing;
  readonly #wanted: Set<WatchEventKind>;
  readonly #mask: number;
  readonly #recursive: boolean;
  readonly #followSymlinks: boolean;
  readonly #exclude?: (path: string) => boolean;
  readonly #rescan: boolean;
  readonly #signal?: AbortSignal;
  readonly #onAbort = () => void this.close();
  #out: WatchEvent[] = [];
  #outAt = 0;
  #failure?: { error: unknown }; // thrown once by the iteration, then it is done
  #failed = false;
  #closed = false;
  #setupDone = false;
  /**
   * Events may have been queued before the last rescan ended (see #reconcile): true until a batch
   * ends with nothing more in memory or in the kernel queue. An over-estimate costs only a look at
   * the disk per namespace event.
   */
  #stale = false;
  #batches?: AsyncGenerator<InotifyBatch, void, undefined>;
  #nextBatch?: Promise<IteratorResult<InotifyBatch, void>>;
  #chain: Promise<unknown> = Promise.resolve();
  #stats: WatchStats = { watches: 0, events: 0, overflows: 0, rescans: 0, lastRescanMs: 0 };

  /**
   * Validates the arguments, opens the inotify instance and starts placing the watches.
   *
   * @throws {TypeError} On a bad path or option; `AbortError` if `signal` is already aborted.
   */
  constructor(host: Host, paths: string | URL | readonly (string | URL)[], options: WatchOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`Cannot watch: options must be an object, got ${describe(options)}`);
    }
    const list = (Array.isArray(paths) ? paths : [paths]) as (string | URL)[];
    if (list.length === 0) throw new TypeError("Cannot watch: no path given");
    const roots = list.map((p) => resolve(toPath(p, "watch")));
    const events = options.events ?? DEFAULT_WATCH_EVENT_KINDS;
    if (!Array.isArray(events)) throw new TypeError(`Cannot watch: events must be an array, got ${describe(events)}`);
    for (const kind of events) {
      if (!WATCH_EVENT_KINDS.includes(kind)) {
        throw new RangeError(
          `Cannot watch: unknown event kind ${JSON.stringify(kind)} (one of ${WATCH_EVENT_KINDS.join(", ")})`,
        );
      }
    }
    if (options.exclude !== undefined && typeof options.exclude !== "function") {
      throw new TypeError(`Cannot watch: exclude must be a function, got ${describe(options.exclude)}`);
    }
    const onOverflow = options.onOverflow ?? "rescan";
    if (onOverflow !== "rescan" && onOverflow !== "report") {
      throw new RangeError(`Cannot watch: onOverflow must be "rescan" or "report", got ${JSON.stringify(onOverflow)}`);
    }
    const signal = options.signal;
    if (signal?.aborted) throw abortError(signal);
    this.#wanted = new Set([...events, "overflow", "error"]);
    let mask = ALWAYS;
    for (const [bit, kind] of KIND_BITS) if (this.#wanted.has(kind)) mask |= bit;
    this.#mask = mask | IN.EXCL_UNLINK;
    this.#recursive = options.recursive ?? true;
    this.#followSymlinks = options.followSymlinks ?? false;
    this.#exclude = options.exclude;
    this.#rescan = onOverflow === "rescan";
    this.#ino = new Inotify({ bufferSize: options.bufferSize, ringSize: options.ringSize }, host);
    this.#readSize = options.bufferSize ?? DEFAULT_BUFFER_SIZE;
    this.#fs = new FsCalls(host.sys);
    this.#pairing = new RenamePairing((wd) => {
      const node = this.#byWd.get(wd);
      return node?.parent && node.parent.wd >= 0 ? { wd: node.parent.wd, name: node.name } : undefined;
    });
    if (signal) {
      this.#signal = signal;
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    this.ready = this.#setup(roots);
    this.ready.catch(() => {}); // reported by the iteration too: never an unhandled rejection
  }

  /** Counters: watches held, events delivered, overflows, rescans. */
  stats(): WatchStats {
    return { ...this.#stats, watches: this.#byWd.size };
  }

  /** True once closed (by {@linkcode close}, the signal, or leaving a `for await` loop). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Yields events until closed. Leaving the loop early (`break`) closes the watcher, as with
   * `node:fs/promises` `watch()`.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<WatchEvent> {
    return {
      next: () => {
        const next = this.#chain.then(() => this.#next());
        this.#chain = next.catch(() => {});
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
   * Closes the inotify instance (its watches go with it); a pending iteration ends. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#byWd.clear();
    return this.#ino[Symbol.asyncDispose]();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #next(): Promise<IteratorResult<WatchEvent, undefined>> {
    for (;;) {
      if (this.#outAt < this.#out.length) {
        const value = this.#out[this.#outAt++];
        if (this.#outAt === this.#out.length) this.#out = [], this.#outAt = 0;
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
      let result: IteratorResult<InotifyBatch, void> | undefined;
      try {
        result = this.#pairing.size === 0 ? await pending : await raceTimeout(pending, RENAME_WAIT_MS);
      } catch (err) {
        this.#nextBatch = undefined;
        if (!this.#closed) this.#failure = { error: err }, await this.close();
        continue;
      }
      if (result === undefined) { // the partner of a held MOVED_FROM did not come: moved out
        for (const half of this.#pairing.flush()) this.#movedOut(half);
        continue;
      }
      this.#nextBatch = undefined;
      if (result.done) continue;
      this.#process(result.value);
      if (this.#stale && result.value.byteLength < this.#readSize && this.#ino.pendingBytes() === 0) {
        this.#stale = false;
      }
      const stale = this.#pairing.endBatch();
      if (stale) { for (const half of stale) this.#movedOut(half); }
    }
  }

  #emit(kind: WatchEventKind, path: string, isDirectory: boolean, oldPath?: string): void {
    if (!this.#wanted.has(kind)) return;
    this.#out.push(oldPath === undefined ? { kind, path, isDirectory } : { kind, path, oldPath, isDirectory });
  }

  #excluded(path: string): boolean {
    return this.#exclude !== undefined && this.#exclude(path);
  }

  // ---- setup ----

  async #setup(paths: string[]): Promise<void> {
    await Promise.resolve(); // let watch() return first
    try {
      // A root inside another root is covered by it.
      const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length);
      const roots = sorted.filter((p, i) =>
        !sorted.slice(0, i).some((q) => p.startsWith(q.endsWith("/") ? q : q + "/"))
      );
      const stack: [Node, string][] = [];
      for (const path of roots) {
        const node = this.#watchRoot(path);
        if (node.children && this.#recursive) stack.push([node, path]);
        else if (node.children) this.#visit(node, path, false, undefined, true);
      }
      let count = 0;
      while (stack.length > 0 && !this.#closed) {
        const [node, path] = stack.pop()!;
        this.#visit(node, path, false, stack, true);
        if (++count % SETUP_SLICE === 0) await new Promise((done) => setImmediate(done));
      }
    } catch (caught) {
      let err = caught;
      if (err instanceof SyscallError && err.code === "ENOSPC" && !(err instanceof WatchLimitError)) {
        err = new WatchLimitError(err.path ?? "", this.#byWd.size, this.#countDirs(paths), userLimit());
      }
      this.#failure = { error: err };
      await this.close();
      throw err;
    } finally {
      this.#setupDone = true;
    }
  }

  #watchRoot(path: string): Node {
    let wd: number, isDirectory = true;
    try {
      wd = this.#ino.addWatch(path, this.#mask | IN.ONLYDIR);
    } catch (err) {
      if (!(err instanceof SyscallError && err.code === "ENOTDIR")) throw err;
      // A file: watched itself (the only watch that is not on a directory).
      wd = this.#ino.addWatch(path, this.#mask & ~IN.EXCL_UNLINK);
      isDirectory = false;
    }
    const node = new Node(path, undefined, isDirectory);
    node.root = path;
    node.wd = wd;
    this.#byWd.set(wd, node);
    this.#roots.push(node);
    if (!isDirectory) this.#snapshot(node, path);
    return node;
  }

  /**
   * Places the watch of a known directory, then lists it: entries not known yet become nodes (and,
   * with `report`, `create` events). Subdirectories go on `stack` when recursive.
   */
  #visit(node: Node, path: string, report: boolean, stack: [Node, string][] | undefined, setup = false): void {
    if (node.root === undefined && !this.#place(node, path, setup)) return;
    let entries: DirEntry[];
    try {
      entries = this.#fs.list(path);
    } catch (err) {
      const code = (err as SyscallError).code;
      if (code === "ENOENT" || code === "ENOTDIR") return; // gone: its own events say so
      if (setup && node.root !== undefined) throw err; // EACCES on a root: ready rejects
      this.#out.push({ kind: "error", path, isDirectory: true, error: err as Error });
      return;
    }
    const children = node.children!;
    for (const entry of entries) {
      const name = entry.name;
      if (children.has(name)) continue; // reported already: once each, never twice
      const childPath = join(path, name);
      if (this.#excluded(childPath)) continue;
      let isDirectory = entry.type === FILE_TYPE.DIRECTORY, link = false;
      if (this.#followSymlinks && entry.type === FILE_TYPE.SYMLINK) isDirectory = link = this.#isDirectory(childPath);
      const child = new Node(name, node, isDirectory);
      child.link = link;
      if (!isDirectory) this.#snapshot(child, childPath);
      children.set(name, child);
      if (report) this.#emit("create", childPath, isDirectory);
      if (isDirectory && stack && this.#recursive) stack.push([child, childPath]);
    }
  }

  /** Adds a directory's watch. False when it should not be listed (gone, a loop, no watch). */
  #place(node: Node, path: string, setup: boolean): boolean {
    let wd: number;
    try {
      wd = this.#ino.addWatch(path, this.#mask | IN.ONLYDIR | (this.#followSymlinks ? 0 : IN.DONT_FOLLOW));
    } catch (err) {
      const code = (err as SyscallError).code;
      if (code === "ENOENT" || code === "ENOTDIR") return false; // gone: its event follows
      if (setup && code === "ENOSPC") throw err; // ready rejects, with the numbers
      const error = code === "ENOSPC"
        ? new WatchLimitError(path, this.#byWd.size, this.#byWd.size + this.#countDirs([path]), userLimit())
        : err as Error;
      this.#out.push({ kind: "error", path, isDirectory: true, error });
      return false;
    }
    if (node.wd === wd) return true;
    const owner = this.#byWd.get(wd);
    if (owner && owner !== node) {
      // The same directory by another name: through a symlink (skip it: no loops), or the inode
      // moved while events were lost (it is this node now).
      if (node.link) return false;
      owner.wd = -1;
    }
    if (node.wd >= 0 && this.#byWd.get(node.wd) === node) this.#unwatch(node.wd); // a new inode at this path
    node.wd = wd;
    this.#byWd.set(wd, node);
    return true;
  }

  #unwatch(wd: number): void {
    this.#byWd.delete(wd);
    try {
      this.#ino.rmWatch(wd);
    } catch {
      // gone already (its IGNORED is on the way)
    }
  }

  #snapshot(node: Node, path: string): void {
    const st = this.#fs.lstat(path);
    if (st) node.ino = st.ino, node.mtimeMs = st.mtimeMs, node.size = st.size;
  }

  /** Whether `path` leads to a directory, through symbolic links. */
  #isDirectory(path: string): boolean {
    return this.#fs.stat(path)?.type === FILE_TYPE.DIRECTORY;
  }

  /** Directories under `paths` that would need a watch (for the numbers of a WatchLimitError). */
  #countDirs(paths: string[]): number {
    let count = 0;
    const seen = new Set<string>();
    const stack = [...paths];
    while (stack.length > 0) {
      const path = stack.pop()!;
      const st = this.#fs.stat(path);
      if (st?.type !== FILE_TYPE.DIRECTORY || seen.has(`${st.dev}:${st.ino}`)) continue;
      seen.add(`${st.dev}:${st.ino}`);
      count++;
      if (!this.#recursive && count > paths.length) continue;
      let entries: DirEntry[];
      try {
        entries = this.#fs.list(path);
      } catch {
        continue;
      }
      for (const { name, type } of entries) {
        const child = join(path, name);
        if (this.#excluded(child)) continue;
        if (type === FILE_TYPE.DIRECTORY || (this.#followSymlinks && type === FILE_TYPE.SYMLINK)) stack.push(child);
      }
    }
    return count;
  }

  // ---- events ----

  #process(batch: InotifyBatch): void {
    const pairing = this.#pairing;
    for (const record of batch) {
      const wd = record.wd, mask = record.mask;
      const stale = this.#stale;
      if (mask & IN.Q_OVERFLOW) {
        this.#overflow();
        continue;
      }
      if (pairing.size > 0) {
        const proven = pairing.proven(wd, mask, record.cookie);
        if (proven) { for (const half of proven) this.#movedOut(half); }
      }
      const dir = this.#byWd.get(wd);
      if (dir === undefined) continue; // a watch we dropped: its last events and IGNORED
      if (mask & IN.IGNORED) {
        this.#byWd.delete(wd);
        dir.wd = -1;
        if (dir.root !== undefined && this.#roots.includes(dir)) this.#rootGone(dir, false);
        continue;
      }
      if (stale && mask & NAMESPACE) {
        this.#reconcile(dir, record.name);
        continue;
      }
      if (mask & IN.MOVED_FROM) {
        pairing.from(wd, mask, record.cookie, record.name);
      } else if (mask & IN.MOVED_TO) {
        const half = pairing.to(record.cookie);
        if (half) this.#renamed(half, dir, record.name, (mask & IN.ISDIR) !== 0);
        else this.#created(dir, record.name, (mask & IN.ISDIR) !== 0);
      } else if (mask & IN.CREATE) {
        this.#created(dir, record.name, (mask & IN.ISDIR) !== 0);
      } else if (mask & IN.DELETE) {
        const node = dir.children?.get(record.name);
        if (node) {
          this.#emit("delete", join(pathOf(dir), record.name), node.children !== undefined);
          this.#drop(node, false);
        }
      } else if (mask & (IN.DELETE_SELF | IN.MOVE_SELF)) {
        if (dir.root !== undefined) this.#rootGone(dir, (mask & IN.MOVE_SELF) !== 0);
      } else {
        this.#changed(dir, record.name, mask);
      }
    }
  }

  #changed(dir: Node, name: string, mask: number): void {
    let path: string, isDirectory: boolean;
    if (name === "") {
      if (dir.root === undefined) return; // the parent's watch reports it, with the name
      path = dir.root;
      isDirectory = dir.children !== undefined;
    } else {
      const children = dir.children;
      if (!children) return;
      let node = children.get(name);
      path = join(pathOf(dir), name);
      if (!node) {
        if (this.#excluded(path)) return;
        node = new Node(name, dir, (mask & IN.ISDIR) !== 0);
        children.set(name, node);
      }
      isDirectory = node.children !== undefined;
    }
    if (isDirectory && mask & DIR_READS) return;
    for (const [bit, kind] of KIND_BITS) if (mask & bit) this.#emit(kind, path, isDirectory);
  }

  /** A new entry: CREATE, or MOVED_TO from outside. A directory is watched, then scanned. */
  #created(dir: Node, name: string, isDirectory: boolean): void {
    const children = dir.children;
    if (!children) return;
    const known = children.get(name);
    if (known) {
      if ((known.children !== undefined) === isDirectory) return; // a scan reported it already
      this.#drop(known, true);
    }
    const path = join(pathOf(dir), name);
    if (this.#excluded(path)) return;
    let link = false;
    if (!isDirectory && this.#followSymlinks && this.#isDirectory(path)) {
      isDirectory = true;
      link = this.#fs.lstat(path)?.type === FILE_TYPE.SYMLINK;
    }
    const node = new Node(name, dir, isDirectory);
    node.link = link;
    children.set(name, node);
    this.#emit("create", path, isDirectory);
    if (isDirectory && this.#recursive) this.#walk(node, path, true);
  }

  /**
   * A CREATE, DELETE or half a rename queued before the last rescan ended: that rescan may have
   * seen its effect and what came after it (a name renamed away, then made again), so the disk
   * decides what changed, not the event. A rename in this window is reported as delete + create.
   */
  #reconcile(dir: Node, name: string): void {
    const path = join(pathOf(dir), name);
    const st = this.#fs.lstat(path);
    if (st) {
      this.#created(dir, name, st.type === FILE_TYPE.DIRECTORY); // nothing if known already
      return;
    }
    const known = dir.children?.get(name);
    if (!known) return;
    this.#emit("delete", path, known.children !== undefined);
    this.#drop(known, true);
  }

  /** Places watches under `node` and lists each directory after its watch is in place. */
  #walk(node: Node, path: string, report: boolean): void {
    const stack: [Node, string][] = [[node, path]];
    while (stack.length > 0) {
      const [n, p] = stack.pop()!;
      this.#visit(n, p, report, stack);
    }
  }

  #renamed(half: MoveHalf, toDir: Node, toName: string, isDirectory: boolean): void {
    const fromDir = this.#byWd.get(half.wd);
    const node = fromDir?.children?.get(half.name);
    if (!node || !toDir.children) {
      this.#created(toDir, toName, isDirectory);
      return;
    }
    const oldPath = join(pathOf(fromDir!), half.name);
    const path = join(pathOf(toDir), toName);
    if (this.#excluded(path)) {
      this.#emit("delete", oldPath, node.children !== undefined);
      this.#drop(node, true);
      return;
    }
    const replaced = toDir.children.get(toName);
    if (replaced && replaced !== node) this.#drop(replaced, true);
    fromDir!.children!.delete(half.name);
    node.name = toName;
    node.parent = toDir;
    toDir.children.set(toName, node);
    this.#emit("rename", path, node.children !== undefined, oldPath);
    // Moved before its watch could be placed: place it now, and report what is inside.
    if (node.children && node.wd < 0 && this.#recursive) this.#walk(node, path, true);
  }

  #movedOut(half: MoveHalf): void {
    const dir = this.#byWd.get(half.wd);
    const node = dir?.children?.get(half.name);
    if (!node) return;
    this.#emit("delete", join(pathOf(dir!), half.name), node.children !== undefined);
    this.#drop(node, true);
  }

  #rootGone(root: Node, removeWatches: boolean): void {
    this.#roots.splice(this.#roots.indexOf(root), 1);
    this.#emit("delete", root.root!, root.children !== undefined);
    this.#drop(root, removeWatches);
  }

  /** Forgets a subtree; `rm` removes its watches too (when the kernel will not). */
  #drop(node: Node, rm: boolean): void {
    if (node.parent?.children?.get(node.name) === node) node.parent.children.delete(node.name);
    const stack = [node];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.wd >= 0 && this.#byWd.get(n.wd) === n) {
        if (rm) this.#unwatch(n.wd);
        else this.#byWd.delete(n.wd);
      }
      n.wd = -1;
      if (n.children) { for (const child of n.children.values()) stack.push(child); }
    }
  }

  // ---- overflow ----

  #overflow(): void {
    this.#stats.overflows++;
    for (const half of this.#pairing.flush()) this.#movedOut(half);
    for (const root of this.#roots) this.#emit("overflow", root.root!, root.children !== undefined);
    if (!this.#rescan) return;
    const start = performance.now();
    for (const root of [...this.#roots]) this.#rescanRoot(root);
    this.#stale = true;
    this.#stats.rescans++;
    this.#stats.lastRescanMs = performance.now() - start;
  }

  /** Re-reads a root's tree and reports the difference from the known tree as events. */
  #rescanRoot(root: Node): void {
    const path = root.root!;
    const st = this.#fs.stat(path);
    if (!st || (st.type === FILE_TYPE.DIRECTORY) !== (root.children !== undefined)) {
      this.#rootGone(root, true);
      return;
    }
    if (!root.children) {
      if (st.ino !== root.ino || st.mtimeMs !== root.mtimeMs || st.size !== root.size) {
        root.ino = st.ino, root.mtimeMs = st.mtimeMs, root.size = st.size;
        this.#emit("modify", path, false);
      }
      return;
    }
    const stack: [Node, string][] = [[root, path]];
    while (stack.length > 0) {
      const [node, dirPath] = stack.pop()!;
      if (node.root === undefined && !this.#place(node, dirPath, false)) {
        continue; // gone since its parent was listed: the next level up will notice
      }
      let entries: DirEntry[];
      try {
        entries = this.#fs.list(dirPath);
      } catch {
        continue;
      }
      const children = node.children!;
      const seen = new Set<string>();
      const created: [Node, string][] = [];
      for (const entry of entries) {
        const name = entry.name;
        const childPath = join(dirPath, name);
        if (this.#excluded(childPath)) continue;
        seen.add(name);
        let isDirectory = entry.type === FILE_TYPE.DIRECTORY, link = false;
        if (this.#followSymlinks && entry.type === FILE_TYPE.SYMLINK) isDirectory = link = this.#isDirectory(childPath);
        const known = children.get(name);
        if (known && (known.children !== undefined) === isDirectory) {
          if (isDirectory) {
            if (this.#recursive) stack.push([known, childPath]);
            continue;
          }
          const was = [known.ino, known.mtimeMs, known.size];
          this.#snapshot(known, childPath);
          if (was[0] !== known.ino || was[1] !== known.mtimeMs || was[2] !== known.size) {
            this.#emit("modify", childPath, false);
          }
          continue;
        }
        if (known) {
          this.#emit("delete", childPath, known.children !== undefined);
          this.#drop(known, true);
        }
        const child = new Node(name, node, isDirectory);
        child.link = link;
        if (!isDirectory) this.#snapshot(child, childPath);
        created.push([child, childPath]);
      }
      for (const [name, known] of children) {
        if (seen.has(name)) continue;
        this.#emit("delete", join(dirPath, name), known.children !== undefined);
        this.#drop(known, true);
      }
      for (const [child, childPath] of created) {
        children.set(child.name, child);
        this.#emit("create", childPath, child.children !== undefined);
        if (child.children && this.#recursive) this.#walk(child, childPath, true);
      }
    }
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

/**
 * `watch()` bound to a host: mod.ts passes the runtime's.
 *
 * @throws {TypeError} On bad arguments, before any system call.
 */
export function watchWith(
  host: Host,
  paths: string | URL | readonly (string | URL)[],
  options?: WatchOptions,
): WatcherCore {
  return new WatcherCore(host, paths, options);
}
