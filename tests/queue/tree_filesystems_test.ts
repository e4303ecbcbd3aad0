import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { MountedFilesystem } from "../../queue/filesystems.ts";
import {
  type FilesystemLook,
  type FilesystemRules,
  TreeFilesystems,
  warningMessage,
} from "../../queue/tree_filesystems.ts";

/** A file system as the port gives it: `path type events [mountId]`, e.g. "/r/mnt fuse local-only 7". */
function fs(line: string): MountedFilesystem {
  const [path, type, events, id] = line.split(" ");
  return { path, type, events: events as MountedFilesystem["events"], mountId: id === undefined ? -1 : Number(id) };
}

/** A port whose answers a test changes between looks: root -> its file systems (none: gone). */
function port(table: Record<string, string[]>) {
  return {
    table,
    filesystemsOf: (roots: readonly string[]) => roots.map((root) => table[root]?.map(fs)),
  };
}

const dir = (path: string) => ({ path, isDirectory: true });
/** A look, short: warnings as `path`, remounted as they come. */
const brief = (look: FilesystemLook) => ({ warnings: look.warnings.map((w) => w.path), remounted: look.remounted });

interface Case {
  name: string;
  table: Record<string, string[]>;
  roots?: string[];
  rules?: Partial<FilesystemRules>;
  warnings: string[];
  polled: string[];
  /** stats().filesystems, as `path type events`. */
  listed: string[];
}

const CASES: Case[] = [
  {
    name: "a tree on a disk, with a tmpfs inside: nothing to say",
    table: { "/r": ["/r ext4 full", "/r/t tmpfs full 3"] },
    warnings: [],
    polled: [],
    listed: ["/r ext4 full", "/r/t tmpfs full"],
  },
  {
    name: "a tree on 9p: one warning, about the tree",
    table: { "/mnt/c/p": ["/mnt/c/p 9p local-only"] },
    roots: ["/mnt/c/p"],
    warnings: ["/mnt/c/p"],
    polled: [],
    listed: ["/mnt/c/p 9p local-only"],
  },
  {
    name: "a FUSE mount inside a tree on a disk: the warning names the mount point",
    table: { "/r": ["/r ext4 full", "/r/mnt fuse.sshfs local-only 7"] },
    warnings: ["/r/mnt"],
    polled: [],
    listed: ["/r ext4 full", "/r/mnt fuse.sshfs local-only"],
  },
  {
    name: "with poll: the same places are polled, and nothing is warned about",
    table: { "/r": ["/r ext4 full", "/r/mnt fuse local-only 7", "/r/proc proc none 8"] },
    rules: { poll: true },
    warnings: [],
    polled: ["/r/mnt", "/r/proc"],
    listed: ["/r ext4 full", "/r/mnt fuse local-only", "/r/proc proc none"],
  },
  {
    name: "with poll: a mount inside a polled tree is walked with it, not twice",
    table: { "/r": ["/r nfs local-only", "/r/a/mnt fuse local-only 7", "/r/b tmpfs full 8"] },
    rules: { poll: true },
    warnings: [],
    polled: ["/r"],
    listed: ["/r nfs local-only", "/r/a/mnt fuse local-only", "/r/b tmpfs full"],
  },
  {
    name: "several roots: each its own, and a root gone is left out",
    table: { "/a": ["/a ext4 full"], "/b": ["/b cifs local-only"], "/c": ["/c proc none"] },
    roots: ["/a", "/b", "/gone", "/c"],
    warnings: ["/b", "/c"],
    polled: [],
    listed: ["/a ext4 full", "/b cifs local-only", "/c proc none"],
  },
  {
    name: "not recursive: mounts inside do not count",
    table: { "/r": ["/r ext4 full", "/r/mnt fuse local-only 7"] },
    rules: { recursive: false },
    warnings: [],
    polled: [],
    listed: ["/r ext4 full"],
  },
  {
    name: "a mount under an excluded directory (or excluded itself) is not in the tree",
    table: { "/r": ["/r ext4 full", "/r/x/y/mnt fuse local-only 7", "/r/z fuse local-only 8", "/r/k 9p local-only 9"] },
    rules: { exclude: (p) => p === "/r/x/y" || p === "/r/z" },
    warnings: ["/r/k"],
    polled: [],
    listed: ["/r ext4 full", "/r/k 9p local-only"],
  },
  {
    name: "the root /: mounts anywhere are inside it",
    table: { "/": ["/ ext4 full", "/proc proc none 2", "/dev/shm tmpfs full 3"] },
    roots: ["/"],
    warnings: ["/proc"],
    polled: [],
    listed: ["/ ext4 full", "/proc proc none", "/dev/shm tmpfs full"],
  },
];

