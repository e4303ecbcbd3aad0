import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { SyscallError } from "../../queue/errors.ts";
import { type DirEntry, FILE_TYPE } from "../../queue/fs_calls.ts";
import { IN } from "../../queue/inotify_mask.ts";
import { WatchLimitError } from "../../queue/watch_limit.ts";
import type { WatchEvent } from "../../queue/watch_options.ts";
import { type TreeOptions, WatchTree } from "../../queue/watch_tree.ts";
import { apply, lines } from "../fixtures/applied.ts";
import { FakeFs } from "../fixtures/fake_fs.ts";

const R = "/r"; // the watched root; everything below is relative to it

/**
 * A raw record: its mask by bit names, the directory whose watch queued it (relative; "" is the
 * root) named by the path its watch was added with, the name inside, and the cookie.
 */
type Rec = [mask: string, dir: string, name?: string, cookie?: number];

/**
 * One step: a record; a change on disk; or what the driver does — `end` (a batch ends), `timeout`
 * (the rename timer ran out), `overflow` (Q_OVERFLOW: report, mark, rescan: records stale),
 * `marked` (the mark before the rescan was read: records are applied again).
 */
type Step = Rec | ((fs: FakeFs) => void) | "end" | "timeout" | "overflow" | "marked";

interface Case {
  name: string;
  /** What exists before setup: `f` a file, `d/` a directory (parents made as needed). */
  before?: string[];
  /** Anything else to make before setup. */
  prepare?: (fs: FakeFs) => void;
  /** Watched roots, relative; default the root itself. */
  roots?: string[];
  options?: Partial<TreeOptions>;
  steps?: Step[];
  /** The events, as {@linkcode show} writes them. */
  events: string[];
  /** The paths watched at the end (relative; "." is the root). */
  watches?: string[];
  /**
   * Whether applying the events to the tree known after setup gives the tree on disk (not where
   * the disk holds what is deliberately not watched: symbolic links followed). Default true.
   */
  applies?: boolean;
}

const rel = (path: string) => path === R ? "." : path.slice(R.length + 1);
const abs = (path: string) => path === "" || path === "." ? R : `${R}/${path}`;

function show(ev: WatchEvent): string {
  const tail = ev.error ? ` ${(ev.error as SyscallError).code} ${ev.error.name}` : "";
  const path = `${rel(ev.path)}${ev.isDirectory ? "/" : ""}`;
  return `${ev.kind} ${ev.oldPath ? `${rel(ev.oldPath)}${ev.isDirectory ? "/" : ""} -> ` : ""}${path}${tail}`;
}

function maskOf(names: string): number {
  let mask = 0;
  for (const name of names.split(" ")) {
    const bit = IN[name as keyof typeof IN];
    if (bit === undefined) throw new Error(`no IN.${name}`);
    mask |= bit;
  }
  return mask;
}

const MASK = IN.CREATE | IN.DELETE | IN.MOVE | IN.DELETE_SELF | IN.MOVE_SELF | IN.MODIFY | IN.CLOSE_WRITE |
  IN.EXCL_UNLINK;

function setUp(c: Pick<Case, "before" | "prepare" | "roots" | "options">, fs = new FakeFs()) {
  fs.mkdir(R);
  fs.mkdir("/out");
  for (const entry of c.before ?? []) {
    if (entry.endsWith("/")) fs.mkdir(abs(entry));
    else {
      fs.mkdir(abs(entry).split("/").slice(0, -1).join("/"));
      fs.write(abs(entry));
    }
  }
  c.prepare?.(fs);
  const events: WatchEvent[] = [];
  const options: TreeOptions = { mask: MASK, recursive: true, followSymlinks: false, ...c.options };
  const tree = new WatchTree(fs, options, (ev) => events.push(ev));
  tree.addRoots((c.roots ?? [""]).map(abs));
  while (tree.setUp(2));
  return { fs, tree, events, options };
}

function run(tree: WatchTree, fs: FakeFs, steps: Step[]): void {
  for (const step of steps) {
    if (typeof step === "function") step(fs);
    else if (step === "end") tree.endBatch();
    else if (step === "timeout") tree.flushMoves();
    else if (step === "overflow") {
      tree.overflow();
      tree.stale = true;
      tree.rescan();
    } else if (step === "marked") tree.stale = false;
    else {
      const [mask, dir, name = "", cookie = 0] = step;
      tree.record({ wd: fs.wd(abs(dir)), mask: maskOf(mask), cookie, name });
    }
  }
}

