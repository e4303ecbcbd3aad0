import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as nodeFs from "node:fs";
import { appendFileSync, mkdirSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { changesSince, watch, type Watcher, type WatchEvent, writeSnapshot } from "../../mod.ts";
import { churn, fill, Rng } from "../fixtures/churn.ts";
import { churnScript } from "../fixtures/churn_script.ts";
import {
  apply,
  assertFdCount,
  fdCount,
  lines,
  Reader,
  realTree,
  removeDir,
  runWhileReading,
  show,
  tempDir,
  warmUp,
  withSysctl,
} from "../fixtures/watch.ts";
import { NEEDS_ROOT } from "../helpers.ts";

before(warmUp);

/** Long ago: a file stamped so has no mtime near a snapshot (no racy window on coarse clocks). */
const LONG_AGO = new Date("2020-01-01T00:00:00Z");

/** A temp dir with the watched tree `t` and the snapshots beside it; a watcher on `t` and its reader. */
async function withWatcher(
  body: (root: string, dir: string, watcher: Watcher, reader: Reader) => Promise<void>,
  prepare: (root: string) => void = () => {},
): Promise<void> {
  const dir = tempDir();
  const before = fdCount();
  try {
    mkdirSync(`${dir}/t`);
    prepare(`${dir}/t`);
    const watcher = watch(`${dir}/t`);
    try {
      await watcher.ready;
      await body(`${dir}/t`, dir, watcher, new Reader(watcher));
    } finally {
      await watcher.close();
    }
  } finally {
    removeDir(dir);
  }
  await assertFdCount(before);
}

/** Stamps every file under `root` long ago. */
function age(root: string): void {
  for (const e of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (!e.isDirectory()) utimesSync(`${e.parentPath}/${e.name}`, LONG_AGO, LONG_AGO);
  }
}

const rel = (root: string, events: WatchEvent[]) => events.map((e) => show(e).replaceAll(root, ""));

describe("watcher.writeSnapshot()", () => {
  it("writes what the watcher knows: changesSince() gives exactly the changes made after it", () =>
    withWatcher(async (root, dir, watcher, reader) => {
      writeFileSync(`${root}/a`, "a");
      writeFileSync(`${root}/n`, "n");
      mkdirSync(`${root}/x/y`, { recursive: true });
      writeFileSync(`${root}/x/y/f`, "f");
      appendFileSync(`${root}/d/b`, "more");
      renameSync(`${root}/d/e`, `${root}/d/e2`);
      rmSync(`${root}/gone`);
      renameSync(`${root}/d`, `${root}/dd`);
      age(root); // attrib events: the watcher looks at those files again before it writes them
      await reader.synced(watcher);
      const info = await watcher.writeSnapshot(`${dir}/watcher.snap`);
      await writeSnapshot(root, `${dir}/walked.snap`); // the same moment, walked
      assert.equal(info.entries, 10);
      writeFileSync(`${root}/p`, "p");
      appendFileSync(`${root}/n`, "more");
      renameSync(`${root}/x`, `${root}/x2`);
      rmSync(`${root}/a`);
      const events = await changesSince(`${dir}/watcher.snap`);
      assert.deepEqual(rel(root, events).sort(), ["create /p", "delete /a", "modify /n", "rename /x -> /x2/"]);
      assert.deepEqual(events, await changesSince(`${dir}/walked.snap`));
    }, (root) => {
      mkdirSync(`${root}/d/e`, { recursive: true });
      writeFileSync(`${root}/d/b`, "b");
      writeFileSync(`${root}/d/e/c`, "c");
      writeFileSync(`${root}/gone`, "g");
      age(root);
    }));

  it("brings what the consumer knows to the disk's state, on random churn (seeded)", async () => {
    for (let seed = 1; seed <= 8; seed++) {
      const outside = tempDir();
      try {
        await withWatcher(async (root, dir, watcher, reader) => {
          const known = realTree(root);
          // The watcher's part: a child shell's changes, read as they come.
          const script = churnScript(seed, 150, outside);
          assert.equal(await runWhileReading(reader, script, root), 0, `churn seed ${seed}: the script failed`);
          await reader.synced(watcher);
          for (const ev of reader.events) apply(known, root, ev); // what the consumer knows
          if (seed % 2) age(root);
          await watcher.writeSnapshot(`${dir}/watcher.snap`);
          // Then, with nothing watching (as far as the snapshot goes):
          const log = churn(nodeFs, new Rng(seed), root, 15);
          for (const ev of await changesSince(`${dir}/watcher.snap`)) apply(known, root, ev);
          assert.deepEqual(lines(known), lines(realTree(root)), `seed ${seed}; then:\n${log.join("\n")}`);
        }, (root) => fill(nodeFs, new Rng(seed), root, 3, 2, 2));
      } finally {
        removeDir(outside);
      }
    }
  });

  it("leaves the snapshot file and its temporary files out when it is inside the tree", () =>
    withWatcher(async (root, _dir, watcher, reader) => {
      await watcher.writeSnapshot(`${root}/.snap`);
      await reader.synced(watcher); // the watcher has seen the snapshot made: it knows the file now
      await watcher.writeSnapshot(`${root}/.snap`);
      assert.deepEqual(await changesSince(`${root}/.snap`), []);
    }, (root) => writeFileSync(`${root}/a`, "a")));

  it('refuses a watcher whose overflow went unrepaired (onOverflow: "report"): it does not know the trees', {
    skip: NEEDS_ROOT,
  }, async () => {
    const dir = tempDir();
    try {
      // A ring of one record and a kernel queue of 16: a hundred new files overflow it.
      const options = { ringSize: 272, bufferSize: 272, onOverflow: "report" } as const;
      await using watcher = await withSysctl("max_queued_events", 16, () => watch(dir, options));
      await watcher.ready;
      const reader = new Reader(watcher);
      for (let i = 0; i < 100; i++) writeFileSync(`${dir}/n${i}`, "");
      await reader.until("the overflow", (evs) => evs.some((e) => e.kind === "overflow"));
      await assert.rejects(
        watcher.writeSnapshot(`${dir}.snap`),
        /Cannot write snapshot: events were lost in an overflow/,
      );
    } finally {
      removeDir(dir);
    }
  });

  it("refuses a watcher that is not recursive, before writing anything", async () => {
    const dir = tempDir();
    try {
      await using watcher = watch(dir, { recursive: false });
      await watcher.ready;
      await assert.rejects(
        watcher.writeSnapshot(`${dir}/snap`),
        /Cannot write snapshot: this watcher is not recursive/,
      );
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      removeDir(dir);
    }
  });
});
