/**
 * The premise of notiq's `poll` option (issue #13), shown on a 9p share (cache=none) in the VM
 * guest: changes the host makes under the share give no inotify event, yet the guest sees them at
 * once in a listing or a stat; writes the guest makes give events, but only while the watched
 * directory is held open (each lookup of an unheld name makes a new inode). Also what statfs(2)
 * says there: the HOST's f_type, not V9FS_MAGIC, so only /proc/self/mountinfo names 9p. Host-side
 * changes go through tests/vm/host_change.ts. Runs only in the guest (in tests/vm/suite.sh):
 *
 *   bash tests/vm/run.sh -- sh -c 'deno test -A --no-check tests/vm/ninep.vm.ts && bun test ./tests/vm/ninep.vm.ts'
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import process from "node:process";
import { IN, Inotify, type InotifyEvent } from "../../mod.ts";
import { loadSys } from "../../ffi/load.ts";
import { cString } from "../../queue/args.ts";
import { hasHostAgent, holdOpen, hostAgentInfo, hostChange, hostFsRoot, hostTempDir } from "./host_change.ts";

/** `statfs(2)` `f_type` values, from linux/magic.h. */
const MAGIC = { V9FS: 0x01021997, TMPFS: 0x01021994 } as const;
const hex = (n: number) => `0x${n.toString(16)}`;
/** Every event a change to a directory's entries or a file's content or metadata gives (not OPEN/ACCESS/CLOSE_NOWRITE:
 * listing the directory would give those). */
const CHANGES = IN.CREATE | IN.DELETE | IN.MODIFY | IN.ATTRIB | IN.CLOSE_WRITE | IN.MOVED_FROM | IN.MOVED_TO |
  IN.DELETE_SELF | IN.MOVE_SELF;
/** How long a host-side change is given to show up as an event that should not come. */
const QUIET_MS = 1000;

const skip = hasHostAgent() ? false : "needs the guest of tests/vm/run.sh (NOTIQ_VM_HOST_FS, NOTIQ_VM_AGENT)";
const sys = await loadSys();

/** `statfs(path).f_type`: the first field of `struct statfs` (a long). */
function statfsType(path: string): number {
  const buf = new Uint8Array(120);
  assert.equal(sys.statfs(cString(path), buf), 0, `statfs ${path}: errno ${sys.errno()}`);
  return Number(new DataView(buf.buffer).getBigInt64(0, true));
}

/** The file system type /proc/self/mountinfo gives for the mount at `mountPoint`. */
function mountType(mountPoint: string): string | undefined {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    // id parent major:minor root mount-point options [optional fields...] - type source super-options
    const [left, right] = line.split(" - ");
    if (right && left.split(" ")[4] === mountPoint) return right.split(" ")[0];
  }
  return undefined;
}

/** Records an Inotify's events as they come, so a test can wait for some or for a quiet spell. */
class Recorder {
  readonly events: InotifyEvent[] = [];
  #wake = () => {};

  constructor(ino: Inotify) {
    (async () => {
      for await (const ev of ino) {
        this.events.push(ev);
        this.#wake();
      }
    })();
  }

  /** Resolves once `done(events)` holds; fails after `ms` with the events seen. */
  async until(done: (events: InotifyEvent[]) => boolean, what: string, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!done(this.events)) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; got ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for `ms` and returns the events that came meanwhile (a test expects none). */
  async quiet(ms: number): Promise<InotifyEvent[]> {
    const before = this.events.length;
    await new Promise((r) => setTimeout(r, ms));
    return this.events.slice(before);
  }

  describe(events: InotifyEvent[] = this.events): string {
    return JSON.stringify(events.map((e) => [e.name, e.mask.toString(16)]));
  }
}

const named = (name: string, mask: number) => (events: InotifyEvent[]) =>
  events.some((e) => e.name === name && (e.mask & mask) !== 0);

/**
 * After a host-side change: a quiet spell with no event, then a guest-side marker file whose IN_CREATE
 * must be the only event since `from` (inotify's queue is in order: an event for the host's change
 * would come before it, so the watch is shown alive and silent, not merely slow).
 */
async function assertSilent(rec: Recorder, dir: string, from: number, marker: string): Promise<void> {
  const late = await rec.quiet(QUIET_MS);
  assert.equal(late.length, 0, `host-side changes gave events: ${rec.describe(late)}`);
  writeFileSync(`${dir}/${marker}`, "");
  await rec.until(named(marker, IN.CREATE), `IN_CREATE ${marker}`);
  const since = rec.events.slice(from);
  assert.ok(since.every((e) => e.name === marker), `events besides the marker's: ${rec.describe(since)}`);
}

