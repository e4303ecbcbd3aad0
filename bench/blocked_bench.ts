/**
 * Question: while the main thread is busy for 2 s (a synchronous loop) and another process makes
 * 100,000 distinct events at the kernel's default queue of 16,384, how many reach the consumer —
 * and when some do not, is the loss signalled?
 *
 * deno run -A bench/blocked_bench.ts      bun bench/blocked_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 * node_modules/node26/bin/node bench/blocked_bench.ts   (node:ffi; node24 in place of node26: koffi)
 *
 * Not mitata: a pass/fail count per run, medians over RUNS.
 *
 * @module
 */
import { DEFAULT_RING_SIZE } from "../mod.ts";
import { generator, header, median, QUICK, report, withSysctl } from "./common.ts";
import { blocked } from "./measure.js";
import { notiqInotify, peerNotes, peers, roundRobin, type Subject } from "./subjects.ts";

const N = QUICK ? 5_000 : 100_000;
const BUSY_MS = QUICK ? 300 : 2000;
const RUNS = QUICK ? 1 : 3;
const QUEUE = 16384;
const QUIET_MS = QUICK ? 1000 : 1500; // after the generator is done: no event for this long means the rest is lost

header(`blocked consumer: main thread busy ${BUSY_MS} ms while another process makes ${N} events`, [
  `fs.inotify.max_queued_events = ${QUEUE} (the default) for the run; notiq with its default ring (${
    DEFAULT_RING_SIZE / 2 ** 20
  } MiB) and read size`,
  "events: symlinks with distinct names in a watched dir on /dev/shm (one IN_CREATE each), made by bench/c/gen.c at full speed",
  "each subject is watching, its first event (a sentinel) delivered, before the busy loop begins",
  "delivered: distinct names (each counted once); loss signalled: Q_OVERFLOW, Deno's rescan flag, an error event",
  ...peerNotes(),
  `medians of ${RUNS} runs`,
]);

type Result = Awaited<ReturnType<typeof blocked>>;

const options = { n: N, busyMs: BUSY_MS, quietMs: QUIET_MS, generator: generator() };
const subjects: Subject<Result>[] = [
  { name: "notiq batches()", run: () => blocked(notiqInotify("batches()"), options) },
  { name: "notiq for await", run: () => blocked(notiqInotify("for await"), options) },
  ...(await peers("this process")).map((p) => ({
    name: p.name,
    peer: true,
    run: () => p.run<Result>("blocked", options),
  })),
];
const rows = await withSysctl("max_queued_events", QUEUE, () => roundRobin(subjects, RUNS));

report(
  "blocked",
  rows.map(([{ name }, rs]) => {
    const delivered = median(rs.map((r) => r.delivered));
    const lost = rs.find((r) => r.lost)?.lost;
    return {
      subject: name,
      "delivered/generated (median)": `${delivered}/${N} = ${((100 * delivered) / N).toFixed(1)}%`,
      "loss signalled": lost ? `yes (${lost})` : delivered < N ? "NO (silent)" : "- (no loss)",
      "generator ms": median(rs.map((r) => r.genMs)),
      runs: rs.map((r) => r.delivered).join(" "),
    };
  }),
  { N, busyMs: BUSY_MS, runs: RUNS },
);
