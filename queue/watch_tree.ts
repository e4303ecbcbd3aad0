/**
 * {@linkcode WatchTree}: what a `watch()` knows of its trees — directories with their wd, files
 * with what `lstat` last saw — kept true by the inotify records fed to it, and by the disk where
 * records cannot tell (setup, a new directory, an overflow). Pure: the disk and the watches are
 * reached through a {@linkcode TreePort} and events leave through a sink, so it runs against an
 * in-memory file system in tests.
 *
 * Events are resolved against the tree, so a renamed directory's contents get their new paths by
 * moving one node, and a rescan after an overflow reports exactly the difference. The same diff
 * serves `poll`: places on file systems that give no events are walked again and again
 * ({@linkcode WatchTree.poll}). And each node keeps what its last stat saw (device, inode, type,
 * size, mtime in ns), so the tree can be written as a snapshot without walking the disk
 * ({@linkcode WatchTree.snapshot}).
 *
 * @module
 */
import { SyscallError } from "./errors.ts";
import { type DirEntry, FILE_TYPE, type FileStat, join } from "./fs_calls.ts";
import { IN } from "./inotify_mask.ts";
import { type MoveHalf, RenamePairing } from "./rename_pairing.ts";
import type { SnapshotEntry } from "./snapshot_format.ts";
import { countDirs, type DirCounting, WatchLimitError } from "./watch_limit.ts";
import { KIND_BITS, type WatchEvent, type WatchEventKind } from "./watch_options.ts";

/** The system calls the tree makes: the watches, and reading the disk. */
export interface TreePort {
  /**
   * `inotify_add_watch`: the wd (the same one for an inode watched already).
   * @throws {SyscallError} `ENOENT`, `ENOTDIR` (with `IN.ONLYDIR`), `EACCES`, `ENOSPC`...
   */
  addWatch(path: string, mask: number): number;
  /** `inotify_rm_watch`. @throws {SyscallError} `EINVAL` when the watch is gone already. */
  rmWatch(wd: number): void;
  /** A directory's entries but `.` and `..`. @throws {SyscallError} `ENOENT`, `ENOTDIR`, `EACCES`... */
  list(path: string): DirEntry[];
  /** The path itself; undefined when it does not exist. */
  lstat(path: string): FileStat | undefined;
  /** What the path leads to through symbolic links; undefined when that does not exist. */
  stat(path: string): FileStat | undefined;
  /** The watch limit that applies, or -1: the numbers of a {@linkcode WatchLimitError}. */
  watchLimit(): number;
}

/** What the tree watches, from the checked options of `watch()`. */
export interface TreeOptions {
  /** The events each watch asks for. */
  readonly mask: number;
  readonly recursive: boolean;
  readonly followSymlinks: boolean;
  readonly exclude?: (path: string) => boolean;
}

/** One inotify record, as far as the tree reads it (a batch's view fits: `name` is read lazily). */
export interface TreeRecord {
  readonly wd: number;
  readonly mask: number;
  readonly cookie: number;
  readonly name: string;
}

/**
 * Where the tree's events go, in order. `replaced` comes with a `rename` only: whether it replaced
 * an entry the tree knew at its new path (the settle stage folds with it).
 */
export type TreeSink = (ev: WatchEvent, replaced?: boolean) => void;

/**
 * How a directory is scanned (placed under its watch, then listed):
 * - `setup`: before `ready`. Nothing is reported; a root that cannot be listed and the watch
 *   limit throw, so `ready` rejects.
 * - `new`: a directory that appeared. Entries not known yet are reported as `create`.
 * - `rescan`: after an overflow, or where a mount came or went. Entries are diffed against the known
 *   ones: what was added, removed, changed type or (files) changed inode, size or mtime is reported.
 * - `poll`: a `rescan` made every few seconds: directories known and watched keep their watch (no
 *   inotify_add_watch per directory per walk; on 9p each would make a new inode), and a directory
 *   that cannot be listed is not reported again.
 * - `repair`: a directory the tree holds what another directory held for (its watch was taken, or it
 *   was listed where a rename read later says it was not), or could not list at its old path: a
 *   `rescan` of it, but its known subdirectories that are still where their watch is are left to
 *   their own records (listing them again would apply the records still queued a second time).
 */
export type ScanMode = "setup" | "new" | "rescan" | "poll" | "repair";

/** {@linkcode Node.flags}: reached through a symbolic link (followSymlinks). */
const LINK = 1;
/** {@linkcode Node.flags}: the stat fields may be out of date (an event said it changed, or never looked at). */
const RESTAT = 2;
/** {@linkcode Node.flags}: the FILE_TYPE of the last stat sits above this many bits. */
const TYPE_SHIFT = 4;

