/**
 * Question: for `watch()`, how long from a kernel queue overflow (IN_Q_OVERFLOW) to a repaired
 * state, for trees of 1,000 and 10,000 files — and is the repaired state right?
 *
 * deno run -A bench/repair_bench.ts      bun bench/repair_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 * node_modules/node26/bin/node bench/repair_bench.ts   (node:ffi)
 *
 * No sysctl is changed (other benches depend on fs.inotify.max_queued_events): the overflow is
 * forced with a tiny ring. The consumer is iterating, so the reader thread drains the kernel queue
 * into the ring; the ring fills at once, the reader stops, and the main thread keeps making events
 * synchronously, 2 x max_queued_events of them, so the kernel queue fills and the kernel queues an
 * IN_Q_OVERFLOW and drops the rest. The events are writes to the tree's files, round-robin (each
 * write is MODIFY then CLOSE_WRITE of one file, so no two consecutive events are equal and none
 * merge), with real tree changes spread evenly among them: files created, deleted, created then
 * deleted, renamed within and across directories, directories created with files in them, moved
 * into the tree's directories and removed. About half happen before the overflow (delivered late,
 * as stale events), the rest are lost and only the rescan can find them.
 *
 * Repaired state: what the consumer believes (the tree it listed before the flood, with every
 * event it received applied) equals the real tree on disk, and the watcher holds one watch per
 * directory. Checked each run; exit 1 if not.
 *
 * Times: watch() reads the Q_OVERFLOW record, queues the `overflow` event and rescans at once,
 * synchronously, before it hands out anything: so the `overflow` event reaches the consumer only
 * after the rescan. The time is therefore the rescan, timed inside watch() from the record
 * (stats().lastRescanMs), plus the delivery, timed by the consumer from the `overflow` event to the
 * last event of the repair (the stream is quiet then: checked for QUIET_MS).
 *
 * @module
 */
import { mkdirSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import process from "node:process";
import { watch, type WatchEvent } from "../mod.ts";
import { header, median, note, QUICK, readSysctl, removeDir, report, sleep, tmpDir } from "./common.ts";

const PER_DIR = 100;
const SIZES = [1_000, 10_000];
const RUNS = QUICK ? 1 : 5;
const RING = 4096; // 128 events of 32 bytes
const READ = 272; // MIN_READ_SIZE: one record of the longest name
const OPS = 240; // tree changes per flood, spread evenly
const QUIET_MS = 300;
const TIMEOUT_MS = 120_000;

header("repair: watch() after a kernel queue overflow, trees of 1,000 and 10,000 files", [
  `layout: root/dNN/fNNN, ${PER_DIR} files per directory (10 and 100 directories); on /dev/shm`,
  `overflow forced without a sysctl: watch(root, { ringSize: ${RING}, bufferSize: ${READ} }); the main thread makes`,
  "2 x max_queued_events events synchronously (writes round-robin: MODIFY, CLOSE_WRITE) with " +
  `${OPS} tree changes spread among them`,
  "rescan ms: stats().lastRescanMs, timed inside watch() from the Q_OVERFLOW record (the overflow event reaches the",
  "consumer only after it); delivery ms: from the overflow event to the last event of the repair, at the consumer;",
  "events before overflow: delivered before the overflow event (about max_queued_events + the ring's 128);",
  "repair ms = rescan + delivery; setup ms: a fresh watch() of the same (repaired) tree until ready, same run",
  "state ok: the consumer's tree (listed before, every event applied) = the real tree, watches = directories, and",
  "every file with a lost write got a modify; modify already delivered: repair modifies of files none of whose",
  "writes was lost (each write ends with one CLOSE_WRITE, in order: the count delivered says which were lost)",
]);

type Tree = Map<string, boolean>; // absolute path -> is a directory

function realTree(root: string): Tree {
  const tree: Tree = new Map();
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      tree.set(path, entry.isDirectory());
      if (entry.isDirectory()) stack.push(path);
    }
  }
  return tree;
}

/** Applies one event to what the consumer believes. Returns false for an event it cannot place. */
function apply(tree: Tree, ev: WatchEvent): boolean {
  const under = (p: string) => [...tree.keys()].filter((k) => k.startsWith(p + "/"));
  switch (ev.kind) {
    case "create":
      tree.set(ev.path, ev.isDirectory);
      return true;
    case "delete": {
      const known = tree.delete(ev.path);
      if (ev.isDirectory) { for (const k of under(ev.path)) tree.delete(k); }
      return known;
    }
    case "rename": {
      const from = ev.oldPath!, to = ev.path;
      if (tree.get(to)) { for (const k of under(to)) tree.delete(k); }
      const known = tree.delete(from);
      tree.set(to, ev.isDirectory);
      if (ev.isDirectory) {
        for (const k of under(from)) {
          tree.set(to + k.slice(from.length), tree.get(k)!);
          tree.delete(k);
        }
      }
      return known;
    }
    case "overflow":
      return true;
    case "error":
      return false;
    default: // modify, attrib, close_write: of something known
      return tree.has(ev.path);
  }
}

