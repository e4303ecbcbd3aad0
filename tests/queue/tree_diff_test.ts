import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EntryTable, type SnapshotHeader } from "../../queue/entry_table.ts";
import { FILE_TYPE } from "../../queue/fs_calls.ts";
import { diffTrees } from "../../queue/tree_diff.ts";
import type { WatchEvent } from "../../queue/watch_options.ts";
import { churn, differences, fill, memoryContents, MemoryFs, memoryTable, replay, Rng } from "../fixtures/churn.ts";
import { apply, show } from "../fixtures/watch.ts";

const ROOT = "/r";
const STAT = { type: FILE_TYPE.DIRECTORY, dev: 1, inoHigh: 0, inoLow: 2, size: 0, mtimeSec: 1, mtimeNsec: 0 };
const HEADER: SnapshotHeader = { roots: [ROOT], followSymlinks: false, startMs: 0, endMs: 0 };

/** Runs `change` on a copy of the tree `setup` makes; returns the diff, checked both ways. */
function diffOf(
  setup: (fs: MemoryFs) => void,
  change: (fs: MemoryFs) => void,
  { reuse, shuffle, what = "" }: { reuse?: Rng; shuffle?: Rng; what?: string } = {},
): WatchEvent[] {
  const fs = new MemoryFs(ROOT, reuse);
  setup(fs);
  const beforeTable = memoryTable(fs, shuffle);
  const before = memoryContents(fs);
  change(fs);
  const after = memoryContents(fs);
  const events = diffTrees(HEADER, { entries: beforeTable, roots: [0] }, {
    entries: memoryTable(fs, shuffle),
    roots: [0],
  });
  const context = () => `${what}\nevents:\n${events.map(show).join("\n")}`;
  // Shape: tests/fixtures/watch.ts apply(), which every watch() test uses.
  const shape = new Map([...before].map(([k, v]) => [k, v === "dir"]));
  for (const ev of events) apply(shape, ROOT, ev);
  assert.deepEqual(
    [...shape].sort(),
    [...after].map(([k, v]) => [k, v === "dir"]).sort(),
    `apply() of the events does not give the new tree\n${context()}`,
  );
  // Content: renames carry the right file, and every changed file is read again (create/modify).
  let replayed: Map<string, string>;
  try {
    replayed = replay(before, ROOT, events, after);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${context()}`);
  }
  const wrong = differences(replayed, after);
  assert.deepEqual(wrong, [], `a consumer applying the events is wrong about:\n${wrong.join("\n")}\n${context()}`);
  return events;
}

const files = (...names: string[]) => (fs: MemoryFs) => names.forEach((n) => fs.writeFileSync(`${ROOT}/${n}`, n));
const lines = (events: WatchEvent[]) => events.map(show);

describe("diffTrees()", () => {
  it("reports nothing for an unchanged tree, whatever order the listings come in", () => {
    const rng = new Rng(7);
    const events = diffOf((fs) => fill(fs, rng, ROOT, 5, 3, 3), () => {}, { shuffle: new Rng(8) });
    assert.deepEqual(events, []);
  });

  it("reports a rename chain a -> b, b -> c as b -> c first, then a -> b", () => {
    const events = diffOf(files("a", "b"), (fs) => {
      fs.renameSync(`${ROOT}/b`, `${ROOT}/c`);
      fs.renameSync(`${ROOT}/a`, `${ROOT}/b`);
    });
    assert.deepEqual(lines(events), ["rename /r/b -> /r/c", "rename /r/a -> /r/b"]);
  });

  it("breaks a swap a <-> b with one rename and one create (content read again)", () => {
    const events = diffOf(files("a", "b"), (fs) => {
      fs.renameSync(`${ROOT}/a`, `${ROOT}/t`);
      fs.renameSync(`${ROOT}/b`, `${ROOT}/a`);
      fs.renameSync(`${ROOT}/t`, `${ROOT}/b`);
    });
    assert.deepEqual(lines(events), ["rename /r/b -> /r/a", "create /r/b"]);
  });

  it("breaks a swap of two directories, recreating the smaller side's subtree", () => {
    const events = diffOf((fs) => {
      fs.mkdirSync(`${ROOT}/A`);
      fs.writeFileSync(`${ROOT}/A/1`, "1");
      fs.writeFileSync(`${ROOT}/A/2`, "2");
      fs.mkdirSync(`${ROOT}/B`);
      fs.writeFileSync(`${ROOT}/B/3`, "3");
    }, (fs) => {
      fs.renameSync(`${ROOT}/A`, `${ROOT}/T`);
      fs.renameSync(`${ROOT}/B`, `${ROOT}/A`);
      fs.renameSync(`${ROOT}/T`, `${ROOT}/B`);
    });
    assert.equal(events.filter((e) => e.kind === "rename").length, 1);
    assert.deepEqual(lines(events).slice(0, 1), ["rename /r/B -> /r/A/"]);
  });

  it("breaks a three-way cycle a -> b -> c -> a with two renames", () => {
    const events = diffOf(files("a", "b", "c"), (fs) => {
      fs.renameSync(`${ROOT}/a`, `${ROOT}/t`);
      fs.renameSync(`${ROOT}/c`, `${ROOT}/a`);
      fs.renameSync(`${ROOT}/b`, `${ROOT}/c`);
      fs.renameSync(`${ROOT}/t`, `${ROOT}/b`);
    });
    assert.equal(events.filter((e) => e.kind === "rename").length, 2);
    assert.equal(events.length, 3);
  });

  it("renames a directory, then a file into it (a file moved into a directory that was itself renamed)", () => {
    const events = diffOf((fs) => {
      fs.mkdirSync(`${ROOT}/d1`);
      fs.writeFileSync(`${ROOT}/d1/x`, "x");
      fs.writeFileSync(`${ROOT}/f`, "f");
    }, (fs) => {
      fs.renameSync(`${ROOT}/f`, `${ROOT}/d1/f`);
      fs.renameSync(`${ROOT}/d1`, `${ROOT}/d3`);
    });
    assert.deepEqual(lines(events), ["rename /r/d1 -> /r/d3/", "rename /r/f -> /r/d3/f"]);
  });

  it("moves a directory into what was its own child: a/b -> b, a -> b/a", () => {
    const events = diffOf((fs) => {
      fs.mkdirSync(`${ROOT}/a`);
      fs.mkdirSync(`${ROOT}/a/b`);
      fs.writeFileSync(`${ROOT}/a/b/f`, "f");
      fs.writeFileSync(`${ROOT}/a/g`, "g");
    }, (fs) => {
      fs.renameSync(`${ROOT}/a/b`, `${ROOT}/b`);
      fs.renameSync(`${ROOT}/a`, `${ROOT}/b/a`);
    });
    assert.deepEqual(lines(events), ["rename /r/a/b -> /r/b/", "rename /r/a -> /r/b/a/"]);
  });

  it("reports a directory replaced by a file of the same name as delete + create, after what moved out of it", () => {
    const events = diffOf((fs) => {
      fs.mkdirSync(`${ROOT}/a`);
      fs.writeFileSync(`${ROOT}/a/keep`, "k");
      fs.writeFileSync(`${ROOT}/a/lose`, "l");
    }, (fs) => {
      fs.renameSync(`${ROOT}/a/keep`, `${ROOT}/keep`);
      fs.rmSync(`${ROOT}/a`, { recursive: true });
      fs.writeFileSync(`${ROOT}/a`, "file now");
    });
    assert.deepEqual(lines(events), ["rename /r/a/keep -> /r/keep", "delete /r/a/", "create /r/a"]);
  });

  it("reports a file moved up over the directory that held it as delete + create (a rename cannot)", () => {
    const events = diffOf((fs) => {
      fs.mkdirSync(`${ROOT}/a`);
      fs.writeFileSync(`${ROOT}/a/x`, "x");
    }, (fs) => {
      fs.renameSync(`${ROOT}/a/x`, `${ROOT}/x`);
      fs.rmSync(`${ROOT}/a`, { recursive: true });
      fs.renameSync(`${ROOT}/x`, `${ROOT}/a`);
    });
    assert.deepEqual(lines(events), ["delete /r/a/", "create /r/a"]);
  });

  it("reports a rename over an existing file as one rename", () => {
    const events = diffOf(files("a", "b"), (fs) => fs.renameSync(`${ROOT}/a`, `${ROOT}/b`));
    assert.deepEqual(lines(events), ["rename /r/a -> /r/b"]);
  });

  it("reports a renamed directory as one rename standing for its subtree", () => {
    const rng = new Rng(3);
    const events = diffOf((fs) => {
      fs.mkdirSync(`${ROOT}/src`);
      fill(fs, rng, `${ROOT}/src`, 4, 2, 2);
    }, (fs) => fs.renameSync(`${ROOT}/src`, `${ROOT}/lib`));
    assert.deepEqual(lines(events), ["rename /r/src -> /r/lib/"]);
  });

  it("reports a file whose size or mtime changed as modify, once, at its new path", () => {
    const events = diffOf(files("a", "b", "c"), (fs) => {
      fs.writeFileSync(`${ROOT}/a`, "longer");
      fs.writeFileSync(`${ROOT}/b`, "b"); // same size, new mtime
      fs.renameSync(`${ROOT}/a`, `${ROOT}/z`);
    });
    assert.deepEqual(lines(events), ["rename /r/a -> /r/z", "modify /r/b", "modify /r/z"]);
  });

  it("reports a file whose mtime is near the walk as modify, even unchanged, unless its device has fine timestamps", () => {
    const fs = new MemoryFs(ROOT);
    fs.writeFileSync(`${ROOT}/near`, "n");
    fs.writeFileSync(`${ROOT}/far`, "f");
    fs.get(`${ROOT}/far`)!.mtimeNs -= 60e9; // a minute before
    const table = memoryTable(fs);
    const walkMs = fs.get(`${ROOT}/near`)!.mtimeNs / 1e6 + 20; // the walk began 20 ms after the write
    const header = { ...HEADER, startMs: walkMs, endMs: walkMs + 5 };
    const same = { entries: table, roots: [0] };
    assert.deepEqual(lines(diffTrees(header, same, same)), ["modify /r/near"]);
    assert.deepEqual(lines(diffTrees(header, same, same, { fineTimestamps: new Set([1]) })), []);
  });

  it("reports a new file with a deleted file's inode as a rename and a modify: still the right content", () => {
    let ino = 0;
    const events = diffOf(files("old"), (fs) => {
      ino = fs.get(`${ROOT}/old`)!.ino;
      fs.rmSync(`${ROOT}/old`, { recursive: false });
      fs.writeFileSync(`${ROOT}/new`, "different");
      fs.get(`${ROOT}/new`)!.ino = ino; // as ext4 reuses a freed inode
    });
    assert.deepEqual(lines(events), ["rename /r/old -> /r/new", "modify /r/new"]);
  });

  it("reports a root gone as its delete, and a root replaced by a file as delete + create", () => {
    const dir = new MemoryFs(ROOT);
    dir.writeFileSync(`${ROOT}/a`, "a");
    const before = { entries: memoryTable(dir), roots: [0] };
    assert.deepEqual(lines(diffTrees(HEADER, before, { entries: memoryTable(new MemoryFs(ROOT)), roots: [-1] })), [
      "delete /r/",
    ]);
    const file = new EntryTable();
    file.add(-1, new Uint8Array(0), 0, 0, { ...STAT, type: FILE_TYPE.FILE, inoLow: 9 });
    assert.deepEqual(lines(diffTrees(HEADER, before, { entries: file, roots: [0] })), ["delete /r/", "create /r"]);
  });

  for (
    const [name, reuse, shuffle] of [
      ["random churn", false, false],
      ["random churn, listings in random order", false, true],
      ["random churn, inodes reused", true, true],
    ] as const
  ) {
    it(`turns the old tree into the new one on ${name} (300 seeds)`, () => {
      for (let seed = 1; seed <= 300; seed++) {
        const rng = new Rng(seed);
        let log: string[] = [];
        try {
          diffOf(
            (fs) => fill(fs, rng, ROOT, 3, 2, 2),
            (fs) => (log = churn(fs, rng, ROOT, 1 + (seed % 25))),
            {
              reuse: reuse ? new Rng(seed * 17) : undefined,
              shuffle: shuffle ? new Rng(seed * 31) : undefined,
              what: `seed ${seed}`,
            },
          );
        } catch (err) {
          (err as Error).message = `seed ${seed} (${name}):\n${log.join("\n")}\n${(err as Error).message}`;
          throw err;
        }
      }
    });
  }
});
