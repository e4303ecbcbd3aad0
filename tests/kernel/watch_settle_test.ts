/**
 * `watch({ settle })` against the real kernel: each folding rule from a real file-system sequence
 * run by a shell, the 10 * ms bound, random churn, sync(), close and overflow with held events.
 * The Settler's own rules are tested without a kernel in tests/queue/settle_test.ts.
 * @module
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import process from "node:process";
import { watch, type WatchEvent, type WatchEventKind } from "../../mod.ts";
import { NEEDS_ROOT } from "../helpers.ts";
import { churnScript } from "../fixtures/churn_script.ts";
import { onceEach } from "../fixtures/settled.ts";
import {
  apply,
  fdCount,
  lines,
  realTree,
  removeDir,
  runWhileReading,
  show,
  tempDir,
  waitFor,
  warmUp,
  withWatcher,
} from "../fixtures/watch.ts";

/** Long enough that no window ends by time in a test: only sync(), close or an overflow flush. */
const NEVER = 600_000;

/** Runs `script` with sh in `cwd` to its end; fails on a non-zero status. */
function sh(script: string, cwd: string): void {
  const r = spawnSync("sh", ["-ec", script], { cwd, encoding: "utf8" });
  assert.equal(r.status, 0, `${script}: ${r.stderr}`);
}

/** Events as lines with paths relative to `dir`. */
const rel = (dir: string, events: WatchEvent[]) => events.map((ev) => show(ev).replaceAll(`${dir}/`, ""));

before(warmUp);

/** A folding rule: what exists first, the shell's changes, and the settled events they give. */
interface Rule {
  name: string;
  files?: string[]; // made before the watcher starts; "d/" is a directory
  script: string;
  settled: string[];
  events?: WatchEventKind[]; // default: the default kinds
}

const RULES: Rule[] = [
  {
    name: "create + writes + chmod -> one create",
    script: "printf a > f; printf b >> f; chmod 600 f",
    settled: ["create f"],
  },
  { name: "create ... delete -> nothing", script: "printf a > t; mv t u; rm u", settled: [] },
  {
    name: "a new tree removed with rm -rf -> nothing",
    script: "mkdir -p d/e; printf x > d/e/f; rm -rf d",
    settled: [],
  },
  {
    name: "several writes -> one modify",
    files: ["f"],
    script: "printf 1 >> f; printf 2 >> f; printf 3 >> f",
    settled: ["modify f"],
  },
  { name: "attributes only -> attrib", files: ["f"], script: "chmod 600 f; chmod 644 f", settled: ["attrib f"] },
  { name: "delete then create -> modify", files: ["f"], script: "rm f; printf new > f", settled: ["modify f"] },
  {
    name: "atomic save (a temporary file renamed over the real one) -> one modify, nothing about the temporary",
    files: ["f"],
    script: "printf new > .f.tmp; mv .f.tmp f",
    settled: ["modify f"],
  },
  {
    name: "vim's save (4913 probe, f -> f~, write f, rm f~) -> one modify",
    files: ["f"],
    script: "echo x > 4913; rm 4913; mv f f~; printf new > f; rm f~",
    settled: ["modify f"],
  },
  {
    name: "vim's save keeping the backup -> the old file renamed to f~, a new f",
    files: ["f"],
    script: "echo x > 4913; rm 4913; mv f f~; printf new > f",
    settled: ["rename f -> f~", "create f"],
  },
  {
    name: "renames a -> b -> c -> one rename a -> c",
    files: ["a"],
    script: "mv a b; mv b c",
    settled: ["rename a -> c"],
  },
  {
    name: "a -> b -> a with a write -> modify a",
    files: ["a"],
    script: "mv a b; printf x >> b; mv b a",
    settled: ["modify a"],
  },
  {
    name: "a directory renamed, then written inside -> the rename, then the write at the new path",
    files: ["d/", "d/f"],
    script: "mv d e; printf x >> e/f",
    settled: ["rename d -> e/", "modify e/f"],
  },
  {
    name: "a new directory renamed and filled -> creates at the final paths",
    script: "mkdir d; mv d e; printf x > e/f",
    settled: ["create e/", "create e/f"],
  },
  {
    name: "rm -rf of an existing tree -> one delete",
    files: ["d/", "d/e/", "d/e/f", "d/g"],
    script: "rm -rf d",
    settled: ["delete d/"],
  },
  {
    name: 'events: ["modify"] is picked after folding: an atomic save is a modify of the real path',
    files: ["f"],
    script: "printf new > .f.tmp; mv .f.tmp f; printf x > other",
    settled: ["modify f"],
    events: ["modify"],
  },
];

