/**
 * Question: from making a file to the moment the consumer holds its event, inside one process, how
 * many microseconds — p50 and p99 — for notiq (Inotify batches() / for await, watch()), the
 * runtime's own watcher, Node's fs.watch and a C reader? Two workloads, same run: symlink(2) (one
 * IN_CREATE), and ordinary writes (writeFileSync of a new file: CREATE, MODIFY, CLOSE_WRITE).
 *
 * deno run -A bench/latency_bench.ts      bun bench/latency_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 * node_modules/node26/bin/node bench/latency_bench.ts   (node:ffi; node24 in place of node26: koffi)
 *
 * Not mitata: each sample is one event's round trip through threads and the event loop, which
 * mitata's batching would hide; the table shows percentiles of ITER samples, medians over RUNS.
 *
 * @module
 */
import process from "node:process";
import { IN, Inotify } from "../mod.ts";
import { compileC, header, median, note, nowNs, quantile, QUICK, removeDir, report, runC, tmpDir } from "./common.ts";
import { WRITE_MASK } from "./machine.ts";
import { latency, roundTrips, writes } from "./measure.js";
import { notiqInotify, notiqWatch, peerNotes, peers, roundRobin, type Subject } from "./subjects.ts";

const ITER = QUICK ? 100 : 1000;
const WARMUP = QUICK ? 10 : 100;
const RUNS = QUICK ? 1 : 3;
// @parcel/watcher holds each event ~50 ms (it waits for quiet): a tenth of the iterations keeps its run in seconds.
const SLOW_ITER = ITER / 10, SLOW_WARMUP = WARMUP / 10;
const slow = (name: string) => name.startsWith("@parcel/watcher");

header(`latency: make a file in a watched dir, then wait for its event; ${ITER} iterations`, [
  "symlink(2): time from before symlink(2) (a new distinct name each time) to the consumer holding its event (notiq: IN_CREATE)",
  'writeFileSync: the workload of issue #15: writeFileSync(newPath, "x") (CREATE, MODIFY, CLOSE_WRITE), a 10 s watchdog',
  "setTimeout armed, then await the promise the consumer resolves when it holds the file's CREATE (its first event);",
  "the watchdog is cleared; notiq's Inotify watches IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE, and every subject gets every event",
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

type Result = Awaited<ReturnType<typeof latency | typeof writes>>;
type Workload = "symlink(2)" | "writeFileSync";

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

/**
 * bench/c/latency.c: this thread polls and reads, or (`thread`) a reader thread parked in poll()
 * does; the file is a symlink or an ordinary write.
 */
async function cReader(exe: string, mode: "" | "thread", workload: Workload): Promise<Result> {
  const dir = tmpDir("latency");
  try {
    const flags = [...(mode ? [mode] : []), ...(workload === "writeFileSync" ? ["write"] : [])];
    const r = await runC<{ us: number[] }>(exe, [dir, WARMUP + ITER, ...flags]);
    return { us: r.us.slice(WARMUP), repeated: 0 };
  } finally {
    removeDir(dir);
  }
}

const options = { iterations: ITER, warmup: WARMUP };
const slowOptions = { iterations: SLOW_ITER, warmup: SLOW_WARMUP };
const exe = compileC("latency");
const runners = await peers("this process");
const subjects: Subject<Result>[] = [];
for (const workload of ["symlink(2)", "writeFileSync"] as const) {
  const measured = workload;
  const run = workload === "symlink(2)" ? latency : writes;
  const mask = workload === "symlink(2)" ? IN.CREATE : WRITE_MASK;
  subjects.push(
    { name: "notiq batches()", measured, run: () => run(notiqInotify("batches()", mask), options) },
    { name: "notiq for await", measured, run: () => run(notiqInotify("for await", mask), options) },
    { name: "notiq watch()", measured, run: () => run(notiqWatch, options) },
  );
  if (workload === "symlink(2)") {
    subjects.push({ name: "notiq batches(), next() after the write", measured, run: notiqAskedAfterWrite });
  }
  subjects.push(...runners.map((p) => ({
    name: p.name,
    measured,
    peer: true,
    run: () => p.run<Result>(workload === "symlink(2)" ? "latency" : "writes", slow(p.name) ? slowOptions : options),
  })));
  if (exe) {
    subjects.push({ name: "C reader (poll + read)", measured, run: () => cReader(exe, "", workload) });
    subjects.push({ name: "C, reader thread parked in poll()", measured, run: () => cReader(exe, "thread", workload) });
  }
}
if (!exe) note("C reader skipped: no C compiler");

if (process.env.BENCH_DEBUG) { for (const s of subjects) note(`subject: ${s.name}`); }
const rows = (await roundRobin(subjects, RUNS)).map(([{ name, measured }, rs]) => {
  const sorted = rs.map((r) => r.us.sort((a, b) => a - b));
  return {
    name,
    workload: measured!,
    p50s: sorted.map((us) => quantile(us, 0.5)),
    p99s: sorted.map((us) => quantile(us, 0.99)),
  };
});
const base = (workload: string) => rows.find((r) => r.name === "notiq batches()" && r.workload === workload)!;
report(
  "latency",
  rows.map(({ name, workload, p50s, p99s }) => {
    const p50 = median(p50s), p99 = median(p99s);
    return {
      subject: name,
      workload,
      "p50 µs": p50,
      "p99 µs": p99,
      "p50 x notiq batches": p50 / median(base(workload).p50s),
      "p99 x notiq batches": p99 / median(base(workload).p99s),
      "runs p50/p99": p50s.map((x, i) => `${x.toFixed(0)}/${p99s[i].toFixed(0)}`).join(" "),
    };
  }),
  { iterations: ITER, runs: RUNS },
);
