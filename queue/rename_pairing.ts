/**
 * Pairs the two halves of a rename — `MOVED_FROM` and `MOVED_TO`, which share a cookie — and
 * decides when a `MOVED_FROM` has no partner (the thing moved out of the watched trees).
 *
 * The kernel queues both halves from inside one rename(2), while it holds the locks of both parent
 * directories: `MOVED_FROM`, then `MOVED_TO`, then `MOVE_SELF` on the moved object's own watch. So a
 * half can only be separated from its partner by a read boundary, never by much time. A held
 * `MOVED_FROM` is known to have no partner as soon as any of these comes after it:
 * - a `CREATE`, `DELETE`, `MOVED_FROM` or `MOVED_TO` in the same directory (those need the lock
 *   the rename held, so they were queued after it);
 * - the `MOVE_SELF` of the moved directory (queued after the `MOVED_TO`, if there was one);
 * - the end of the batch after the one it came in (its partner would have been in that read);
 * - a timeout, which the caller runs while no batch is coming (see `RENAME_WAIT_MS`).
 * Nothing else waits behind a held half: records that prove nothing pass through at once.
 *
 * @module
 */

/**
 * How long a `MOVED_FROM` may wait for its `MOVED_TO` while no read is coming: 50 ms. The halves
 * are queued about a microsecond apart by one rename(2), so a partner that exists is in the next
 * read; the wait covers only the reader thread being descheduled between two reads on a busy
 * machine. It delays nothing but the `delete` of a file moved out of the watched trees, as
 * records that follow are not held behind it.
 */
export const RENAME_WAIT_MS = 50;

const NAMESPACE = 0x100 | 0x200 | 0x40 | 0x80; // CREATE | DELETE | MOVED_FROM | MOVED_TO
const MOVE_SELF = 0x800;
const MOVED_TO = 0x80;

/** A held `MOVED_FROM`: where the name was, and the mask (with `ISDIR`). */
export interface MoveHalf {
  readonly wd: number;
  readonly mask: number;
  readonly cookie: number;
  readonly name: string;
}

interface Held extends MoveHalf {
  batch: number;
}

/**
 * The pairing state: feed it every record of a batch in order, then call {@linkcode endBatch}.
 * Pure: it knows only wds, names and cookies.
 */
export class RenamePairing {
  readonly #held = new Map<number, Held>();
  readonly #parentOf: (wd: number) => { wd: number; name: string } | undefined;
  #batch = 0;

  /**
   * @param parentOf For a watched directory's wd, the wd of its parent and its name there: lets a
   *   `MOVE_SELF` prove that the directory left. Without it only the other proofs apply.
   */
  constructor(parentOf: (wd: number) => { wd: number; name: string } | undefined = () => undefined) {
    this.#parentOf = parentOf;
  }

  /** How many `MOVED_FROM` halves are waiting for a partner. */
  get size(): number {
    return this.#held.size;
  }

  /** Holds a `MOVED_FROM` until its partner comes or it is proven to have none. */
  from(wd: number, mask: number, cookie: number, name: string): void {
    this.#held.set(cookie, { wd, mask, cookie, name, batch: this.#batch });
  }

  /** For a `MOVED_TO`: its held partner (taken out), or undefined when it came from outside. */
  to(cookie: number): MoveHalf | undefined {
    const half = this.#held.get(cookie);
    if (half) this.#held.delete(cookie);
    return half;
  }

  /**
   * For any other record (and before {@linkcode from}/{@linkcode to}): the held halves it proves
   * were moved out, taken out. Call before handling the record, so they come first. A `MOVED_TO`
   * proves nothing about the half with its own cookie.
   */
  proven(wd: number, mask: number, cookie = 0): MoveHalf[] | undefined {
    if (this.#held.size === 0) return undefined;
    let out: MoveHalf[] | undefined;
    const self = mask & MOVE_SELF ? this.#parentOf(wd) : undefined;
    for (const [held, half] of this.#held) {
      if (held === cookie && mask & MOVED_TO) continue;
      const same = (mask & NAMESPACE && half.wd === wd) || (self && self.wd === half.wd && self.name === half.name);
      if (!same) continue;
      this.#held.delete(held);
      (out ??= []).push(half);
    }
    return out;
  }

  /** Ends a batch: returns the halves that waited through a whole further batch, taken out. */
  endBatch(): MoveHalf[] | undefined {
    const batch = this.#batch++;
    if (this.#held.size === 0) return undefined;
    let out: MoveHalf[] | undefined;
    for (const [cookie, half] of this.#held) {
      if (half.batch >= batch) continue;
      this.#held.delete(cookie);
      (out ??= []).push(half);
    }
    return out;
  }

  /** Takes out every held half (on timeout, overflow, or close), oldest first. */
  flush(): MoveHalf[] {
    const out = [...this.#held.values()];
    this.#held.clear();
    return out;
  }
}
