import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { MountedFilesystem } from "../../queue/filesystems.ts";
import { IN } from "../../queue/inotify_mask.ts";
import { Poller } from "../../queue/poller.ts";
import { Settler } from "../../queue/settle.ts";
import { TreeFilesystems } from "../../queue/tree_filesystems.ts";
import type { WatchEvent } from "../../queue/watch_options.ts";
import { WatchTree } from "../../queue/watch_tree.ts";
import { FakeFs } from "../fixtures/fake_fs.ts";

const MASK = IN.CREATE | IN.DELETE | IN.MOVE | IN.DELETE_SELF | IN.MOVE_SELF | IN.MODIFY | IN.ATTRIB |
  IN.CLOSE_WRITE | IN.EXCL_UNLINK;

/**
 * A watched root /r on a disk with /r/m on FUSE (local-only), in memory: the tree, a Poller over a
 * fake file system port (whose mount table a test changes), the events, and a clock a test moves.
 */
function setUp(poll: number) {
  const fs = new FakeFs();
  fs.mkdir("/r/m/sub");
  fs.mkdir("/r/n");
  fs.write("/r/m/a");
  fs.write("/r/m/sub/s");
  fs.write("/r/f");
  const events: string[] = [];
  const sink = (ev: WatchEvent) => events.push(show(ev));
  const tree = new WatchTree(fs, { mask: MASK, recursive: true, followSymlinks: false }, sink);
  tree.addRoots(["/r"]);
  while (tree.setUp(100));
  const mounts: Record<string, string> = { "/r/m": "fuse local-only 7" };
  const port = {
    filesystemsOf: (roots: readonly string[]) =>
      roots.map((): MountedFilesystem[] => [
        { path: "/r", type: "ext4", events: "full", mountId: -1 },
        ...Object.entries(mounts).map(([path, line]) => {
          const [type, events, id] = line.split(" ");
          return { path, type, events: events as MountedFilesystem["events"], mountId: Number(id) };
        }),
      ]),
  };
  const clock = { now: 1000 };
  const checks = new TreeFilesystems(port, { poll: poll > 0, recursive: true });
  const poller = new Poller(tree, checks, poll, sink, () => clock.now);
  poller.start();
  /** Feeds the tree a record of the watch on `dir`. */
  const record = (mask: number, dir: string, name: string, cookie = 0) =>
    tree.record({ wd: fs.wd(dir), mask, cookie, name });
  return { fs, tree, poller, events, mounts, clock, record };
}

function show(ev: WatchEvent): string {
  const path = `${ev.path}${ev.isDirectory ? "/" : ""}`;
  return `${ev.kind} ${ev.oldPath ? `${ev.oldPath} -> ` : ""}${path}`;
}

describe("Poller: warnings", () => {
  it("without poll: one warning per place that gives no events, once; nothing is ever due", () => {
    const { poller, events, clock } = setUp(0);
    assert.deepEqual(events, ["warning /r/m/"]);
    assert.equal(poller.due, Infinity);
    assert.equal(poller.polling, false);
    clock.now += 10_000;
    poller.rescanned();
    poller.pollSince(clock.now); // a sync(): nothing is polled, nothing is walked
    assert.deepEqual(events, ["warning /r/m/"]);
    assert.equal(poller.walks, 0);
    assert.deepEqual(poller.filesystems.map((f) => `${f.path} ${f.events}`), ["/r full", "/r/m local-only"]);
  });

  it("the warning passes settle at once (a kind the Settler does not hold)", () => {
    const settler = new Settler(50);
    const out: WatchEvent[] = [];
    settler.add({ kind: "modify", path: "/r/f", isDirectory: false }, 0, out);
    settler.add({ kind: "warning", path: "/r/m", isDirectory: true, message: "m" }, 1, out);
    assert.deepEqual(out.map(show), ["modify /r/f", "warning /r/m/"]);
    assert.equal(settler.held, 0);
  });
});