/**
 * One known file or directory. Paths are not stored: a rename moves one node. Numbers only beside
 * the links (every field a small integer where it can be: no boxed doubles per node).
 */
class Node {
  name: string;
  parent: Node | undefined;
  /** Directories only: the entries known inside. */
  readonly children: Map<string, Node> | undefined;
  /** The watch, or -1. */
  wd = -1;
  /** Roots: the absolute path watched. */
  root: string | undefined;
  /**
   * {@linkcode LINK}, {@linkcode RESTAT}, and the FILE_TYPE of the last stat << {@linkcode TYPE_SHIFT}.
   * Directories are looked at only for a snapshot (a statx each then, none while watching): their
   * own size and mtime mean nothing to a diff, and their device and inode are read when needed.
   */
  flags = RESTAT;
  /** What the last stat saw; ino -1 when never looked at. mtime: seconds and nanoseconds. */
  dev = 0;
  ino = -1;
  size = 0;
  mtimeSec = 0;
  mtimeNsec = 0;

  constructor(name: string, parent: Node | undefined, isDirectory: boolean) {
    this.name = name;
    this.parent = parent;
    this.children = isDirectory ? new Map() : undefined;
  }
}

/** A directory to scan, with its path (computed once) and how. */
interface Scan {
  node: Node;
  path: string;
  mode: ScanMode;
  /** `repair`: listed even when its watch is where it was (the directory the repair is for). */
  relist?: boolean;
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

/** A node as a snapshot entry (a node never looked at has no type: it is never asked for). */
function entryOf(node: Node, parent: number, name: string): SnapshotEntry {
  const { dev, ino, size, mtimeSec, mtimeNsec } = node;
  return { parent, name, type: node.flags >> TYPE_SHIFT, dev, ino, size, mtimeSec, mtimeNsec };
}

/** Whether a snapshot can record `node` as the tree holds it: looked at, and a directory if it has entries. */
function recordable(node: Node): boolean {
  return node.ino >= 0 && (!isDir(node) || node.flags >> TYPE_SHIFT === FILE_TYPE.DIRECTORY);
}

const isDir = (node: Node) => node.children !== undefined;
const isLink = (node: Node) => (node.flags & LINK) !== 0;

/** Whether `path` is `dir` or inside it. */
const under = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith("/") ? dir : dir + "/");

/** A directory's own open/read/close come from our scans as much as from anyone: never reported. */
const DIR_READS = IN.OPEN | IN.ACCESS | IN.CLOSE_NOWRITE;
/** The records that say a file's stat changed. */
const STAT_CHANGES = IN.MODIFY | IN.ATTRIB | IN.CLOSE_WRITE;

/** What {@linkcode WatchTree.snapshot} gives: the live roots, and their entries as a snapshot holds them. */
export interface TreeSnapshot {
  /** The roots that exist, in order: the first entries are theirs. */
  readonly roots: string[];
  /** Every entry, parents before children (entries are numbered from 0 in this order). */
  readonly entries: Iterable<SnapshotEntry>;
}

/** The tree of one `watch()`. Feed it records in the order read, then {@linkcode endBatch}. */
export class WatchTree {
  /**
   * True while the records read were queued before the rescan after an overflow began: the rescan
   * has seen what they did (or what came of it), so they are passed over, all but `IGNORED`.
   * Applying them would replay history over the rescanned tree: a rename a -> b read after a
   * rescan that found b, and a new a, would move the new a. The driver sets it before
   * {@linkcode rescan} and clears it when it reads the mark it queued just before the rescan.
   */
  stale = false;
  readonly #port: TreePort;
  readonly #options: TreeOptions;
  readonly #counting: DirCounting;
  readonly #sink: TreeSink;
  readonly #byWd = new Map<number, Node>();
  readonly #roots: Node[] = [];
  readonly #rootPaths: string[] = [];
  readonly #pairing: RenamePairing;
  readonly #setup: Scan[] = [];
  /**
   * Directories whose watch could not be placed, or which could not be listed, because their path
   * was gone (ENOENT, ENOTDIR): deleted, or moved by a rename whose records are still to come.
   * A rename of one of them or of a directory above scans them at the new path; a delete drops them.
   */
  readonly #unscanned = new Set<Node>();
  /**
   * The places {@linkcode poll} walks (roots, or mount points inside them). A change that a record
   * reports under one is stat'ed at once, so that the next walk does not report it again.
   */
  readonly #polled = new Set<Node>();
  /**
   * Directories watched (after setup) while records queued before their watch may still be unread:
   * a rename read later may have happened before the watch was placed, and then it moves another
   * directory than the one watched and listed (see {@linkcode #placeAgain}). A record of a node's
   * wd, or of a higher one, proves that the records have caught up (wds only grow: it was queued
   * after the watch was placed, and so was everything read after it). In placement order, so their
   * wds grow too.
   */
  readonly #ahead = new Set<Node>();
  /** The highest wd of a record read so far. */
  #clock = 0;
  /** The highest wd inotify_add_watch gave. */
  #newest = 0;
  /**
   * Directories whose watch a placement took from them (their directory is at another path now):
   * what they hold came from that directory, so each is listed again at its own path.
   */
  readonly #robbed: Node[] = [];

