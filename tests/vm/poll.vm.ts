/**
 * watch() on a file system that gives no events for changes made elsewhere (issue #13), for real:
 * the VM guest's 9p share, where the HOST makes the changes (tests/vm/host_change.ts). Without
 * `poll` the tree gets one warning; with it, each host-side change is reported at the next walk,
 * which `sync()` makes before it resolves (no sleeps: every wait is for sync()). Runs only in the
 * guest (in tests/vm/suite.sh):
 *
 *   bash tests/vm/run.sh -- sh -c 'deno test -A --no-check tests/vm/poll.vm.ts && bun test ./tests/vm/poll.vm.ts'
 *
 * @module
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { watch } from "../../mod.ts";
import { Reader, show } from "../fixtures/watch.ts";
import { hasHostAgent, hostChange, hostTempDir } from "./host_change.ts";

const skip = hasHostAgent() ? false : "needs the guest of tests/vm/run.sh (NOTIQ_VM_HOST_FS, NOTIQ_VM_AGENT)";

test("a tree on the 9p share: stats().filesystems says 9p, local-only, and one warning comes", { skip }, async () => {
  const dir = hostTempDir();
  try {
    await using watcher = watch(dir);
    await watcher.ready;
    // statfs(2) gives the host's f_type on 9p: only mountinfo names it.
    assert.deepEqual(watcher.stats().filesystems, [{ path: dir, type: "9p", events: "local-only" }]);
    const reader = new Reader(watcher);
    await hostChange({ op: "create", path: `${dir}/unseen` });
    await reader.synced(watcher);
    assert.deepEqual(reader.events.map(show), [`warning ${dir}/`]);
    assert.match(reader.events[0].message!, /is on 9p: inotify reports the changes made through this system only/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("with poll: host-side creates, writes, renames, deletes are reported once sync() resolves", { skip }, async () => {
  const dir = hostTempDir();
  writeFileSync(`${dir}/a`, "guest");
  mkdirSync(`${dir}/sub`);
  writeFileSync(`${dir}/sub/s`, "s");
  try {
    await using watcher = watch(dir, { poll: 60_000 }); // a minute: every walk here is sync()'s
    await watcher.ready;
    const reader = new Reader(watcher);
    /** What the host's `ops` come to, relative to `dir`, once sync() has resolved. */
    const after = async (ops: Parameters<typeof hostChange>[0]) => {
      const from = reader.events.length;
      await hostChange(ops);
      await reader.synced(watcher);
      return reader.events.slice(from).map((e) => show(e).replaceAll(dir, "")).sort();
    };
    await reader.synced(watcher);
    assert.equal(reader.events.length, 0, "no warning with poll");
    assert.deepEqual(await after({ op: "create", path: `${dir}/b`, data: "host" }), ["create /b"]);
    assert.deepEqual(await after({ op: "modify", path: `${dir}/a` }), ["modify /a"]);
    assert.deepEqual(await after({ op: "touch", path: `${dir}/b`, mtimeMs: 1_000_000_000_000 }), ["modify /b"]);
    assert.deepEqual(await after({ op: "rename", path: `${dir}/a`, to: `${dir}/c` }), ["create /c", "delete /a"]);
    assert.deepEqual(
      await after([{ op: "mkdir", path: `${dir}/d` }, { op: "create", path: `${dir}/d/e` }]),
      ["create /d/", "create /d/e"],
    );
    assert.deepEqual(await after({ op: "rename", path: `${dir}/d/e`, to: `${dir}/sub/e` }), [
      "create /sub/e",
      "delete /d/e",
    ]);
    assert.deepEqual(await after({ op: "delete", path: `${dir}/sub` }), ["delete /sub/"]);
    assert.deepEqual(await after({ op: "delete", path: `${dir}/b` }), ["delete /b"]);
    // A write made here: whether inotify hears it on 9p or not, it is reported once.
    const from = reader.events.length;
    writeFileSync(`${dir}/g`, "guest");
    await reader.synced(watcher);
    assert.deepEqual(reader.events.slice(from).filter((e) => e.kind === "create").map(show), [`create ${dir}/g`]);
    assert.ok(watcher.stats().polls >= 9, `walks: ${watcher.stats().polls}`);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
