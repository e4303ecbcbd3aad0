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
import { symlinkSync, watch as fsWatch } from "node:fs";
import { IN, Inotify } from "../mod.ts";
import {
  compileC,
  header,
  median,
  note,
  nowNs,
  quantile,
  QUICK,
  removeDir,
  report,
  runC,
  RUNTIME,
  tmpDir,
} from "./common.ts";

const ITER = QUICK ? 100 : 1000;
const WARMUP = QUICK ? 10 : 100;
const RUNS = QUICK ? 1 : 3;

header(`latency: make a file in a watched dir, then wait for its event; ${ITER} iterations`, [
  "time from before symlink(2) (a new distinct name each time) to the consumer holding its event (notiq: IN_CREATE)",
  "why not write(2) to one file: Bun's fs.watch drops a repeat change of the same file made right after the last one",
  `${WARMUP} unmeasured iterations first; p50/p99 per run, medians of ${RUNS} runs`,
]);

/** Runs `ITER` write -> wait round trips; `wait` resolves once the event for the write arrived. */
async function sample(dir: string, wait: () => Promise<void>): Promise<number[]> {
  const us: number[] = [];
  // A watcher that never delivers must not let the process exit (or hang) silently.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), 10_000)));
  try {
    for (let i = 0; i < WARMUP + ITER; i++) {
      const t0 = nowNs();
      symlinkSync("x", `${dir}/n${i}`);
      if (await Promise.race([wait(), timeout]) === "timeout") throw new Error(`no event for write #${i} after 10 s`);
      if (i >= WARMUP) us.push((nowNs() - t0) / 1e3);
    }
  } finally {
    clearTimeout(timer);
  }
  return us;
}

async function notiqBatches(): Promise<number[]> {
  const dir = tmpDir("latency");
  const ino = new Inotify();
  try {
    ino.addWatch(dir, IN.CREATE);
    const it = ino.batches()[Symbol.asyncIterator]();
    return await sample(dir, async () => {
      for (;;) {
        const r = await it.next();
        for (const ev of r.value!) if (ev.mask & IN.CREATE) return;
      }
    });
  } finally {
    ino.close();
    removeDir(dir);
  }
}

async function notiqForAwait(): Promise<number[]> {
  const dir = tmpDir("latency");
  const ino = new Inotify();
  try {
    ino.addWatch(dir, IN.CREATE);
    const it = ino[Symbol.asyncIterator]();
    return await sample(dir, async () => {
      while (!((await it.next()).value!.mask & IN.CREATE));
    });
  } finally {
    ino.close();
    removeDir(dir);
  }
}

async function denoWatchFs(): Promise<number[]> {
  const dir = tmpDir("latency");
  // deno-lint-ignore no-explicit-any
  const watcher = (globalThis as any).Deno.watchFs(dir, { recursive: false });
  const it = watcher[Symbol.asyncIterator]();
  try {
    return await sample(dir, async () => {
      await it.next(); // Deno reports a new dangling symlink as kind "remove": any event will do
    });
  } finally {
    watcher.close();
    removeDir(dir);
  }
}

async function nodeFsWatch(): Promise<number[]> {
  const dir = tmpDir("latency");
  let arrived = () => {};
  const watcher = fsWatch(dir, () => arrived());
  try {
    return await sample(dir, () => new Promise<void>((resolve) => (arrived = resolve)));
  } finally {
    watcher.close();
    removeDir(dir);
  }
}

function cReader(exe: string): number[] {
  const dir = tmpDir("latency");
  try {
    return runC<{ us: number[] }>(exe, [dir, WARMUP + ITER]).us.slice(WARMUP);
  } finally {
    removeDir(dir);
  }
}

const exe = compileC("latency");
const subjects: [string, () => Promise<number[]> | number[]][] = [
  ["notiq batches()", notiqBatches],
  ["notiq for await", notiqForAwait],
  RUNTIME === "deno" ? ["Deno.watchFs", denoWatchFs] : ["node:fs.watch (Bun)", nodeFsWatch],
];
if (RUNTIME === "deno") subjects.push(["node:fs.watch (Deno)", nodeFsWatch]);
if (exe) subjects.push(["C reader (poll + read)", () => cReader(exe)]);
else note("C reader skipped: no C compiler");

const p50s = new Map<string, number[]>(subjects.map(([n]) => [n, []]));
const p99s = new Map<string, number[]>(subjects.map(([n]) => [n, []]));
for (let run = 0; run < RUNS; run++) {
  for (const [name, fn] of subjects) {
    if (process.env.BENCH_DEBUG) console.error(`run ${run}: ${name}`);
    const us = (await fn()).sort((a, b) => a - b);
    p50s.get(name)!.push(quantile(us, 0.5));
    p99s.get(name)!.push(quantile(us, 0.99));
  }
}
const base50 = median(p50s.get("notiq batches()")!), base99 = median(p99s.get("notiq batches()")!);
report(
  "latency",
  subjects.map(([name]) => {
    const p50 = median(p50s.get(name)!), p99 = median(p99s.get(name)!);
    return {
      subject: name,
      "p50 µs": p50,
      "p99 µs": p99,
      "p50 x notiq batches": p50 / base50,
      "p99 x notiq batches": p99 / base99,
      "runs p50/p99": p50s.get(name)!.map((x, i) => `${x.toFixed(0)}/${p99s.get(name)![i].toFixed(0)}`).join(" "),
    };
  }),
  { iterations: ITER, runs: RUNS },
);
