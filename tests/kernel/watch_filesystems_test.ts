import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { watch, type Watcher, type WatchEvent, type WatchOptions } from "../../mod.ts";
import { bindfs, FUSE_SKIP, isMounted } from "../fixtures/fuse.ts";
import { assertFdCount, fdCount, Reader, removeDir, show, tempDir, warmUp } from "../fixtures/watch.ts";

before(warmUp);

/** Runs `body` with a watcher on `paths` and a reader of it; closes it and checks no fd is left. */
async function withWatcher(
  paths: string | string[],
  options: WatchOptions,
  body: (watcher: Watcher, reader: Reader) => Promise<void>,
): Promise<void> {
  const before = fdCount();
  const watcher = watch(paths, options);
  try {
    await watcher.ready;
    await body(watcher, new Reader(watcher));
  } finally {
    await watcher.close();
  }
  await assertFdCount(before);
}

/** The events since `from`, as `kind path` relative to `root`, in order. */
const inOrder = (events: WatchEvent[], from: number, root: string) =>
  events.slice(from).map((e) => show(e).replaceAll(root, ""));

/** The same, sorted (a walk's order is the listing's), and a run of the same event as one (runtimes write in one or two calls). */
const since = (events: WatchEvent[], from: number, root: string) =>
  inOrder(events, from, root).filter((e, i, all) => e !== all[i - 1]).sort();

describe("watch(): the file systems of the trees", () => {
  it("throws TypeError/RangeError for a bad poll before opening anything", () => {
    const before = fdCount();
    assert.throws(() => watch("/tmp", { poll: "1000" as unknown as number }), {
      name: "TypeError",
      message: "Cannot watch: poll must be a boolean or a number of milliseconds, got string",
    });
    for (const poll of [0, -1, NaN, Infinity]) {
      assert.throws(() => watch("/tmp", { poll }), {
        name: "RangeError",
        message: `Cannot watch: poll must be a finite number of milliseconds > 0, got ${poll}`,
      });
    }
    assert.equal(fdCount(), before);
  });

  it("a tree on tmpfs: stats().filesystems says full, and no warning comes", async () => {
    const dir = tempDir();
    try {
      await withWatcher(dir, {}, async (watcher, reader) => {
        assert.deepEqual(watcher.stats().filesystems, [{ path: dir, type: "tmpfs", events: "full" }]);
        await reader.synced(watcher);
        assert.deepEqual(reader.events, []);
        assert.equal(watcher.stats().polls, 0);
      });
    } finally {
      removeDir(dir);
    }
  });

  it("/proc: events none, one warning naming proc and poll, first; also through a symbolic link", async () => {
    const dir = tempDir();
    try {
      symlinkSync("/proc", `${dir}/link`);
      await withWatcher(["/proc", `${dir}/link`], { recursive: false }, async (watcher, reader) => {
        assert.deepEqual(watcher.stats().filesystems, [
          { path: "/proc", type: "proc", events: "none" },
          { path: `${dir}/link`, type: "proc", events: "none" },
        ]);
        await reader.synced(watcher);
        const warnings = reader.events.filter((e) => e.kind === "warning");
        assert.deepEqual(warnings.map((e) => [e.path, e.isDirectory]), [["/proc", true], [`${dir}/link`, true]]);
        assert.match(warnings[0].message!, /^"\/proc" is on proc, .* poll: true/);
        assert.equal(reader.events[0].kind, "warning");
      });
    } finally {
      removeDir(dir);
    }
  });

  it("/proc with poll: a process that starts and ends is a create and a delete once sync() resolves", async () => {
    await withWatcher(
      "/proc",
      { recursive: false, poll: 60_000, events: ["create", "delete"] },
      async (watcher, reader) => {
        const child = spawn("sleep", ["60"], { stdio: "ignore" });
        const exited = once(child, "exit");
        try {
          await once(child, "spawn");
          await reader.synced(watcher); // the walk happens before it resolves: a minute is never waited for
          assert.ok(reader.events.some((e) => e.kind === "create" && e.path === `/proc/${child.pid}`), "create");
        } finally {
          child.kill();
          await exited;
        }
        await reader.synced(watcher);
        assert.ok(reader.events.some((e) => e.kind === "delete" && e.path === `/proc/${child.pid}`), "delete");
        assert.equal(reader.events.filter((e) => e.kind === "warning").length, 0);
        assert.ok(watcher.stats().polls >= 2);
      },
    );
  });
});

