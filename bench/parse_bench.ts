/**
 * Question: how many records per second does the zero-copy parser walk, with and without names,
 * as kept objects and through a plain `for await` — and how far is that from C over the same bytes?
 *
 * deno run -A bench/parse_bench.ts      bun bench/parse_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 * node_modules/node26/bin/node bench/parse_bench.ts   (node:ffi)
 *
 * @module
 */
import { bench, do_not_optimize, run, summary } from "mitata";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { IN } from "../queue/inotify_mask.ts";
import { InotifyCursor } from "../queue/inotify_records.ts";
import { inotifyBytes, type RecordSpec } from "../tests/fixtures/inotify.ts";
import { compileC, header, JSON_OUT, note, QUICK, removeDir, report, runC, tmpDir } from "./common.ts";

header("parse: records/s of InotifyCursor over kernel-layout bytes", [
  "256 records as one read() returns them; names repeat as in a real project (editors, builds)",
  "rows are per-record rates from mitata's average; C is the best of 5 timed loops over the same bytes",
]);

// What a busy project directory produces: a few dozen names, over and over, most of them short.
const NAMES = [
  "index.ts",
  "index.ts~",
  ".index.ts.swp",
  ".index.ts.swx",
  "4913",
  "mod.ts",
  "README.md",
  "package.json",
  "deno.lock",
  "bun.lockb",
  "out.log",
  "build",
  "main.o",
  "main.c",
  ".main.c.swp",
  "node_modules",
  "a.txt",
  "b.txt",
  "tsconfig.json",
  "notes-2025-06-01.md",
  "Makefile",
  ".git",
  "COMMIT_EDITMSG",
  "HEAD",
  "cache-8f3a2b1c.bin",
  "inotify_records.ts",
  "x",
  "server.js",
  "styles.css",
  "photo_0001.jpg",
  "data.csv",
  "tmp",
];
const MASKS = [IN.CREATE, IN.MODIFY, IN.CLOSE_WRITE, IN.DELETE, IN.MOVED_FROM, IN.MOVED_TO, IN.ATTRIB, IN.OPEN];

function records(count: number, name: (i: number) => string | undefined): RecordSpec[] {
  return Array.from(
    { length: count },
    (_, i) => ({ wd: 1 + (i % 7), mask: MASKS[i % MASKS.length], cookie: i % 5 === 4 ? i : 0, name: name(i) }),
  );
}

const COUNT = 256;
const named = inotifyBytes(...records(COUNT, (i) => NAMES[(i * 7) % NAMES.length]));
// Names that never repeat within the cursor's name cache: every name() is a fresh decode.
const DISTINCT = 16384;
const distinct = inotifyBytes(...records(DISTINCT, (i) => `file-${String(i).padStart(6, "0")}.txt`));

const cursor = new InotifyCursor(named);
const distinctCursor = new InotifyCursor(distinct);
const utf8 = new TextDecoder();

/** The `for await` path in miniature: one promise per kept object, over the same bytes. */
async function* objects(c: InotifyCursor, end: number) {
  c.reset(end);
  while (c.next()) yield c.toEvent();
}

const rows: [string, number][] = []; // [name, records per iteration]
function row(name: string, perIteration: number, fn: () => unknown) {
  rows.push([name, perIteration]);
  return bench(name, fn);
}

summary(() => {
  row("walk, masks only", COUNT, () => {
    let masks = 0;
    cursor.reset(named.byteLength);
    while (cursor.next()) masks |= cursor.mask;
    return do_not_optimize(masks);
  }).baseline();
  row("walk + name", COUNT, () => {
    let length = 0;
    cursor.reset(named.byteLength);
    while (cursor.next()) length += cursor.name.length;
    return do_not_optimize(length);
  });
  row("walk + name, 16384 distinct names", DISTINCT, () => {
    let length = 0;
    distinctCursor.reset(distinct.byteLength);
    while (distinctCursor.next()) length += distinctCursor.name.length;
    return do_not_optimize(length);
  });
  row("walk + TextDecoder per name (the naive way)", COUNT, () => {
    let length = 0;
    cursor.reset(named.byteLength);
    while (cursor.next()) length += utf8.decode(cursor.nameBytes).length;
    return do_not_optimize(length);
  });
  row("walk + toEvent() (kept objects)", COUNT, () => {
    const kept = new Array(COUNT);
    let i = 0;
    cursor.reset(named.byteLength);
    while (cursor.next()) kept[i++] = cursor.toEvent();
    return do_not_optimize(kept);
  }).gc("inner");
  row("for await over the same bytes", COUNT, async () => {
    let length = 0;
    for await (const ev of objects(cursor, named.byteLength)) length += ev.name.length;
    return do_not_optimize(length);
  }).gc("inner");
});

let mitataJson = "";
const result = await run({
  format: JSON_OUT ? "json" : "mitata",
  print: JSON_OUT ? (s: string) => void (mitataJson += s) : console.log,
});

// Per-record rates, and C over the very same bytes.
const table: Record<string, string | number>[] = [];
const avg = new Map(result.benchmarks.map((b) => [b.alias, b.runs[0]?.stats?.avg ?? NaN]));
const exe = compileC("parse");
let c: { masks: number; names: number; dup: number } | undefined;
if (exe) {
  const dir = tmpDir("parse");
  try {
    const file = join(dir, "records.bin");
    writeFileSync(file, named);
    c = await runC(exe, [file, QUICK ? 2000 : 200000]);
  } finally {
    removeDir(dir);
  }
}
for (const [name, per] of rows) {
  const ns = (avg.get(name) ?? NaN) / per;
  // Masks against C's walk; names in place against C copying them; kept objects against strdup.
  const cNs = name.includes("masks")
    ? c?.masks
    : name.includes("toEvent") || name.includes("await")
    ? c?.dup
    : c?.names;
  table.push({
    subject: name,
    "ns/record": ns,
    "M records/s": 1e3 / ns,
    "x C": cNs ? ns / cNs : "n/a",
  });
}
if (c) {
  table.push({ subject: "C: walk, masks only", "ns/record": c.masks, "M records/s": 1e3 / c.masks, "x C": 1 });
  table.push({
    subject: "C: walk + copy name (strlen+memcpy)",
    "ns/record": c.names,
    "M records/s": 1e3 / c.names,
    "x C": 1,
  });
  table.push({
    subject: "C: walk + keep name (strdup, free)",
    "ns/record": c.dup,
    "M records/s": 1e3 / c.dup,
    "x C": 1,
  });
} else note("C row skipped: no C compiler");
if (!JSON_OUT) {
  console.log(
    "\n## records/s (x C: time per record over the matching C loop: masks / copy name / strdup for kept objects)\n",
  );
}
report("parse", table, JSON_OUT ? { mitata: JSON.parse(mitataJson) } : {});
