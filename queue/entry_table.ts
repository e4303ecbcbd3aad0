/**
 * {@linkcode EntryTable}: the entries of walked trees in columns (typed arrays, no object per
 * entry), as a snapshot file decodes to and as a walk of today's trees fills it, so the two can be
 * compared without allocating per entry.
 *
 * @module
 */
import { FILE_TYPE } from "./fs_calls.ts";

/** What a snapshot records of one entry (a {@linkcode Statx} has these fields). */
export interface EntryStat {
  /** One of {@linkcode FILE_TYPE}. */
  readonly type: number;
  /** The device: major * 2^20 + minor. */
  readonly dev: number;
  /** The inode number's high and low 32 bits. */
  readonly inoHigh: number;
  readonly inoLow: number;
  readonly size: number;
  /** Modification time: seconds since the epoch and nanoseconds. */
  readonly mtimeSec: number;
  readonly mtimeNsec: number;
}

/** Where entries go as a walk finds them, parents before their children. */
export interface EntrySink {
  /**
   * Records one entry.
   * @param parent The index of the parent directory's entry, -1 for a root.
   * @param names Bytes holding the name (a root's is empty) at `[start, end)`; not kept.
   * @returns The entry's index: 0, 1, 2... in the order of the calls.
   */
  add(parent: number, names: Uint8Array, start: number, end: number, st: EntryStat): number;
}

/** What a snapshot says besides its entries. */
export interface SnapshotHeader {
  /** The absolute paths walked; the first entries are theirs, in this order. */
  readonly roots: readonly string[];
  /** Whether symbolic links were followed. */
  readonly followSymlinks: boolean;
  /** When the walk started and ended, in ms since the epoch (a file changed in between may be missed). */
  readonly startMs: number;
  readonly endMs: number;
}

/** Entries in columns: entry `i` is `parent[i]`, `type[i]`, ... Its name is `names[nameStart[i], nameEnd[i])`. */
export class EntryTable implements EntrySink {
  count = 0;
  parent: Int32Array;
  type: Uint8Array;
  dev: Float64Array;
  inoHigh: Uint32Array;
  inoLow: Uint32Array;
  size: Float64Array;
  mtimeSec: Float64Array;
  mtimeNsec: Uint32Array;
  nameStart: Uint32Array;
  nameEnd: Uint32Array;
  /** The bytes the names are in: a copy for a walk, the file's own bytes for a decoded snapshot. */
  names: Uint8Array;
  #namesLength = 0;

  /**
   * An empty table.
   * @param capacity Entries it holds before growing.
   * @param names The bytes names will be referred to in ({@linkcode addRef}); else names are copied in.
   */
  constructor(capacity = 1024, names?: Uint8Array) {
    capacity = Math.max(capacity, 1);
    this.parent = new Int32Array(capacity);
    this.type = new Uint8Array(capacity);
    this.dev = new Float64Array(capacity);
    this.inoHigh = new Uint32Array(capacity);
    this.inoLow = new Uint32Array(capacity);
    this.size = new Float64Array(capacity);
    this.mtimeSec = new Float64Array(capacity);
    this.mtimeNsec = new Uint32Array(capacity);
    this.nameStart = new Uint32Array(capacity);
    this.nameEnd = new Uint32Array(capacity);
    this.names = names ?? new Uint8Array(capacity * 16);
  }

  /** Appends an entry, copying its name. */
  add(parent: number, names: Uint8Array, start: number, end: number, st: EntryStat): number {
    const length = end - start;
    let at = this.#namesLength;
    if (at + length > this.names.length) {
      const grown = new Uint8Array(Math.max(this.names.length * 2, at + length));
      grown.set(this.names.subarray(0, at));
      this.names = grown;
    }
    const out = this.names;
    for (let i = start; i < end; i++) out[at++] = names[i];
    this.#namesLength = at;
    return this.addRef(
      parent,
      at - length,
      at,
      st.type,
      st.dev,
      st.inoHigh,
      st.inoLow,
      st.size,
      st.mtimeSec,
      st.mtimeNsec,
    );
  }

  /** Appends an entry whose name is already in {@linkcode names} at `[start, end)`. */
  addRef(
    parent: number,
    start: number,
    end: number,
    type: number,
    dev: number,
    inoHigh: number,
    inoLow: number,
    size: number,
    mtimeSec: number,
    mtimeNsec: number,
  ): number {
    const i = this.count;
    if (i === this.parent.length) this.#grow();
    this.parent[i] = parent;
    this.type[i] = type;
    this.dev[i] = dev;
    this.inoHigh[i] = inoHigh;
    this.inoLow[i] = inoLow;
    this.size[i] = size;
    this.mtimeSec[i] = mtimeSec;
    this.mtimeNsec[i] = mtimeNsec;
    this.nameStart[i] = start;
    this.nameEnd[i] = end;
    this.count = i + 1;
    return i;
  }

  /** Whether entry `i` is a directory. */
  isDirectory(i: number): boolean {
    return this.type[i] === FILE_TYPE.DIRECTORY;
  }

  /**
   * The children of every entry, in the order they were added: `first[i]` is entry `i`'s first
   * child (-1 for none), `next[c]` the sibling after `c`. Roots have no parent, so no list holds them.
   */
  children(): { first: Int32Array; next: Int32Array } {
    const n = this.count, first = new Int32Array(n).fill(-1), next = new Int32Array(n).fill(-1);
    for (let i = n - 1; i >= 0; i--) {
      const p = this.parent[i];
      if (p < 0) continue;
      next[i] = first[p];
      first[p] = i;
    }
    return { first, next };
  }

  #grow(): void {
    const size = this.parent.length * 2;
    const grow = <T extends Int32Array | Uint8Array | Uint32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.parent = grow(this.parent);
    this.type = grow(this.type);
    this.dev = grow(this.dev);
    this.inoHigh = grow(this.inoHigh);
    this.inoLow = grow(this.inoLow);
    this.size = grow(this.size);
    this.mtimeSec = grow(this.mtimeSec);
    this.mtimeNsec = grow(this.mtimeNsec);
    this.nameStart = grow(this.nameStart);
    this.nameEnd = grow(this.nameEnd);
  }
}
