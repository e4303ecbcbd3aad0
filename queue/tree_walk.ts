/**
 * {@linkcode walkTrees}: reads whole trees breadth-first through {@linkcode FsCalls.scan} (getdents64
 * and a statx per entry, relative to its directory) into an {@linkcode EntrySink}, names as bytes.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { EntrySink } from "./entry_table.ts";
import { SyscallError } from "./errors.ts";
import { FILE_TYPE, type FsCalls, join, type Statx } from "./fs_calls.ts";
import { decodeName } from "./inotify_records.ts";
import { ERRNO } from "./linux.ts";

/** How {@linkcode walkTrees} walks. */
export interface WalkOptions {
  /** Paths for which this returns true are not recorded, nor walked into. Roots are always walked. */
  exclude?: (path: string) => boolean;
  /** Record what symbolic links lead to, and walk into those to directories (each directory once). */
  followSymlinks?: boolean;
  /** A root that does not exist: `"throw"` a SyscallError `ENOENT`, or `"skip"` it. */
  missingRoot: "throw" | "skip";
}

const EMPTY = new Uint8Array(0);
const SLASH = 0x2f;
const SLICE_MS = 20; // work between two yields to the event loop
const utf8 = new TextEncoder();

/**
 * Adds to `sink` every root (following a symbolic link), then every entry under the directories
 * among them, level by level: a directory's entries are added together, each after its parent.
 * A directory reached twice (through a link or a bind mount) is recorded each time but walked once.
 * A directory that is gone by the time it is opened is recorded, empty.
 *
 * @returns For each root, its entry's index, or -1 for a missing root skipped.
 * @throws {SyscallError} `ENOENT` for a missing root with `missingRoot: "throw"`; `EACCES` and any
 *   error other than a vanished entry from `open`, `getdents64` or `statx`, with the path.
 */
export async function walkTrees(
  fs: FsCalls,
  roots: readonly string[],
  options: WalkOptions,
  sink: EntrySink,
): Promise<number[]> {
  const { exclude, followSymlinks = false } = options;
  const visited = new Set<string>();
  // Directories to walk, in order: their entry, their path as a C string, and as text for exclude.
  const queue: { index: number; path: Uint8Array; text: string; root: boolean }[] = [];
  const rootEntries: number[] = [];
  for (const root of roots) {
    const st = fs.statx(root, true);
    if (!st) {
      if (options.missingRoot === "throw") throw new SyscallError(ERRNO.ENOENT, "statx", root);
      rootEntries.push(-1);
      continue;
    }
    const index = sink.add(-1, EMPTY, 0, 0, st);
    rootEntries.push(index);
    if (st.type === FILE_TYPE.DIRECTORY && firstVisit(visited, st)) {
      queue.push({ index, path: utf8.encode(root + "\0"), text: root, root: true });
    }
  }

  let parent = 0, dir: Uint8Array = EMPTY, dirText = "";
  const each = (names: Uint8Array, start: number, end: number, st: Statx) => {
    let text = "";
    if (exclude) {
      text = join(dirText, decodeName(names, start, end));
      if (exclude(text)) return;
    }
    const index = sink.add(parent, names, start, end, st);
    if (st.type !== FILE_TYPE.DIRECTORY || !firstVisit(visited, st)) return;
    const slash = dir[dir.length - 2] === SLASH ? 0 : 1; // the root "/" ends with one already
    const path = new Uint8Array(dir.length + slash + end - start);
    path.set(dir.subarray(0, dir.length - 1));
    if (slash) path[dir.length - 1] = SLASH;
    path.set(names.subarray(start, end), dir.length - 1 + slash);
    path[path.length - 1] = 0;
    queue.push({ index, path, text, root: false });
  };
  let sliceStart = performance.now();
  for (let q = 0; q < queue.length; q++) {
    const next = queue[q];
    queue[q] = undefined!; // let walked paths go
    parent = next.index, dir = next.path, dirText = next.text;
    fs.scan(dir, next.root || followSymlinks, followSymlinks, each);
    if (performance.now() - sliceStart > SLICE_MS) {
      await new Promise((done) => setImmediate(done));
      sliceStart = performance.now();
    }
  }
  return rootEntries;
}

/** True the first time a directory (by device and inode) is seen. */
function firstVisit(visited: Set<string>, st: Statx): boolean {
  const key = `${st.dev}:${st.inoHigh}:${st.inoLow}`;
  if (visited.has(key)) return false;
  visited.add(key);
  return true;
}
