/**
 * Question: what does `settle` cost — events per second through a Settler against straight through
 * (settle off: the driver pushes each event), heap held for 100,000 pending paths, and end to end:
 * a real burst through `watch()` with `settle` and without?
 *
 * deno run -A bench/settle_bench.ts      bun bench/settle_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 * node_modules/node26/bin/node bench/settle_bench.ts   (node:ffi)
 *
 * The heap is measured in a child process of the same runtime (a fresh heap, a forced GC before and
 * after: Deno is started with --v8-flags=--expose-gc, Bun calls Bun.gc(true)).
 *
 * @module
 */
import { bench, do_not_optimize, run, summary } from "mitata";
import { renameSync, writeFileSync } from "node:fs";
import process from "node:process";
import { watch } from "../mod.ts";
import { Settler } from "../queue/settle.ts";
import type { WatchEvent, WatchEventKind } from "../queue/watch_options.ts";
import { header, JSON_OUT, median, note, nowNs, QUICK, removeDir, report, runJson, RUNTIME, tmpDir } from "./common.ts";

const SETTLE_MS = 50;

/** mulberry32 */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Stream {
  events: WatchEvent[];
  times: number[];
  replaced: boolean[];
}

/**
 * What a project under an editor and a build produces: bursts (events 10-50 µs apart) of in-place
 * writes, atomic saves, vim saves, build outputs (a new directory of 20 written files; an older one
 * removed file by file), a log appended to, a checkout rewriting 30 files; 1-120 ms between bursts.
 */
function stream(count: number, seed = 1): Stream {
  const r = rng(seed);
  const s: Stream = { events: [], times: [], replaced: [] };
  let time = 0;
  const src = (i: number) => `/home/me/project/src/d${i % 40}/f${i}.ts`;
  const push = (kind: WatchEventKind, path: string, isDirectory = false, oldPath?: string, replaced = false) => {
    s.events.push(oldPath === undefined ? { kind, path, isDirectory } : { kind, path, oldPath, isDirectory });
    s.times.push(time);
    s.replaced.push(replaced);
    time += 0.01 + r() * 0.04;
  };
  const builds: number[] = [];
  let build = 0;
  while (s.events.length < count) {
    const what = r();
    if (what < 0.3) { // in-place write
      const f = src(Math.floor(r() * 2000));
      for (let k = 1 + Math.floor(r() * 4); k > 0; k--) push("modify", f);
      push("close_write", f);
    } else if (what < 0.5) { // atomic save
      const i = Math.floor(r() * 2000), f = src(i), tmp = `/home/me/project/src/d${i % 40}/.f${i}.ts.tmp`;
      push("create", tmp), push("modify", tmp), push("modify", tmp), push("close_write", tmp);
      push("rename", f, false, tmp, true);
    } else if (what < 0.6) { // vim
      const i = Math.floor(r() * 2000), f = src(i), dir = `/home/me/project/src/d${i % 40}`;
      push("create", `${dir}/4913`), push("close_write", `${dir}/4913`), push("delete", `${dir}/4913`);
      push("rename", `${f}~`, false, f), push("create", f), push("modify", f), push("close_write", f);
      push("delete", `${f}~`);
    } else if (what < 0.8) { // build output, and an older build removed
      const dir = `/home/me/project/out/b${build}`;
      builds.push(build++);
      push("create", dir, true);
      for (let k = 0; k < 20; k++) {
        const f = `${dir}/chunk${k}.js`;
        push("create", f), push("modify", f), push("close_write", f);
      }
      if (builds.length > 3) {
        const old = `/home/me/project/out/b${builds.shift()}`;
        for (let k = 0; k < 20; k++) push("delete", `${old}/chunk${k}.js`);
        push("delete", old, true);
      }
    } else if (what < 0.95) { // a log
      for (let k = 0; k < 10; k++) push("modify", "/home/me/project/log/app.log");
    } else { // checkout
      for (let k = 0; k < 30; k++) push("modify", src(Math.floor(r() * 2000))), push("attrib", src(k));
    }
    time += 1 + -Math.log(1 - r()) * 40; // between bursts
  }
  return s;
}

// ---- heap held for 100,000 pending paths, in a child with a fresh heap ----