/** The tree on disk below the root, as `apply` keeps it: relative path -> is a directory. */
function diskTree(fs: FakeFs, exclude?: (path: string) => boolean): Map<string, boolean> {
  const tree = new Map<string, boolean>();
  const stack = [R];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries: DirEntry[];
    try {
      entries = fs.list(dir);
    } catch {
      continue; // not listable: known as a name only
    }
    for (const { name, type } of entries) {
      const path = `${dir}/${name}`;
      if (exclude?.(path)) continue;
      tree.set(rel(path), type === FILE_TYPE.DIRECTORY);
      if (type === FILE_TYPE.DIRECTORY) stack.push(path);
    }
  }
  return tree;
}

const at = (path: string) => path.startsWith("/") ? path : abs(path);
const mv = (from: string, to: string) => (fs: FakeFs) => fs.rename(at(from), at(to));
const mkdir = (path: string) => (fs: FakeFs) => fs.mkdir(abs(path));
const write = (path: string) => (fs: FakeFs) => fs.write(abs(path));
const rm = (path: string) => (fs: FakeFs) => fs.remove(abs(path));

/** A directory outside the tree, linked from it; a link from inside back to the root. */
const links = (fs: FakeFs) => {
  fs.mkdir("/t/t1/t2");
  fs.symlink("/t", `${R}/link`);
  fs.symlink(R, `${R}/real/loop`);
};

