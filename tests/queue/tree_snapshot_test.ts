import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FILE_TYPE } from "../../queue/fs_calls.ts";
import { IN } from "../../queue/inotify_mask.ts";
import { decodeSnapshot, encodeSnapshot, type SnapshotEntry } from "../../queue/snapshot_format.ts";
import { WatchTree } from "../../queue/watch_tree.ts";
import { FakeFs } from "../fixtures/fake_fs.ts";

const MASK = IN.CREATE | IN.DELETE | IN.MOVE | IN.DELETE_SELF | IN.MOVE_SELF | IN.MODIFY | IN.CLOSE_WRITE |
  IN.EXCL_UNLINK;

function setUp(roots = ["/r"]) {
  const fs = new FakeFs();
  fs.mkdir("/r/d/e");
  fs.mkdir("/s");
  fs.write("/r/a");
  fs.write("/r/d/b");
  fs.write("/r/d/e/c");
  fs.write("/s/z");
  const tree = new WatchTree(fs, { mask: MASK, recursive: true, followSymlinks: false }, () => {});
  tree.addRoots(roots);
  while (tree.setUp(100));
  const record = (mask: number, dir: string, name: string) => tree.record({ wd: fs.wd(dir), mask, cookie: 0, name });
  return { fs, tree, record };
}

/** Entries as `path type ino size mtimeSec`, paths rebuilt from the parents. */
function listing(roots: readonly string[], entries: Iterable<SnapshotEntry>): string[] {
  const paths: string[] = [];
  const out: string[] = [];
  for (const e of entries) {
    const path = e.parent < 0 ? roots[paths.length] : `${paths[e.parent]}/${e.name as string}`;
    if (e.parent >= paths.length) throw new Error(`entry ${paths.length}: parent ${e.parent} comes later`);
    paths.push(path);
    out.push(`${path} ${e.type === FILE_TYPE.DIRECTORY ? "d" : "f"} ${e.ino} ${e.size} ${e.mtimeSec}`);
  }
  return out;
}

/** What the fake file system says now, in the same words. */
function disk(fs: FakeFs, paths: string[]): string[] {
  return paths.map((path) => {
    const st = fs.lstat(path)!;
    return `${path} ${st.type === FILE_TYPE.DIRECTORY ? "d" : "f"} ${st.ino} ${st.size} ${st.mtimeSec}`;
  });
}

describe("WatchTree.snapshot()", () => {
  it("gives the roots, then every entry after its directory, with what the disk says", () => {
    const { fs, tree } = setUp(["/r", "/s"]);
    const { roots, entries } = tree.snapshot();
    assert.deepEqual(roots, ["/r", "/s"]);
    const got = listing(roots, entries);
    assert.deepEqual(got.slice(0, 2).map((l) => l.split(" ")[0]), ["/r", "/s"]);
    assert.deepEqual(got.sort(), disk(fs, ["/r", "/s", "/r/a", "/r/d", "/r/d/b", "/r/d/e", "/r/d/e/c", "/s/z"]).sort());
  });

  it("files a record said changed, and directories, are looked at then; what is gone is left out", () => {
    const { fs, tree, record } = setUp();
    fs.write("/r/a", 5);
    record(IN.MODIFY, "/r", "a");
    fs.write("/r/d/new", 3);
    record(IN.CREATE, "/r/d", "new");
    record(IN.CREATE, "/r", "gone"); // made and removed again before the snapshot: never looked at
    fs.remove("/r/d/e"); // its records not read yet: the directory is gone, with what it holds
    const { roots, entries } = tree.snapshot();
    const got = listing(roots, entries).sort();
    assert.deepEqual(got, disk(fs, ["/r", "/r/a", "/r/d", "/r/d/b", "/r/d/new"]).sort());
  });

  it("leaveOut(dir, name) keeps an entry out (the snapshot file itself)", () => {
    const { tree } = setUp();
    const { roots, entries } = tree.snapshot((dir, name) => dir === "/r/d" && name === "b");
    assert.deepEqual(listing(roots, entries).map((l) => l.split(" ")[0]).sort(), [
      "/r",
      "/r/a",
      "/r/d",
      "/r/d/e",
      "/r/d/e/c",
    ]);
  });

  it("encodes and decodes as a snapshot file; a tree whose roots are all gone gives none", () => {
    const { fs, tree, record } = setUp();
    const { roots, entries } = tree.snapshot();
    const bytes = encodeSnapshot({ roots, followSymlinks: false, startMs: 0, endMs: 0 }, entries);
    assert.equal(decodeSnapshot(bytes, "x").entries.count, 6);
    fs.remove("/r");
    record(IN.DELETE_SELF, "/r", "");
    assert.deepEqual(tree.snapshot().roots, []);
  });
});
