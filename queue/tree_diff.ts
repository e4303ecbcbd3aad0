/**
 * {@linkcode diffTrees}: the events that turn one recorded state of some trees into another, in an
 * order a consumer can apply one by one — renames found by inode, for files and whole directories.
 *
 * Entries are first paired: by name under paired directories when the inode is the same (the
 * common, unchanged case: a linear merge of two listings in the same order), then the rest by
 * device and inode (renames). A pair whose parent or name changed is a "mover". The events come from
 * replaying the change on a model of the old tree, top down over the new one:
 *
 * - a new entry is placed once its parent is: a mover by one `rename` (its subtree goes with it),
 *   an unpaired one by a `create`;
 * - the place may be taken by an old entry. If nothing under that entry is still to move out, it
 *   is given up: a rename replaces it (as rename(2) does, and as a consumer applies a rename), a
 *   create comes after its `delete`. Otherwise the new entry waits until the movers under it have
 *   left (a rename chain a -> b, b -> c is reported b -> c first);
 * - when everything left waits on something else, the renames form a cycle (a swap a <-> b, a
 *   directory moved into what was its own child): the wait with the fewest movers behind it is
 *   forced, and what it replaces is reported as created again where it went (content that a
 *   consumer must read anew, as it would after a `delete` + `create`);
 * - old entries left unpaired are deleted at the end (only the top of each deleted subtree), then
 *   files whose size or mtime changed are reported as `modify` at their new path.
 *
 * @module
 */
import type { EntryTable, SnapshotHeader } from "./entry_table.ts";
import { FILE_TYPE, join } from "./fs_calls.ts";
import { decodeName } from "./inotify_records.ts";
import type { WatchEvent } from "./watch_options.ts";

/**
 * A file whose recorded mtime is this close to the walk (or in it) may have been written again in
 * the same timestamp tick (coarse kernel clocks tick every 1-10 ms) with the same size: reported,
 * unless its file system has fine-grained timestamps ({@linkcode DiffOptions.fineTimestamps}).
 */
export const RACY_MS = 50;

/** One side of the comparison: a table and, per root of the header, its entry (-1 when missing). */
export interface Tree {
  readonly entries: EntryTable;
  readonly roots: readonly number[];
}

/**
 * The events that turn `before` into `after`, both walks of `header.roots`, in an order that can be
 * applied one by one: `rename` (with `oldPath`) and `create`, `delete` (of the top of a subtree
 * only), then `modify` (files with the same inode whose size or mtime changed, at their new path).
 */
export function diffTrees(
  header: SnapshotHeader,
  before: Tree,
  after: Tree,
  options: DiffOptions = {},
): WatchEvent[] {
  return new Diff(header, before, after, options).run();
}

/** How {@linkcode diffTrees} judges modifications. */
export interface DiffOptions {
  /**
   * Devices whose file systems give a change made after a stat a new mtime even within one clock
   * tick (Linux >= 6.13 multigrain timestamps): their files need no {@linkcode RACY_MS} window.
   */
  fineTimestamps?: ReadonlySet<number>;
}

class Diff {
  readonly #header: SnapshotHeader;
  readonly #old: EntryTable;
  readonly #new: EntryTable;
  readonly #oldRoots: readonly number[];
  readonly #newRoots: readonly number[];
  readonly #oldFirst: Int32Array;
  readonly #oldNext: Int32Array;
  readonly #newFirst: Int32Array;
  readonly #newNext: Int32Array;
  /** Old entry -> its new partner, or -1; and back. */
  readonly #pairOld: Int32Array;
  readonly #pairNew: Int32Array;
  readonly #events: WatchEvent[] = [];