describe("watch({ settle }) folding, from real file-system sequences", () => {
  for (const rule of RULES) {
    it(rule.name, async () => {
      // settle: NEVER, so the window is the whole script whatever the machine's load: sync() ends it.
      await withWatcher({ settle: NEVER, events: rule.events }, async (dir, watcher, reader) => {
        sh(rule.script, dir);
        await reader.synced(watcher);
        assert.deepEqual(rel(dir, reader.events), rule.settled);
        assert.equal(watcher.stats().held, 0);
      }, (dir) => {
        for (const f of rule.files ?? []) {
          if (f.endsWith("/")) mkdirSync(`${dir}/${f}`, { recursive: true });
          else writeFileSync(`${dir}/${f}`, "old");
        }
      });
    });
  }

  it("without settle the same atomic save is three events about the temporary and a rename", async () => {
    await withWatcher({}, async (dir, watcher, reader) => {
      sh("printf new > .f.tmp; mv .f.tmp f", dir);
      await reader.synced(watcher);
      assert.deepEqual(rel(dir, reader.events), [
        "create .f.tmp",
        "modify .f.tmp",
        "close_write .f.tmp",
        "rename .f.tmp -> f",
      ]);
    }, (dir) => writeFileSync(`${dir}/f`, "old"));
  });
});

describe("watch({ settle }) timing", () => {
  it("yields held events by itself once they have been quiet, folded", async () => {
    await withWatcher({ settle: 20 }, async (dir, watcher, reader) => {
      sh("printf a > f; printf b >> f", dir);
      // No sync(): only the settle timer can let the create out.
      const events = await reader.until("create f from the settle timer", (evs) => evs.length > 0);
      assert.deepEqual(rel(dir, events), ["create f"]);
      await reader.synced(watcher);
      assert.deepEqual(rel(dir, reader.events), ["create f"], "the window was folded whole");
    });
  });

  it("a stream that never goes quiet still comes out, within 10 * ms", async () => {
    // This test makes time pass on purpose: a child appends to a file every few ms, far more often
    // than the quiet time of 50 ms, so only the 10 * ms bound lets events out while it runs.
    await withWatcher({ settle: 50 }, async (dir, watcher, reader) => {
      const child = spawn("sh", ["-c", "while :; do printf x >> f; sleep 0.005; done"], { cwd: dir, stdio: "ignore" });
      const exited = once(child, "exit");
      try {
        await reader.until(
          "3 modify events while the writer runs",
          (evs) => evs.filter((e) => e.kind === "modify").length >= 3,
          15_000,
        );
        assert.equal(child.exitCode, null, "the writer still runs");
        assert.equal(watcher.stats().overflows, 0, "no overflow flushed them");
      } finally {
        child.kill();
        await exited;
      }
      await reader.synced(watcher);
      const events = reader.events;
      assert.deepEqual(events.slice(0, 1).map((e) => e.kind), ["create"]);
      // (a close_write stands alone when the kill came between a write and its close)
      assert.ok(
        events.slice(1).every((e) => (e.kind === "modify" || e.kind === "close_write") && e.path === `${dir}/f`),
        rel(dir, events).join("\n"),
      );
    });
  });
});