  /**
   * @param port The watches and the disk.
   * @param options What to watch.
   * @param sink Receives every event, in order (the kinds the consumer did not ask for too).
   */
  constructor(port: TreePort, options: TreeOptions, sink: TreeSink) {
    this.#port = port;
    this.#options = options;
    this.#sink = sink;
    this.#counting = {
      list: (path) => port.list(path),
      stat: (path) => port.stat(path),
      recursive: options.recursive,
      followSymlinks: options.followSymlinks,
      exclude: options.exclude,
    };
    this.#pairing = new RenamePairing((wd) => {
      const node = this.#byWd.get(wd);
      return node?.parent && node.parent.wd >= 0 ? { wd: node.parent.wd, name: node.name } : undefined;
    });
  }

  /** Watches held (one per watched directory, or the file of a file root). */
  get watches(): number {
    return this.#byWd.size;
  }

  /** True while a `MOVED_FROM` waits for its partner: the driver then runs the rename timer. */
  get holdsMoves(): boolean {
    return this.#pairing.size > 0;
  }

  /** The roots that exist, in order, and whether each is a directory. */
  get roots(): { path: string; isDirectory: boolean }[] {
    return this.#roots.map((root) => ({ path: root.root!, isDirectory: isDir(root) }));
  }

  // ---- setup ----

  /**
   * Watches each root (a root inside another is covered by it) and queues its directory for
   * {@linkcode setUp}.
   * @throws {SyscallError} `ENOENT`, `EACCES`...; `ENOSPC` as a {@linkcode WatchLimitError}.
   */
  addRoots(paths: readonly string[]): void {
    const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length);
    const roots = sorted.filter((p, i) => !sorted.slice(0, i).some((q) => p.startsWith(q.endsWith("/") ? q : q + "/")));
    this.#rootPaths.push(...roots);
    try {
      for (const path of roots) {
        const node = this.#watchRoot(path);
        if (isDir(node)) this.#setup.push({ node, path, mode: "setup" });
      }
    } catch (err) {
      throw this.#explained(err);
    }
  }

  /**
   * Scans up to `count` of the directories queued by {@linkcode addRoots} (and those they hold):
   * the driver yields to the event loop in between.
   * @returns True while directories are left.
   * @throws {SyscallError} A root that cannot be listed; `ENOSPC` as a {@linkcode WatchLimitError}.
   */
  setUp(count: number): boolean {
    const stack = this.#setup;
    try {
      for (let i = 0; i < count && stack.length > 0; i++) this.#scanDir(stack.pop()!, stack);
    } catch (err) {
      stack.length = 0;
      throw this.#explained(err);
    }
    return stack.length > 0;
  }

  #watchRoot(path: string): Node {
    const port = this.#port, mask = this.#options.mask;
    let wd: number, isDirectory = true;
    try {
      wd = port.addWatch(path, mask | IN.ONLYDIR);
    } catch (err) {
      if (!(err instanceof SyscallError && err.code === "ENOTDIR")) throw err;
      // A file: watched itself (the only watch that is not on a directory).
      wd = port.addWatch(path, mask & ~IN.EXCL_UNLINK);
      isDirectory = false;
    }
    const node = new Node(path, undefined, isDirectory);
    node.root = path;
    node.wd = wd;
    if (wd > this.#newest) this.#newest = wd;
    this.#byWd.set(wd, node);
    this.#roots.push(node);
    if (!isDirectory) this.#look(node, path);
    return node;
  }

  /** ENOSPC with the numbers that explain it; any other error as it is. */
  #explained(err: unknown): unknown {
    if (!(err instanceof SyscallError) || err.code !== "ENOSPC" || err instanceof WatchLimitError) return err;
    const needed = countDirs(this.#rootPaths, this.#counting);
    return new WatchLimitError(err.path ?? "", this.watches, needed, this.#port.watchLimit());
  }

  // ---- scanning: setup, new directories, rescans ----

  /**
   * Places the watch of a known directory, then lists it (in that order, so nothing created in
   * between is missed): entries are handled as `scan.mode` says, subdirectories go on `stack`.
   */
  #scanDir(scan: Scan, stack: Scan[]): void {
    const { node, path, mode } = scan;
    const keep = mode === "poll" && node.wd >= 0; // polled: the watch stays as it is
    const wd = node.wd;
    if (node.root === undefined && !keep && !this.#place(node, path, mode, scan.relist)) return;
    // Still where its watch is (and listed once): its own records keep what it holds.
    if (mode === "repair" && !scan.relist && node.wd === wd && !this.#unscanned.has(node)) return;
    let entries: DirEntry[];
    try {
      entries = this.#port.list(path);
    } catch (err) {
      const code = (err as SyscallError).code;
      if (code === "ENOENT" || code === "ENOTDIR") { // gone or moved: its own events say which
        this.#unscanned.add(node);
        return;
      }
      if (mode === "setup" && node.root !== undefined) throw err; // EACCES on a root: ready rejects
      if (mode !== "poll") this.#sink({ kind: "error", path, isDirectory: true, error: err as Error });
      return;
    }
    if (this.#unscanned.size > 0) this.#unscanned.delete(node);
    const { recursive, followSymlinks } = this.#options;
    const diff = mode === "rescan" || mode === "poll" || mode === "repair";
    const children = node.children!;
    const seen = diff ? new Set<string>() : undefined;
    const added: Node[] = [];
    for (const { name, type } of entries) {
      const childPath = join(path, name);
      if (this.#excluded(childPath)) continue;
      seen?.add(name);
      const known = children.get(name);
      if (known && !diff) continue; // reported already: once each, never twice
      let isDirectory = type === FILE_TYPE.DIRECTORY, link = false;
      if (followSymlinks && type === FILE_TYPE.SYMLINK) isDirectory = link = this.#isDirectory(childPath);
      if (known) {
        if (isDir(known) === isDirectory) {
          if (!isDirectory) this.#restat(known, childPath);
          else if (recursive) stack.push({ node: known, path: childPath, mode });
          continue;
        }
        this.#emit("delete", childPath, isDir(known));
        this.#drop(known, true);
      }
      const child = new Node(name, node, isDirectory);
      if (link) child.flags |= LINK;
      if (!isDirectory) this.#look(child, childPath);
      added.push(child);
    }
    if (seen) {
      for (const [name, known] of children) {
        if (seen.has(name)) continue;
        this.#emit("delete", join(path, name), isDir(known));
        this.#drop(known, true);
      }
    }
    for (const child of added) {
      const childPath = join(path, child.name);
      children.set(child.name, child);
      if (mode !== "setup") this.#emit("create", childPath, isDir(child));
      if (isDir(child) && recursive) stack.push({ node: child, path: childPath, mode: diff ? "new" : mode });
    }
  }

  /**
   * Scans `node` and everything under it, to the end, as `mode` says; then the directories whose
   * watch a placement took on the way, each at its own path, diffed.
   */
  #walk(node: Node, path: string, mode: ScanMode): void {
    const stack: Scan[] = [{ node, path, mode, relist: mode === "repair" }];
    for (;;) {
      while (stack.length > 0) this.#scanDir(stack.pop()!, stack);
      const robbed = this.#robbed.pop();
      if (robbed === undefined) return;
      if (robbed.wd < 0 && this.#attached(robbed)) {
        stack.push({ node: robbed, path: pathOf(robbed), mode: "repair", relist: true });
      }
    }
  }

  /** The mask a directory's watch is placed with. */
  #dirMask(): number {
    return this.#options.mask | IN.ONLYDIR | (this.#options.followSymlinks ? 0 : IN.DONT_FOLLOW);
  }

  /**
   * Adds a directory's watch. False when it should not be listed (gone, a loop, no watch).
   *
   * Outside setup, a directory is listed only under a watch placed for that listing: when the wd
   * given was placed before (another node's: the directory moved while its records were lost or not
   * read yet; or, with `relist`, this node's own), it is replaced by a new one. Records of the old
   * wd still queued are of changes the listing sees, which would otherwise be applied twice (a file
   * that replaced a directory there, renamed by a record of the swap before it, say).
   */
  #place(node: Node, path: string, mode: ScanMode, relist = false): boolean {
    let wd = this.#addDirWatch(node, path, mode);
    if (wd < 0) return false;
    if (node.wd === wd && !relist) return true;
    const owner = this.#byWd.get(wd);
    if (owner && owner !== node) {
      // The same directory by another name: through a symlink (skip it: no loops), or a bind
      // mount; or the directory moved while its records were lost or not read yet: it is this
      // node now, and the owner holds what this directory holds, so it is listed again at its path.
      if (isLink(node)) return false;
      owner.wd = -1;
      this.#ahead.delete(owner);
      if (mode !== "setup" && owner.root === undefined && !this.#sameDirectory(path, owner)) this.#robbed.push(owner);
    }
    // Another directory at this path, or this one's watch replaced below: the node's old watch goes.
    const own = node.wd === wd;
    if (node.wd >= 0 && this.#byWd.get(node.wd) === node) this.#unwatch(node.wd);
    node.wd = -1;
    if (mode === "setup") {
      if (wd > this.#newest) this.#newest = wd;
    } else {
      if (wd <= this.#newest) { // placed before
        if (!own) this.#unwatch(wd);
        wd = this.#addDirWatch(node, path, mode);
        if (wd < 0) return false;
      }
      this.#newest = wd;
      this.#ahead.delete(node); // (added again last: the set stays in placement order)
      this.#ahead.add(node);
    }
    node.wd = wd;
    this.#byWd.set(wd, node);
    return true;
  }

  /** inotify_add_watch for a directory; -1 when it failed (reported, or noted as gone). */
  #addDirWatch(node: Node, path: string, mode: ScanMode): number {
    try {
      return this.#port.addWatch(path, this.#dirMask());
    } catch (err) {
      const code = (err as SyscallError).code;
      if (code === "ENOENT" || code === "ENOTDIR") { // gone or moved: its events follow
        this.#unscanned.add(node);
        return -1;
      }
      if (mode === "setup" && code === "ENOSPC") throw err; // ready rejects, with the numbers
      const needed = code === "ENOSPC" ? this.watches + countDirs([path], this.#counting) : 0;
      const error = needed ? new WatchLimitError(path, this.watches, needed, this.#port.watchLimit()) : err as Error;
      this.#sink({ kind: "error", path, isDirectory: true, error });
      return -1;
    }
  }

  /** Whether `path` and the path of `node` lead to the same directory now. */
  #sameDirectory(path: string, node: Node): boolean {
    const a = this.#port.stat(path), b = a && this.#port.stat(pathOf(node));
    return b !== undefined && a!.dev === b.dev && a!.ino === b.ino;
  }

  /**
   * A directory moved by a rename record after its watch was placed ahead of the records: if the
   * rename happened before the watch was placed, the tree has moved the listing of the directory
   * that was at the old path then, to a path where the disk may hold another one (two new
   * directories swapped before their records were read: each was listed at the other's final
   * path). The kernel says which: the wd of what is at the new path now. When it is another watch
   * than the node's, the node is repaired there (a new watch, listed, the difference reported: see
   * {@linkcode ScanMode}); the node holding that watch, if any, is repaired at its own path
   * ({@linkcode #walk}). Nothing there now: records still to come say where it went.
   */
  #placeAgain(node: Node, path: string): void {
    let wd: number;
    try {
      wd = this.#port.addWatch(path, this.#dirMask());
    } catch {
      return; // gone from there (a rename or delete to come), or not to be watched: a scan tells
    }
    if (wd !== node.wd) this.#walk(node, path, "repair");
  }

  #unwatch(wd: number): void {
    this.#byWd.delete(wd);
    try {
      this.#port.rmWatch(wd);
    } catch {
      // gone already (its IGNORED is on the way)
    }
  }

  /**
   * Takes a node's stat fields from the disk: through symbolic links for roots and linked
   * directories (as they are watched), and for files with `followSymlinks` (as a snapshot walk
   * records them; a dangling link is the link). False, and nothing changed, when it is gone.
   */
  #look(node: Node, path: string): boolean {
    const port = this.#port;
    const follow = node.root !== undefined || isLink(node) || (this.#options.followSymlinks && !isDir(node));
    const st = (follow ? port.stat(path) : undefined) ?? port.lstat(path);
    if (!st) return false;
    node.flags = (node.flags & LINK) | (st.type << TYPE_SHIFT);
    node.dev = st.dev;
    node.ino = st.ino;
    node.size = st.size;
    node.mtimeSec = st.mtimeSec;
    node.mtimeNsec = st.mtimeNsec;
    return true;
  }

  /** A known file looked at again: `modify` when its inode, mtime or size changed. */
  #restat(node: Node, path: string): void {
    const { ino, size, mtimeSec, mtimeNsec } = node;
    this.#look(node, path);
    if (ino !== node.ino || size !== node.size || mtimeSec !== node.mtimeSec || mtimeNsec !== node.mtimeNsec) {
      this.#emit("modify", path, false);
    }
  }

  /**
   * A record said a file's stat changed: under a polled place it is looked at now (the next walk
   * compares with this, so it does not report the change again); elsewhere it is marked, and looked
   * at only if a snapshot is written (no system call on the way of an event).
   */
  #statChanged(node: Node, path: string): void {
    if (this.#polled.size > 0 && this.#isPolled(node)) this.#look(node, path);
    else node.flags |= RESTAT;
  }

  /** Whether `node` is in a place {@linkcode poll} walks. */
  #isPolled(node: Node): boolean {
    for (let n: Node | undefined = node; n; n = n.parent) if (this.#polled.has(n)) return true;
    return false;
  }

  /** Whether `path` leads to a directory, through symbolic links. */
  #isDirectory(path: string): boolean {
    return this.#port.stat(path)?.type === FILE_TYPE.DIRECTORY;
  }

  #excluded(path: string): boolean {
    return this.#options.exclude !== undefined && this.#options.exclude(path);
  }

  #emit(kind: WatchEventKind, path: string, isDirectory: boolean, oldPath?: string): void {
    this.#sink(oldPath === undefined ? { kind, path, isDirectory } : { kind, path, oldPath, isDirectory });
  }

  // ---- records ----

  /**
   * Applies one record (not `Q_OVERFLOW`: see {@linkcode overflow}). Records of watches the tree
   * does not hold (dropped ones, with their last events and `IGNORED`) are passed over.
   */
  record(r: TreeRecord): void {
    const { wd, mask } = r;
    if (wd > this.#clock) {
      this.#clock = wd;
      for (const node of this.#ahead) {
        if (node.wd > wd) break;
        this.#ahead.delete(node);
      }
    }
    const pairing = this.#pairing;
    if (pairing.size > 0) {
      const proven = pairing.proven(wd, mask, r.cookie);
      if (proven) { for (const half of proven) this.#movedOut(half); }
    }
    const dir = this.#byWd.get(wd);
    if (dir === undefined) return;
    if (mask & IN.IGNORED) {
      this.#byWd.delete(wd);
      dir.wd = -1;
      this.#ahead.delete(dir);
      if (this.#roots.includes(dir)) this.#rootGone(dir, false);
    } else if (this.stale) {
      return; // the rescan has seen it
    } else if (mask & IN.MOVED_FROM) {
      pairing.from(wd, mask, r.cookie, r.name);
    } else if (mask & IN.MOVED_TO) {
      const half = pairing.to(r.cookie);
      if (half) this.#renamed(half, dir, r.name, (mask & IN.ISDIR) !== 0);
      else this.#created(dir, r.name, (mask & IN.ISDIR) !== 0);
    } else if (mask & IN.CREATE) {
      this.#created(dir, r.name, (mask & IN.ISDIR) !== 0);
    } else if (mask & IN.DELETE) {
      this.#deleted(dir, r.name);
    } else if (mask & (IN.DELETE_SELF | IN.MOVE_SELF)) {
      if (this.#roots.includes(dir)) this.#rootGone(dir, (mask & IN.MOVE_SELF) !== 0);
    } else {
      this.#changed(dir, r.name, mask);
    }
  }

  /** Ends a batch: `MOVED_FROM`s that waited through a whole further batch were moved out. */
  endBatch(): void {
    const stale = this.#pairing.endBatch();
    if (stale) { for (const half of stale) this.#movedOut(half); }
  }

  /** Every held `MOVED_FROM` was moved out (the rename timer ran out, or an overflow). */
  flushMoves(): void {
    for (const half of this.#pairing.flush()) this.#movedOut(half);
  }

  /** A new entry: CREATE, or MOVED_TO from outside. A directory is watched, then scanned. */
  #created(dir: Node, name: string, isDirectory: boolean): void {
    const children = dir.children;
    if (!children) return;
    const known = children.get(name);
    if (known) {
      if (isDir(known) === isDirectory) {
        // A scan reported it already; or (a move in over it) it was replaced: look again for a snapshot.
        known.flags |= RESTAT;
        return;
      }
      this.#drop(known, true);
    }
    const path = join(pathOf(dir), name);
    if (this.#excluded(path)) return;
    let link = false;
    if (!isDirectory && this.#options.followSymlinks && this.#isDirectory(path)) {
      isDirectory = true;
      link = this.#port.lstat(path)?.type === FILE_TYPE.SYMLINK;
    }
    const node = new Node(name, dir, isDirectory);
    if (link) node.flags |= LINK;
    children.set(name, node);
    if (!isDirectory) this.#statChanged(node, path);
    this.#emit("create", path, isDirectory);
    if (isDirectory && this.#options.recursive) this.#walk(node, path, "new");
  }

  #deleted(dir: Node, name: string): void {
    const node = dir.children?.get(name);
    if (!node) return;
    this.#emit("delete", join(pathOf(dir), name), isDir(node));
    this.#drop(node, false); // the kernel removes the watches of what was deleted
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
    // rename(2) never moves a directory into itself: where the tree has the target inside the
    // moved directory, the target's watch was placed again after this rename (the directory was
    // listed where it is now), so the tree cannot say where the target was. Taken as a move out:
    // the records that follow, and the scans they cause, bring back what is there.
    if (this.#excluded(path) || (node.children && this.#inSubtree(toDir, node))) {
      this.#emit("delete", oldPath, isDir(node));
      this.#drop(node, true);
      return;
    }
    const there = toDir.children.get(toName);
    const replaced = there !== undefined && there !== node;
    if (replaced) this.#drop(there, true);
    fromDir!.children!.delete(half.name);
    node.name = toName;
    node.parent = toDir;
    toDir.children.set(toName, node);
    if (!isDir(node) && node.flags & RESTAT && this.#polled.size > 0 && this.#isPolled(node)) this.#look(node, path);
    this.#sink({ kind: "rename", path, oldPath, isDirectory: isDir(node) }, replaced);
    if (node.children && this.#options.recursive) {
      if (node.wd < 0) this.#unscanned.add(node); // e.g. known only from a change record
      this.#scanMoved(node);
    }
  }

  /** Whether `node` is `top` or under it. */
  #inSubtree(node: Node, top: Node): boolean {
    for (let n: Node | undefined = node; n; n = n.parent) if (n === top) return true;
    return false;
  }

  /**
   * After a rename of `moved`: directories in its subtree that could not be watched or listed at
   * their old path (the rename had happened already) are scanned at the new one (diffed: a node
   * whose watch was taken holds what another directory held); those whose watch was placed ahead
   * of the records are placed again there ({@linkcode #placeAgain}).
   */
  #scanMoved(moved: Node): void {
    if (this.#unscanned.size > 0) {
      for (const node of this.#inside(moved, this.#unscanned)) {
        if (this.#unscanned.has(node)) this.#walk(node, pathOf(node), "repair"); // (or scanned by a walk above it)
      }
    }
    if (this.#ahead.size > 0) {
      for (const node of this.#inside(moved, this.#ahead)) {
        if (this.#ahead.has(node)) this.#placeAgain(node, pathOf(node)); // (or dropped by a walk above it)
      }
    }
  }

  /**
   * The `nodes` that are `top` or under it: found by walking top's directories while
   * that costs less than looking up from each of `nodes` (a few, or a big subtree moved).
   */
  #inside(top: Node, nodes: ReadonlySet<Node>): Node[] {
    const found: Node[] = [];
    const stack = [top];
    let budget = nodes.size;
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (nodes.has(n)) found.push(n);
      budget -= n.children!.size;
      if (budget < 0) { // the subtree is the bigger: look up from each node instead
        return [...nodes].filter((node) => this.#inSubtree(node, top));
      }
      for (const child of n.children!.values()) if (child.children) stack.push(child);
    }
    return found;
  }

  #movedOut(half: MoveHalf): void {
    const dir = this.#byWd.get(half.wd);
    const node = dir?.children?.get(half.name);
    if (!node) return;
    this.#emit("delete", join(pathOf(dir!), half.name), isDir(node));
    this.#drop(node, true);
  }

  /** MODIFY, ATTRIB, OPEN, ACCESS, CLOSE_*: one event per kind bit, never a directory's reads. */
  #changed(dir: Node, name: string, mask: number): void {
    let path: string, isDirectory: boolean, node: Node | undefined;
    if (name === "") {
      if (dir.root === undefined) return; // the parent's watch reports it, with the name
      path = dir.root;
      node = dir;
      isDirectory = isDir(dir);
    } else {
      node = dir.children?.get(name);
      // A name the tree does not know is reported but not learnt: the consumer got no create for
      // it, so a later rename of it must be a create.
      path = join(pathOf(dir), name);
      if (!node && this.#excluded(path)) return;
      isDirectory = node ? isDir(node) : (mask & IN.ISDIR) !== 0;
    }
    if (isDirectory && mask & DIR_READS) return;
    if (node && !isDirectory && mask & STAT_CHANGES) this.#statChanged(node, path);
    for (const [bit, kind] of KIND_BITS) if (mask & bit) this.#emit(kind, path, isDirectory);
  }

  #rootGone(root: Node, removeWatches: boolean): void {
    this.#roots.splice(this.#roots.indexOf(root), 1);
    this.#emit("delete", root.root!, isDir(root));
    this.#drop(root, removeWatches);
  }

  /** Forgets a subtree; `rm` removes its watches too (when the kernel will not). */
  #drop(node: Node, rm: boolean): void {
    if (node.parent?.children?.get(node.name) === node) node.parent.children.delete(node.name);
    const stack = [node];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.wd >= 0 && this.#byWd.get(n.wd) === n) {
        // A watch placed ahead of the records may be on a directory that lives on elsewhere.
        if (rm || this.#ahead.has(n)) this.#unwatch(n.wd);
        else this.#byWd.delete(n.wd);
      }
      n.wd = -1;
      if (this.#unscanned.size > 0) this.#unscanned.delete(n);
      if (this.#ahead.size > 0) this.#ahead.delete(n);
      if (n.children) { for (const child of n.children.values()) stack.push(child); }
    }
  }

  // ---- overflow ----

  /** A `Q_OVERFLOW` was read: held `MOVED_FROM`s are moved out, then one `overflow` per root. */
  overflow(): void {
    this.flushMoves();
    for (const root of this.#roots) this.#emit("overflow", root.root!, isDir(root));
  }

  /** Re-reads every root's tree and reports the difference from the known tree as events. */
  rescan(): void {
    for (const root of [...this.#roots]) this.#rescanNode(root, root.root!, "rescan");
  }

  /**
   * Re-reads the subtree at `path` (a mount came or went there: its watches are placed again) and
   * reports the difference. Nothing when the tree does not know the path.
   */
  rescanAt(path: string): void {
    const node = this.#nodeAt(path);
    if (node) this.#rescanNode(node, path, "rescan");
  }

  /** Re-reads a root or a known subtree and reports the difference from what the tree knew. */
  #rescanNode(node: Node, path: string, mode: "rescan" | "poll"): void {
    if (node.root !== undefined) {
      const st = this.#port.stat(path);
      if (!st || (st.type === FILE_TYPE.DIRECTORY) !== isDir(node)) {
        this.#rootGone(node, true);
        return;
      }
    }
    if (isDir(node)) this.#walk(node, path, mode);
    else this.#restat(node, path);
  }

  // ---- polling ----

  /**
   * Sets the places {@linkcode poll} walks: roots, or mount points inside them (paths as events
   * name them). Paths the tree does not know are passed over (set them again later).
   */
  setPolled(paths: readonly string[]): void {
    this.#polled.clear();
    for (const path of paths) {
      const node = this.#nodeAt(path);
      if (node) this.#polled.add(node);
    }
  }

  /** Walks every polled place and reports what changed since the tree last knew, as a rescan does. */
  poll(): void {
    for (const node of [...this.#polled]) {
      if (this.#attached(node)) this.#rescanNode(node, pathOf(node), "poll");
      else this.#polled.delete(node); // deleted or moved out meanwhile
    }
  }

  /** The node at `path` (a root or under one), if the tree knows it. */
  #nodeAt(path: string): Node | undefined {
    const root = this.#roots.find((r) => under(path, r.root!));
    if (!root) return undefined;
    let node: Node | undefined = root;
    for (const name of path.slice(root.root!.length).split("/")) {
      if (name !== "") node = node?.children?.get(name);
    }
    return node;
  }

  /** Whether `node` is still in the tree (not dropped, nor under a root that is gone). */
  #attached(node: Node): boolean {
    let n = node;
    for (; n.parent; n = n.parent) if (n.parent.children?.get(n.name) !== n) return false;
    return n.root !== undefined && this.#roots.includes(n);
  }

  // ---- snapshots ----

  /**
   * What the tree knows, as a snapshot holds it: the live roots, then the entries under them,
   * parents first. Files that an event said changed (or never looked at), and directories, are
   * looked at as their turn comes: no listing, a statx for each of those only. Entries gone by then
   * are left out, with all they hold.
   *
   * @param leaveOut Entries not to record: called with a directory's path and an entry's name.
   */
  snapshot(leaveOut?: (dir: string, name: string) => boolean): TreeSnapshot {
    const roots = this.#roots.filter((root) => {
      if (root.flags & RESTAT) this.#look(root, root.root!);
      return recordable(root);
    });
    return { roots: roots.map((root) => root.root!), entries: this.#entries(roots, leaveOut) };
  }

  *#entries(roots: readonly Node[], leaveOut?: (dir: string, name: string) => boolean): Generator<SnapshotEntry> {
    const stack: { node: Node; index: number; path: string }[] = [];
    let count = 0;
    for (const root of roots) {
      yield entryOf(root, -1, "");
      if (isDir(root)) stack.push({ node: root, index: count, path: root.root! });
      count++;
    }
    while (stack.length > 0) {
      const { node, index, path } = stack.pop()!;
      for (const child of node.children!.values()) {
        if (leaveOut?.(path, child.name)) continue;
        const restat = (child.flags & RESTAT) !== 0;
        const childPath = restat || isDir(child) ? join(path, child.name) : "";
        // Gone since (its event is on the way), or not the kind of entry the tree holds any more.
        if ((restat && !this.#look(child, childPath)) || !recordable(child)) continue;
        yield entryOf(child, index, child.name);
        if (isDir(child)) stack.push({ node: child, index: count, path: childPath });
        count++;
      }
    }
  }

  /** Forgets every watch: the inotify instance is closed, the kernel dropped them all. */
  clear(): void {
    this.#byWd.clear();
    this.#ahead.clear();
    this.#robbed.length = 0;
  }
}
