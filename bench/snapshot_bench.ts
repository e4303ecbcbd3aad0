/**
 * Question: how long do writeSnapshot() and changesSince() take on a 100,000-file tree, against the
 * floor — a bare getdents64 + statx walk of the same tree in C — and how big is the file per entry?
 * (Target: each within 2x the C walk.)
 *
 * deno run -A bench/snapshot_bench.ts      bun bench/snapshot_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 * node_modules/node26/bin/node bench/snapshot_bench.ts   (node:ffi)
 *
 * The tree (root/dN/eNN/fileNNN.txt: 10 x 100 directories of 100 files, sizes 0-99 bytes) is made
 * once on /dev/shm, outside anything timed. Two snapshots are written of it: `before`, then 1% of
 * the tree is changed (250 files renamed across directories, 250 rewritten, 250 created, 250
 * deleted, 10 directories renamed), then `after`. The tree stays in that changed state, so every
 * subject walks the same tree: changesSince(after) finds nothing, changesSince(before) the 1%.
 *
 * Warm rows: mitata in this process (medians). First-call rows: a fresh process that makes one
 * call (cold JIT, first dlopen already done by the import), timed inside it around the call.
 * C rows: bench/c/walk.c (open + getdents64, statx(dirfd, name) per entry, openat for directories),
 * its first walk and the median of the next ones, in one process.
 *
 * @module
 */
import { bench, do_not_optimize, run, summary } from "mitata";
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import process from "node:process";
import { loadSys } from "../ffi/load.ts";
import { changesSince, writeSnapshot } from "../mod.ts";
import { FsCalls } from "../queue/fs_calls.ts";
import { walkTrees } from "../queue/tree_walk.ts";
import {
  compileC,
  header,
  JSON_OUT,
  median,
  note,
  QUICK,
  removeDir,
  report,
  runC,
  runJson,
  selfCommand,
  tmpDir,
} from "./common.ts";

const [mode, ...args] = process.argv.slice(2);
if (mode === "child-write" || mode === "child-since") {
  // A fresh process: one call, timed around the call alone.
  const start = performance.now();
  const result = mode === "child-write" ? await writeSnapshot(args[0], args[1]) : await changesSince(args[0]);
  const ms = performance.now() - start;
  console.log(JSON.stringify({ ms, events: Array.isArray(result) ? result.length : 0 }));
  process.exit(0);
}

const TOP = 10, MIDDLE = QUICK ? 10 : 100, FILES = 100;
const FRESH_RUNS = QUICK ? 1 : 5;
const C_RUNS = QUICK ? 3 : 15;

header(`snapshot: writeSnapshot() and changesSince() of ${TOP * MIDDLE * FILES} files, against a C walk`, [
  `tree: root/dN/eNN/fileNNN.txt, ${TOP} x ${MIDDLE} directories of ${FILES} files (0-99 bytes), on /dev/shm`,
  "changesSince(after): nothing changed; changesSince(before): 1% changed (renames across directories, " +
  "rewrites, creates, deletes, 10 directory renames)",
  "warm: mitata medians in this process; first call: a fresh process, one call timed inside it " +
  `(median of ${FRESH_RUNS}); C: bench/c/walk.c, first walk and median of ${C_RUNS} more`,
]);

const dir = tmpDir("snapshot");
process.on("exit", () => removeDir(dir));
const root = `${dir}/root`;
const before = `${dir}/before.snapshot`, after = `${dir}/after.snapshot`, scratch = `${dir}/scratch.snapshot`;