function makeTree(root: string, files: number): string[] {
  const paths: string[] = [];
  for (let d = 0; d < files / PER_DIR; d++) {
    const dir = `${root}/d${String(d).padStart(2, "0")}`;
    mkdirSync(dir);
    for (let f = 0; f < PER_DIR; f++) {
      const path = `${dir}/f${String(f).padStart(3, "0")}`;
      writeFileSync(path, "x");
      paths.push(path);
    }
  }
  return paths;
}

/** The files the flood writes: f..0 to f..8 of each directory (the f..9 are deleted and renamed). */
const floodTargets = (files: string[]) => files.filter((_, i) => i % 10 !== 9);

/** The flood: `writes` writes round-robin over `targets`, and every writes/OPS writes one tree change. */
function flood(root: string, files: string[], targets: string[], writes: number): void {
  const dirs = files.length / PER_DIR;
  const candidates = files.filter((_, i) => i % 10 === 9);
  const dir = (k: number) => `${root}/d${String((k * 7) % dirs).padStart(2, "0")}`;
  const every = Math.floor(writes / OPS);
  let op = 0, transient = "", newDir = "", moved = "";
  for (let i = 0; i < writes; i++) {
    writeFileSync(targets[i % targets.length], String(i));
    if (i % every !== every - 1 || op >= OPS) continue;
    const k = op++;
    switch (k % 8) {
      case 0:
        writeFileSync(`${dir(k)}/n${k}`, "new");
        break;
      case 1:
        unlinkSync(candidates.pop()!);
        break;
      case 2:
        writeFileSync(transient = `${dir(k)}/t${k}`, "transient");
        break;
      case 3:
        unlinkSync(transient);
        break;
      case 4:
        renameSync(candidates.pop()!, `${dir(k + 3)}/r${k}`);
        break;
      case 5: {
        const from = candidates.pop()!;
        renameSync(from, `${from.slice(0, from.lastIndexOf("/"))}/s${k}`);
        break;
      }
      case 6:
        if ((k >> 3) % 2 === 0) {
          newDir = `${root}/new${k}`;
          mkdirSync(`${newDir}/sub`, { recursive: true });
          for (let j = 0; j < 3; j++) writeFileSync(`${newDir}/g${j}`, "g");
          writeFileSync(`${newDir}/sub/h`, "h");
        } else {
          renameSync(newDir, moved = `${dir(k)}/moved${k}`);
        }
        break;
      case 7:
        if (moved && (k >> 3) % 4 === 3) rmSync(moved, { recursive: true }), moved = "";
        else if (moved) writeFileSync(`${moved}/late${k}`, "late");
        break;
    }
  }
}

interface Run {
  queue: number;
  writes: number;
  stale: number;
  overflows: number;
  rescans: number;
  rescanMs: number;
  deliveryMs: number;
  repairEvents: number;
  repeated: number;
  setupMs: number;
  ok: boolean;
  problems: string[];
}