  // The model: node i < O is old entry i; O + n is new entry n once created; V holds the roots.
  readonly #O: number;
  readonly #V: number;
  readonly #parent: Int32Array;
  /** The new entry a node stands for once placed (its name is then that entry's), else -1. */
  readonly #placedAs: Int32Array;
  readonly #alive: Uint8Array;
  readonly #mover: Uint8Array;
  /** Movers not yet placed in a node's subtree, itself included: a node with any cannot be given up. */
  readonly #need: Int32Array;
  /** Children by name key, built for a node before its children first change. */
  readonly #maps = new Map<number, Map<string, number>>();
  /** Root number of a node under V, and of a new root entry. */
  readonly #rootOfNode: Int32Array;
  readonly #rootOfNew: Int32Array;
  /** New entry -> the node it was placed as, or -1. */
  readonly #modelOf: Int32Array;
  /** A node in the way -> the new entry waiting for its place. */
  readonly #waiting = new Map<number, number>();
  #queue: number[] = [];
  readonly #newPaths: (string | undefined)[] = [];
  readonly #fine: ReadonlySet<number>;

  constructor(header: SnapshotHeader, before: Tree, after: Tree, options: DiffOptions) {
    this.#header = header;
    this.#fine = options.fineTimestamps ?? new Set();
    this.#old = before.entries;
    this.#new = after.entries;
    this.#oldRoots = before.roots;
    this.#newRoots = after.roots;
    ({ first: this.#oldFirst, next: this.#oldNext } = this.#old.children());
    ({ first: this.#newFirst, next: this.#newNext } = this.#new.children());
    const O = this.#old.count, N = this.#new.count;
    this.#pairOld = new Int32Array(O).fill(-1);
    this.#pairNew = new Int32Array(N).fill(-1);
    this.#O = O;
    this.#V = O + N;
    this.#parent = new Int32Array(O + N + 1).fill(-1);
    this.#parent.set(this.#old.parent.subarray(0, O));
    this.#placedAs = new Int32Array(O + N + 1).fill(-1);
    this.#alive = new Uint8Array(O + N + 1);
    this.#alive.fill(1, 0, O);
    this.#mover = new Uint8Array(O);
    this.#need = new Int32Array(O + N + 1);
    this.#rootOfNode = new Int32Array(O + N + 1).fill(-1);
    this.#rootOfNew = new Int32Array(N).fill(-1);
    this.#modelOf = new Int32Array(N).fill(-1);
    before.roots.forEach((i, r) => {
      if (i < 0) return;
      this.#rootOfNode[i] = r;
      this.#parent[i] = this.#V;
    });
    after.roots.forEach((n, r) => {
      if (n >= 0) this.#rootOfNew[n] = r;
    });
  }

  run(): WatchEvent[] {
    this.#pair();
    this.#findMovers();
    this.#place();
    this.#deleteRest();
    this.#modified();
    return this.#events;
  }

  // ---- pairing ----

  #pair(): void {
    const old = this.#old, now = this.#new;
    const stack: number[] = [];
    this.#oldRoots.forEach((o, r) => {
      const n = this.#newRoots[r];
      if (o < 0 || n < 0 || old.type[o] !== now.type[n]) return; // a root replaced: delete + create
      this.#match(o, n, stack); // even as another inode: it is the root
    });
    this.#pairChildren(stack);
    // The rest by device and inode: renames.
    let unpaired = false;
    for (let n = 0; n < now.count && !unpaired; n++) unpaired = this.#pairNew[n] < 0;
    if (!unpaired) return;
    const byInode = new Map<number | string, number>();
    const sameInode = new Int32Array(old.count).fill(-1);
    const mainDev = old.count > 0 ? old.dev[0] : 0;
    for (let o = old.count - 1; o >= 0; o--) {
      if (this.#pairOld[o] >= 0 || this.#rootOfNode[o] >= 0) continue;
      const key = inodeKey(old, o, mainDev);
      const first = byInode.get(key);
      if (first !== undefined) sameInode[o] = first;
      byInode.set(key, o);
    }
    for (let n = 0; n < now.count; n++) {
      if (this.#pairNew[n] >= 0 || this.#rootOfNew[n] >= 0) continue;
      for (let o = byInode.get(inodeKey(now, n, mainDev)) ?? -1; o >= 0; o = sameInode[o]) {
        if (this.#pairOld[o] >= 0 || old.type[o] !== now.type[n]) continue;
        this.#match(o, n, stack);
        this.#pairChildren(stack);
        break;
      }
    }
  }

  #match(o: number, n: number, stack: number[]): void {
    this.#pairOld[o] = n;
    this.#pairNew[n] = o;
    if (this.#old.type[o] === FILE_TYPE.DIRECTORY) stack.push(o, n);
  }

  /** Pairs the children of the directory pairs on `stack` by name, and theirs, while the inode agrees. */
  #pairChildren(stack: number[]): void {
    const old = this.#old, now = this.#new, oldNext = this.#oldNext, newNext = this.#newNext;
    while (stack.length > 0) {
      const n = stack.pop()!, o = stack.pop()!;
      let x = this.#oldFirst[o];
      let byName: Map<string, number> | undefined;
      for (let c = this.#newFirst[n]; c >= 0; c = newNext[c]) {
        if (byName === undefined) {
          // Listings of an unchanged directory come in the same order: walk them side by side.
          if (x >= 0 && sameName(old, x, now, c)) {
            if (this.#pairOld[x] < 0 && sameInode(old, x, now, c)) this.#match(x, c, stack);
            x = oldNext[x];
            continue;
          }
          byName = new Map();
          for (let y = x; y >= 0; y = oldNext[y]) byName.set(nameKey(old, y), y);
        }
        const y = byName.get(nameKey(now, c));
        if (y !== undefined && this.#pairOld[y] < 0 && sameInode(old, y, now, c)) this.#match(y, c, stack);
      }
    }
  }

  /** Movers: pairs whose parent is not the partner of the new parent, or whose name changed. */
  #findMovers(): void {
    const old = this.#old, now = this.#new;
    for (let o = 0; o < old.count; o++) {
      const n = this.#pairOld[o];
      if (n < 0 || this.#rootOfNode[o] >= 0) continue;
      if (this.#pairOld[old.parent[o]] === now.parent[n] && sameName(old, o, now, n)) continue;
      this.#mover[o] = 1;
      for (let a = o; a >= 0 && a !== this.#V; a = this.#parent[a]) this.#need[a]++;
    }
  }

  // ---- placing, top down over the new trees ----

  #place(): void {
    for (const n of this.#newRoots) if (n >= 0) this.#queue.push(n);
    for (;;) {
      for (let q = 0; q < this.#queue.length; q++) this.#placeEntry(this.#queue[q]);
      this.#queue = [];
      if (this.#waiting.size === 0) return;
      this.#breakCycle();
    }
  }

  #placeEntry(n: number): void {
    const now = this.#new;
    const o = this.#pairNew[n];
    const p = now.parent[n];
    if (o >= 0 && !this.#mover[o]) { // unchanged, and in its place: its parent is
      this.#placed(n, o);
      return;
    }
    const at = p < 0 ? this.#V : this.#modelOf[p];
    const key = p < 0 ? String(this.#rootOfNew[n]) : nameKey(now, n);
    const children = this.#children(at);
    const there = children.get(key);
    if (there !== undefined && this.#need[there] > 0) {
      this.#waiting.set(there, n);
      return;
    }
    if (o >= 0) {
      this.#emit({ kind: "rename", path: this.#newPath(n), oldPath: this.#path(o), isDirectory: now.isDirectory(n) });
      if (there !== undefined) this.#destroy(there);
      this.#move(o, at, key, n);
      this.#placed(n, o);
    } else {
      if (there !== undefined) {
        this.#emit({ kind: "delete", path: this.#path(there), isDirectory: this.#isDirectory(there) });
        this.#destroy(there);
      }
      this.#emit({ kind: "create", path: this.#newPath(n), isDirectory: now.isDirectory(n) });
      const node = this.#O + n;
      this.#alive[node] = 1;
      this.#parent[node] = at;
      if (p < 0) this.#rootOfNode[node] = this.#rootOfNew[n];
      children.set(key, node);
      this.#maps.set(node, new Map());
      this.#placed(n, node);
    }
  }

  #placed(n: number, node: number): void {
    this.#modelOf[n] = node;
    this.#placedAs[node] = n;
    for (let c = this.#newFirst[n]; c >= 0; c = this.#newNext[c]) this.#queue.push(c);
  }

  /** Moves mover `o` to `key` under `at`, as new entry `n`. */
  #move(o: number, at: number, key: string, n: number): void {
    const from = this.#parent[o];
    this.#children(from).delete(this.#key(o));
    const need = this.#need[o];
    for (let a = from; a >= 0 && a !== this.#V; a = this.#parent[a]) {
      if ((this.#need[a] -= need) === 0) this.#wake(a);
    }
    this.#need[o]--;
    this.#mover[o] = 0;
    this.#parent[o] = at;
    this.#children(at).set(key, o);
    this.#placedAs[o] = n;
    this.#wake(o); // its old place is free
  }

  #wake(node: number): void {
    const n = this.#waiting.get(node);
    if (n === undefined) return;
    this.#waiting.delete(node);
    this.#queue.push(n);
  }

  /**
   * Everything left waits: force the wait with the fewest movers in the way. Those movers lose
   * their partners (with everything paired under them), so their new entries are created instead.
   */
  #breakCycle(): void {
    let best = -1;
    for (const node of this.#waiting.keys()) if (best < 0 || this.#need[node] < this.#need[best]) best = node;
    const n = this.#waiting.get(best)!;
    this.#waiting.delete(best);
    const need = this.#need[best];
    this.#forEachNode(best, (node) => {
      if (node >= this.#O) return;
      const partner = this.#pairOld[node];
      if (partner >= 0) this.#pairNew[partner] = -1;
      this.#pairOld[node] = -1;
      this.#mover[node] = 0;
      this.#need[node] = 0;
    });
    for (let a = this.#parent[best]; a >= 0 && a !== this.#V; a = this.#parent[a]) {
      if ((this.#need[a] -= need) === 0) this.#wake(a);
    }
    this.#queue.push(n);
  }

  /** Gives up a node and its subtree (replaced, or deleted). */
  #destroy(node: number): void {
    this.#children(this.#parent[node]).delete(this.#key(node));
    this.#forEachNode(node, (x) => (this.#alive[x] = 0));
  }

  /** Calls `fn` for `node` and every live node under it. */
  #forEachNode(node: number, fn: (node: number) => void): void {
    const stack = [node];
    while (stack.length > 0) {
      const x = stack.pop()!;
      fn(x);
      const map = this.#maps.get(x);
      if (map) { for (const c of map.values()) stack.push(c); }
      else if (x < this.#O) { for (let c = this.#oldFirst[x]; c >= 0; c = this.#oldNext[c]) stack.push(c); }
    }
  }

  /** A node's children by name key, built from the old listing before they first change. */
  #children(node: number): Map<string, number> {
    let map = this.#maps.get(node);
    if (map) return map;
    map = new Map();
    if (node === this.#V) {
      this.#oldRoots.forEach((o, r) => {
        if (o >= 0) map!.set(String(r), o);
      });
    } else {
      for (let c = this.#oldFirst[node]; c >= 0; c = this.#oldNext[c]) map.set(nameKey(this.#old, c), c);
    }
    this.#maps.set(node, map);
    return map;
  }

  /** A node's key in its parent's map. */
  #key(node: number): string {
    const r = this.#rootOfNode[node];
    if (r >= 0 && this.#parent[node] === this.#V) return String(r);
    const n = this.#placedAs[node];
    return n >= 0 ? nameKey(this.#new, n) : nameKey(this.#old, node);
  }

  #isDirectory(node: number): boolean {
    return node < this.#O ? this.#old.isDirectory(node) : this.#new.isDirectory(node - this.#O);
  }

  /** A node's path in the model now. */
  #path(node: number): string {
    const names: string[] = [];
    let x = node;
    for (; this.#parent[x] !== this.#V; x = this.#parent[x]) {
      const n = this.#placedAs[x];
      names.push(n >= 0 ? entryName(this.#new, n) : entryName(this.#old, x));
    }
    let path = this.#header.roots[this.#rootOfNode[x]];
    for (let i = names.length - 1; i >= 0; i--) path = join(path, names[i]);
    return path;
  }

  /** A new entry's path. */
  #newPath(n: number): string {
    const known = this.#newPaths[n];
    if (known !== undefined) return known;
    const p = this.#new.parent[n];
    const path = p < 0 ? this.#header.roots[this.#rootOfNew[n]] : join(this.#newPath(p), entryName(this.#new, n));
    if (this.#new.isDirectory(n)) this.#newPaths[n] = path;
    return path;
  }

  #emit(event: WatchEvent): void {
    this.#events.push(event);
  }

  // ---- the rest ----

  /** Old entries still unpaired: a `delete` for the top of each such subtree. */
  #deleteRest(): void {
    for (let o = 0; o < this.#O; o++) {
      if (!this.#alive[o] || this.#pairOld[o] >= 0) continue;
      const p = this.#parent[o];
      if (p !== this.#V && p < this.#O && this.#pairOld[p] < 0) continue; // its parent goes
      this.#emit({ kind: "delete", path: this.#path(o), isDirectory: this.#old.isDirectory(o) });
    }
  }

  /** Paired files (not directories) with another size or mtime, or changed too close to the walk. */
  #modified(): void {
    const old = this.#old, now = this.#new;
    const racyFrom = this.#header.startMs - RACY_MS, racyTo = this.#header.endMs + RACY_MS;
    for (let n = 0; n < now.count; n++) {
      const o = this.#pairNew[n];
      if (o < 0 || now.type[n] === FILE_TYPE.DIRECTORY) continue;
      const mtimeMs = old.mtimeSec[o] * 1000 + old.mtimeNsec[o] / 1e6;
      if (
        old.size[o] !== now.size[n] || old.mtimeSec[o] !== now.mtimeSec[n] || old.mtimeNsec[o] !== now.mtimeNsec[n] ||
        (mtimeMs >= racyFrom && mtimeMs <= racyTo && !this.#fine.has(old.dev[o])) ||
        !sameInode(old, o, now, n) // a root file replaced
      ) {
        this.#emit({ kind: "modify", path: this.#newPath(n), isDirectory: false });
      }
    }
  }
}

function sameName(a: EntryTable, i: number, b: EntryTable, j: number): boolean {
  const as = a.nameStart[i], length = a.nameEnd[i] - as, bs = b.nameStart[j];
  if (b.nameEnd[j] - bs !== length) return false;
  const an = a.names, bn = b.names;
  for (let k = 0; k < length; k++) if (an[as + k] !== bn[bs + k]) return false;
  return true;
}

function sameInode(a: EntryTable, i: number, b: EntryTable, j: number): boolean {
  return a.inoLow[i] === b.inoLow[j] && a.inoHigh[i] === b.inoHigh[j] && a.dev[i] === b.dev[j] &&
    a.type[i] === b.type[j];
}

/** A name's exact bytes as a string key (one char per byte): names that are not UTF-8 stay distinct. */
function nameKey(t: EntryTable, i: number): string {
  const s = t.nameStart[i], e = t.nameEnd[i], b = t.names;
  let any = 0;
  for (let k = s; k < e; k++) any |= b[k];
  if (any < 0x80) return decodeName(b, s, e); // ASCII: the same string, from the fast path
  let key = "";
  for (let k = s; k < e; k++) key += String.fromCharCode(b[k]);
  return key;
}

/** A name as text for a path (UTF-8; bytes that are not become U+FFFD, as in event names). */
function entryName(t: EntryTable, i: number): string {
  return decodeName(t.names, t.nameStart[i], t.nameEnd[i]);
}

function inodeKey(t: EntryTable, i: number, mainDev: number): number | string {
  const high = t.inoHigh[i];
  return t.dev[i] === mainDev && high < 2 ** 21 ? high * 2 ** 32 + t.inoLow[i] : `${t.dev[i]}:${high}:${t.inoLow[i]}`;
}
