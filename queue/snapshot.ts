/**
 * {@linkcode writeSnapshot} and {@linkcode changesSince}: what changed in some trees while nothing was
 * watching. A snapshot records each entry's path, type, device and inode, size and mtime (ns) in a
 * compact file (snapshot_format.ts); changesSince walks the same trees again and diffs (tree_diff.ts).
 * mod.ts binds both to the runtime's {@linkcode Sys}. {@linkcode writeTreeSnapshot} writes what a
 * running watcher's tree knows instead of a walk.
 *
 * @module
 */
import { basename, dirname, resolve } from "node:path";
import type { Sys } from "../ffi/types.ts";
import { describe, toPath } from "./args.ts";
import { isTemporaryOf, readFileWhole, writeFileAtomic } from "./atomic_file.ts";
import { EntryTable, type SnapshotHeader } from "./entry_table.ts";
import { hasFineTimestamps, readMounts } from "./filesystems.ts";
import { FsCalls, join } from "./fs_calls.ts";
import type { MountInfo } from "./mountinfo.ts";
import { decodeName } from "./inotify_records.ts";
import { decodeSnapshot, encodeSnapshot, SnapshotEncoder } from "./snapshot_format.ts";
import { diffTrees } from "./tree_diff.ts";
import { walkTrees } from "./tree_walk.ts";
import type { WatchEvent } from "./watch_options.ts";
import type { TreeSnapshot } from "./watch_tree.ts";

/** Options of {@linkcode writeSnapshot}. */
export interface SnapshotOptions {
  /** Paths for which this returns true are not recorded, nor walked into. */
  exclude?: (path: string) => boolean;
  /** Record what symbolic links lead to, and walk into links to directories (each directory once). Default false. */
  followSymlinks?: boolean;
}

/** Options of {@linkcode changesSince}. */
export interface ChangesSinceOptions {
  /**
   * Paths for which this returns true are neither walked nor compared: pass the `exclude` the
   * snapshot was written with (a path it recorded that this excludes is not reported as deleted).
   */
  exclude?: (path: string) => boolean;
}

/** What {@linkcode writeSnapshot} wrote. */
export interface SnapshotInfo {
  /** Entries recorded: the roots and everything under them. */
  entries: number;
  /** The file's size. */
  bytes: number;
}

/** What {@linkcode writeSnapshot} and {@linkcode changesSince} need of the runtime. */
export interface SnapshotHost {
  sys: Sys;
}

/**
 * Walks `paths` and records their state in `file`, replaced atomically. Bound to the runtime by mod.ts.
 *
 * @returns How many entries, and the file's size.
 *
 * @throws {TypeError} On bad arguments. {@linkcode SyscallError} `ENOENT` for a missing path,
 *   `EACCES` for a directory that cannot be listed, and the errors of writing `file`.
 */
export async function writeSnapshot(
  paths: string | URL | readonly (string | URL)[],
  file: string | URL,
  options: SnapshotOptions = {},
  host: SnapshotHost,
): Promise<SnapshotInfo> {
  const roots = rootsOf(paths, "write snapshot");
  const target = resolve(toPath(file, "write snapshot"));
  checkOptions(options, "write snapshot");
  const followSymlinks = options.followSymlinks ?? false;
  if (typeof followSymlinks !== "boolean") {
    throw new TypeError(`Cannot write snapshot: followSymlinks must be a boolean, got ${describe(followSymlinks)}`);
  }
  const startMs = Date.now();
  const encoder = new SnapshotEncoder({ roots, followSymlinks, startMs, endMs: startMs });
  await walkTrees(new FsCalls(host.sys), roots, {
    exclude: withoutSnapshot(target, roots, options.exclude),
    followSymlinks,
    missingRoot: "throw",
  }, encoder);
  const bytes = encoder.finish(Date.now());
  writeFileAtomic(host.sys, target, bytes);
  return { entries: encoder.count, bytes: bytes.length };
}

/**
 * Writes what a watcher's tree knows to `file` (absolute), replaced atomically: the body of
 * `watcher.writeSnapshot()`. The snapshot file and its temporary files are left out.
 *
 * @param tree A watcher's tree (its `snapshot()`).
 * @throws {Error} When no root of the tree exists any more. {@linkcode SyscallError} from writing `file`.
 */
export function writeTreeSnapshot(
  sys: Sys,
  file: string,
  tree: { snapshot(leaveOut: (dir: string, name: string) => boolean): TreeSnapshot },
  followSymlinks: boolean,
): SnapshotInfo {
  const dir = dirname(file), base = basename(file);
  const { roots, entries } = tree.snapshot((path, name) =>
    path === dir && (name === base || isTemporaryOf(file, join(path, name)))
  );
  if (roots.length === 0) throw new Error("Cannot write snapshot: none of the watched paths exists any more");
  let count = 0;
  const counted = (function* () {
    for (const entry of entries) {
      count++;
      yield entry;
    }
  })();
  const now = Date.now(); // what the tree knows is as of now: files it saw change were looked at again
  const bytes = encodeSnapshot({ roots, followSymlinks, startMs: now, endMs: now }, counted);
  writeFileAtomic(sys, file, bytes);
  return { entries: count, bytes: bytes.length };
}

