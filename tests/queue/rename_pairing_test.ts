import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { IN } from "../../queue/inotify_mask.ts";
import { InotifyCursor } from "../../queue/inotify_records.ts";
import { type MoveHalf, RenamePairing } from "../../queue/rename_pairing.ts";
import { inotifyBytes, type RecordSpec } from "../fixtures/inotify.ts";

/** Drives a pairing over batches of fixture bytes, as the watcher does; returns what it decided. */
function pair(batches: RecordSpec[][], parentOf?: (wd: number) => { wd: number; name: string } | undefined) {
  const pairing = new RenamePairing(parentOf);
  const out: string[] = [];
  const gone = (halves: MoveHalf[] | undefined) => halves?.forEach((h) => out.push(`out ${h.wd}/${h.name}`));
  for (const records of batches) {
    const bytes = inotifyBytes(...records);
    const c = new InotifyCursor(bytes);
    c.reset(bytes.byteLength);
    while (c.next()) {
      gone(pairing.proven(c.wd, c.mask, c.cookie));
      if (c.mask & IN.MOVED_FROM) pairing.from(c.wd, c.mask, c.cookie, c.name);
      else if (c.mask & IN.MOVED_TO) {
        const from = pairing.to(c.cookie);
        out.push(from ? `rename ${from.wd}/${from.name} -> ${c.wd}/${c.name}` : `in ${c.wd}/${c.name}`);
      } else out.push(`event ${c.wd}/${c.name}`);
    }
    gone(pairing.endBatch());
  }
  return { out, pairing };
}

describe("RenamePairing", () => {
  it("pairs MOVED_FROM and MOVED_TO by cookie within one read", () => {
    const { out } = pair([[
      { wd: 1, mask: IN.MOVED_FROM, cookie: 7, name: "a" },
      { wd: 2, mask: IN.MOVED_TO, cookie: 7, name: "b" },
    ]]);
    assert.deepEqual(out, ["rename 1/a -> 2/b"]);
  });

  it("pairs halves that arrive in different reads", () => {
    const { out } = pair([
      [{ wd: 1, mask: IN.CREATE, name: "x" }, { wd: 1, mask: IN.MOVED_FROM, cookie: 9, name: "a" }],
      [{ wd: 1, mask: IN.MOVED_TO, cookie: 9, name: "b" }],
    ]);
    assert.deepEqual(out, ["event 1/x", "rename 1/a -> 1/b"]);
  });

  it("does not hold unrelated records behind a held MOVED_FROM", () => {
    const { out } = pair([[
      { wd: 1, mask: IN.MOVED_FROM, cookie: 3, name: "a" },
      { wd: 5, mask: IN.MODIFY, name: "other" },
      { wd: 1, mask: IN.MODIFY, name: "same-dir-write" }, // a write needs no directory lock: no proof
      { wd: 4, mask: IN.MOVED_TO, cookie: 3, name: "b" },
    ]]);
    assert.deepEqual(out, ["event 5/other", "event 1/same-dir-write", "rename 1/a -> 4/b"]);
  });

  it("a namespace record in the same directory proves a move out, and comes after it", () => {
    const { out, pairing } = pair([[
      { wd: 1, mask: IN.MOVED_FROM, cookie: 3, name: "a" },
      { wd: 1, mask: IN.CREATE, name: "a" },
    ]]);
    assert.deepEqual(out, ["out 1/a", "event 1/a"]);
    assert.equal(pairing.size, 0);
  });

  it("the MOVE_SELF of the moved directory proves a move out", () => {
    const { out } = pair([[
      { wd: 1, mask: IN.MOVED_FROM | IN.ISDIR, cookie: 3, name: "d" },
      { wd: 6, mask: IN.MOVE_SELF },
    ]], (wd) => (wd === 6 ? { wd: 1, name: "d" } : undefined));
    assert.deepEqual(out, ["out 1/d", "event 6/"]);
  });

  it("holds a MOVED_FROM through the end of its own read, gives it up after the next", () => {
    const { out, pairing } = pair([
      [{ wd: 1, mask: IN.MOVED_FROM, cookie: 3, name: "a" }],
      [{ wd: 2, mask: IN.MODIFY, name: "x" }],
    ]);
    assert.deepEqual(out, ["event 2/x", "out 1/a"]);
    assert.equal(pairing.size, 0);
  });

  it("a MOVED_TO without a held partner is a move in; flush() gives up every held half", () => {
    const { out, pairing } = pair([[
      { wd: 2, mask: IN.MOVED_TO, cookie: 11, name: "in" },
      { wd: 1, mask: IN.MOVED_FROM, cookie: 12, name: "p" },
      { wd: 3, mask: IN.MOVED_FROM, cookie: 13, name: "q" },
    ]]);
    assert.deepEqual(out, ["in 2/in"]);
    assert.deepEqual(pairing.flush().map((h) => h.name), ["p", "q"]);
    assert.equal(pairing.size, 0);
  });
});