function forceGc(): void {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (RUNTIME === "bun") g.Bun.gc(true);
  else if (typeof g.gc === "function") g.gc();
  else throw new Error("no gc(): run Deno with --v8-flags=--expose-gc, Node with --expose-gc");
}

/** Heap bytes a Settler holds for `paths` pending paths of one kind of event (the events made on the fly). */
function heldBytes(kind: string, paths: number): number {
  const settler = new Settler(SETTLE_MS);
  const out: WatchEvent[] = [];
  forceGc();
  forceGc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < paths; i++) {
    const path = `/home/me/project/d${i % 1000}/file-${i}.txt`;
    if (kind === "create") settler.add({ kind: "create", path, isDirectory: false }, 0, out);
    else settler.add({ kind: "modify", path, isDirectory: false }, 0, out);
  }
  forceGc();
  forceGc();
  const after = process.memoryUsage().heapUsed;
  if (settler.held !== paths || out.length !== 0) throw new Error("the settler did not hold them");
  return after - before;
}

if (process.argv.includes("--held")) {
  const kind = process.argv[process.argv.indexOf("--held") + 1];
  const paths = Number(process.argv[process.argv.indexOf("--held") + 2]);
  console.log(JSON.stringify({ bytes: heldBytes(kind, paths) }));
  process.exit(0);
}

// ---- events per second ----

header("settle: events/s through a Settler vs straight through, and heap held per pending path", [
  `a synthetic stream of editor saves (atomic and vim), in-place writes, build outputs, a log, checkouts; settle ${SETTLE_MS} ms`,
  "rows are per-event rates from mitata's average over the whole stream; the heap rows come from a child process",
]);

const COUNT = QUICK ? 5_000 : 50_000;
const s = stream(COUNT);
const events = s.events, times = s.times, replaced = s.replaced;
const n = events.length;
const settler = new Settler(SETTLE_MS);
let out: WatchEvent[] = [];
{ // how much the stream folds, once
  for (let i = 0; i < n; i++) settler.add(events[i], times[i], out, replaced[i]);
  settler.flush(out);
  note(`${n} events over ${(times[n - 1] / 1000).toFixed(1)} s of stream time -> ${out.length} settled events`);
  out = [];
}

const rows: string[] = [];
function row(name: string, fn: () => unknown) {
  rows.push(name);
  return bench(name, fn);
}

summary(() => {
  row("straight: out.push(event) (settle off)", () => {
    out.length = 0;
    for (let i = 0; i < n; i++) out.push(events[i]);
    return do_not_optimize(out);
  }).baseline();
  row(`Settler(${SETTLE_MS}): add() each event, flushed when due`, () => {
    out.length = 0;
    for (let i = 0; i < n; i++) settler.add(events[i], times[i], out, replaced[i]);
    settler.flush(out);
    return do_not_optimize(out);
  }).gc("inner");
  row(`Settler(${SETTLE_MS}): the whole stream held, one flush`, () => {
    out.length = 0;
    for (let i = 0; i < n; i++) settler.add(events[i], 0, out, replaced[i]);
    settler.flush(out);
    return do_not_optimize(out);
  }).gc("inner");
});

let mitataJson = "";
const result = await run({
  format: JSON_OUT ? "json" : "mitata",
  print: JSON_OUT ? (text: string) => void (mitataJson += text) : console.log,
});
const avg = new Map(result.benchmarks.map((b) => [b.alias, b.runs[0]?.stats?.avg ?? NaN]));
const table: Record<string, string | number>[] = rows.map((name) => {
  const ns = (avg.get(name) ?? NaN) / n;
  return { subject: name, "ns/event": ns, "M events/s": 1e3 / ns };
});

// ---- heap ----

const PATHS = QUICK ? 10_000 : 100_000;
const self = RUNTIME === "deno"
  ? [process.execPath, ["run", "-A", "--v8-flags=--expose-gc", import.meta.filename!]] as const
  : RUNTIME === "bun"
  ? [process.execPath, [import.meta.filename!]] as const
  : [process.execPath, [...process.execArgv, "--expose-gc", import.meta.filename!]] as const;
