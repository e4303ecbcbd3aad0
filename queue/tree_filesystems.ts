/**
 * {@linkcode TreeFilesystems}: what follows from the file systems a `watch()`'s trees are on —
 * which trees (or mounts inside them) get a `warning`, which are polled, and which mounts came or
 * went since the last look. Pure: the file systems come from a {@linkcode FilesystemPort}
 * (`filesystemsOfTrees` on the real system), so these decisions are tested without a kernel.
 *
 * @module
 */
import type { MountedFilesystem, TreeFilesystem } from "./filesystems.ts";

/** Where the file systems come from. */
export interface FilesystemPort {
  /**
   * Per root, its file systems: the root's first, then each mount inside it (paths under the root
   * as given); undefined for a root that cannot be looked at (gone).
   */
  filesystemsOf(roots: readonly string[]): readonly (readonly MountedFilesystem[] | undefined)[];
}

/** What the checked options of `watch()` say about it. */
export interface FilesystemRules {
  /** `poll` given: places that give no events are walked; otherwise they get a warning. */
  readonly poll: boolean;
  /** Without it only the roots' own file systems matter: nothing below a root is watched. */
  readonly recursive: boolean;
  /** A mount under an excluded path is not part of the tree. */
  readonly exclude?: (path: string) => boolean;
}

/** A `warning` to send: about a root, or a mount point inside one. */
export interface FilesystemWarning {
  readonly path: string;
  readonly isDirectory: boolean;
  readonly message: string;
}

/** What one {@linkcode TreeFilesystems.look} found that the watcher must act on. */
export interface FilesystemLook {
  /** Places newly found on a file system that gives no (or only local) events, without `poll`: once each. */
  readonly warnings: FilesystemWarning[];
  /** Mount points inside the trees whose mount came, went or was replaced since the last look. */
  readonly remounted: string[];
}

/** A root as the look needs it. */
export interface LookRoot {
  readonly path: string;
  readonly isDirectory: boolean;
}

/** Whether `path` is `dir` or inside it. */
const under = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith("/") ? dir : dir + "/");

/**
 * The warning's words for a place on a file system that gives no (`none`) or only local events.
 */
export function warningMessage(fs: TreeFilesystem): string {
  const why = fs.events === "none"
    ? `${fs.type}, whose content the kernel makes up as it is read: inotify reports no change there`
    : `${fs.type}: inotify reports the changes made through this system only, not those made on the other side ` +
      "(a VM's or WSL's host, another client of the share, the program behind a FUSE mount)";
  return `${JSON.stringify(fs.path)} is on ${why}. Watch with poll: true (a walk every second) or poll: ms ` +
    "(--poll [MS] on the command line) to have them reported";
}

/** The file systems of a watcher's trees, looked at again and again, and what follows. */
export class TreeFilesystems {
  readonly #port: FilesystemPort;
  readonly #rules: FilesystemRules;
  #filesystems: readonly TreeFilesystem[] = [];
  #polled: readonly string[] = [];
  /** Mount points inside the trees -> mount id, as the last look found them. */
  #mounts = new Map<string, number>();
  /** Places warned about (path and type): never twice. */
  readonly #warned = new Set<string>();
  #looked = false;

  constructor(port: FilesystemPort, rules: FilesystemRules) {
    this.#port = port;
    this.#rules = rules;
  }

  /** Every file system of the trees, as the last look found them: each root's, then mounts inside. */
  get filesystems(): readonly TreeFilesystem[] {
    return this.#filesystems;
  }

  /** With `poll`: the places to walk (roots or mount points, none inside another). */
  get polled(): readonly string[] {
    return this.#polled;
  }

  /**
   * Looks at the trees' file systems: the new list, the places to poll, warnings for places not
   * warned about yet, and (after the first look) the mounts that came, went or were replaced.
   */
  look(roots: readonly LookRoot[]): FilesystemLook {
    const found = this.#port.filesystemsOf(roots.map((root) => root.path));
    const filesystems: TreeFilesystem[] = [];
    const polled: string[] = [];
    const mounts = new Map<string, number>();
    const warnings: FilesystemWarning[] = [];
    roots.forEach((root, r) => {
      const list = found[r] ?? [];
      for (let i = 0; i < list.length; i++) {
        const { path, type, events, mountId } = list[i];
        if (i > 0) {
          if (!this.#rules.recursive || this.#excluded(root.path, path)) continue;
          mounts.set(path, mountId);
        }
        filesystems.push({ path, type, events });
        if (events === "full") continue;
        if (this.#rules.poll) {
          if (!polled.some((p) => under(path, p))) polled.push(path);
          continue;
        }
        const key = `${type}\0${path}`;
        if (this.#warned.has(key)) continue;
        this.#warned.add(key);
        warnings.push({
          path,
          isDirectory: i > 0 || root.isDirectory,
          message: warningMessage({ path, type, events }),
        });
      }
    });
    const remounted: string[] = [];
    if (this.#looked) {
      for (const [path, id] of mounts) if (this.#mounts.get(path) !== id) remounted.push(path);
      for (const path of this.#mounts.keys()) if (!mounts.has(path)) remounted.push(path);
    }
    this.#looked = true;
    this.#filesystems = filesystems;
    this.#polled = polled;
    this.#mounts = mounts;
    // A subtree read again holds the ones inside it.
    return { warnings, remounted: remounted.filter((p) => !remounted.some((q) => q !== p && under(p, q))) };
  }

  /** Whether `path` (a mount point under `root`) or a directory between them is excluded. */
  #excluded(root: string, path: string): boolean {
    const exclude = this.#rules.exclude;
    if (!exclude) return false;
    for (let at = path.indexOf("/", root.length + 1); at !== -1; at = path.indexOf("/", at + 1)) {
      if (exclude(path.slice(0, at))) return true;
    }
    return exclude(path);
  }
}