const cases: Case[] = [
  {
    name: "setup reports nothing of what exists, and watches each directory once",
    before: ["a", "d/e/", "d/f"],
    events: [],
    watches: [".", "d", "d/e"],
  },
  {
    name: "a file's CREATE, MODIFY, CLOSE_WRITE: one event each",
    steps: [write("a"), ["CREATE", "", "a"], ["MODIFY", "", "a"], ["CLOSE_WRITE", "", "a"]],
    events: ["create a", "modify a", "close_write a"],
  },
  {
    name: "DELETE of a known name is a delete; of an unknown one, nothing",
    before: ["a"],
    steps: [rm("a"), ["DELETE", "", "a"], ["DELETE", "", "zz"]],
    events: ["delete a"],
  },
  {
    name: "a rename inside the tree is one rename",
    before: ["a"],
    steps: [mv("a", "b"), ["MOVED_FROM", "", "a", 7], ["MOVED_TO", "", "b", 7]],
    events: ["rename a -> b"],
  },
  {
    name: "a rename over an existing file replaces it",
    before: ["a", "b"],
    steps: [mv("a", "b"), ["MOVED_FROM", "", "a", 7], ["MOVED_TO", "", "b", 7], ["MODIFY", "", "b"]],
    events: ["rename a -> b", "modify b"],
  },
  {
    name: "the halves of a rename in different batches pair",
    before: ["a"],
    steps: [mv("a", "b"), ["MOVED_FROM", "", "a", 7], "end", ["MOVED_TO", "", "b", 7]],
    events: ["rename a -> b"],
  },
  {
    name: "a move in is a create; a directory moved in is watched, then listed",
    steps: [
      (fs) => (fs.mkdir("/out/in/sub"), fs.write("/out/in/f")),
      mv("/out/in", "in"),
      ["MOVED_TO ISDIR", "", "in", 9],
    ],
    events: ["create in/", "create in/f", "create in/sub/"],
    watches: [".", "in", "in/sub"],
  },
  {
    name: "a move out is a delete once a whole further batch ended, and its watches go",
    before: ["d/e/"],
    steps: [mv("d", "/out/d"), ["MOVED_FROM ISDIR", "", "d", 5], "end", "end"],
    events: ["delete d/"],
    watches: ["."],
  },
  {
    name: "a move out is proven by a later CREATE in the same directory: its delete comes first",
    before: ["a"],
    steps: [mv("a", "/out/a"), write("b"), ["MOVED_FROM", "", "a", 5], ["CREATE", "", "b"]],
    events: ["delete a", "create b"],
  },
  {
    name: "a move out is proven by the moved directory's MOVE_SELF",
    before: ["d/"],
    steps: [mv("d", "/out/d"), ["MOVED_FROM ISDIR", "", "d", 5], ["MOVE_SELF", "d"]],
    events: ["delete d/"],
    watches: ["."],
  },
  {
    name: "the rename timer running out moves a held half out",
    before: ["a"],
    steps: [mv("a", "/out/a"), ["MOVED_FROM", "", "a", 5], "timeout"],
    events: ["delete a"],
  },
  {
    name: "a new directory is watched, then listed: what was made inside first is reported once",
    steps: [
      mkdir("n/sub"),
      write("n/f"),
      write("n/sub/g"),
      ["CREATE ISDIR", "", "n"],
      ["CREATE", "n", "f"],
      ["CREATE ISDIR", "n", "sub"],
      ["CREATE", "n/sub", "g"],
    ],
    events: ["create n/", "create n/f", "create n/sub/", "create n/sub/g"],
    watches: [".", "n", "n/sub"],
  },
  {
    name: "a renamed directory's contents get their new paths",
    before: ["old/x/"],
    steps: [
      mv("old", "new"),
      ["MOVED_FROM ISDIR", "", "old", 3],
      ["MOVED_TO ISDIR", "", "new", 3],
      ["MOVE_SELF", "old"],
      write("new/x/f"),
      ["CREATE", "old/x", "f"],
      ["MODIFY", "old/x", "f"],
    ],
    events: ["rename old/ -> new/", "create new/x/f", "modify new/x/f"],
  },
  {
    name: "a directory renamed before its watch could be placed is watched and listed at its new path",
    steps: [
      mkdir("a"),
      write("a/f"),
      mv("a", "b"),
      ["CREATE ISDIR", "", "a"],
      ["MOVED_FROM ISDIR", "", "a", 4],
      ["MOVED_TO ISDIR", "", "b", 4],
    ],
    events: ["create a/", "rename a/ -> b/", "create b/f"],
    watches: [".", "b"],
  },
  {
    name:
      "a directory made in a directory renamed before its CREATE was read is watched and listed once the rename is read",
    before: ["p/"],
    steps: [
      mkdir("p/n/m"),
      write("p/n/f"),
      mv("p", "q"),
      ["CREATE ISDIR", "p", "n"], // its watch at p/n: ENOENT
      ["MOVED_FROM ISDIR", "", "p", 5],
      ["MOVED_TO ISDIR", "", "q", 5],
      ["MOVE_SELF", "p"],
    ],
    events: ["create p/n/", "rename p/ -> q/", "create q/n/f", "create q/n/m/"],
    watches: [".", "q", "q/n", "q/n/m"],
  },
  {
    name: "a directory whose parent is renamed between its watch and its listing is listed once the rename is read",
    before: ["p/"],
    steps: [
      mkdir("p/n"),
      write("p/n/f"),
      (fs) =>
        fs.afterAddWatch = (path) => {
          if (path !== `${R}/p/n`) return;
          fs.afterAddWatch = undefined;
          fs.rename(`${R}/p`, `${R}/q`);
        },
      ["CREATE ISDIR", "p", "n"], // watched at p/n, then listing p/n: ENOENT
      ["MOVED_FROM ISDIR", "", "p", 5],
      ["MOVED_TO ISDIR", "", "q", 5],
    ],
    events: ["create p/n/", "rename p/ -> q/", "create q/n/f"],
    watches: [".", "q", "q/n"],
  },
  {
    name:
      "a swap of two new directories read after both were scanned at their swapped paths: each ends with its own contents",
    steps: [
      // All done before any record is read: each CREATE's scan finds the other directory.
      mkdir("a"),
      mkdir("b"),
      write("b/f"),
      mv("a", "t"),
      mv("b", "a"),
      mv("t", "b"),
      ["CREATE ISDIR", "", "a"], // lists a: the old b, with f
      ["CREATE ISDIR", "", "b"], // lists b: the old a, empty
      ["MOVED_FROM ISDIR", "", "a", 1],
      ["MOVED_TO ISDIR", "", "t", 1], // nothing at t now: nothing to check
      ["MOVED_FROM ISDIR", "", "b", 2],
      ["MOVED_TO ISDIR", "", "a", 2], // a holds the old b: a is listed again
      ["MOVED_FROM ISDIR", "", "t", 3],
      ["MOVED_TO ISDIR", "", "b", 3], // and b
    ],
    events: [
      "create a/",
      "create a/f",
      "create b/",
      "rename a/ -> t/",
      "rename b/ -> a/",
      "create a/f",
      "rename t/ -> b/",
      "delete b/f",
    ],
    watches: [".", "a", "b"],
  },
  {
    name: "a new directory renamed, then one made at its old name, before either was read: each keeps its contents",
    steps: [
      mkdir("a"),
      write("a/f"),
      mv("a", "b"),
      mkdir("a"),
      ["CREATE ISDIR", "", "a"], // lists the second a
      ["MOVED_FROM ISDIR", "", "a", 1],
      ["MOVED_TO ISDIR", "", "b", 1], // b is another directory: listed at b
      ["CREATE ISDIR", "", "a"],
    ],
    events: ["create a/", "rename a/ -> b/", "create b/f", "create a/"],
    watches: [".", "a", "b"],
  },
  {
    name: "a new directory renamed after its watch was placed: one rename, nothing listed again",
    steps: [
      mkdir("a"),
      write("a/f"),
      ["CREATE ISDIR", "", "a"],
      mv("a", "b"),
      ["MOVED_FROM ISDIR", "", "a", 1],
      ["MOVED_TO ISDIR", "", "b", 1],
      ["MOVE_SELF", "a"],
    ],
    events: ["create a/", "create a/f", "rename a/ -> b/"],
    watches: [".", "b"],
  },
  {
    name:
      "a rename into a directory the tree has under the moved one (its watch taken since) is a move out; the records after it bring back what is there",
    steps: [
      mkdir("x"),
      ["CREATE ISDIR", "", "x"],
      mkdir("n"),
      mv("n", "x/n"),
      mv("x/n", "n"),
      mv("x", "n/x"),
      ["CREATE ISDIR", "", "n"], // lists n with x in it: x's watch is the node n/x's now
      ["MOVED_FROM ISDIR", "", "n", 1],
      ["MOVED_TO ISDIR", "x", "n", 1], // n into x's watch: into n/x, into itself
      ["MOVED_FROM ISDIR", "x", "n", 2],
      ["MOVED_TO ISDIR", "", "n", 2],
      ["MOVED_FROM ISDIR", "", "x", 3],
      ["MOVE_SELF", "x"],
      "end",
      "end",
    ],
    events: ["create x/", "create n/", "create n/x/", "delete n/", "create n/", "create n/x/", "delete x/"],
    watches: [".", "n", "n/x"],
  },
  {
    name: "a directory that could not be watched because it was deleted is forgotten with its DELETE",
    steps: [
      mkdir("n"),
      rm("n"),
      ["CREATE ISDIR", "", "n"],
      ["DELETE ISDIR", "", "n"],
      mkdir("q"),
      ["CREATE ISDIR", "", "q"],
    ],
    events: ["create n/", "delete n/", "create q/"],
    watches: [".", "q"],
  },
  {
    name: "a directory's own open and reads are not reported; a file's are",
    before: ["a", "d/"],
    steps: [["OPEN ISDIR", "", "d"], ["CLOSE_NOWRITE ISDIR", "", "d"], ["OPEN", "", "a"], ["ACCESS", "", "a"]],
    events: ["open a", "access a"],
  },
  {
    name: "a change to a name not known is reported but not learnt: a rename of it is a create",
    steps: [
      (fs) => fs.write("/out/z"),
      mv("/out/z", "z"), // (its MOVED_TO lost)
      ["MODIFY", "", "z"],
      mv("z", "y"),
      ["MOVED_FROM", "", "z", 4],
      ["MOVED_TO", "", "y", 4],
    ],
    events: ["modify z", "create y"],
  },
  {
    name:
      "IGNORED of a root (its watch removed, its file system unmounted) is its delete; later records are passed over",
    before: ["a"],
    steps: [["IGNORED", ""], write("b"), ["CREATE", "", "b"]],
    events: ["delete ./"],
    applies: false,
  },
  {
    name: "DELETE_SELF of a root, then its IGNORED: one delete",
    before: ["a"],
    steps: [["DELETE_SELF", ""], ["IGNORED", ""]],
    events: ["delete ./"],
    applies: false,
  },
  {
    name: "a file root: its own MODIFY, then DELETE_SELF and IGNORED",
    before: ["file"],
    roots: ["file"],
    steps: [write("file"), ["MODIFY", "file"], rm("file"), ["DELETE_SELF", "file"], ["IGNORED", "file"]],
    events: ["modify file", "delete file"],
    applies: false,
  },
  {
    name: "a root inside another is covered by it",
    before: ["sub/"],
    roots: ["", "sub", "sub/"],
    steps: [write("sub/f"), ["CREATE", "sub", "f"]],
    events: ["create sub/f"],
    watches: [".", "sub"],
  },
  {
    name: "without recursion, a new directory is reported but neither watched nor listed",
    before: ["d/"],
    options: { recursive: false },
    steps: [mkdir("n"), write("n/f"), ["CREATE ISDIR", "", "n"]],
    events: ["create n/"],
    watches: ["."],
    applies: false,
  },
  {
    name:
      "exclude: no watch in excluded subtrees, nothing reported from them; a rename to an excluded name is a delete",
    before: ["node_modules/pkg/", "src/", "a"],
    options: { exclude: (p) => p.endsWith("/node_modules") || p.endsWith(".tmp") },
    steps: [
      mkdir("src/node_modules/deep"),
      ["CREATE ISDIR", "src", "node_modules"],
      mv("a", "a.tmp"),
      ["MOVED_FROM", "", "a", 2],
      ["MOVED_TO", "", "a.tmp", 2],
      write("b.tmp"),
      ["CREATE", "", "b.tmp"],
      mv("b.tmp", "b"),
      ["MOVED_FROM", "", "b.tmp", 3],
      ["MOVED_TO", "", "b", 3],
    ],
    events: ["delete a", "create b"],
    watches: [".", "src"],
  },
  {
    name: "without followSymlinks, links are entries like files: nothing behind them is watched",
    before: ["real/"],
    prepare: links,
    events: [],
    watches: [".", "real"],
  },
  {
    name: "followSymlinks: a link to a directory is followed, a loop back into the tree is not",
    before: ["real/"],
    prepare: links,
    options: { followSymlinks: true },
    steps: [
      write("link/t1/t2/f"),
      ["CREATE", "link/t1/t2", "f"],
      (fs) => fs.symlink(R, `${R}/real/loop2`),
      ["CREATE", "real", "loop2"],
      (fs) => fs.symlink("/t", `${R}/again`),
      ["CREATE", "", "again"],
    ],
    events: ["create link/t1/t2/f", "create real/loop2/", "create again/"],
    watches: [".", "link", "link/t1", "link/t1/t2", "real"],
    applies: false,
  },
  {
    name: "overflow: one overflow event, then the difference from the known tree",
    before: ["keep/f1", "keep/f2", "gone/g1/", "moved/m1/", "t"],
    steps: [
      rm("gone"),
      mv("moved", "keep/moved-here"),
      mkdir("fresh/a"),
      write("fresh/a/f"),
      rm("keep/f1"),
      write("keep/f2"),
      rm("t"),
      mkdir("t"),
      "overflow",
    ],
    events: [
      "overflow ./",
      "delete t",
      "delete gone/",
      "delete moved/",
      "create fresh/",
      "create t/",
      "create fresh/a/",
      "create fresh/a/f",
      "modify keep/f2",
      "delete keep/f1",
      "create keep/moved-here/",
      "create keep/moved-here/m1/",
    ],
    watches: [".", "fresh", "fresh/a", "keep", "keep/moved-here", "keep/moved-here/m1", "t"],
  },
  {
    name: "overflow: a held rename half is a move out, before the overflow event",
    before: ["a"],
    steps: [mv("a", "/out/a"), ["MOVED_FROM", "", "a", 5], "overflow"],
    events: ["delete a", "overflow ./"],
  },
  {
    name: "overflow: records queued before the rescan are passed over (it has seen what they did)",
    before: ["a/s1/x", "b/"],
    steps: [
      // Made after the Q_OVERFLOW was queued, before it was read: queued behind it, seen by the rescan.
      mv("a/s1", "b/s2"),
      mkdir("a/s1"),
      "overflow",
      ["MOVED_FROM ISDIR", "a", "s1", 8], // replayed, these would move the new a/s1 over b/s2
      ["MOVED_TO ISDIR", "b", "s2", 8],
      ["CREATE ISDIR", "a", "s1"],
      ["CREATE", "", "q"], // made and removed before the rescan: never seen, never reported
      ["DELETE", "", "q"],
      ["MODIFY", "", "q"],
      "marked",
      write("b/s2/after"),
      ["CREATE", "b/s2", "after"],
    ],
    events: [
      "overflow ./",
      "create b/s2/",
      "create b/s2/x",
      "delete a/s1/x",
      "create b/s2/after",
    ],
    watches: [".", "a", "a/s1", "b", "b/s2"],
  },
  {
    name: "overflow: after the mark, a change the rescan saw is no change, and paths follow later renames",
    before: ["n/", "d/"],
    steps: [
      write("n/f"), // while the rescan runs: it lists f, and the record comes after the mark
      "overflow",
      "marked",
      ["CREATE", "n", "f"],
      mv("n", "m"),
      mv("d", "n"), // a new n: ...
      ["MOVED_FROM ISDIR", "", "n", 3],
      ["MOVED_TO ISDIR", "", "m", 3],
      ["MOVED_FROM ISDIR", "", "d", 4],
      ["MOVED_TO ISDIR", "", "n", 4],
      ["MODIFY", "n", "f"], // ... but the record of n/f is about m/f now
    ],
    events: ["overflow ./", "create n/f", "rename n/ -> m/", "rename d/ -> n/", "modify m/f"],
    watches: [".", "m", "n"],
  },
  {
    name: "overflow of a file root: a modify, or a delete when it is gone",
    before: ["f", "g"],
    roots: ["f", "g"],
    steps: [write("f"), rm("g"), "overflow"],
    events: ["overflow f", "overflow g", "modify f", "delete g"],
    watches: ["f"],
    applies: false,
  },
  {
    name: "a new directory that cannot be listed is an error event",
    steps: [mkdir("n"), (fs) => fs.deny(`${R}/n`), ["CREATE ISDIR", "", "n"]],
    events: ["create n/", "error n/ EACCES SyscallError"],
    watches: [".", "n"],
  },
];