describe("TreeFilesystems: warnings and polled places", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const checks = new TreeFilesystems(port(c.table), { poll: false, recursive: true, ...c.rules });
      const look = checks.look((c.roots ?? ["/r"]).map(dir));
      assert.deepEqual(look.warnings.map((w) => w.path), c.warnings);
      assert.deepEqual(look.remounted, [], "the first look knows no earlier state");
      assert.deepEqual(checks.polled, c.polled);
      assert.deepEqual(checks.filesystems.map((f) => `${f.path} ${f.type} ${f.events}`), c.listed);
    });
  }

  it("a file root's warning says it is no directory; a mount point's, that it is", () => {
    const checks = new TreeFilesystems(
      port({ "/f": ["/f 9p local-only"], "/r": ["/r ext4 full", "/r/m 9p local-only 4"] }),
      {
        poll: false,
        recursive: true,
      },
    );
    const { warnings } = checks.look([{ path: "/f", isDirectory: false }, dir("/r")]);
    assert.deepEqual(warnings.map((w) => [w.path, w.isDirectory]), [["/f", false], ["/r/m", true]]);
  });

  it("warns once per place, however often it looks; a new mount later gets its own", () => {
    const p = port({ "/r": ["/r ext4 full", "/r/m fuse local-only 7"] });
    const checks = new TreeFilesystems(p, { poll: false, recursive: true });
    assert.deepEqual(brief(checks.look([dir("/r")])), { warnings: ["/r/m"], remounted: [] });
    assert.deepEqual(brief(checks.look([dir("/r")])), { warnings: [], remounted: [] });
    p.table["/r"] = ["/r ext4 full", "/r/m fuse local-only 7", "/r/n nfs4 local-only 9"];
    assert.deepEqual(brief(checks.look([dir("/r")])), { warnings: ["/r/n"], remounted: ["/r/n"] });
  });

  it("remounted: mounts that came, went, or were replaced at the same place; one inside another once", () => {
    const p = port({ "/r": ["/r ext4 full", "/r/a tmpfs full 5", "/r/b tmpfs full 6"] });
    const checks = new TreeFilesystems(p, { poll: false, recursive: true });
    checks.look([dir("/r")]);
    p.table["/r"] = [
      "/r ext4 full",
      "/r/a tmpfs full 5",
      "/r/b tmpfs full 16",
      "/r/c tmpfs full 17",
      "/r/c/d tmpfs full 18",
    ];
    assert.deepEqual(brief(checks.look([dir("/r")])), { warnings: [], remounted: ["/r/b", "/r/c"] });
    p.table["/r"] = ["/r ext4 full", "/r/b tmpfs full 16"];
    assert.deepEqual(brief(checks.look([dir("/r")])), { warnings: [], remounted: ["/r/a", "/r/c"] });
  });

  it("with poll, a mount that comes later is polled from the look that finds it", () => {
    const p = port({ "/r": ["/r ext4 full"] });
    const checks = new TreeFilesystems(p, { poll: true, recursive: true });
    checks.look([dir("/r")]);
    assert.deepEqual(checks.polled, []);
    p.table["/r"] = ["/r ext4 full", "/r/m fuse local-only 3"];
    assert.deepEqual(brief(checks.look([dir("/r")])), { warnings: [], remounted: ["/r/m"] });
    assert.deepEqual(checks.polled, ["/r/m"]);
  });

  it("warningMessage() names the place, the file system and the fix", () => {
    const local = warningMessage({ path: "/mnt/c", type: "9p", events: "local-only" });
    assert.match(local, /^"\/mnt\/c" is on 9p: inotify reports the changes made through this system only/);
    assert.match(local, /poll: true/);
    assert.match(local, /--poll/);
    const none = warningMessage({ path: "/proc", type: "proc", events: "none" });
    assert.match(none, /^"\/proc" is on proc, whose content the kernel makes up as it is read/);
    assert.match(none, /poll: ms/);
  });
});