const held: Record<string, string | number>[] = [];
for (const kind of ["create", "modify"]) {
  const { bytes } = await runJson<{ bytes: number }>(self[0], [...self[1], "--held", kind, PATHS]);
  held.push({
    subject: `${PATHS} pending paths, one ${kind} each (${kind === "create" ? "new files" : "existing files"})`,
    "heap MiB": bytes / 2 ** 20,
    "bytes/path": bytes / PATHS,
  });
}

// ---- end to end: a real burst through watch(), settle on and off ----

// Under fs.inotify.max_queued_events (16384) whatever the reader thread's share of the CPU: no overflow.
const FILES = QUICK ? 1_000 : 4_000;
const RUNS = QUICK ? 3 : 7;
const BURSTS: Record<string, { events: number; prepare(dir: string): void; make(dir: string): void }> = {
  // create, modify, close_write each: settled, one create each
  "new files written": {
    events: 3 * FILES,
    prepare() {},
    make(dir) {
      for (let i = 0; i < FILES; i++) writeFileSync(`${dir}/f${i}`, "x");
    },
  },
  // a temporary file written and renamed over the real one (create, modify, close_write, rename): one modify each
  "atomic saves": {
    events: 4 * FILES,
    prepare(dir) {
      for (let i = 0; i < FILES; i++) writeFileSync(`${dir}/f${i}`, "old");
    },
    make(dir) {
      for (let i = 0; i < FILES; i++) {
        writeFileSync(`${dir}/.f${i}.tmp`, "new"), renameSync(`${dir}/.f${i}.tmp`, `${dir}/f${i}`);
      }
    },
  },
};

/** ms from the end of a burst (made on this thread, drained by the reader thread meanwhile) until sync() says the consumer has every event. */
async function endToEnd(burst: string, settle: number): Promise<{ ms: number; delivered: number }> {
  const dir = tmpDir("settle");
  try {
    BURSTS[burst].prepare(dir);
    const watcher = watch(dir, { settle });
    await watcher.ready;
    let delivered = 0;
    const consuming = (async () => {
      for await (const _ of watcher) delivered++;
    })();
    await watcher.sync(); // the consumer waits, the reader thread is up
    BURSTS[burst].make(dir);
    const t0 = nowNs();
    await watcher.sync(); // settle: the whole burst is one window, flushed here
    const ms = (nowNs() - t0) / 1e6;
    await watcher.close();
    await consuming;
    if (watcher.stats().overflows > 0) throw new Error("the burst overflowed the kernel queue");
    return { ms, delivered };
  } finally {
    removeDir(dir);
  }
}

const e2e: Record<string, string | number>[] = [];
for (const burst of Object.keys(BURSTS)) {
  const times = new Map<number, number[]>([[0, []], [SETTLE_MS, []]]);
  const delivered = new Map<number, number>();
  await endToEnd(burst, SETTLE_MS); // warm-up
  for (let run = 0; run < RUNS; run++) {
    for (const settle of run % 2 ? [SETTLE_MS, 0] : [0, SETTLE_MS]) { // alternated: drift hits both
      const r = await endToEnd(burst, settle);
      times.get(settle)!.push(r.ms);
      delivered.set(settle, r.delivered);
    }
  }
  for (const settle of [0, SETTLE_MS]) {
    const ms = median(times.get(settle)!);
    e2e.push({
      subject: `${burst}, ${settle ? `settle ${settle}` : "settle off"}`,
      "raw events": BURSTS[burst].events,
      delivered: delivered.get(settle)!,
      "ms (median)": ms,
      "raw events/s": BURSTS[burst].events / ms * 1000,
    });
  }
}

if (!JSON_OUT) console.log("\n## events/s\n");
report("settle", table, JSON_OUT ? { mitata: JSON.parse(mitataJson), held, e2e } : {});
if (!JSON_OUT) {
  console.log("## heap held (forced GC before and after, fresh process)\n");
  report("settle held", held);
  console.log(
    `## end to end: a burst of ${FILES} made on this thread, then ms until sync() resolves (median of ${RUNS})\n`,
  );
  report("settle e2e", e2e);
  note(
    "raw events: as made (Bun's writeFileSync adds an ftruncate: a second MODIFY, unless the kernel merged it unread)",
  );
}