describe("WatchTree: records in, events out", () => {
  for (const c of cases) {
    it(c.name, () => {
      const { fs, tree, events, options } = setUp(c);
      const known = diskTree(fs, options.exclude);
      run(tree, fs, c.steps ?? []);
      assert.deepEqual(events.map(show), c.events);
      if (c.watches) {
        assert.deepEqual(fs.watchedPaths().map(rel), c.watches, "the watches on disk");
        assert.equal(tree.watches, c.watches.length, "the watches the tree counts");
      }
      if (c.applies !== false) {
        for (const ev of events) apply(known, R, ev);
        assert.deepEqual(lines(known), lines(diskTree(fs, options.exclude)), "applied events give the disk");
      }
    });
  }
});

describe("WatchTree: the watch limit", () => {
  it("setUp() throws a WatchLimitError with the watches held and needed", () => {
    const fs = new FakeFs();
    fs.maxWatches = 2;
    fs.limit = 2;
    assert.throws(() => setUp({ before: ["a/", "b/x/"] }, fs), (err: WatchLimitError) => {
      assert.ok(err instanceof WatchLimitError);
      assert.deepEqual([err.code, err.watchesHeld, err.watchesNeeded, err.limit], ["ENOSPC", 2, 4, 2]);
      return true;
    });
  });

  it("a new directory past the limit is an error event with the numbers, the rest goes on", () => {
    const fs = new FakeFs();
    fs.maxWatches = 2;
    const { tree, events } = setUp({}, fs);
    run(tree, fs, [mkdir("n/m"), ["CREATE ISDIR", "", "n"]]);
    assert.deepEqual(events.map(show), ["create n/", "create n/m/", "error n/m/ ENOSPC WatchLimitError"]);
    const err = events[2].error as WatchLimitError;
    assert.deepEqual([err.watchesHeld, err.watchesNeeded, err.limit], [2, 3, 8192]);
  });

  it("addRoots() throws for a root that does not exist, with its path", () => {
    assert.throws(() => setUp({ roots: ["nope"] }), { code: "ENOENT", path: `${R}/nope` });
  });

  it("setUp() throws for a root that cannot be listed", () => {
    const fs = new FakeFs();
    fs.mkdir(R);
    fs.deny(R);
    assert.throws(() => setUp({}, fs), { code: "EACCES" });
  });
});
