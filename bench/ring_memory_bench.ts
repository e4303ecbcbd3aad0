/**
 * Question: are rings returned at close()? In one process, 10,000 cycles of
 * `new Inotify({ ringSize: 1 << 20 })` -> read one event -> `close()`: RSS at the start, at its
 * peak and at the end (target: the end within 20 MiB of the start).
 *
 * deno run -A bench/ring_memory_bench.ts      bun bench/ring_memory_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1, BENCH_READERS)
 * node_modules/node26/bin/node bench/ring_memory_bench.ts   (node:ffi)
 *
 * Each run is a process of its own (this file again, RINGS_CHILD set), so the RSS is the cycles'
 * alone; runs one at a time, medians.
 *
 * @module
 */
import { unlinkSync, writeFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  header,
  median,
  nowNs,
  QUICK,
  READERS,
  removeDir,
  report,
  rssKiB,
  runJson,
  selfCommand,
  sleep,
  tmpDir,
} from "./common.ts";
import { eventName } from "./measure.js";

const CYCLES = QUICK ? 200 : 10_000;
const RING = 1 << 20;
const RUNS = 1; // 10,000 cycles are an aggregate already (and take minutes while close() waits for the reader thread)
const SETTLE_MS = 1000;
const TARGET_MIB = 20;

interface Cycles {
  startKiB: number;
  peakKiB: number;
  endKiB: number;
  settledKiB: number;
  ms: number;
}

// RINGS_CHILD=1: the cycles in this new process, as JSON.
if (process.env.RINGS_CHILD) {
  const { IN, Inotify } = await import("../mod.ts");
  const dir = tmpDir("rings");
  try {
    const startKiB = rssKiB();
    let peakKiB = startKiB;
    const t0 = nowNs();
    for (let i = 0; i < CYCLES; i++) {
      const ino = new Inotify({ ringSize: RING });
      ino.addWatch(dir, IN.CREATE);
      const next = ino[Symbol.asyncIterator]().next(); // waiting, as a consumer between events
      const path = `${dir}/${eventName(i)}`;
      writeFileSync(path, "x");
      const { value } = await next;
      if (value?.name !== eventName(i)) throw new Error(`cycle ${i}: got ${JSON.stringify(value)}`);
      ino.close();
      unlinkSync(path);
      peakKiB = Math.max(peakKiB, rssKiB());
    }
    const ms = (nowNs() - t0) / 1e6;
    const endKiB = rssKiB();
    await sleep(SETTLE_MS);
    const result: Cycles = { startKiB, peakKiB: Math.max(peakKiB, endKiB), endKiB, settledKiB: rssKiB(), ms };
    console.log(JSON.stringify(result));
  } finally {
    removeDir(dir);
  }
  process.exit(0);
}

const { roundRobin } = await import("./subjects.ts");

header(`ring memory: ${CYCLES} cycles of new Inotify({ ringSize: 1 MiB }) -> one event -> close(), in one process`, [
  "each cycle: new Inotify, addWatch(dir, IN.CREATE), next() pending, writeFileSync of a new file, await its event,",
  "close(), unlink; VmRSS read after every cycle (peak), at the end, and again after 1 s idle (settled)",
  `start: VmRSS after notiq's module loaded, before the first cycle; target: end - start <= ${TARGET_MIB} MiB`,
  `a new process (this file again) per run; ${RUNS} run(s)`,
]);

const [cmd, args] = selfCommand(fileURLToPath(import.meta.url));
const rows = await roundRobin(
  READERS.map(({ label, env }) => ({
    name: `notiq Inotify${label}`,
    run: () => runJson<Cycles>(cmd, args, { env: { ...env, RINGS_CHILD: "1" } }),
  })),
  RUNS,
);
const mib = (rs: Cycles[], pick: (c: Cycles) => number) => median(rs.map(pick)) / 1024;
report(
  "ring_memory",
  rows.map(([{ name }, rs]) => {
    const grew = mib(rs, (c) => c.endKiB - c.startKiB);
    return {
      subject: name,
      cycles: CYCLES,
      "start MiB": mib(rs, (c) => c.startKiB),
      "peak MiB": mib(rs, (c) => c.peakKiB),
      "end MiB": mib(rs, (c) => c.endKiB),
      "end - start MiB": grew,
      [`within ${TARGET_MIB} MiB`]: grew <= TARGET_MIB ? "yes" : "NO",
      "settled MiB": mib(rs, (c) => c.settledKiB),
      "µs / cycle": (median(rs.map((c) => c.ms)) * 1e3) / CYCLES,
      "runs end - start MiB": rs.map((c) => ((c.endKiB - c.startKiB) / 1024).toFixed(1)).join(" "),
    };
  }),
  { cycles: CYCLES, ringSize: RING, runs: RUNS },
);