// The tree, then the 1% change between the two snapshots.
for (let a = 0; a < TOP; a++) {
  for (let b = 0; b < MIDDLE; b++) {
    const d = `${root}/d${a}/e${String(b).padStart(2, "0")}`;
    mkdirSync(d, { recursive: true });
    for (let f = 0; f < FILES; f++) writeFileSync(`${d}/file${String(f).padStart(3, "0")}.txt`, "x".repeat(f));
  }
}
const { entries } = await writeSnapshot(root, before);
const files = TOP * MIDDLE * FILES, quarter = files / 400;
const fileAt = (i: number) => {
  const d = Math.floor(i / FILES) % (TOP * MIDDLE);
  return `${root}/d${Math.floor(d / MIDDLE)}/e${String(d % MIDDLE).padStart(2, "0")}/file${
    String(i % FILES).padStart(3, "0")
  }.txt`;
};
for (let k = 0; k < quarter; k++) {
  const i = k * 397; // spread over the tree
  renameSync(fileAt(i), fileAt(i + 50 * FILES).replace(".txt", `.moved${k}`));
  writeFileSync(fileAt(i + 1), "rewritten");
  writeFileSync(fileAt(i + 2).replace(".txt", `.new${k}`), "new");
  rmSync(fileAt(i + 3));
}
for (let a = 0; a < TOP; a++) renameSync(`${root}/d${a}/e01`, `${root}/d${a}/renamed01`);
const afterInfo = await writeSnapshot(root, after);
const changed = (await changesSince(before)).length;
if ((await changesSince(after)).length !== 0) throw new Error("changesSince(after) found changes in an unchanged tree");
note(`${afterInfo.entries} entries; changesSince(before) reports ${changed} events`);

const sys = await loadSys();
const fs = new FsCalls(sys);
let count = 0;
const nothing = { add: () => count++ };

summary(() => {
  bench("walk only: FsCalls.scan (getdents64 + statx), nothing kept", async () => {
    count = 0;
    await walkTrees(fs, [root], { missingRoot: "throw" }, nothing);
    return do_not_optimize(count);
  }).baseline();
  bench("writeSnapshot()", async () => do_not_optimize(await writeSnapshot(root, scratch)));
  bench("changesSince(), nothing changed", async () => do_not_optimize(await changesSince(after)));
  bench("changesSince(), 1% changed", async () => do_not_optimize(await changesSince(before)));
});

let mitataJson = "";
const result = await run({
  format: JSON_OUT ? "json" : "mitata",
  print: JSON_OUT ? (s: string) => void (mitataJson += s) : console.log,
});
const p50 = new Map(result.benchmarks.map((b) => [b.alias, (b.runs[0]?.stats?.p50 ?? NaN) / 1e6]));

async function fresh(childArgs: string[]): Promise<number> {
  const [cmd, selfArgs] = selfCommand(new URL(import.meta.url).pathname);
  const times: number[] = [];
  for (let i = 0; i < FRESH_RUNS; i++) times.push((await runJson<{ ms: number }>(cmd, [...selfArgs, ...childArgs])).ms);
  return median(times);
}
const firstWrite = await fresh(["child-write", root, scratch]);
const firstSince = await fresh(["child-since", before]);

const exe = compileC("walk");
const c = exe ? await runC<{ first: number; median: number; entries: number }>(exe, [root, C_RUNS]) : undefined;
if (c && c.entries + 1 !== afterInfo.entries) {
  note(`C walked ${c.entries} entries + the root, notiq ${afterInfo.entries}`);
}

const perEntry = (file: string) => statSync(file).size / afterInfo.entries;
const rows: Record<string, string | number>[] = [];
const add = (subject: string, ms: number, cMs: number | undefined, bytes?: number) =>
  rows.push({
    subject,
    "median ms": ms,
    "x C walk": cMs ? ms / cMs : "n/a",
    "bytes/entry": bytes ?? "",
  });
if (c) {
  add("C: getdents64 + statx walk, warm (bench/c/walk.c)", c.median, c.median);
  add("C: the same, first walk of a process", c.first, c.first);
}
add(
  "notiq walk only (FsCalls.scan), warm",
  p50.get("walk only: FsCalls.scan (getdents64 + statx), nothing kept")!,
  c?.median,
);
add("writeSnapshot(), warm", p50.get("writeSnapshot()")!, c?.median, perEntry(scratch));
add("writeSnapshot(), first call of a process", firstWrite, c?.first, perEntry(scratch));
add("changesSince(), nothing changed, warm", p50.get("changesSince(), nothing changed")!, c?.median);
add("changesSince(), 1% changed, warm", p50.get("changesSince(), 1% changed")!, c?.median);
add("changesSince(), 1% changed, first call of a process", firstSince, c?.first);
if (!exe) note("C rows skipped: no C compiler");
if (!JSON_OUT) {
  console.log(`\n## ${entries} entries; x C walk: warm rows over C's warm walk, first calls over C's first\n`);
}
report("snapshot", rows, JSON_OUT ? { mitata: JSON.parse(mitataJson), entries: afterInfo.entries, changed } : {});
