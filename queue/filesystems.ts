/**
 * Which file systems give inotify events for which changes: statfs(2)'s `f_type` and mountinfo's
 * type name -> `"full"` (every change is seen), `"local-only"` (changes made through this kernel
 * are seen; changes made elsewhere — the host of a VM or a WSL distribution, another client of a
 * share, the process behind a FUSE mount — are not) or `"none"` (pseudo file systems whose content
 * the kernel makes up: nothing is reported). And {@linkcode filesystemsOf}: the file systems a
 * watched tree sits on and every mount inside it.
 *
 * @module
 */
import type { Sys } from "../ffi/types.ts";
import { cString } from "./args.ts";
import { readFileWhole } from "./atomic_file.ts";
import { SyscallError } from "./errors.ts";
import { FsCalls, join } from "./fs_calls.ts";
import { O, syscallNumbers } from "./linux.ts";
import { type MountInfo, parseMountInfo } from "./mountinfo.ts";

/** What inotify reports on a file system. */
export type EventSupport = "full" | "local-only" | "none";

/** A file system as {@linkcode describeFilesystem} names it. */
export interface FilesystemKind {
  /** Its type: mountinfo's name where known (`ext4`, `9p`, `fuse.sshfs`), else the magic's. */
  readonly type: string;
  readonly events: EventSupport;
}

/** One file system of a watched tree, as `stats().filesystems` lists it. */
export interface TreeFilesystem extends FilesystemKind {
  /** Where it starts: the watched root, or a mount point inside it. */
  readonly path: string;
}

/** `f_type` magic numbers (`<linux/magic.h>` and the file systems' own headers) -> name, events. */
export const FS_MAGIC: ReadonlyMap<number, FilesystemKind> = new Map<number, FilesystemKind>([
  // Disks and memory: every change goes through this kernel.
  [0xef53, { type: "ext4", events: "full" }], // ext2, ext3 and ext4 share it
  [0x58465342, { type: "xfs", events: "full" }],
  [0x9123683e, { type: "btrfs", events: "full" }],
  [0xf2f52010, { type: "f2fs", events: "full" }],
  [0xca451a4e, { type: "bcachefs", events: "full" }],
  [0x2fc12fc1, { type: "zfs", events: "full" }],
  [0x01021994, { type: "tmpfs", events: "full" }], // devtmpfs too
  [0x858458f6, { type: "ramfs", events: "full" }],
  [0x958458f6, { type: "hugetlbfs", events: "full" }],
  [0x794c7630, { type: "overlay", events: "full" }], // changes made to its layers underneath it are not seen
  [0x73717368, { type: "squashfs", events: "full" }],
  [0xe0f5e1e2, { type: "erofs", events: "full" }],
  [0x9660, { type: "isofs", events: "full" }],
  [0x4d44, { type: "vfat", events: "full" }],
  [0x2011bab0, { type: "exfat", events: "full" }],
  [0x5346544e, { type: "ntfs3", events: "full" }],
  [0x3153464a, { type: "jfs", events: "full" }],
  [0x52654973, { type: "reiserfs", events: "full" }],
  [0x3434, { type: "nilfs2", events: "full" }],
  // Shared with another machine or process: only this kernel's own changes are seen.
  [0x6969, { type: "nfs", events: "local-only" }],
  [0xff534d42, { type: "cifs", events: "local-only" }],
  [0xfe534d42, { type: "smb2", events: "local-only" }],
  [0x517b, { type: "smbfs", events: "local-only" }],
  [0x01021997, { type: "9p", events: "local-only" }], // WSL 2's /mnt/c, qemu's shared folders
  [0x65735546, { type: "fuse", events: "local-only" }], // fuse, fuseblk and virtiofs share it
  [0x786f4256, { type: "vboxsf", events: "local-only" }],
  [0x00c36400, { type: "ceph", events: "local-only" }],
  [0x5346414f, { type: "afs", events: "local-only" }],
  [0x6b414653, { type: "kafs", events: "local-only" }],
  [0x73757245, { type: "coda", events: "local-only" }],
  [0x7461636f, { type: "ocfs2", events: "local-only" }],
  [0x01161970, { type: "gfs2", events: "local-only" }],
  [0x0bd00bd0, { type: "lustre", events: "local-only" }],
  // Made up by the kernel as they are read: no events for what changes in them.
  [0x9fa0, { type: "proc", events: "none" }],
  [0x62656572, { type: "sysfs", events: "none" }],
  [0x27e0eb, { type: "cgroup", events: "none" }],
  [0x63677270, { type: "cgroup2", events: "none" }],
  [0x64626720, { type: "debugfs", events: "none" }],
  [0x74726163, { type: "tracefs", events: "none" }],
  [0x73636673, { type: "securityfs", events: "none" }],
  [0x6165676c, { type: "pstore", events: "none" }],
  [0xcafe4a11, { type: "bpf", events: "none" }],
  [0x62656570, { type: "configfs", events: "none" }],
  [0xde5e81e4, { type: "efivarfs", events: "none" }],
  [0x1cd1, { type: "devpts", events: "none" }],
  [0x19800202, { type: "mqueue", events: "none" }],
  [0x6e736673, { type: "nsfs", events: "none" }],
  [0x42494e4d, { type: "binfmt_misc", events: "none" }],
  [0x65735543, { type: "fusectl", events: "none" }],
]);

