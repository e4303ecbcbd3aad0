/**
 * {@linkcode Settler}: the `settle` stage of `watch()` — holds events until they have been quiet for
 * `ms`, then folds each path's events into the fewest that mean the same.
 *
 * Pure: no timers, no I/O. The driver hands it every event with the current time, asks
 * {@linkcode Settler.due} when to come back, and calls {@linkcode Settler.flush} then (or at once,
 * for `sync()` and close).
 *
 * How it folds. Held events are applied to a sparse tree of the paths they touch: one node per
 * file or directory, which is either *base* (it existed when the window opened, and remembers where:
 * its base parent node and name) or *new* (created in the window). A directory's rename moves one
 * node, so what happens inside it later lands on the same nodes. At a flush the net effect is read
 * off the tree — a base node elsewhere is a `rename`, a base node gone is a `delete`, a new node is
 * a `create`, a written base node is a `modify` — and these are put in an order a consumer can
 * apply: each is replayed on the window's starting state, in the order of the node's last raw event,
 * as soon as it is valid there (its parent exists, its name is free, it is not moved into itself,
 * a directory is not deleted while something that stays is still inside). A `create` on the name of
 * a deleted file becomes one `modify` (delete + create, and the atomic save: a temporary file renamed
 * over the real one). Writes, attribute changes and reads come last, at each node's final path.
 *
 * When no order exists without a name the raw events never used (names swapped through a third,
 * `mv d d.old; mkdir d; mv d.old d/old`), the window's creates, deletes and renames are cut into
 * parts that each have one — a cut just before each event that closes such a cycle — and each part
 * is folded on its own; writes are still folded over the whole window.
 *
 * @module
 */
import type { WatchEvent } from "./watch_options.ts";

// Node flags. What a node is:
const DIR = 1;
const NEW = 1 << 1; // created in this window (else base: it existed when the window opened)
const GONE = 1 << 2; // deleted, replaced, or inside something that was
const UNSEEN = 1 << 3; // base, known only as the entry a rename replaced
// What was done to it (content and reads; structure is its position in the tree):
const MODIFY = 1 << 4;
const CLOSE_WRITE = 1 << 5;
const ATTRIB = 1 << 6;
const OPEN = 1 << 7;
const ACCESS = 1 << 8;
const CLOSE_NOWRITE = 1 << 9;
// Flush only: the replay of the ops on the starting state.
const O_IN = 1 << 10; // present in the replayed state
const O_DONE = 1 << 11; // its op is out (or it needs none)
const O_REPLACED = 1 << 12; // gone, and a create or rename onto its name removes it

/** A file or directory the held events touched. */
class Node {
  /** Current path (the key in the index) while present. */
  path: string;
  /** Current name in `parent`. */
  name: string;
  parent: Node | null;
  /** Present children: first, and a doubly linked list through next/prev. */
  kid: Node | null = null;
  next: Node | null = null;
  prev: Node | null = null;
  /** Base nodes: the slot they had when the window opened. During a flush: their replayed slot. */
  baseParent: Node | null = null;
  baseName = "";
  flags: number;
  /** Index in the op log of this node's last structural event. */
  seq = -1;
  /** Flush only: replayed children by name, and the replayed path (valid while oEpoch is current). */
  oKids: Map<string, Node> | null = null;
  oPath = "";
  oEpoch = -1;

  constructor(path: string, name: string, parent: Node | null, flags: number) {
    this.path = path;
    this.name = name;
    this.parent = parent;
    this.flags = flags;
  }
}

function link(parent: Node, node: Node): void {
  node.parent = parent;
  node.prev = null;
  node.next = parent.kid;
  if (parent.kid !== null) parent.kid.prev = node;
  parent.kid = node;
}

function unlink(node: Node): void {
  const parent = node.parent;
  if (parent === null) return;
  if (node.prev !== null) node.prev.next = node.next;
  else if (parent.kid === node) parent.kid = node.next;
  if (node.next !== null) node.next.prev = node.prev;
  node.prev = node.next = null;
}

