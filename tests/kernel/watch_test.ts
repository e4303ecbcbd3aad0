import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as nodeFs from "node:fs";
import { IN, Inotify, watch, type WatchEvent, WatchLimitError } from "../../mod.ts";
import { churn, fill, Rng } from "../fixtures/churn.ts";
import { churnScript } from "../fixtures/churn_script.ts";
import { deadline } from "../helpers.ts";
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
  runWhileReading,
  show,
  tempDir,
  warmUp,
  withWatcher,
} from "../fixtures/watch.ts";

before(warmUp);

const created = (events: WatchEvent[], path: string) =>
  events.filter((e) => e.kind === "create" && e.path === path).length;

describe("watch() recursion", () => {
  it("reports every directory and file of 25 rounds of mkdir-then-write, once each", async () => {
    await withWatcher({}, async (dir, watcher, reader) => {
      for (let i = 0; i < 25; i++) {
        mkdirSync(`${dir}/d${i}`);
        writeFileSync(`${dir}/d${i}/f${i}`, "x");
      }
      const want = Array.from({ length: 25 }, (_, i) => [`${dir}/d${i}`, `${dir}/d${i}/f${i}`]).flat();
      await reader.synced(watcher);
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
      await reader.synced(watcher);
      for (const p of want) assert.equal(created(reader.events, p), 1, `create ${p} reported once`);
      assert.equal(watcher.stats().watches, 1 + 20 * 4, "one watch per directory, none per file");
      assert.equal(kernelWatchCount(), 1 + 20 * 4);
    });
  });

  it("does not report what exists before ready", async () => {
    // (Bun's writeFileSync of "" writes: a modify that Deno's does not make; not the point here.)
    await withWatcher({ events: ["create", "delete", "rename"] }, async (dir, watcher, reader) => {
      assert.equal(watcher.stats().watches, 3);
      writeFileSync(`${dir}/x/y/new`, "");
      await reader.synced(watcher);
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
        await reader.synced(watcher);
        assert.deepEqual(reader.events.map(show), [
          `rename ${dir}/a -> ${dir}/b`,
          `create ${dir}/in`,
          `delete ${dir}/sub/`,
          `delete ${dir}/b`,
        ]);
        assert.equal(watcher.stats().watches, 1, "the moved-out subtree's watches are dropped");
        assert.equal(kernelWatchCount(), 1);
        writeFileSync(`${outside}/sub/deep/later`, "");
        await reader.synced(watcher);
        assert.equal(reader.events.length, 4, "nothing from a moved-out tree");
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
    await withWatcher({ bufferSize: 272 }, async (dir, watcher, reader) => {
      for (let i = 0; i < 3; i++) {
        renameSync(`${dir}/${i % 2 ? b : a}`, `${dir}/${i % 2 ? a : b}`);
      }
      await reader.synced(watcher);
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
      await reader.synced(watcher);
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
  const tiny = { ringSize: 272, bufferSize: 272 }; // a ring of one record: the kernel queue fills

  it("after an overflow forced while the consumer is stopped, applying every event gives the real tree", async () => {
    let known = new Map<string, boolean>();
    await withWatcher(tiny, async (dir, watcher, reader) => {
      known = realTree(dir);
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
      // The kernel queue is full: sync()'s own mark is dropped with the rest, and made again after
      // the overflow is read.
      const events = await reader.synced(watcher, "the repaired stream");
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
      await reader.synced(watcher);
      assert.equal(reader.events.length, events.length);
    }, (dir) => {
      mkdirSync(`${dir}/keep/k1`, { recursive: true });
      mkdirSync(`${dir}/gone/g1`, { recursive: true });
      mkdirSync(`${dir}/moved/m1`, { recursive: true });
      for (let i = 0; i < 10; i++) writeFileSync(`${dir}/keep/f${i}`, "");
    }, 64);
  });

  it("changes queued behind the Q_OVERFLOW, which its rescan sees, are not applied twice", async () => {
    // Small batches: the first one is handed out before the reader reaches the Q_OVERFLOW.
    await withWatcher({ bufferSize: 272 }, async (dir, watcher, reader) => {
      const known = realTree(dir);
      for (let i = 0; i < 100; i++) writeFileSync(`${dir}/a/f${i}`, ""); // 300 events: overflow
      await reader.until("the first event", (evs) => evs.length > 0);
      // Queued after the Q_OVERFLOW, done before the rescan it causes: the rescan sees them.
      renameSync(`${dir}/a/s1`, `${dir}/b/s2`);
      mkdirSync(`${dir}/a/s1`);
      const events = await reader.synced(watcher, "the repaired stream");
      assert.equal(events.filter((e) => e.kind === "overflow").length, 1, "one overflow event");
      for (const ev of events) apply(known, dir, ev);
      assert.deepEqual(lines(known), lines(realTree(dir)));
      assert.equal(watcher.stats().watches, 5, "root, a, a/s1, b, b/s2");
      writeFileSync(`${dir}/b/s2/after`, "");
      await reader.until("an event from the moved directory", (evs) => created(evs, `${dir}/b/s2/after`) === 1);
    }, (dir) => {
      mkdirSync(`${dir}/a/s1`, { recursive: true });
      writeFileSync(`${dir}/a/s1/x`, "");
      mkdirSync(`${dir}/b`);
    }, 64);
  });

  it("lists names that are not UTF-8 as their events name them: the rescan reports no change for them", async () => {
    const oddName = (dir: string, bytes: string) =>
      spawnSync("sh", ["-c", `touch "$(printf '${bytes}')"`], { cwd: dir }).status;
    await withWatcher(
      tiny,
      async (dir, watcher, reader) => {
        assert.equal(oddName(dir, "new\\376name"), 0); // its create comes before the overflow
        for (let i = 0; i < 100; i++) writeFileSync(`${dir}/n${i}`, "");
        const events = await reader.synced(watcher, "the repaired stream");
        assert.equal(events.filter((e) => e.kind === "overflow").length, 1, "one overflow event");
        const odd = events.filter((e) => e.path.includes("\ufffd") && e.kind !== "attrib" && e.kind !== "close_write");
        assert.deepEqual(odd.map(show), [`create ${dir}/new\ufffdname`]);
      },
      (dir) => assert.equal(oddName(dir, "old\\377name"), 0),
      16,
    );
  });

  it("overflows in the middle of random churn: applying every event still gives the real tree", async () => {
    const outside = tempDir();
    const seed = Number(process.env.NOTIQ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    try {
      await withWatcher(tiny, async (dir, watcher, reader) => {
        const known = realTree(dir);
        // First with the consumer stopped: the 64-event queue overflows for sure (the writes into
        // a watched directory do it: what is made in a new one before the consumer reads its
        // CREATE queues nothing). Then while a slow consumer, which walks the tree after each
        // event, reads: changes made during rescans.
        const fill = "for i in $(seq 60); do echo $i > w$i; done\n";
        const first = spawnSync("sh", ["-c", fill + churnScript(seed, 150, `${outside}/1`)], { cwd: `${dir}/1` });
        assert.equal(first.status, 0, `churn seed ${seed}: the script failed`);
        const walk = () => {
          try {
            realTree(dir);
          } catch {
            // changed under the walk
          }
        };
        const status = await runWhileReading(reader, churnScript(seed + 1, 150, `${outside}/2`), `${dir}/2`, walk);
        assert.equal(status, 0, `churn seed ${seed + 1}: the script failed`);
        const events = await reader.synced(watcher, "the repaired stream");
        for (const ev of events) apply(known, dir, ev);
        const real = realTree(dir);
        const stats = watcher.stats();
        assert.ok(stats.overflows > 0, `no overflow (seed ${seed})`);
        const what = `churn seed ${seed}, ${stats.overflows} overflows (NOTIQ_SEED=${seed} repeats it)`;
        assert.deepEqual(lines(known), lines(real), what);
        assert.equal(stats.watches, [...real.values()].filter((d) => d).length + 1, what);
        assert.equal(kernelWatchCount(), stats.watches);
      }, (dir) => {
        for (const round of ["1", "2"]) mkdirSync(`${dir}/${round}`), mkdirSync(`${outside}/${round}`);
      }, 64);
    } finally {
      removeDir(outside);
    }
  });

  it('with onOverflow "report", reports the overflow and rescans nothing', async () => {
    await withWatcher(
      { ...tiny, onOverflow: "report" },
      async (dir, watcher, reader) => {
        for (let i = 0; i < 100; i++) writeFileSync(`${dir}/n${i}`, "");
        await reader.until("the overflow", (evs) => evs.some((e) => e.kind === "overflow"));
        assert.deepEqual([watcher.stats().overflows, watcher.stats().rescans], [1, 0]);
      },
      undefined,
      16,
    );
  });
});

describe("watch() sync()", () => {
  it("resolves after hundreds of changes a child shell made as fast as it can: the applied events give the real tree", async () => {
    const outside = tempDir();
    const seed = Number(process.env.NOTIQ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    try {
      await withWatcher({}, async (dir, watcher, reader) => {
        const known = realTree(dir);
        for (const round of [seed, seed + 1]) {
          mkdirSync(`${dir}/${round}`); // each round in a directory of its own: the script knows only its own names
          mkdirSync(`${outside}/${round}`);
          const script = churnScript(round, 400, `${outside}/${round}`);
          const status = await runWhileReading(reader, script, `${dir}/${round}`);
          assert.equal(status, 0, `churn seed ${round}: the script failed`);
          await reader.synced(watcher);
          for (const ev of reader.events.splice(0)) apply(known, dir, ev);
          const real = realTree(dir);
          assert.deepEqual(lines(known), lines(real), `churn seed ${round} (NOTIQ_SEED=${seed} repeats this test)`);
          assert.equal(watcher.stats().watches, [...real.values()].filter((d) => d).length + 1, `seed ${round}`);
          assert.equal(kernelWatchCount(), watcher.stats().watches);
        }
      });
    } finally {
      removeDir(outside);
    }
  });

  it("resolves after in-process churn read only afterwards (new directories swapped before their records were read): the applied events give the real tree", async () => {
    // Seeds that once left two swapped directories' contents swapped in the tree, then random ones.
    const seed = Number(process.env.NOTIQ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    for (const round of [2, 28, 130, 136, seed, seed + 1, seed + 2, seed + 3]) {
      await withWatcher({}, async (dir, watcher, reader) => {
        const known = realTree(dir);
        fill(nodeFs, new Rng(round), dir, 3, 2, 2);
        const log = churn(nodeFs, new Rng(round), dir, 40); // nothing read meanwhile: every scan sees the end
        await reader.synced(watcher);
        for (const ev of reader.events) apply(known, dir, ev);
        const real = realTree(dir);
        const what = `churn seed ${round} (NOTIQ_SEED=${seed} repeats this test):\n${log.join("\n")}`;
        assert.deepEqual(lines(known), lines(real), what);
        assert.equal(watcher.stats().watches, [...real.values()].filter((d) => d).length + 1, what);
        assert.equal(kernelWatchCount(), watcher.stats().watches, what);
      });
    }
  });

  it("resolves after in-process churn read in part between the steps: the applied events give the real tree", async () => {
    // Between steps the consumer takes what is ready (up to a few events, 1 ms each at most): the
    // tree reads some records while the disk is ahead of them, and others as they come.
    const seed = Number(process.env.NOTIQ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    for (const round of [316, seed, seed + 1, seed + 2]) {
      await withWatcher({}, async (dir, watcher, reader) => {
        const known = realTree(dir);
        fill(nodeFs, new Rng(round), dir, 3, 2, 2);
        const rng = new Rng(round), log: string[] = [];
        for (let step = 0; step < 150; step++) {
          try {
            log.push(...churn(nodeFs, rng, dir, 1));
          } catch (err) { // a name made twice (each call numbers its names from 0): the step stops there
            log.push(`(${(err as Error).message.split("\n")[0]})`);
          }
          for (let k = rng.int(4); k > 0; k--) await reader.next(1);
        }
        await reader.synced(watcher);
        for (const ev of reader.events) apply(known, dir, ev);
        const real = realTree(dir);
        const what = `churn seed ${round} (NOTIQ_SEED=${seed} repeats this test):\n${log.join("\n")}`;
        assert.deepEqual(lines(known), lines(real), what);
        assert.equal(kernelWatchCount(), [...real.values()].filter((d) => d).length + 1, what);
      });
    }
  });

  it("after two new directories were swapped before their records were read, each path ends with its own contents", async () => {
    await withWatcher({}, async (dir, watcher, reader) => {
      mkdirSync(`${dir}/a`);
      mkdirSync(`${dir}/b`);
      writeFileSync(`${dir}/b/f`, "");
      renameSync(`${dir}/a`, `${dir}/t`);
      renameSync(`${dir}/b`, `${dir}/a`);
      renameSync(`${dir}/t`, `${dir}/b`);
      const events = await reader.synced(watcher);
      // a and b are listed where they are at the end; the renames, read then, move what was listed.
      assert.deepEqual(events.map((ev) => show(ev).replaceAll(`${dir}/`, "")), [
        "create a/",
        "create a/f",
        "create b/",
        "rename a -> t/",
        "rename b -> a/",
        "create a/f",
        "rename t -> b/",
        "delete b/f",
      ]);
      const known = new Map<string, boolean>();
      for (const ev of events) apply(known, dir, ev);
      assert.deepEqual(lines(known), lines(realTree(dir)));
      assert.equal(kernelWatchCount(), 3);
    });
  });

  it("a rename read after its target was listed inside the renamed directory is a move out, and what follows brings it back", async () => {
    await withWatcher({}, async (dir, watcher, reader) => {
      mkdirSync(`${dir}/x`);
      await reader.synced(watcher); // x is watched
      mkdirSync(`${dir}/n`);
      renameSync(`${dir}/n`, `${dir}/x/n`); // queued as: n moved into x's watch
      renameSync(`${dir}/x/n`, `${dir}/n`);
      renameSync(`${dir}/x`, `${dir}/n/x`); // n, listed when its CREATE is read, holds x (and x's watch)
      const events = await reader.synced(watcher);
      assert.deepEqual(events.map((ev) => show(ev).replaceAll(`${dir}/`, "")), [
        "create x/",
        "create n/",
        "create n/x/",
        "delete n/",
        "create n/",
        "create n/x/",
        "delete x/",
      ]);
      const known = new Map<string, boolean>();
      for (const ev of events) apply(known, dir, ev);
      assert.deepEqual(lines(known), lines(realTree(dir)));
      assert.equal(kernelWatchCount(), 3);
    });
  });

  it("writes nothing in the watched tree and opens nothing there", async () => {
    await withWatcher({}, async (dir, watcher, reader) => {
      const tree = lines(realTree(dir));
      const { mtimeMs, ctimeMs } = statSync(`${dir}/sub`);
      using spy = new Inotify(); // another queue that sees every event in the tree
      spy.addWatch(dir, IN.ALL_EVENTS);
      spy.addWatch(`${dir}/sub`, IN.ALL_EVENTS);
      for (let i = 0; i < 10; i++) await reader.synced(watcher);
      assert.equal(spy.pendingBytes(), 0, "no inotify event in the tree: nothing opened, read or written");
      const links = readdirSync("/proc/self/fd").map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return ""; // the listing's own fd
        }
      });
      assert.deepEqual(links.filter((link) => link.startsWith(dir)), [], "no fd open under the tree");
      assert.ok(links.some((link) => link.startsWith("/memfd:notiq-marker")), "the marker is a memfd");
      assert.deepEqual(lines(realTree(dir)), tree);
      assert.deepEqual([statSync(`${dir}/sub`).mtimeMs, statSync(`${dir}/sub`).ctimeMs], [mtimeMs, ctimeMs]);
      assert.deepEqual(reader.events, [], "the marks are never shown to the consumer");
      assert.equal(watcher.stats().watches, 2, "nor counted as watches");
    }, (dir) => {
      mkdirSync(`${dir}/sub`);
      writeFileSync(`${dir}/sub/f`, "");
    });
  });

  it("without a consumer stays pending; resolves once a consumer has pulled every event before it", async () => {
    await withWatcher({ events: ["create", "delete", "rename"] }, async (dir, watcher) => {
      writeFileSync(`${dir}/a`, "");
      const log: string[] = [];
      const synced = watcher.sync().then(() => log.push("synced"));
      // Turns of the event loop, not a wait for time: records become events only in a consumer's
      // next(), so nothing can resolve sync() here however long this takes.
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      assert.equal(log.length, 0, "sync() resolved without a consumer");
      const it = watcher[Symbol.asyncIterator]();
      void (async () => {
        for (let r = await it.next(); !r.done; r = await it.next()) log.push(show(r.value));
      })();
      await deadline(synced, 5000, "sync()");
      assert.deepEqual(log, [`create ${dir}/a`, "synced"]);
    });
  });

  it("rejects when the watcher closes first, and once it is closed", async () => {
    await withWatcher({}, async (dir, watcher) => {
      writeFileSync(`${dir}/a`, "");
      const pending = watcher.sync(); // no consumer: it stays pending
      await watcher.close();
      await assert.rejects(pending, { message: "Cannot sync: the watcher was closed first" });
      await assert.rejects(watcher.sync(), { message: "Cannot sync: this watcher is closed" });
    });
  });

  it("rejects with an AbortError when the signal closes the watcher first", async () => {
    const controller = new AbortController();
    await withWatcher({ signal: controller.signal }, async (_dir, watcher) => {
      const pending = watcher.sync();
      controller.abort(new Error("stop"));
      await assert.rejects(
        pending,
        (err: Error) => err.name === "AbortError" && (err.cause as Error).message === "stop",
      );
    });
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
    await assertFdCount(before);
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
