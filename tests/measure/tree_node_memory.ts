/**
 * How much heap a watch()'s tree takes per known entry. Not a test; run it with the gc exposed:
 *   deno run -A --v8-flags=--expose-gc tests/measure/tree_node_memory.ts      bun tests/measure/tree_node_memory.ts
 * A WatchTree of 100 directories x 1,000 files is set up through a port that lists and stats
 * without a disk (the names are shared strings: they are not counted); the heap grown, after a
 * full gc, divided by the entries, is what a node costs with its entry in its parent's Map.
 *
 * @module
 */
import process from "node:process";
import { FILE_TYPE } from "../../queue/fs_calls.ts";
import { type TreePort, WatchTree } from "../../queue/watch_tree.ts";

const DIRS = 100, FILES = 1000;
const dirList = Array.from({ length: DIRS }, (_, i) => ({ name: `dir-${i}`, type: FILE_TYPE.DIRECTORY }));
const fileList = Array.from({ length: FILES }, (_, i) => ({ name: `file-${i}.txt`, type: FILE_TYPE.FILE }));
let wd = 1, ino = 1000;
const stat = (path: string) => {
  ino++;
  const type = path.endsWith(".txt") ? FILE_TYPE.FILE : FILE_TYPE.DIRECTORY;
  // A real device number, an inode and an mtime as a disk gives them (seconds past 2^30).
  const mtimeSec = 1_765_000_000 + (ino % 1000), mtimeNsec = (ino * 7919) % 1e9;
  return {
    type,
    dev: 259 * 2 ** 20 + 2,
    ino,
    size: 1234,
    mtimeMs: mtimeSec * 1000 + mtimeNsec / 1e6,
    mtimeSec,
    mtimeNsec,
  };
};
const port: TreePort = {
  addWatch: () => wd++,
  rmWatch: () => {},
  list: (path) => path === "/r" ? dirList : fileList,
  lstat: stat,
  stat,
  watchLimit: () => 8192,
};
const g = globalThis as { Bun?: { gc(full: boolean): void; version: string }; gc?: () => void };
const gc = () => g.Bun ? g.Bun.gc(true) : g.gc!();
const runtime = g.Bun
  ? `bun ${g.Bun.version}`
  : `deno ${(globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno}`;
gc();
const before = process.memoryUsage().heapUsed;
const tree = new WatchTree(port, { mask: 0xfff, recursive: true, followSymlinks: false }, () => {});
tree.addRoots(["/r"]);
while (tree.setUp(1000));
gc();
const after = process.memoryUsage().heapUsed;
const nodes = DIRS * FILES + DIRS + 1;
console.log(`${runtime}: ${nodes} entries, ${((after - before) / nodes).toFixed(1)} bytes each (node + Map entry)`);