/**
 * Walks the trees recorded in `file` again and returns the events that turn the recorded state into
 * today's, in an order that can be applied one by one. Bound to the runtime by mod.ts.
 *
 * @throws {SnapshotError} For a file that is not a snapshot, is cut short, changed, or newer.
 *   {@linkcode SyscallError} `ENOENT` when `file` is missing; `EACCES` for a directory that cannot be listed.
 */
export async function changesSince(
  file: string | URL,
  options: ChangesSinceOptions = {},
  host: SnapshotHost,
): Promise<WatchEvent[]> {
  const target = resolve(toPath(file, "read snapshot"));
  checkOptions(options, "read snapshot");
  const { header, entries } = decodeSnapshot(readFileWhole(host.sys, target), target);
  const exclude = withoutSnapshot(target, header.roots, options.exclude);
  const before = exclude ? without(header, entries, exclude) : { entries, roots: header.roots.map((_, r) => r) };
  const now = new EntryTable(Math.max(entries.count, 1024));
  const roots = await walkTrees(new FsCalls(host.sys), header.roots, {
    exclude,
    followSymlinks: header.followSymlinks,
    missingRoot: "skip",
  }, now);
  return diffTrees(header, before, { entries: now, roots }, { fineTimestamps: fineTimestampDevices(host.sys) });
}

/** Devices whose file systems have fine-grained timestamps (no racy window needed); none if /proc is not there. */
function fineTimestampDevices(sys: Sys): Set<number> {
  const devices = new Set<number>();
  let mounts: MountInfo[], kernel: string;
  try {
    mounts = readMounts(sys);
    // Through FFI, not node:os's release(): Deno would ask for --allow-sys.
    kernel = new TextDecoder().decode(readFileWhole(sys, "/proc/sys/kernel/osrelease"));
  } catch {
    return devices;
  }
  for (const m of mounts) if (hasFineTimestamps(m.fsType, kernel)) devices.add(m.dev);
  return devices;
}

/** Resolved roots, without any inside another one (which it covers). */
function rootsOf(paths: string | URL | readonly (string | URL)[], doing: string): string[] {
  const list = (Array.isArray(paths) ? paths : [paths]) as (string | URL)[];
  if (list.length === 0) throw new TypeError(`Cannot ${doing}: no path given`);
  const roots = [...new Set(list.map((p) => resolve(toPath(p, doing))))];
  const inside = (p: string, q: string) => p !== q && p.startsWith(q.endsWith("/") ? q : q + "/");
  return roots.filter((p) => !roots.some((q) => inside(p, q)));
}

function checkOptions(options: SnapshotOptions | ChangesSinceOptions, doing: string): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot ${doing}: options must be an object, got ${describe(options)}`);
  }
  if (options.exclude !== undefined && typeof options.exclude !== "function") {
    throw new TypeError(`Cannot ${doing}: exclude must be a function, got ${describe(options.exclude)}`);
  }
}

/**
 * `exclude`, plus the snapshot file and its temporary files when they are inside the trees (else
 * every run would report the snapshot itself as changed).
 */
function withoutSnapshot(
  file: string,
  roots: readonly string[],
  exclude?: (path: string) => boolean,
): ((path: string) => boolean) | undefined {
  const inside = roots.some((root) => file.startsWith(root.endsWith("/") ? root : root + "/"));
  if (!inside) return exclude;
  return (path) => path === file || isTemporaryOf(file, path) || (exclude !== undefined && exclude(path));
}

/** The recorded entries that `exclude` keeps (an excluded directory's subtree goes with it). */
function without(
  header: SnapshotHeader,
  entries: EntryTable,
  exclude: (path: string) => boolean,
): { entries: EntryTable; roots: number[] } {
  const kept = new EntryTable(entries.count, entries.names);
  const index = new Int32Array(entries.count).fill(-1); // old index -> kept index
  const paths: string[] = [];
  const roots: number[] = [];
  for (let i = 0; i < entries.count; i++) {
    const parent = entries.parent[i];
    let path: string;
    if (parent < 0) {
      path = header.roots[i];
    } else {
      if (index[parent] < 0) continue;
      path = join(paths[parent], decodeName(entries.names, entries.nameStart[i], entries.nameEnd[i]));
      if (exclude(path)) continue;
    }
    if (entries.isDirectory(i)) paths[i] = path;
    index[i] = kept.addRef(
      parent < 0 ? -1 : index[parent],
      entries.nameStart[i],
      entries.nameEnd[i],
      entries.type[i],
      entries.dev[i],
      entries.inoHigh[i],
      entries.inoLow[i],
      entries.size[i],
      entries.mtimeSec[i],
      entries.mtimeNsec[i],
    );
    if (parent < 0) roots.push(index[i]);
  }
  return { entries: kept, roots };
}
