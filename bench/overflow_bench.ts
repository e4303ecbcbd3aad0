/**
 * Question: for a given ring size and a consumer that is slow by a given delay per batch, at
 * which event does the kernel queue overflow — and is every loss reported (IN_Q_OVERFLOW where
 * the events went missing), never silent?
 *
 * deno run -A bench/overflow_bench.ts      bun bench/overflow_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 * node_modules/node26/bin/node bench/overflow_bench.ts   (node:ffi)
 *
 * Proof of "never silent": the events are symlinks f0000000, f0000001, ... made in order by one
 * process, and inotify keeps their order. So every missing name shows up as a gap in the
 * sequence delivered, and each gap must have a Q_OVERFLOW record where it is (the kernel queues
 * Q_OVERFLOW at the tail when an event does not fit, and drops events until there is room), or
 * one still unread in the kernel queue when the loss happened. A gap with neither would be a
 * silent loss; the table counts them.
 *
 * Not mitata: this is a behaviour table; one run per cell.
 *
 * @module
 */
import process from "node:process";
import { IN, Inotify } from "../mod.ts";
import {
  generator,
  header,
  QUICK,
  readSysctl,
  removeDir,
  report,
  sleep,
  startGenerator,
  tmpDir,
  withSysctl,
} from "./common.ts";

const N = QUICK ? 20_000 : 100_000;
const QUEUE = 16384;
const READ = 16 * 1024;
const RINGS = QUICK ? [16 * 1024, 8 << 20] : [16 * 1024, 256 * 1024, 1 << 20, 8 << 20];
const DELAYS = QUICK ? [0, 10] : [0, 1, 10];
const QUIET_MS = 1000;

header(`overflow: ${N} events made at full speed by another process, consumer slowed per batch`, [
  `fs.inotify.max_queued_events = ${QUEUE}; notiq bufferSize ${
    READ / 1024
  } KiB (one read, one batch); events are 32-byte records`,
  "delay: the consumer sleeps (await) that long after each batch; with 0 it only parses",
  "first loss: the first event number missing (= how many the kernel queue and the ring took before overflowing)",
  "a gap is covered by a Q_OVERFLOW at its place, or by one at most 16384 events before it (still unread in the",
  "kernel queue when the loss happened, so the kernel queued no second one); silent gaps have neither: must be 0",
]);

interface Cell {
  delivered: number;
  overflows: number;
  gaps: number;
  atPlace: number;
  behind: number;
  silent: number;
  firstLoss: number | undefined;
  genMs: number;
}

async function cell(ringSize: number, delayMs: number): Promise<Cell> {
  const dir = tmpDir("overflow");
  const ino = new Inotify({ bufferSize: READ, ringSize });
  try {
    ino.addWatch(dir, IN.CREATE);
    // The delivered sequence: event numbers, with -1 where a Q_OVERFLOW record was.
    const seq: number[] = [];
    let lastAt = performance.now();
    const consume = (async () => {
      for await (const batch of ino.batches()) {
        for (const ev of batch) seq.push(ev.mask & IN.Q_OVERFLOW ? -1 : Number(ev.name.slice(1)));
        lastAt = performance.now();
        if (delayMs > 0) await sleep(delayMs);
      }
    })();
    const gen = await startGenerator(generator(), dir, N);
    while (performance.now() - lastAt < QUIET_MS + delayMs) await sleep(20);
    ino.close();
    await consume;
    // Walk the sequence. A gap is covered by a Q_OVERFLOW at its place, or by one shortly before
    // it: while a Q_OVERFLOW is still unread in the kernel queue, the kernel drops events without
    // queueing another. The queue holds at most QUEUE events, so a Q_OVERFLOW more than QUEUE
    // events before the gap had been read before the loss: then the gap is silent.
    let expected = 0, since = Infinity, gaps = 0, atPlace = 0, behind = 0, silent = 0, overflows = 0, delivered = 0;
    let firstLoss: number | undefined;
    const check = (next: number) => {
      if (next === expected) return;
      gaps++;
      firstLoss ??= expected;
      if (since === 0) atPlace++;
      else if (since <= QUEUE) behind++;
      else silent++;
    };
    for (const x of seq) {
      if (x === -1) {
        overflows++;
        since = 0;
        continue;
      }
      check(x);
      delivered++;
      since++;
      expected = x + 1;
    }
    check(N); // a loss at the very end needs its Q_OVERFLOW too
    return { delivered, overflows, gaps, atPlace, behind, silent, firstLoss, genMs: gen.ms };
  } finally {
    ino.close();
    removeDir(dir);
  }
}

const rows: Record<string, string | number>[] = [];
const queue = readSysctl("max_queued_events");
await withSysctl("max_queued_events", QUEUE, async () => {
  for (const ringSize of RINGS) {
    for (const delay of DELAYS) {
      const c = await cell(ringSize, delay);
      rows.push({
        ring: ringSize >= 1 << 20 ? `${ringSize >> 20} MiB` : `${ringSize >> 10} KiB`,
        "ring holds (events)": Math.floor(ringSize / 32),
        "delay/batch ms": delay,
        delivered: `${c.delivered} (${((100 * c.delivered) / N).toFixed(1)}%)`,
        "first loss at event": c.firstLoss ?? "none",
        gaps: c.gaps,
        "Q_OVERFLOW at gap": c.atPlace,
        "behind unread Q_OVERFLOW": c.behind,
        "Q_OVERFLOW records": c.overflows,
        "silent gaps": c.silent,
        "generator ms": c.genMs,
      });
    }
  }
});
if (readSysctl("max_queued_events") !== queue) throw new Error("max_queued_events was not restored");
report("overflow", rows, { N });
const silent = rows.reduce((sum, r) => sum + Number(r["silent gaps"]), 0);
if (silent > 0) {
  console.error(`FAIL: ${silent} silent gap(s): events were lost without a Q_OVERFLOW`);
  process.exitCode = 1;
}