describe(
  "watch() and a FUSE mount (bindfs): changes made on the source side give no event",
  { skip: FUSE_SKIP },
  () => {
    /** A tree on tmpfs with a bindfs mirror of `source` at `tree/mnt`; unmounted after, whatever happens. */
    async function withMount(body: (tree: string, source: string) => Promise<void>): Promise<void> {
      const dir = tempDir();
      try {
        mkdirSync(`${dir}/source/sub`, { recursive: true });
        mkdirSync(`${dir}/tree/mnt`, { recursive: true });
        writeFileSync(`${dir}/source/a`, "a");
        writeFileSync(`${dir}/source/sub/b`, "b");
        writeFileSync(`${dir}/tree/local`, "l");
        using _mount = bindfs(`${dir}/source`, `${dir}/tree/mnt`);
        await body(`${dir}/tree`, `${dir}/source`);
      } finally {
        assert.equal(isMounted(`${dir}/tree/mnt`), false, "the mount is gone");
        removeDir(dir);
      }
    }

    it("stats().filesystems lists the mount as local-only, and its warning comes without poll", () =>
      withMount((tree) =>
        withWatcher(tree, {}, async (watcher, reader) => {
          assert.deepEqual(watcher.stats().filesystems, [
            { path: tree, type: "tmpfs", events: "full" },
            { path: `${tree}/mnt`, type: "fuse", events: "local-only" },
          ]);
          await reader.synced(watcher);
          assert.deepEqual(reader.events.map(show), [`warning ${tree}/mnt/`]);
          assert.match(
            reader.events[0].message!,
            /is on fuse: inotify reports the changes made through this system only/,
          );
        })
      ));

    it("with poll: source-side changes are reported at sync(); the rest stays on inotify; a local write once", () =>
      withMount((tree, source) =>
        withWatcher(tree, { poll: 60_000 }, async (watcher, reader) => {
          writeFileSync(`${source}/c`, "c");
          appendFileSync(`${source}/a`, "more");
          renameSync(`${source}/sub/b`, `${source}/sub/b2`);
          mkdirSync(`${source}/d`);
          writeFileSync(`${source}/d/e`, "e");
          await reader.synced(watcher);
          assert.deepEqual(since(reader.events, 0, tree), [
            "create /mnt/c",
            "create /mnt/d/",
            "create /mnt/d/e",
            "create /mnt/sub/b2",
            "delete /mnt/sub/b",
            "modify /mnt/a",
          ]);
          let from = reader.events.length;
          rmSync(`${source}/d`, { recursive: true });
          writeFileSync(`${tree}/local2`, "on tmpfs: inotify");
          await reader.synced(watcher);
          assert.deepEqual(since(reader.events, from, tree), [
            "close_write /local2",
            "create /local2",
            "delete /mnt/d/",
            "modify /local2",
          ]);
          from = reader.events.length;
          writeFileSync(`${tree}/mnt/through`, "a write through the mount: an event, and the walk after it");
          appendFileSync(`${tree}/mnt/a`, "too");
          await reader.synced(watcher);
          // FUSE's own records, in order (an append through it may add an attrib), and nothing from
          // the walk after them: a modify of either again would come last.
          assert.deepEqual(
            inOrder(reader.events, from, tree).filter((e, i, all) => !e.startsWith("attrib") && e !== all[i - 1]),
            [
              "create /mnt/through",
              "modify /mnt/through",
              "close_write /mnt/through",
              "modify /mnt/a",
              "close_write /mnt/a",
            ],
          );
          assert.equal(reader.events.filter((e) => e.kind === "warning").length, 0);
        })
      ));

    it("with poll: a mount made later inside the tree is found, read and polled", () =>
      withMount((tree, source) =>
        withWatcher(tree, { poll: 60_000, events: ["create", "delete", "modify"] }, async (watcher, reader) => {
          mkdirSync(`${tree}/later`);
          await reader.synced(watcher);
          const from = reader.events.length;
          using _later = bindfs(`${source}/sub`, `${tree}/later`);
          await reader.synced(watcher);
          assert.deepEqual(since(reader.events, from, tree), ["create /later/b"]);
          assert.deepEqual(watcher.stats().filesystems.map((f) => [f.path, f.events]), [
            [tree, "full"],
            [`${tree}/mnt`, "local-only"],
            [`${tree}/later`, "local-only"],
          ]);
          writeFileSync(`${source}/sub/new`, "n");
          await reader.synced(watcher);
          assert.deepEqual(since(reader.events, from, tree), [
            "create /later/b",
            "create /later/new",
            "create /mnt/sub/new",
          ]);
        })
      ));
  },
);