/** mountinfo type names (FUSE types by their subtype too) that say more than the magic. */
const BY_NAME: ReadonlyMap<string, EventSupport> = new Map<string, EventSupport>([
  ["nfs", "local-only"],
  ["nfs4", "local-only"],
  ["cifs", "local-only"],
  ["smb3", "local-only"],
  ["smbfs", "local-only"],
  ["9p", "local-only"],
  ["virtiofs", "local-only"], // WSL's newer /mnt/c, Docker Desktop's file sharing
  ["fakeowner", "local-only"], // Docker Desktop's bind mounts (over virtiofs)
  ["vboxsf", "local-only"],
  ["fuse", "local-only"],
  ["fuseblk", "local-only"],
  ["ceph", "local-only"],
  ["glusterfs", "local-only"],
  ["lustre", "local-only"],
  ["afs", "local-only"],
  ["gpfs", "local-only"],
]);

/**
 * Names a file system and what inotify reports on it, from statfs(2)'s `f_type` and, where known,
 * its type in `/proc/self/mountinfo` (`fuse.sshfs`, `virtiofs`). The name decides where it is known
 * (virtiofs and FUSE share one magic number); an unknown file system counts as `"full"`, as disks are.
 */
export function describeFilesystem(fType: number, name?: string): FilesystemKind {
  if (name !== undefined) {
    const base = name.startsWith("fuse.") ? "fuse" : name; // fuse.sshfs, fuse.grpcfuse, fuse.osxfs...
    const events = BY_NAME.get(base) ?? BY_NAME.get(name);
    if (events) return { type: name, events };
  }
  const known = FS_MAGIC.get(fType);
  if (known) return name === undefined ? known : { type: name, events: known.events };
  return { type: name ?? `0x${fType.toString(16)}`, events: "full" };
}

/** Bytes of `struct statfs` on 64-bit Linux; `f_type` is its first 8 (a `long`). */
export const STATFS_SIZE = 120;

/** statfs(2)'s `f_type` of the file system `path` is on. */
export function statfsType(sys: Sys, path: string, into = new Uint8Array(STATFS_SIZE)): number {
  if (sys.statfs(cString(path), into) === -1) throw new SyscallError(sys.errno(), "statfs", path);
  const view = new DataView(into.buffer, into.byteOffset, into.byteLength);
  return view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
}

/**
 * The file systems a watched tree sits on: the one under `root`, then every mount whose mount point
 * is inside it (in mountinfo's order; one on top of another at the same point hides it, so only the
 * last is listed). `root` should be absolute and free of symbolic links, as mountinfo's paths are.
 *
 * @param mounts `/proc/self/mountinfo`, parsed.
 * @throws {SyscallError} From `statfs` of the root (`ENOENT`...). A mount point that cannot be
 *   reached (`EACCES`, gone meanwhile) is named by mountinfo alone.
 */
export function filesystemsOf(sys: Sys, root: string, mounts: readonly MountInfo[]): TreeFilesystem[] {
  const buffer = new Uint8Array(STATFS_SIZE);
  const rootType = statfsType(sys, root, buffer);
  const dev = new FsCalls(sys).statx(root, true)?.dev;
  // The mount the root is on: the last with its device whose mount point holds the root.
  const under = (path: string, dir: string) => path === dir || path.startsWith(dir === "/" ? "/" : dir + "/");
  const rootMount = mounts.findLast((m) => m.dev === dev && under(root, m.mountPoint));
  const out: TreeFilesystem[] = [{ path: root, ...describeFilesystem(rootType, rootMount?.fsType) }];
  const inside = new Map<string, MountInfo>();
  for (const m of mounts) if (m.mountPoint !== root && under(m.mountPoint, root)) inside.set(m.mountPoint, m);
  for (const [path, m] of inside) {
    let fType = -1;
    try {
      fType = statfsType(sys, path, buffer);
    } catch {
      // not reachable from here: the name alone says what it is
    }
    out.push({ path, ...describeFilesystem(fType, m.fsType) });
  }
  return out;
}