describe("watch({ settle }) on random churn", () => {
  const seed = Number(process.env.NOTIQ_SEED ?? Math.floor(Math.random() * 2 ** 31));

  /** Two rounds of 400 random changes; after each, sync() and the applied events give the real tree. */
  async function churn(settle: number, check: (events: WatchEvent[], round: number) => void): Promise<void> {
    const outside = tempDir();
    try {
      await withWatcher({ settle }, async (dir, watcher, reader) => {
        const known = realTree(dir);
        for (const round of [seed, seed + 1]) {
          mkdirSync(`${dir}/${round}`); // each round in a directory of its own: the script knows only its own names
          mkdirSync(`${outside}/${round}`);
          await reader.synced(watcher);
          for (const ev of reader.events.splice(0)) apply(known, dir, ev);
          const script = churnScript(round, 400, `${outside}/${round}`);
          const status = await runWhileReading(reader, script, `${dir}/${round}`);
          assert.equal(status, 0, `churn seed ${round}: the script failed`);
          await reader.synced(watcher);
          const events = reader.events.splice(0);
          for (const ev of events) apply(known, dir, ev);
          const what = `churn seed ${round}, settle ${settle} (NOTIQ_SEED=${seed} repeats this test)`;
          assert.deepEqual(lines(known), lines(realTree(dir)), what);
          try {
            check(events, round);
          } catch (err) {
            throw new Error(`${what}: ${(err as Error).message}\n${rel(dir, events).join("\n")}`);
          }
          assert.equal(watcher.stats().held, 0);
        }
      });
    } finally {
      removeDir(outside);
    }
  }

  it("one window per sync(): the applied events give the real tree; no path is reported twice for one change", async () => {
    await churn(NEVER, (events) => {
      // No window ends but at sync() (an overflow would flush one early: rare, rerun if so).
      onceEach(events, false);
      assert.ok(!events.some((e) => e.kind === "overflow"), "an overflow cut the window: rerun");
    });
  });

  it("with a settle of 2 ms, windows ending all through the churn: the applied events give the real tree", async () => {
    await churn(2, () => {});
  });
});

describe("watch({ settle }) with sync(), close and overflow", () => {
  it("sync() flushes the held events first, then resolves once the consumer has them", async () => {
    await withWatcher({ settle: NEVER }, async (dir, watcher, reader) => {
      for (let i = 0; i < 3; i++) {
        sh(`printf a > f${i}; printf b >> f${i}; mv f${i} g${i}`, dir);
        await reader.synced(watcher);
        assert.deepEqual(rel(dir, reader.events.splice(0)), [`create g${i}`]);
        assert.equal(watcher.stats().held, 0);
      }
    });
  });

  it("close() yields the held events, folded, to the consumer that still iterates, then ends", async () => {
    await withWatcher({ settle: NEVER }, async (dir, watcher, reader) => {
      sh("printf a > f; printf b >> f", dir);
      const next = reader.next(10_000); // the consumer waits: the records are read and held
      await waitFor("the events held", () => watcher.stats().held >= 3);
      await watcher.close();
      assert.equal(show((await next)!).replace(`${dir}/`, ""), "create f");
      assert.equal(await reader.next(1000), undefined);
      assert.equal(reader.done, true);
    });
  });

  it(
    "an overflow flushes the held events first: folded before it, the rescan after",
    { skip: NEEDS_ROOT },
    async () => {
      // Small batches and a 64-event kernel queue: 100 new files overflow it; the records before the
      // Q_OVERFLOW are held (settle: NEVER) until it is read.
      await withWatcher(
        { settle: NEVER, bufferSize: 272 },
        async (dir, watcher, reader) => {
          const known = realTree(dir);
          for (let i = 0; i < 100; i++) writeFileSync(`${dir}/f${i}`, "x");
          const events = await reader.synced(watcher, "the repaired stream");
          const at = events.findIndex((e) => e.kind === "overflow");
          assert.ok(at > 0, `held events before the overflow:\n${rel(dir, events).join("\n")}`);
          assert.ok(events.slice(0, at).every((e) => e.kind === "create"), "folded: one create per file");
          for (const ev of events) apply(known, dir, ev);
          assert.deepEqual(lines(known), lines(realTree(dir)));
        },
        undefined,
        64,
      );
    },
  );
});

describe("watch({ settle }) options", () => {
  it("throws TypeError/RangeError for a bad settle before opening anything", () => {
    const before = fdCount();
    assert.throws(() => watch("/tmp", { settle: "100" as unknown as number }), TypeError);
    for (const settle of [-1, NaN, Infinity]) assert.throws(() => watch("/tmp", { settle }), RangeError);
    assert.equal(fdCount(), before);
  });

  it("settle: 0 holds nothing", async () => {
    await withWatcher({ settle: 0 }, async (dir, watcher, reader) => {
      sh("printf a > f", dir);
      await reader.synced(watcher);
      assert.deepEqual(rel(dir, reader.events), ["create f", "modify f", "close_write f"]);
    });
  });
});