/**
 * Holds watch events and folds them (the `settle` option of `watch()`).
 *
 * Folding rules, per file or directory (an object, followed across renames):
 * - create + writes/attributes/close_write (+ renames) → one `create` at its last path; create …
 *   delete → nothing (and nothing about what it held);
 * - several writes → one `modify`; attributes only → `attrib`; `close_write` folds into the
 *   `modify` it ends (quiet already says the writer is done) and stands alone only when no `modify`
 *   came with it (a file opened for writing and closed unwritten, or a watcher asked for
 *   `close_write` only). Writes of something later deleted are dropped;
 * - delete then create of a file's name, or a new file renamed over an existing one (an editor's
 *   atomic save) → one `modify` of that name, nothing about the temporary;
 * - renames a → b → c → one `rename` a → c; a → b → a → nothing, or `modify` a if written;
 * - a directory's `delete` or `rename` stands for its subtree (events inside it before and after fold
 *   onto the same objects); a deleted directory's deleted contents are not reported one by one;
 * - `open`, `access` and `close_nowrite` change nothing: each is reported at most once per object
 *   and flush, after its changes, at its final path; not at all for something deleted;
 * - `overflow`, `error` and any other kind are never held: held events go out first.
 * Output order: creates, deletes and renames in an order that applies (a directory before its
 * contents, a rename before events under its new path), then writes, then reads.
 *
 * Paths are absolute (as `watch()` reports them).
 *
 * @example Folding an atomic save
 * ```ts ignore
 * const settler = new Settler(50);
 * const out: WatchEvent[] = [];
 * settler.add({ kind: "create", path: "/w/.a.tmp", isDirectory: false }, 0, out);
 * settler.add({ kind: "modify", path: "/w/.a.tmp", isDirectory: false }, 1, out);
 * settler.add({ kind: "rename", path: "/w/a", oldPath: "/w/.a.tmp", isDirectory: false }, 2, out, true);
 * settler.due; // 52
 * settler.flush(out); // out: [{ kind: "modify", path: "/w/a", isDirectory: false }]
 * ```
 */
export class Settler {
  /** Quiet time, in the unit of the times passed to {@linkcode add} (ms). */
  readonly ms: number;
  readonly #index = new Map<string, Node>(); // present nodes by current path
  readonly #root = new Node("", "", null, DIR);
  #nodes: Node[] = []; // every node made in this window, in order
  #ops: Node[] = []; // a node per structural event, in order (a node counts at its last: seq)
  #journal: WatchEvent[] = []; // the creates, deletes and renames as they came (for the fallback)
  #replaced: boolean[] = []; // beside each journal entry: the rename's `replaced`
  #scratch: Settler | undefined; // the fallback folds parts of the journal with it
  #scratchOut: WatchEvent[] = [];
  #renamed = false; // a rename in this window: paths may differ from where things started
  #gone = 0; // base nodes gone in this window
  #lastDir: Node | null = null; // the directory of the last path made
  #held = 0;
  #first = 0;
  #last = 0;
  #epoch = 0; // flush: bumped by every replayed rename (cached replayed paths go stale)
  #fallbacks = 0;

  /**
   * @param ms Quiet time before held events are flushed; they are never held more than `10 * ms`.
   * @throws {RangeError} Unless `ms` is a positive finite number.
   */
  constructor(ms: number) {
    if (!(typeof ms === "number" && ms > 0 && Number.isFinite(ms))) {
      throw new RangeError(`Cannot settle events: ms must be a positive number, got ${String(ms)}`);
    }
    this.ms = ms;
  }

  /** How many events are held (as they came, before folding). */
  get held(): number {
    return this.#held;
  }

  /**
   * Flushes whose net changes had no order that applies without a name the raw events never used
   * (two names swapped through a third), so their creates, deletes and renames were folded in parts.
   */
  get fallbacks(): number {
    return this.#fallbacks;
  }

