import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { watch, type Watcher, type WatchEvent, WatchLimitError } from "../../mod.ts";
import { runFile } from "../fixtures/runtime.ts";
import {
  apply,
  assertFdCount,
  fdCount,
  kernelWatchCount,
  lines,
  Reader,
  realTree,
  removeDir,
  show,
  tempDir,
  withSysctl,
} from "../fixtures/watch.ts";

/** Runs `body` with a temp dir and a watcher on it; checks that no fd is left open afterwards. */
async function withWatcher(
  options: Parameters<typeof watch>[1],
  body: (dir: string, watcher: Watcher, reader: Reader) => Promise<void>,
  prepare?: (dir: string) => void,
): Promise<void> {
  const dir = tempDir();
  const before = fdCount();
  try {
    prepare?.(dir);
    const watcher = watch(dir, options);
    try {
      await watcher.ready;
      await body(dir, watcher, new Reader(watcher));
    } finally {
      await watcher.close();
    }
  } finally {
    removeDir(dir);
  }
  // A worker's own fds may take a moment to go after terminate().
  await assertFdCount(before);
}

// The runtime opens a few fds of its own for the first worker thread: start it before counting
// (the reader thread starts when a consumer first has to wait, so wait before the event comes).
before(async () => {
  const dir = tempDir();
  try {
    await using watcher = watch(dir);
    await watcher.ready;
    const first = new Reader(watcher).until("a first event", (evs) => evs.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(`${dir}/warm-up`, "");
    await first;
  } finally {
    removeDir(dir);
  }
});

const created = (events: WatchEvent[], path: string) =>
  events.filter((e) => e.kind === "create" && e.path === path).length;

describe("watch() recursion", () => {
  it("reports every directory and file of 25 rounds of mkdir-then-write, once each", async () => {
    await withWatcher({}, async (dir, _watcher, reader) => {
      for (let i = 0; i < 25; i++) {
        mkdirSync(`${dir}/d${i}`);
        writeFileSync(`${dir}/d${i}/f${i}`, "x");
      }
      const want = Array.from({ length: 25 }, (_, i) => [`${dir}/d${i}`, `${dir}/d${i}/f${i}`]).flat();
      await reader.until("25 dirs and files", (evs) => want.every((p) => created(evs, p) > 0));
      await reader.settle(150);
      for (const p of want) assert.equal(created(reader.events, p), 1, `create ${p} reported once`);
    });
  });

  it("reports every level of `mkdir -p a/b/c/d && touch a/b/c/d/f` run in a tight loop", async () => {
    await withWatcher({}, async (dir, watcher, reader) => {
      const run = spawnSync("sh", ["-c", "for i in $(seq 20); do mkdir -p n$i/b/c/d && touch n$i/b/c/d/f; done"], {
        cwd: dir,
      });
      assert.equal(run.status, 0);
      const want = Array.from({ length: 20 }, (_, i) => {
        const n = `${dir}/n${i + 1}`;
        return [n, `${n}/b`, `${n}/b/c`, `${n}/b/c/d`, `${n}/b/c/d/f`];
      }).flat();
      await reader.until("every level", (evs) => want.every((p) => created(evs, p) > 0));
      await reader.settle(150);
      for (const p of want) assert.equal(created(reader.events, p), 1, `create ${p} reported once`);
      assert.equal(watcher.stats().watches, 1 + 20 * 4, "one watch per directory, none per file");
      assert.equal(kernelWatchCount(), 1 + 20 * 4);
    });
  });

  it("does not report what exists before ready", async () => {
    await withWatcher({}, async (dir, watcher, reader) => {
      assert.equal(watcher.stats().watches, 3);
      writeFileSync(`${dir}/x/y/new`, "");
      await reader.until("the new file", (evs) => created(evs, `${dir}/x/y/new`) === 1);
      assert.deepEqual(reader.events.map(show), [`create ${dir}/x/y/new`]);
    }, (dir) => {
      mkdirSync(`${dir}/x/y`, { recursive: true });
      writeFileSync(`${dir}/x/old`, "");
    });
  });
});

describe("watch() renames", () => {
  it("reports a move within the trees as one rename, a move in as create, a move out as delete", async () => {
    const outside = tempDir();
    try {
      await withWatcher({}, async (dir, watcher, reader) => {
        renameSync(`${dir}/a`, `${dir}/b`);
        renameSync(`${outside}/in`, `${dir}/in`);
        renameSync(`${dir}/sub`, `${outside}/sub`);
        renameSync(`${dir}/b`, `${outside}/b`);
        await reader.until("four moves", (evs) => evs.length >= 4);
        await reader.settle(150);
        assert.deepEqual(reader.events.map(show), [
          `rename ${dir}/a -> ${dir}/b`,
          `create ${dir}/in`,
          `delete ${dir}/sub/`,
          `delete ${dir}/b`,
        ]);
        assert.equal(watcher.stats().watches, 1, "the moved-out subtree's watches are dropped");
        assert.equal(kernelWatchCount(), 1);
        writeFileSync(`${outside}/sub/deep/later`, "");
        assert.equal(await reader.next(150), undefined, "nothing from a moved-out tree");
      }, (dir) => {
        writeFileSync(`${dir}/a`, "");
        mkdirSync(`${dir}/sub/deep`, { recursive: true });
        writeFileSync(`${outside}/in`, "");
      });
    } finally {
      removeDir(outside);
    }
  });

  it("pairs the halves of a rename that arrive in different reads", async () => {
    // 255-byte names make each record 272 bytes: with 272-byte reads, one record per read.
    const a = "a".repeat(255), b = "b".repeat(255);
    await withWatcher({ bufferSize: 272 }, async (dir, _watcher, reader) => {
      for (let i = 0; i < 3; i++) {
        renameSync(`${dir}/${i % 2 ? b : a}`, `${dir}/${i % 2 ? a : b}`);
      }
      await reader.until("three renames", (evs) => evs.length >= 3);
      await reader.settle(150);
      assert.deepEqual(reader.events.map((e) => e.kind), ["rename", "rename", "rename"]);
      assert.equal(reader.events[2].path, `${dir}/${b}`);
    }, (dir) => writeFileSync(`${dir}/${a}`, ""));
  });

  it("gives the contents of a renamed directory their new paths", async () => {
    await withWatcher({}, async (dir, _watcher, reader) => {
      renameSync(`${dir}/old`, `${dir}/new`);
      writeFileSync(`${dir}/new/x/y/z/deep.txt`, "1");
      mkdirSync(`${dir}/new/x/y/z/more`);
      writeFileSync(`${dir}/new/x/y/z/more/f`, "2");
      await reader.until("the deep file", (evs) => created(evs, `${dir}/new/x/y/z/more/f`) === 1);
      const paths = reader.events.map((e) => e.path);
      assert.equal(reader.events[0].kind, "rename");
      assert.ok(paths.includes(`${dir}/new/x/y/z/deep.txt`));
      assert.ok(paths.every((p) => !p.includes("/old/")), paths.join("\n"));
    }, (dir) => mkdirSync(`${dir}/old/x/y/z`, { recursive: true }));
  });
});

describe("watch() exclude and symlinks", () => {
  it("places no watch in excluded subtrees and reports nothing from them", async () => {
    const exclude = (p: string) => p.endsWith("/node_modules");
    await withWatcher({ exclude, events: ["create", "delete", "rename"] }, async (dir, watcher, reader) => {
      assert.equal(watcher.stats().watches, 3, "root, src, src/a");
      assert.equal(kernelWatchCount(), 3);
      writeFileSync(`${dir}/node_modules/pkg/x`, "");
      mkdirSync(`${dir}/src/node_modules/deeper`, { recursive: true });
      writeFileSync(`${dir}/src/a/kept`, "");
      await reader.until("the kept file", (evs) => created(evs, `${dir}/src/a/kept`) === 1);
      await reader.settle(100);
      assert.deepEqual(reader.events.map(show), [`create ${dir}/src/a/kept`]);
      assert.equal(kernelWatchCount(), 3);
    }, (dir) => {
      mkdirSync(`${dir}/node_modules/pkg/lib`, { recursive: true });
      mkdirSync(`${dir}/src/a`, { recursive: true });
    });
  });

  it("does not follow symlinks by default; with followSymlinks, follows them without loops", async () => {
    const target = tempDir();
    try {
      mkdirSync(`${target}/t1/t2`, { recursive: true });
      await withWatcher({}, (_dir, watcher) => {
        assert.equal(watcher.stats().watches, 2);
        return Promise.resolve();
      }, (dir) => {
        mkdirSync(`${dir}/real`);
        symlinkSync(target, `${dir}/link`);
        symlinkSync(dir, `${dir}/real/loop`);
      });
      await withWatcher({ followSymlinks: true }, async (dir, watcher, reader) => {
        assert.equal(watcher.stats().watches, 2 + 3, "root, real, and target's three directories");
        writeFileSync(`${target}/t1/t2/f`, "");
        await reader.until("a file behind the link", (evs) => created(evs, `${dir}/link/t1/t2/f`) === 1);
      }, (dir) => {
        mkdirSync(`${dir}/real`);
        symlinkSync(target, `${dir}/link`);
        symlinkSync(dir, `${dir}/real/loop`);
      });
    } finally {
      removeDir(target);
    }
  });
});

describe("watch() overflow", () => {
  it("after an overflow forced while the consumer is stopped, applying every event gives the real tree", async () => {
    const dir = tempDir();
    const before = fdCount();
    let watcher: Watcher | undefined;
    try {
      mkdirSync(`${dir}/keep/k1`, { recursive: true });
      mkdirSync(`${dir}/gone/g1`, { recursive: true });
      mkdirSync(`${dir}/moved/m1`, { recursive: true });
      for (let i = 0; i < 10; i++) writeFileSync(`${dir}/keep/f${i}`, "");
      const known = realTree(dir);
      // The kernel takes max_queued_events at inotify_init1(): restore it right after.
      watcher = await withSysctl("max_queued_events", 64, () => watch(dir, { ringSize: 272, bufferSize: 272 }));
      await watcher.ready;
      const reader = new Reader(watcher);
      writeFileSync(`${dir}/first`, "");
      await reader.until("the first event", (evs) => evs.length > 0);
      apply(known, dir, reader.events[0]);
      // The consumer is stopped now: 300 changes overflow a 64-event queue behind a tiny ring.
      for (let i = 0; i < 200; i++) writeFileSync(`${dir}/keep/n${i}`, "");
      rmSync(`${dir}/gone`, { recursive: true });
      renameSync(`${dir}/moved`, `${dir}/keep/moved-here`);
      mkdirSync(`${dir}/fresh/a/b`, { recursive: true });
      writeFileSync(`${dir}/fresh/a/b/f`, "");
      for (let i = 0; i < 5; i++) unlinkSync(`${dir}/keep/f${i}`);
      appendFileSync(`${dir}/keep/f9`, "changed");
      const events = await reader.settle(300, 20000);
      const overflows = events.filter((e) => e.kind === "overflow");
      assert.equal(overflows.length, 1, "one overflow event");
      assert.equal(overflows[0].path, dir);
      for (const ev of events.slice(1)) apply(known, dir, ev);
      assert.deepEqual(lines(known), lines(realTree(dir)));
      const after = events.slice(events.indexOf(overflows[0]));
      assert.ok(after.some((e) => e.kind === "modify" && e.path === `${dir}/keep/f9`), "the lost modify is reported");
      const stats = watcher.stats();
      assert.deepEqual([stats.overflows, stats.rescans], [1, 1]);
      assert.equal(stats.watches, realTree(dir).values().filter((d) => d).toArray().length + 1);
      assert.equal(kernelWatchCount(), stats.watches);
      // The rescan did not feed the stream: nothing more comes.
      assert.equal(await reader.next(200), undefined);
    } finally {
      await watcher?.close();
      removeDir(dir);
    }
    await assertFdCount(before);
  });

  it("changes queued behind the Q_OVERFLOW, which its rescan sees, are not applied twice", async () => {
    const dir = tempDir();
    const before = fdCount();
    let watcher: Watcher | undefined;
    try {
      mkdirSync(`${dir}/a/s1`, { recursive: true });
      writeFileSync(`${dir}/a/s1/x`, "");
      mkdirSync(`${dir}/b`);
      const known = realTree(dir);
      // Small batches: the first one is handed out before the reader reaches the Q_OVERFLOW.
      watcher = await withSysctl("max_queued_events", 64, () => watch(dir, { bufferSize: 272 }));
      await watcher.ready;
      for (let i = 0; i < 100; i++) writeFileSync(`${dir}/a/f${i}`, ""); // 300 events: overflow
      const reader = new Reader(watcher);
      await reader.until("the first event", (evs) => evs.length > 0);
      // Queued after the Q_OVERFLOW, done before the rescan it causes: the rescan sees them.
      renameSync(`${dir}/a/s1`, `${dir}/b/s2`);
      mkdirSync(`${dir}/a/s1`);
      const events = await reader.settle(300, 20000);
      assert.equal(events.filter((e) => e.kind === "overflow").length, 1, "one overflow event");
      for (const ev of events) apply(known, dir, ev);
      assert.deepEqual(lines(known), lines(realTree(dir)));
      assert.equal(watcher.stats().watches, 5, "root, a, a/s1, b, b/s2");
      writeFileSync(`${dir}/b/s2/after`, "");
      await reader.until("an event from the moved directory", (evs) => created(evs, `${dir}/b/s2/after`) === 1);
    } finally {
      await watcher?.close();
      removeDir(dir);
    }
    await assertFdCount(before);
  });

  it("lists names that are not UTF-8 as their events name them: the rescan reports no change for them", async () => {
    const dir = tempDir();
    const oddName = (bytes: string) => spawnSync("sh", ["-c", `touch "$(printf '${bytes}')"`], { cwd: dir }).status;
    let watcher: Watcher | undefined;
    try {
      assert.equal(oddName("old\\377name"), 0);
      watcher = await withSysctl("max_queued_events", 16, () => watch(dir, { ringSize: 272, bufferSize: 272 }));
      await watcher.ready;
      assert.equal(oddName("new\\376name"), 0); // its create comes before the overflow
      for (let i = 0; i < 100; i++) writeFileSync(`${dir}/n${i}`, "");
      const events = await new Reader(watcher).settle(300, 20000);
      assert.equal(events.filter((e) => e.kind === "overflow").length, 1, "one overflow event");
      const odd = events.filter((e) => e.path.includes("\ufffd") && e.kind !== "attrib" && e.kind !== "close_write");
      assert.deepEqual(odd.map(show), [`create ${dir}/new\ufffdname`]);
    } finally {
      await watcher?.close();
      removeDir(dir);
    }
  });

  it('with onOverflow "report", reports the overflow and rescans nothing', async () => {
    const dir = tempDir();
    let watcher: Watcher | undefined;
    try {
      const options = { ringSize: 272, bufferSize: 272, onOverflow: "report" } as const;
      watcher = await withSysctl("max_queued_events", 16, () => watch(dir, options));
      await watcher.ready;
      for (let i = 0; i < 100; i++) writeFileSync(`${dir}/n${i}`, "");
      const reader = new Reader(watcher);
      await reader.until("the overflow", (evs) => evs.some((e) => e.kind === "overflow"));
      assert.deepEqual([watcher.stats().overflows, watcher.stats().rescans], [1, 0]);
    } finally {
      await watcher?.close();
      removeDir(dir);
    }
  });
});

describe("watch() lifetime", () => {
  it("abort rejects the pending iteration with an AbortError, then it is done", async () => {
    const controller = new AbortController();
    await withWatcher({ signal: controller.signal }, async (_dir, watcher) => {
      const it = watcher[Symbol.asyncIterator]();
      const pending = it.next();
      controller.abort(new Error("stop"));
      await assert.rejects(
        pending,
        (err: Error & { code?: string }) =>
          err.name === "AbortError" && err.code === "ABORT_ERR" && (err.cause as Error).message === "stop",
      );
      assert.deepEqual(await it.next(), { done: true, value: undefined });
      assert.equal(watcher.closed, true);
    });
  });

  it("throws an AbortError for an aborted signal before opening anything", () => {
    const before = fdCount();
    assert.throws(() => watch("/", { signal: AbortSignal.abort() }), { name: "AbortError" });
    assert.equal(fdCount(), before);
  });

  it("rejects ready with ENOENT for a missing path, and closes everything", async () => {
    const before = fdCount();
    const watcher = watch("/no/such/notiq/dir");
    await assert.rejects(watcher.ready, { code: "ENOENT", path: "/no/such/notiq/dir" });
    await assert.rejects(watcher[Symbol.asyncIterator]().next(), { code: "ENOENT" });
    assert.equal(watcher.closed, true);
    for (let i = 0; i < 150 && fdCount() > before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(fdCount(), before);
  });

  it("throws TypeError/RangeError for bad arguments", () => {
    assert.throws(() => watch([]), TypeError);
    assert.throws(() => watch("/", { events: ["nope" as "create"] }), RangeError);
    assert.throws(() => watch("/", { exclude: "x" as unknown as () => boolean }), TypeError);
  });

  it("watches a file root: modify, then delete", async () => {
    const dir = tempDir();
    try {
      writeFileSync(`${dir}/file`, "");
      await using watcher = watch(`${dir}/file`);
      await watcher.ready;
      appendFileSync(`${dir}/file`, "x");
      unlinkSync(`${dir}/file`);
      const reader = new Reader(watcher);
      await reader.until("the delete", (evs) => evs.some((e) => e.kind === "delete"));
      assert.deepEqual(reader.events.map((e) => e.kind).filter((k) => k !== "attrib"), [
        "modify",
        "close_write",
        "delete",
      ]);
    } finally {
      removeDir(dir);
    }
  });

  it("reports the numbers when fs.inotify.max_user_watches is reached (in a user namespace)", {
    skip: spawnSync("unshare", ["-U", "-r", "true"]).status === 0 ? false : "unshare -U -r is not available",
  }, () => {
    const dir = tempDir();
    try {
      for (let i = 0; i < 30; i++) mkdirSync(`${dir}/d${i}`);
      const script = fileURLToPath(new URL("../fixtures/watch_limit.ts", import.meta.url));
      const runtime = runFile(script);
      const run = spawnSync("unshare", [
        "-U",
        "-r",
        "sh",
        "-c",
        'echo 20 > /proc/sys/user/max_inotify_watches && exec "$@"',
        "sh",
        ...runtime,
        dir,
      ], { encoding: "utf8" });
      assert.equal(run.status, 0, run.stderr);
      const err = JSON.parse(run.stdout);
      assert.equal(err.name, "WatchLimitError");
      assert.equal(err.code, "ENOSPC");
      assert.deepEqual([err.watchesHeld, err.watchesNeeded, err.limit], [20, 31, 20]);
      assert.match(err.message, /holds 20 watches and the tree needs 31.*max_user_watches/);
      assert.ok(WatchLimitError.prototype instanceof Error);
    } finally {
      removeDir(dir);
    }
  });
});
