/**
 * {@linkcode WatchLimitError}: `ENOSPC` from `inotify_add_watch` explained with numbers — the
 * watches held, the watches the trees need ({@linkcode countDirs}) and the limit that applies
 * ({@linkcode userWatchLimit}).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { SyscallError } from "./errors.ts";
import { type DirEntry, FILE_TYPE, type FileStat, join } from "./fs_calls.ts";
import { ERRNO } from "./linux.ts";

/**
 * `ENOSPC` from `inotify_add_watch`, with the numbers needed to fix it: the watches this watcher
 * holds, how many its trees need, and the limit `fs.inotify.max_user_watches` (per user, shared by
 * every process of that user).
 */
export class WatchLimitError extends SyscallError {
  /** Always `"WatchLimitError"`. */
  override name = "WatchLimitError";
  /** Watches this watcher held when the limit was hit. */
  readonly watchesHeld: number;
  /** Watches the watched trees need (one per directory). */
  readonly watchesNeeded: number;
  /** `fs.inotify.max_user_watches`, or -1 if unreadable. */
  readonly limit: number;

  /**
   * An ENOSPC from `inotify_add_watch`, with the numbers that explain it.
   * @param path The directory that could not be watched.
   * @param watchesHeld Watches held when the limit was hit.
   * @param watchesNeeded Watches the trees need.
   * @param limit `fs.inotify.max_user_watches`, or -1.
   */
  constructor(path: string, watchesHeld: number, watchesNeeded: number, limit: number) {
    super(ERRNO.ENOSPC, "inotify_add_watch", path);
    this.watchesHeld = watchesHeld;
    this.watchesNeeded = watchesNeeded;
    this.limit = limit;
    const suggest = 2 ** Math.ceil(Math.log2(Math.max(limit, 0) + watchesNeeded - watchesHeld + 1));
    this.message = `ENOSPC: inotify watch limit reached, inotify_add_watch '${path}': this watcher holds ` +
      `${watchesHeld} watches and the tree needs ${watchesNeeded}; fs.inotify.max_user_watches is ` +
      `${limit < 0 ? "unknown" : limit} for all processes of this user (raise it: ` +
      `sysctl fs.inotify.max_user_watches=${suggest})`;
  }
}

/**
 * The watch limit that applies: `fs.inotify.max_user_watches`, or the lower
 * `user.max_inotify_watches` of the user namespace we run in. -1 when neither is readable.
 */
export function userWatchLimit(): number {
  let limit = -1;
  for (const file of ["/proc/sys/fs/inotify/max_user_watches", "/proc/sys/user/max_inotify_watches"]) {
    try {
      const value = Number.parseInt(readFileSync(file, "utf8"), 10);
      if (value >= 0 && (limit < 0 || value < limit)) limit = value;
    } catch {
      // not readable here
    }
  }
  return limit;
}

/** How {@linkcode countDirs} reads the disk and which directories a watcher would watch. */
export interface DirCounting {
  list(path: string): DirEntry[];
  stat(path: string): FileStat | undefined;
  readonly recursive: boolean;
  readonly followSymlinks: boolean;
  readonly exclude?: (path: string) => boolean;
}

/** Directories under `paths` that would need a watch, each once (by device and inode). */
export function countDirs(paths: readonly string[], how: DirCounting): number {
  let count = 0;
  const seen = new Set<string>();
  const stack = [...paths];
  while (stack.length > 0) {
    const path = stack.pop()!;
    const st = how.stat(path);
    if (st?.type !== FILE_TYPE.DIRECTORY || seen.has(`${st.dev}:${st.ino}`)) continue;
    seen.add(`${st.dev}:${st.ino}`);
    count++;
    if (!how.recursive) continue; // only the roots are watched
    let entries: DirEntry[];
    try {
      entries = how.list(path);
    } catch {
      continue;
    }
    for (const { name, type } of entries) {
      const child = join(path, name);
      if (how.exclude?.(child)) continue;
      if (type === FILE_TYPE.DIRECTORY || (how.followSymlinks && type === FILE_TYPE.SYMLINK)) stack.push(child);
    }
  }
  return count;
}