/**
 * This process's mounts, from `/proc/self/mountinfo` (read through FFI: Deno's `--allow-read` does
 * not reach /proc).
 * @throws {SyscallError} When /proc is not mounted (`ENOENT`).
 */
export function readMounts(sys: Sys): MountInfo[] {
  return parseMountInfo(new TextDecoder().decode(readFileWhole(sys, "/proc/self/mountinfo")));
}

/** A file system of a tree with the id of its mount (mountinfo's; -1 for the root's), to tell a remount. */
export interface MountedFilesystem extends TreeFilesystem {
  readonly mountId: number;
}

/**
 * The file systems of each watched tree, as {@linkcode filesystemsOf} gives them, with paths under
 * the root as given (which may lead through symbolic links: mountinfo's paths do not). The mount
 * table is read once for all roots.
 *
 * @returns Per root, its file systems; undefined for a root that is gone.
 */
export function filesystemsOfTrees(sys: Sys, roots: readonly string[]): (MountedFilesystem[] | undefined)[] {
  let mounts: MountInfo[] = [];
  try {
    mounts = readMounts(sys);
  } catch {
    // no /proc: statfs(2) alone names the roots' file systems
  }
  return roots.map((root) => {
    let real: string;
    try {
      real = realPath(sys, root);
    } catch (err) {
      if (err instanceof SyscallError && err.syscall === "open") return undefined; // gone
      real = root; // /proc/self/fd unreadable: take the path as it is
    }
    let found: TreeFilesystem[];
    try {
      found = filesystemsOf(sys, real, mounts);
    } catch {
      return undefined; // gone since
    }
    return found.map((fs, i) => {
      const rel = fs.path === real ? "" : fs.path.slice(real === "/" ? 1 : real.length + 1);
      const path = rel === "" ? root : join(root, rel);
      const mountId = i === 0 ? -1 : mounts.findLast((m) => m.mountPoint === fs.path)?.mountId ?? -1;
      return { path, type: fs.type, events: fs.events, mountId };
    });
  });
}

/** PATH_MAX: what readlink(2) of `/proc/self/fd/N` can give. */
const PATH_MAX = 4096;

/**
 * `path` with every symbolic link resolved, as the kernel names it: the directory or file is opened
 * with `O_PATH` (no read permission needed) and `/proc/self/fd/N` read back with readlinkat(2).
 *
 * @throws {SyscallError} From `open` (`ENOENT`, `EACCES` on the way...), or from `readlinkat` when
 *   /proc is not mounted.
 */
export function realPath(sys: Sys, path: string): string {
  const fd = sys.open(cString(path), O.PATH | O.CLOEXEC);
  if (fd === -1) throw new SyscallError(sys.errno(), "open", path);
  try {
    const link = `/proc/self/fd/${fd}`;
    const into = new Uint8Array(PATH_MAX);
    // An absolute path: the directory fd argument is not used (0, never AT_FDCWD's negative number).
    const n = sys.syscall(syscallNumbers().readlinkat, 0, cString(link), into, into.length);
    if (n === -1) throw new SyscallError(sys.errno(), "readlinkat", link);
    return new TextDecoder().decode(into.subarray(0, n));
  } finally {
    sys.close(fd);
  }
}

/**
 * File systems that stamp a change made right after a stat(2) with a fine-grained time (Linux
 * 6.13's multigrain timestamps), so that two writes within one tick of the coarse clock cannot
 * leave the same mtime behind once the first was seen.
 */
const MULTIGRAIN = new Set(["tmpfs", "ext4", "xfs", "btrfs"]);

/**
 * Whether a file system of type `fsType` (mountinfo's name) on kernel `release` (uname -r) gives a
 * change after a stat a new mtime even within the same clock tick.
 */
export function hasFineTimestamps(fsType: string, release: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const major = Number(m[1]), minor = Number(m[2]);
  return (major > 6 || (major === 6 && minor >= 13)) && MULTIGRAIN.has(fsType);
}