  /**
   * When the held events are due: `ms` after the last one, at most `10 * ms` after the first one;
   * `Infinity` when none is held.
   */
  get due(): number {
    if (this.#held === 0) return Infinity;
    const quiet = this.#last + this.ms, limit = this.#first + 10 * this.ms;
    return quiet < limit ? quiet : limit;
  }

  /**
   * Holds one event. If the held events were due at `now`, they are flushed into `out` first (they
   * never fold with a later one). `overflow`, `error` and unknown kinds are not held: everything
   * held is flushed into `out`, then the event itself.
   *
   * @param event A watch event, as `watch()` produced it (absolute paths).
   * @param now The current time in ms (any clock, as long as it is always the same one).
   * @param out Where flushed events go.
   * @param replaced `rename` only: whether it replaced an entry at its new path (the driver's tree
   *   knows). Default true: an entry the window never saw may have been there, and a later flush
   *   then reports its `delete`.
   */
  add(event: WatchEvent, now: number, out: WatchEvent[], replaced = true): void {
    if (this.#held !== 0 && now >= this.due) this.flush(out);
    if (!this.#hold(event, replaced)) { // overflow, error, and kinds this does not know
      this.flush(out);
      out.push(event);
      return;
    }
    if (this.#held++ === 0) this.#first = now;
    this.#last = now;
  }

  /**
   * Appends every held event, folded, to `out`, and holds nothing after. Call it when
   * {@linkcode due} has come, and to force it (`sync()`, close, overflow).
   *
   * @param out Where the events go.
   */
  flush(out: WatchEvent[]): void {
    if (this.#held === 0) return;
    const start = out.length;
    if (this.#fold(out)) this.#changes(out);
    else {
      this.#fallbacks++;
      out.length = start;
      this.#foldInParts(out);
      this.#changes(out);
      dropRepeats(out, start);
    }
    this.#reset();
  }

  // ---- holding ----

  /** Applies one event to the held tree; false for a kind that is never held. */
  #hold(event: WatchEvent, replaced: boolean): boolean {
    switch (event.kind) {
      case "modify":
        this.#resolve(event.path, event.isDirectory).flags |= MODIFY;
        return true;
      case "close_write":
        this.#resolve(event.path, event.isDirectory).flags |= CLOSE_WRITE;
        return true;
      case "attrib":
        this.#resolve(event.path, event.isDirectory).flags |= ATTRIB;
        return true;
      case "open":
        this.#resolve(event.path, event.isDirectory).flags |= OPEN;
        return true;
      case "access":
        this.#resolve(event.path, event.isDirectory).flags |= ACCESS;
        return true;
      case "close_nowrite":
        this.#resolve(event.path, event.isDirectory).flags |= CLOSE_NOWRITE;
        return true;
      case "create":
        this.#create(event);
        break;
      case "delete":
        this.#delete(event);
        break;
      case "rename":
        this.#rename(event, replaced);
        break;
      default:
        return false;
    }
    this.#journal.push(event);
    this.#replaced.push(replaced);
    return true;
  }

  /** The node at `path`, made (as base, or new under a new directory) if no event touched it yet. */
  #resolve(path: string, isDirectory: boolean): Node {
    const known = this.#index.get(path);
    if (known !== undefined) return known;
    const at = path.lastIndexOf("/");
    const parent = this.#parentOf(path, at);
    const node = new Node(path, path.slice(at + 1), parent, isDirectory ? DIR : 0);
    if (parent.flags & NEW) this.#op(node, NEW); // a consistent stream created it: new too
    else node.baseParent = parent, node.baseName = node.name;
    link(parent, node);
    this.#index.set(path, node);
    this.#nodes.push(node);
    return node;
  }

  /** The directory of `path` (whose last "/" is at `at`): most events in a row are in the same one. */
  #parentOf(path: string, at: number): Node {
    if (at <= 0) return this.#root;
    const last = this.#lastDir;
    if (last !== null && last.path.length === at && !(last.flags & GONE) && path.startsWith(last.path)) return last;
    return this.#lastDir = this.#resolve(path.slice(0, at), true);
  }

  /** Records a structural event of `node` in the op log. */
  #op(node: Node, flags: number): void {
    node.flags |= flags;
    node.seq = this.#ops.length;
    this.#ops.push(node);
  }

  #create(event: WatchEvent): void {
    const path = event.path;
    const known = this.#index.get(path);
    if (known !== undefined) this.#remove(known); // a create over a known entry replaced it
    const at = path.lastIndexOf("/");
    const parent = this.#parentOf(path, at);
    const node = new Node(path, path.slice(at + 1), parent, event.isDirectory ? DIR : 0);
    link(parent, node);
    this.#index.set(path, node);
    this.#nodes.push(node);
    this.#op(node, NEW);
  }

