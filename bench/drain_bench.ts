/**
 * Question: with 100,000 distinct events queued while nothing reads, how long until the consumer
 * has them all — notiq batches() and for await over Inotify, notiq watch(), the runtime's own
 * watcher, Node's fs.watch, and a C reader?
 *
 * deno run -A bench/drain_bench.ts      bun bench/drain_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 * node_modules/node26/bin/node bench/drain_bench.ts   (node:ffi; node24 in place of node26: koffi)
 *
 * Not mitata: one drain is a one-shot of ~100k events that needs fresh kernel state; each subject
 * runs RUNS times, round-robin, and the table shows medians.
 *
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  compileC,
  header,
  median,
  note,
  QUICK,
  readSysctl,
  removeDir,
  report,
  runC,
  runJson,
  selfCommand,
  tmpDir,
  withSysctl,
} from "./common.ts";
import { type Drained, drainQueued } from "./machine.ts";
import { drain } from "./measure.js";
import { notiqInotify, notiqWatch, peerNotes, peers, roundRobin, type Subject } from "./subjects.ts";

const N = QUICK ? 5_000 : 100_000;
const RUNS = QUICK ? 1 : 5;
const PEER_RUNS = QUICK ? 1 : 3; // chokidar takes ~10 s a run, the lossy ones wait out the stall
const STALL_MS = QUICK ? 1000 : 3000; // a subject that delivers nothing for this long has lost the rest

// DRAIN_NEW_PROCESS=1: one kernel->JS run of batches() in this new process, as JSON.
if (process.env.DRAIN_NEW_PROCESS) {
  console.log(JSON.stringify(await drainQueued("batches()", options())));
  process.exit(0);
}

header(`drain: ${N} events queued while nothing reads, then time until the consumer has them all`, [
  "events: one symlink per distinct name (f0000000...) in a watched dir on /dev/shm -> one IN_CREATE each",
  "kernel->JS: the events wait in the kernel queue and reading starts at t0; notiq's main thread reads what is queued, and the",
  "process's reader thread (started before the runs, as any consumer that once waited starts it) takes the ring at the first",
  'next() and reads alongside; "new process": a process where no reader thread runs yet, so the main thread reads alone',
  "notiq watch(): watch(dir, { recursive: false }) until ready, the events made, then iterated from t0: each event becomes a",
  "WatchEvent (wd -> path, kind, rename bookkeeping), the API most users hold",
  "buffer->JS: the subject was watching, its first event (a sentinel) delivered, while the main thread made the events: its reader",
  "thread, if it has one (notiq, Deno.watchFs, parcel), drained the kernel meanwhile; Node's libuv reads on the event loop, so there",
  "the events wait in the kernel as in kernel->JS",
  `ms: from t0 to the last event delivered; a subject that stalls for ${
    STALL_MS / 1000
  } s is stopped and its loss counted`,
  "delivered: distinct names (each counted once); repeats: further events for a name already delivered",
  "every consumer touches each event's name; C (kernel->user) is read(2) + walk + strlen, 64 KiB reads",
  ...peerNotes(),
  `medians of ${RUNS} runs (peers: ${PEER_RUNS}); fs.inotify.max_queued_events raised to ${
    2 * N
  } for the run, then restored`,
]);

type Result = Drained;

/** The options of every drain here. */
function options() {
  return { n: N, stallMs: STALL_MS };
}

async function cReader(exe: string): Promise<Result> {
  const dir = tmpDir("drain");
  try {
    const r = await runC<{ ms: number; events: number; overflow: number }>(exe, [dir, N]);
    return { ms: r.ms, delivered: r.events, repeated: 0, lost: r.overflow ? "IN_Q_OVERFLOW" : "" };
  } finally {
    removeDir(dir);
  }
}

const exe = compileC("drain");
const subjects: Subject<Result>[] = [
  { name: "notiq batches()", measured: "kernel->JS", run: () => drainQueued("batches()", options()) },
  {
    name: "notiq batches()",
    measured: "kernel->JS, new process",
    run: () => runJson<Result>(...selfCommand(fileURLToPath(import.meta.url)), { env: { DRAIN_NEW_PROCESS: "1" } }),
  },
  { name: "notiq batches()", measured: "buffer->JS", run: () => drain(notiqInotify("batches()"), options()) },
  { name: "notiq for await", measured: "kernel->JS", run: () => drainQueued("for await", options()) },
  { name: "notiq for await", measured: "buffer->JS", run: () => drain(notiqInotify("for await"), options()) },
  { name: "notiq watch()", measured: "kernel->JS", run: () => drainQueued("watch()", options()) },
  { name: "notiq watch()", measured: "buffer->JS", run: () => drain(notiqWatch, options()) },
  ...(await peers("this process")).map((p) => ({
    name: p.name,
    measured: "buffer->JS",
    peer: true,
    runs: PEER_RUNS,
    run: () => p.run<Result>("drain", options()),
  })),
];
if (exe) subjects.push({ name: "C reader", measured: "kernel->user", run: () => cReader(exe) });
else note("C reader skipped: no C compiler");

// One small drain first: its wait starts the process's reader thread, as any consumer's wait does.
await drain(notiqInotify("batches()"), { n: 1, stallMs: STALL_MS });
const rows = await withSysctl(
  "max_queued_events",
  Math.max(readSysctl("max_queued_events"), 2 * N),
  () => roundRobin(subjects, RUNS),
);

const msOf = (rs: Result[]) => median(rs.map((r) => r.ms));
const notiqMs = msOf(rows.find(([s]) => s.name === "notiq batches()" && s.measured === "kernel->JS")![1]);
const forAwaitMs = msOf(rows.find(([s]) => s.name === "notiq for await" && s.measured === "kernel->JS")![1]);
const cRow = rows.find(([s]) => s.name === "C reader");
const cMs = cRow ? msOf(cRow[1]) : NaN;
report(
  "drain",
  rows.map(([{ name, measured }, rs]) => {
    const ms = msOf(rs);
    const delivered = median(rs.map((r) => r.delivered));
    const lost = rs.find((r) => r.lost)?.lost;
    return {
      subject: name,
      measured: measured!,
      "ms (median)": ms,
      "M events/s": delivered / ms / 1e3,
      delivered: `${((100 * delivered) / N).toFixed(1)}%`,
      repeats: median(rs.map((r) => r.repeated)),
      "loss signalled": lost ? `yes (${lost})` : delivered < N ? "NO" : "-",
      "x C": cRow ? ms / cMs : "n/a",
      "x notiq batches (kernel->JS)": ms / notiqMs,
      "x notiq for await (kernel->JS)": ms / forAwaitMs,
      runs: rs.map((r) => r.ms.toFixed(1)).join(" "),
    };
  }),
  { N, runs: RUNS },
);