describe("Poller: poll", () => {
  it("changes made where no record tells are reported by the walk; the rest stays on records", () => {
    const { fs, poller, events, clock } = setUp(500);
    assert.deepEqual(events, [], "no warning with poll");
    assert.equal(poller.due, 1500);
    fs.write("/r/m/b"); // made on the other side: no record
    fs.write("/r/m/a"); // written there
    fs.remove("/r/m/sub");
    fs.mkdir("/r/m/d");
    fs.write("/r/m/d/x");
    fs.write("/r/g"); // on the disk: its record would tell, the walk does not look
    clock.now = 1500;
    poller.poll();
    assert.deepEqual(events.sort(), [
      "create /r/m/b",
      "create /r/m/d/",
      "create /r/m/d/x",
      "delete /r/m/sub/",
      "modify /r/m/a",
    ]);
    assert.equal(poller.due, 2000);
    assert.equal(poller.walks, 1);
  });

  it("a rename made on the other side is a delete and a create, in an order that applies", () => {
    const { fs, poller, events } = setUp(500);
    fs.rename("/r/m/a", "/r/m/c");
    poller.poll();
    assert.deepEqual(events, ["delete /r/m/a", "create /r/m/c"]);
  });

  it("a change a record reported is not reported again by the walk", () => {
    const { fs, poller, events, record } = setUp(500);
    fs.write("/r/m/a");
    record(IN.MODIFY, "/r/m", "a");
    fs.write("/r/m/new");
    record(IN.CREATE, "/r/m", "new");
    fs.write("/r/m/new");
    record(IN.MODIFY, "/r/m", "new");
    record(IN.CLOSE_WRITE, "/r/m", "new");
    fs.rename("/r/m/sub/s", "/r/m/moved");
    record(IN.MOVED_FROM, "/r/m/sub", "s", 9);
    record(IN.MOVED_TO, "/r/m", "moved", 9);
    fs.mkdir("/r/m/dir");
    fs.write("/r/m/dir/in");
    record(IN.CREATE | IN.ISDIR, "/r/m", "dir");
    const before = [...events];
    assert.deepEqual(before, [
      "modify /r/m/a",
      "create /r/m/new",
      "modify /r/m/new",
      "close_write /r/m/new",
      "rename /r/m/sub/s -> /r/m/moved",
      "create /r/m/dir/",
      "create /r/m/dir/in",
    ]);
    poller.poll();
    assert.deepEqual(events, before, "the walk found nothing new");
    fs.write("/r/m/new"); // then written on the other side: that is new
    poller.poll();
    assert.deepEqual(events.slice(before.length), ["modify /r/m/new"]);
  });

  it("known directories keep their watch through walks; a new one found by a walk is watched", () => {
    const { fs, poller } = setUp(500);
    const added: string[] = [];
    fs.afterAddWatch = (path) => added.push(path);
    poller.poll();
    assert.deepEqual(added, []);
    fs.mkdir("/r/m/e");
    poller.poll();
    assert.deepEqual(added, ["/r/m/e"]);
  });

  it("pollSince(): a walk begun after the sync call is enough; else one is made", () => {
    const { poller, clock } = setUp(500);
    clock.now = 2000;
    poller.pollSince(1999);
    assert.equal(poller.walks, 1);
    poller.pollSince(1999); // the walk at 2000 has seen it
    assert.equal(poller.walks, 1);
    poller.pollSince(2000); // called the instant the walk began: maybe not seen
    assert.equal(poller.walks, 2);
  });
});

describe("Poller: mounts that come and go", () => {
  it("with poll: a mount over a known directory is read again, and polled from then on", () => {
    const { fs, poller, events, mounts } = setUp(500);
    fs.write("/r/n/x"); // what the mount shows there: no record
    mounts["/r/n"] = "nfs4 local-only 9";
    poller.poll();
    assert.deepEqual(events, ["create /r/n/x"]);
    fs.write("/r/n/y");
    poller.poll();
    assert.deepEqual(events, ["create /r/n/x", "create /r/n/y"]);
    assert.deepEqual(poller.filesystems.map((f) => f.path), ["/r", "/r/m", "/r/n"]);
  });

  it("without poll: found on the look after a rescan, warned about, its subtree read again", () => {
    const { fs, poller, events, mounts } = setUp(0);
    fs.write("/r/n/x");
    mounts["/r/n"] = "fuse.sshfs local-only 9";
    poller.rescanned();
    assert.deepEqual(events, ["warning /r/m/", "warning /r/n/", "create /r/n/x"]);
    delete mounts["/r/m"]; // unmounted: what was under it shows again
    fs.remove("/r/m/a");
    poller.rescanned();
    assert.deepEqual(events.slice(3), ["delete /r/m/a"]);
  });
});