  #delete(event: WatchEvent): void {
    const node = this.#resolve(event.path, event.isDirectory);
    this.#remove(node);
  }

  #rename(event: WatchEvent, replaced: boolean): void {
    const path = event.path;
    if (event.oldPath === undefined) return this.#create(event); // not a rename a consumer could apply
    if (event.oldPath === path) return;
    const node = this.#resolve(event.oldPath, event.isDirectory);
    const at = path.lastIndexOf("/");
    const name = path.slice(at + 1);
    const parent = this.#parentOf(path, at);
    // Into itself, or over a directory above itself: no rename does that (events were lost).
    for (let up: Node | null = parent; up !== null; up = up.parent) if (up === node) return;
    const target = this.#index.get(path);
    if (target !== undefined) {
      for (let up = node.parent; up !== null; up = up.parent) if (up === target) return;
      this.#remove(target);
    } else if (replaced && !(parent.flags & NEW)) {
      // An entry no event mentioned was there: it is gone now (its delete may have to be said).
      const unseen = new Node(path, name, null, UNSEEN | GONE | (event.isDirectory ? DIR : 0));
      unseen.baseParent = parent;
      unseen.baseName = name;
      this.#nodes.push(unseen);
      this.#op(unseen, 0);
      this.#gone++;
    }
    unlink(node);
    link(parent, node);
    node.name = name;
    this.#rekey(node, path);
    this.#op(node, 0);
    this.#renamed = true;
  }

  /** Moves a present subtree to its new path in the index. */
  #rekey(node: Node, path: string): void {
    if (this.#index.get(node.path) === node) this.#index.delete(node.path);
    node.path = path;
    this.#index.set(path, node);
    for (let kid = node.kid; kid !== null; kid = kid.next) this.#rekey(kid, path + "/" + kid.name);
  }

  /** Takes a present subtree out of the tree: everything in it is gone. */
  #remove(node: Node): void {
    if (node === this.#root) return;
    unlink(node);
    this.#removeOne(node);
    if (node.kid === null) return;
    const stack = [node];
    while (stack.length > 0) {
      for (let kid = stack.pop()!.kid; kid !== null; kid = kid.next) this.#removeOne(kid), stack.push(kid);
    }
  }

  #removeOne(node: Node): void {
    if (this.#index.get(node.path) === node) this.#index.delete(node.path);
    if (node.flags & NEW) node.flags |= GONE;
    else this.#op(node, GONE), this.#gone++;
  }

  #reset(): void {
    this.#index.clear();
    this.#root.kid = null;
    this.#root.oKids = null;
    this.#root.flags = DIR;
    this.#nodes = [];
    this.#ops = [];
    this.#journal = [];
    this.#replaced = [];
    this.#renamed = false;
    this.#gone = 0;
    this.#lastDir = null;
    this.#held = 0;
  }

  // ---- flushing ----

  /**
   * The fallback: the journal cut into parts that each fold (a part ends where the next event would
   * close a cycle), each part's creates, deletes and renames folded on their own.
   */
  #foldInParts(out: WatchEvent[]): void {
    const scratch = this.#scratch ??= new Settler(this.ms);
    const journal = this.#journal, end = journal.length;
    for (let from = 0; from < end;) {
      if (scratch.#foldPart(this, from, end, out)) return;
      let lo = from + 1, hi = end; // [from, lo) folds, [from, hi) does not
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (scratch.#foldPart(this, from, mid, undefined)) lo = mid;
        else hi = mid;
      }
      if (!scratch.#foldPart(this, from, lo, out)) out.push(journal[from]); // (one event always folds)
      from = lo;
    }
  }

  /** Folds `of`'s journal entries [from, to) on this (empty) settler into `out`; false if they do not fold. */
  #foldPart(of: Settler, from: number, to: number, out: WatchEvent[] | undefined): boolean {
    for (let i = from; i < to; i++) this.#hold(of.#journal[i], of.#replaced[i]);
    const folded = this.#scratchOut;
    const ok = this.#fold(folded);
    if (ok && out !== undefined) { for (const event of folded) out.push(event); }
    folded.length = 0;
    this.#reset();
    return ok;
  }

  /**
   * Puts the net ops in an order that applies, replaying them on the starting state; false when
   * some cannot be ordered (the caller then folds the window in parts).
   */
  #fold(out: WatchEvent[]): boolean {
    const ops = this.#ops;
    if (!this.#renamed && this.#gone === 0) { // nothing moved or went: the creates, in order, as they came
      for (let i = 0; i < ops.length; i++) {
        const node = ops[i];
        if (node.seq === i && !(node.flags & GONE)) {
          out.push({ kind: "create", path: node.path, isDirectory: (node.flags & DIR) !== 0 });
        }
      }
      return true;
    }
    const root = this.#root;
    root.flags |= O_IN;
    this.#epoch = 0;
    // The starting state: every base node in its base slot.
    for (const node of this.#nodes) {
      if (node.flags & NEW) continue;
      const slots = node.baseParent!.oKids ??= new Map();
      const there = slots.get(node.baseName);
      if (there !== undefined && !(there.flags & UNSEEN)) {
        node.flags |= O_DONE; // two claims on one slot: only an inconsistent stream does this
        continue;
      }
      if (there !== undefined) there.flags = (there.flags & ~O_IN) | O_DONE;
      node.flags |= O_IN;
      slots.set(node.baseName, node);
    }
    // A gone entry in the slot where something will be is removed by that create or rename.
    for (const node of this.#nodes) {
      if (node.flags & GONE || !(node.flags & NEW || node.parent !== node.baseParent || node.name !== node.baseName)) {
        continue;
      }
      const there = node.parent!.oKids?.get(node.name);
      if (there !== undefined && there.flags & GONE) there.flags |= O_REPLACED;
    }
    let pending: Node[] = [];
    for (let i = 0; i < ops.length; i++) {
      const node = ops[i];
      if (node.seq === i && !this.#step(node, out)) pending.push(node);
    }
    while (pending.length > 0) {
      const blocked: Node[] = [];
      for (const node of pending) if (!this.#step(node, out)) blocked.push(node);
      if (blocked.length === pending.length) return false;
      pending = blocked;
    }
    return true;
  }

  /** Replays a node's net op if it applies now: true when done (or nothing to do). */
  #step(node: Node, out: WatchEvent[]): boolean {
    const flags = node.flags;
    if (flags & O_DONE) return true;
    if (flags & GONE) {
      if (flags & (NEW | O_REPLACED) || !(flags & O_IN)) return true;
      if (node.baseParent!.flags & GONE) return true; // goes with its directory (gone nodes stay put)
      if (this.#holdsSurvivor(node)) return false;
      out.push({ kind: "delete", path: this.#pathOf(node), isDirectory: (flags & DIR) !== 0 });
      this.#drop(node);
      return true;
    }
    const parent = node.parent!;
    const name = node.name;
    if (!(flags & NEW) && parent === node.baseParent && name === node.baseName) return true; // in place
    if (!(parent.flags & O_IN)) return false; // its new parent is not there yet
    const slots = parent.oKids ??= new Map();
    const there = slots.get(name);
    let merge = false; // a file over a gone file: one event says both
    if (there !== undefined) {
      if (!(there.flags & GONE) || this.#holdsSurvivor(there)) return false; // still there
      merge = !(there.flags & DIR) && !(flags & DIR);
    }
    if (flags & NEW) {
      if (there !== undefined && !merge) {
        out.push({ kind: "delete", path: this.#pathOf(there), isDirectory: (there.flags & DIR) !== 0 });
      }
      if (there !== undefined) this.#drop(there);
      node.baseParent = parent;
      node.baseName = name;
      node.flags |= O_IN | O_DONE;
      slots.set(name, node);
      out.push({ kind: merge ? "modify" : "create", path: this.#pathOf(node), isDirectory: (flags & DIR) !== 0 });
      return true;
    }
    for (let up: Node | null = parent; up !== null; up = up.baseParent) {
      if (up === node) return false; // its new parent is still inside it
    }
    if (there !== undefined && !merge) {
      out.push({ kind: "delete", path: this.#pathOf(there), isDirectory: (there.flags & DIR) !== 0 });
    }
    if (there !== undefined) this.#drop(there);
    const oldPath = this.#pathOf(node);
    node.baseParent!.oKids!.delete(node.baseName);
    node.baseParent = parent;
    node.baseName = name;
    node.flags |= O_DONE;
    slots.set(name, node);
    this.#epoch++;
    out.push({ kind: "rename", path: this.#pathOf(node), oldPath, isDirectory: (flags & DIR) !== 0 });
    return true;
  }

  /** Whether something that stays is inside `node` in the replayed state. */
  #holdsSurvivor(node: Node): boolean {
    if (node.oKids === null) return false;
    for (const kid of node.oKids.values()) {
      if (!(kid.flags & GONE) || this.#holdsSurvivor(kid)) return true;
    }
    return false;
  }

  /** Takes a gone subtree out of the replayed state. */
  #drop(node: Node): void {
    node.baseParent!.oKids!.delete(node.baseName);
    const stack = [node];
    while (stack.length > 0) {
      const n = stack.pop()!;
      n.flags = (n.flags & ~O_IN) | O_DONE;
      if (n.oKids !== null) { for (const kid of n.oKids.values()) stack.push(kid); }
    }
  }

  /** A node's path in the replayed state. */
  #pathOf(node: Node): string {
    if (!this.#renamed) return node.path; // nothing moved: the paths are the ones that came
    if (node === this.#root) return "";
    if (node.oEpoch === this.#epoch) return node.oPath;
    node.oPath = this.#pathOf(node.baseParent!) + "/" + node.baseName;
    node.oEpoch = this.#epoch;
    return node.oPath;
  }

  /** Writes, attributes and reads of what is there at the end, at its final path. */
  #changes(out: WatchEvent[]): void {
    for (const node of this.#nodes) {
      const flags = node.flags;
      if (flags & GONE || !(flags & (MODIFY | CLOSE_WRITE | ATTRIB | OPEN | ACCESS | CLOSE_NOWRITE))) continue;
      const path = node.path, isDirectory = (flags & DIR) !== 0;
      if (!(flags & NEW)) {
        if (flags & MODIFY) out.push({ kind: "modify", path, isDirectory });
        else if (flags & CLOSE_WRITE) out.push({ kind: "close_write", path, isDirectory });
        else if (flags & ATTRIB) out.push({ kind: "attrib", path, isDirectory });
      }
      if (flags & OPEN) out.push({ kind: "open", path, isDirectory });
      if (flags & ACCESS) out.push({ kind: "access", path, isDirectory });
      if (flags & CLOSE_NOWRITE) out.push({ kind: "close_nowrite", path, isDirectory });
    }
  }
}

const WRITES: Record<string, number> = { create: 3, modify: 3, close_write: 2, attrib: 1 };

/**
 * Drops a write-kind event that says nothing new (the fallback's parts fold on their own, so a file
 * created in one part can be saved over in the next): one at a path whose last event, with nothing
 * about it or a directory above it since, was its create or a write that covers it.
 */
function dropRepeats(out: WatchEvent[], start: number): void {
  const last = new Map<string, number>(); // path -> index (in the kept events) of the last event about it
  let kept = start;
  for (let i = start; i < out.length; i++) {
    const event = out[i];
    const path = event.path;
    const covers = WRITES[event.kind] === undefined || event.kind === "create" ? undefined : last.get(path);
    if (covers !== undefined && (WRITES[out[covers].kind] ?? 0) >= WRITES[event.kind]) {
      let since = false;
      for (let at = path.lastIndexOf("/"); at > 0 && !since; at = path.lastIndexOf("/", at - 1)) {
        since = (last.get(path.slice(0, at)) ?? -1) > covers;
      }
      if (!since) continue;
    }
    out[kept] = event;
    last.set(path, kept);
    if (event.oldPath !== undefined) last.set(event.oldPath, kept);
    kept++;
  }
  out.length = kept;
}