test("statfs(2) of a 9p share gives the host's f_type, not V9FS_MAGIC; mountinfo says 9p", { skip }, async () => {
  const { fsType } = await hostAgentInfo();
  assert.equal(hex(statfsType(hostFsRoot())), hex(fsType), "the guest's f_type is the host's");
  assert.notEqual(fsType, MAGIC.V9FS);
  assert.equal(mountType(hostFsRoot()), "9p");
  assert.equal(mountType(process.cwd()), "9p", "the repo share");
  assert.equal(hex(statfsType("/tmp")), hex(MAGIC.TMPFS), "the guest's own /tmp");
});

test(
  "without a hold on the directory, cache=none 9p gives no event even for the guest's own writes",
  { skip },
  async () => {
    const dir = hostTempDir();
    try {
      using ino = new Inotify();
      ino.addWatch(dir, CHANGES);
      const rec = new Recorder(ino);
      writeFileSync(`${dir}/guest.txt`, "from the guest");
      const late = await rec.quiet(QUIET_MS);
      assert.deepEqual(readdirSync(dir), ["guest.txt"]);
      // If this starts failing, the kernel's 9p keeps inodes now: the hold is no longer needed.
      assert.equal(late.length, 0, `events: ${rec.describe(late)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("a guest-side write under the share gives IN_CREATE (directory held open)", { skip }, async () => {
  const dir = hostTempDir();
  try {
    using _held = holdOpen(dir);
    using ino = new Inotify();
    ino.addWatch(dir, CHANGES);
    const rec = new Recorder(ino);
    writeFileSync(`${dir}/guest.txt`, "from the guest");
    await rec.until(named("guest.txt", IN.CREATE), "IN_CREATE guest.txt");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a host-side create gives no event, yet the guest lists the file at once", { skip }, async () => {
  const dir = hostTempDir();
  try {
    using _held = holdOpen(dir);
    using ino = new Inotify();
    ino.addWatch(dir, CHANGES);
    const rec = new Recorder(ino);
    await hostChange({ op: "create", path: `${dir}/host.txt`, data: "from the host" });
    const late = await rec.quiet(QUIET_MS);
    assert.deepEqual(readdirSync(dir), ["host.txt"], "the host's file is not visible in the guest");
    assert.equal(statSync(`${dir}/host.txt`).size, "from the host".length);
    assert.equal(late.length, 0, `the host's create gave events: ${rec.describe(late)}`);
    await assertSilent(rec, dir, 0, "marker");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  "host-side modify, touch, rename, mkdir and delete give no event; stats and listings show each",
  { skip },
  async () => {
    const dir = hostTempDir();
    try {
      writeFileSync(`${dir}/a`, "1");
      mkdirSync(`${dir}/sub`);
      using _held = holdOpen(dir);
      using _heldSub = holdOpen(`${dir}/sub`);
      using ino = new Inotify();
      ino.addWatch(dir, CHANGES);
      ino.addWatch(`${dir}/sub`, CHANGES);
      const rec = new Recorder(ino);
      const list = (path: string) => readdirSync(path).sort();

      await hostChange({ op: "modify", path: `${dir}/a`, data: "23" });
      assert.equal(statSync(`${dir}/a`).size, 3, "size after the host's append");
      await hostChange({ op: "touch", path: `${dir}/a`, mtimeMs: 1_000_000_000_000 });
      assert.equal(statSync(`${dir}/a`).mtimeMs, 1_000_000_000_000, "mtime after the host's touch");
      await hostChange({ op: "rename", path: `${dir}/a`, to: `${dir}/sub/b` });
      assert.ok(!existsSync(`${dir}/a`), "a is still there after the host's rename");
      assert.deepEqual(list(`${dir}/sub`), ["b"]);
      await hostChange([{ op: "mkdir", path: `${dir}/d` }, { op: "create", path: `${dir}/d/c` }]);
      assert.deepEqual(list(dir), ["d", "sub"]);
      assert.deepEqual(list(`${dir}/d`), ["c"]);
      await hostChange({ op: "delete", path: `${dir}/sub` });
      assert.deepEqual(list(dir), ["d"]);
      assert.ok(!existsSync(`${dir}/sub/b`), "sub/b is still there after the host's delete");

      await assertSilent(rec, dir, 0, "marker");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("hostChange() reports the host's failure with its errno name", { skip }, async () => {
  const dir = hostTempDir();
  try {
    await assert.rejects(hostChange({ op: "delete", path: `${dir}/missing` }), {
      name: "HostChangeError",
      code: "ENOENT",
    });
    await assert.rejects(hostChange({ op: "create", path: "/tmp/outside" }), /not inside the share/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
