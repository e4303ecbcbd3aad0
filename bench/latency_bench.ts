/**
 * Question: from a write() to the moment the consumer holds its event, inside one process, how
 * many microseconds — p50 and p99 — for notiq, the runtime's own watcher and a C reader?
 *
 * deno run -A bench/latency_bench.ts      bun bench/latency_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 *
 * Not mitata: each sample is one event's round trip through threads and the event loop, which
 * mitata's batching would hide; the table shows percentiles of ITER samples, medians over RUNS.
 *
 * @module
 */
import process from "node:process";
import { IN, Inotify } from "../mod.ts";
import { compileC, header, median, note, nowNs, quantile, QUICK, removeDir, report, runC, tmpDir } from "./common.ts";
import { latency, roundTrips } from "./peers.js";
import { notiqInotify, peerNotes, peers, roundRobin, type Subject } from "./subjects.ts";

const ITER = QUICK ? 100 : 1000;
const WARMUP = QUICK ? 10 : 100;
const RUNS = QUICK ? 1 : 3;
// @parcel/watcher holds each event ~50 ms (it waits for quiet): a tenth of the iterations keeps its run in seconds.
const SLOW_ITER = ITER / 10, SLOW_WARMUP = WARMUP / 10;
const SLOW = new Set(["@parcel/watcher (Deno)", "@parcel/watcher (Bun)"]);

header(`latency: make a file in a watched dir, then wait for its event; ${ITER} iterations`, [
  "time from before symlink(2) (a new distinct name each time) to the consumer holding its event (notiq: IN_CREATE)",
  "every subject but one is parked, waiting, when the event is made (notiq: its iteration's next() pending; the reader",
  'thread wakes it); "notiq batches(), next() after the write" asks after each symlink(2): it finds the ring empty and',
  "reads the fd itself, one read(2) and no thread wake-up (the fast path; this bench's notiq rows before the peers came)",
  "why not write(2) to one file: Bun's fs.watch drops a repeat change of the same file made right after the last one",
  "C reader: this thread polls and reads; C, reader thread parked in poll(): another thread does, as notiq's reader does,",
  "and this one spins until it has the event: the floor of that design (the kernel wakes the reader inside symlink(2))",
  `${WARMUP} unmeasured iterations first; p50/p99 per run, medians of ${RUNS} runs`,
  `@parcel/watcher: ${SLOW_ITER} iterations after ${SLOW_WARMUP} (each takes its ~50 ms batching wait)`,
  ...peerNotes(),
]);

type Result = Awaited<ReturnType<typeof latency>>;

/** batches() asked after each write: the main thread reads the already queued event itself. */
async function notiqAskedAfterWrite(): Promise<Result> {
  const dir = tmpDir("latency");
  const ino = new Inotify();
  try {
    ino.addWatch(dir, IN.CREATE);
    const it = ino.batches()[Symbol.asyncIterator]();
    const created = async () => {
      for (;;) for (const ev of (await it.next()).value!) if (ev.mask & IN.CREATE) return nowNs();
    };
    return { us: await roundTrips(dir, options, created), repeated: 0 };
  } finally {
    ino.close();
    removeDir(dir);
  }
}

/** bench/c/latency.c: this thread polls and reads, or (`thread`) a reader thread parked in poll() does. */
async function cReader(exe: string, mode: "" | "thread"): Promise<Result> {
  const dir = tmpDir("latency");
  try {
    const r = await runC<{ us: number[] }>(exe, [dir, WARMUP + ITER, ...(mode ? [mode] : [])]);
    return { us: r.us.slice(WARMUP), repeated: 0 };
  } finally {
    removeDir(dir);
  }
}

const options = { iterations: ITER, warmup: WARMUP };
const slowOptions = { iterations: SLOW_ITER, warmup: SLOW_WARMUP };
const exe = compileC("latency");
const subjects: Subject<Result>[] = [
  { name: "notiq batches()", run: () => latency(notiqInotify("batches()"), options) },
  { name: "notiq for await", run: () => latency(notiqInotify("for await"), options) },
  { name: "notiq batches(), next() after the write", run: notiqAskedAfterWrite },
  ...(await peers("this process")).map((p) => ({
    name: p.name,
    peer: true,
    run: () => p.run<Result>("latency", SLOW.has(p.name) ? slowOptions : options),
  })),
];
if (exe) {
  subjects.push({ name: "C reader (poll + read)", run: () => cReader(exe, "") });
  subjects.push({ name: "C, reader thread parked in poll()", run: () => cReader(exe, "thread") });
} else note("C reader skipped: no C compiler");

if (process.env.BENCH_DEBUG) { for (const s of subjects) note(`subject: ${s.name}`); }
const rows = (await roundRobin(subjects, RUNS)).map(([{ name }, rs]) => {
  const sorted = rs.map((r) => r.us.sort((a, b) => a - b));
  return { name, p50s: sorted.map((us) => quantile(us, 0.5)), p99s: sorted.map((us) => quantile(us, 0.99)) };
});
const base = rows.find((r) => r.name === "notiq batches()")!;
const base50 = median(base.p50s), base99 = median(base.p99s);
report(
  "latency",
  rows.map(({ name, p50s, p99s }) => {
    const p50 = median(p50s), p99 = median(p99s);
    return {
      subject: name,
      "p50 µs": p50,
      "p99 µs": p99,
      "p50 x notiq batches": p50 / base50,
      "p99 x notiq batches": p99 / base99,
      "runs p50/p99": p50s.map((x, i) => `${x.toFixed(0)}/${p99s[i].toFixed(0)}`).join(" "),
    };
  }),
  { iterations: ITER, runs: RUNS },
);