async function run(files: number): Promise<Run> {
  const root = tmpDir("repair");
  try {
    const paths = makeTree(root, files);
    const believed = realTree(root);
    // The kernel takes max_queued_events at inotify_init1(), in watch(): read it around that.
    let queue: number, watcher;
    for (;;) {
      queue = readSysctl("max_queued_events");
      watcher = watch(root, { ringSize: RING, bufferSize: READ });
      if (readSysctl("max_queued_events") === queue) break;
      await watcher.close();
    }
    const writes = queue; // 2 events each
    const problems: string[] = [];
    let stale = 0, repairEvents = 0, overflowAt = -1, lastAt = 0, lastRepairAt = 0, unplaced = 0;
    // Which writes were lost: each write ends with one CLOSE_WRITE, in order; the first `written`
    // writes were delivered before the overflow, the rest lost: their files need a `modify`.
    const targets = floodTargets(paths), isTarget = new Set(targets), modified = new Set<string>();
    let written = 0;
    try {
      await watcher.ready;
      const consume = (async () => {
        for await (const ev of watcher) {
          const t = performance.now();
          lastAt = t;
          if (ev.kind === "overflow") {
            if (overflowAt < 0) overflowAt = t;
            continue;
          }
          if (!apply(believed, ev) && unplaced++ < 5) problems.push(`event for what is not known: ${show(ev)}`);
          if (overflowAt < 0) {
            stale++;
            if (ev.kind === "close_write" && isTarget.has(ev.path)) written++;
          } else {
            repairEvents++, lastRepairAt = t;
            if (ev.kind === "modify") modified.add(ev.path);
          }
        }
      })();
      await sleep(50); // the consumer is waiting for events: the reader thread is reading
      flood(root, paths, targets, writes);
      const end = performance.now() + TIMEOUT_MS;
      lastAt = performance.now();
      while ((overflowAt < 0 || performance.now() - lastAt < QUIET_MS) && performance.now() < end) await sleep(20);
      const stats = watcher.stats();
      if (overflowAt < 0) problems.push(`no overflow after ${TIMEOUT_MS} ms`);
      else if (stats.overflows > 1) {
        note(`${stats.overflows} overflows in one run: the times are of the first and last`);
      }
      // The repaired state.
      const real = realTree(root);
      const dirs = [...real.values()].filter((d) => d).length + 1;
      if (stats.watches !== dirs) problems.push(`${stats.watches} watches for ${dirs} directories`);
      const missing = [...real.keys()].filter((k) => believed.get(k) !== real.get(k));
      const extra = [...believed.keys()].filter((k) => !real.has(k));
      if (missing.length) problems.push(`not believed (${missing.length}): ${missing.slice(0, 5).join(" ")}`);
      if (extra.length) problems.push(`believed, not there (${extra.length}): ${extra.slice(0, 5).join(" ")}`);
      if (unplaced > 0) problems.push(`${unplaced} events for what was not known`);
      const lost = new Set<string>();
      for (let i = written; i < writes && lost.size < targets.length; i++) lost.add(targets[i % targets.length]);
      const unreported = [...lost].filter((p) => !modified.has(p));
      if (unreported.length) {
        problems.push(`lost writes not reported (${unreported.length}): ${unreported.slice(0, 5)}`);
      }
      const repeated = targets.filter((p) => modified.has(p) && !lost.has(p)).length;
      await watcher.close();
      await consume;
      // For scale: a fresh watch() of the same tree, until ready.
      const t0 = performance.now();
      const fresh = watch(root);
      await fresh.ready;
      const setupMs = performance.now() - t0;
      await fresh.close();
      return {
        queue,
        writes,
        stale,
        overflows: stats.overflows,
        rescans: stats.rescans,
        rescanMs: stats.lastRescanMs,
        deliveryMs: overflowAt < 0 ? NaN : (repairEvents > 0 ? lastRepairAt : overflowAt) - overflowAt,
        repairEvents,
        repeated,
        setupMs,
        ok: problems.length === 0,
        problems,
      };
    } finally {
      await watcher.close();
    }
  } finally {
    removeDir(root);
  }
}

function show(ev: WatchEvent): string {
  return `${ev.kind} ${ev.oldPath ? `${ev.oldPath} -> ` : ""}${ev.path}${ev.isDirectory ? "/" : ""}`;
}

const results = new Map<number, Run[]>(SIZES.map((n) => [n, []]));
for (let r = 0; r < RUNS; r++) {
  for (const files of SIZES) {
    const result = await run(files);
    results.get(files)!.push(result);
    for (const p of result.problems) note(`${files} files, run ${r + 1}: ${p}`);
  }
}

const rows: Record<string, string | number>[] = [];
let failed = false;
for (const [files, runs] of results) {
  const m = (f: (x: Run) => number) => median(runs.map(f));
  const ok = runs.filter((x) => x.ok).length;
  if (ok < runs.length) failed = true;
  const queues = [...new Set(runs.map((x) => x.queue))].join("/");
  rows.push({
    tree: `${files} files, ${files / PER_DIR} dirs`,
    "max_queued_events": queues,
    "events before overflow": m((x) => x.stale),
    "overflows": [...new Set(runs.map((x) => x.overflows))].join("/"),
    "rescan ms": m((x) => x.rescanMs),
    "delivery ms": m((x) => x.deliveryMs),
    "repair ms": m((x) => x.rescanMs + x.deliveryMs),
    "repair events": m((x) => x.repairEvents),
    "modify already delivered": m((x) => x.repeated),
    "setup ms": m((x) => x.setupMs),
    "repair / setup": m((x) => (x.rescanMs + x.deliveryMs) / x.setupMs),
    "state ok": `${ok}/${runs.length}`,
    "runs repair ms": runs.map((x) => (x.rescanMs + x.deliveryMs).toFixed(0)).join(" "),
  });
}
report("repair", rows, {
  perDir: PER_DIR,
  ringSize: RING,
  bufferSize: READ,
  ops: OPS,
  runs: Object.fromEntries(results),
});
if (failed) {
  console.error("FAIL: the repaired state is not right (notes above)");
  process.exitCode = 1;
}
