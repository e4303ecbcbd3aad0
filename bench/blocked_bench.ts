/**
 * Question: while the main thread is busy for 2 s (a synchronous loop) and another process makes
 * 100,000 distinct events at the kernel's default queue of 16,384, how many reach the consumer —
 * and when some do not, is the loss signalled?
 *
 * deno run -A bench/blocked_bench.ts      bun bench/blocked_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 *
 * Not mitata: a pass/fail count per run, medians over RUNS.
 *
 * @module
 */
import { watch as fsWatch } from "node:fs";
import { DEFAULT_RING_SIZE, IN, Inotify } from "../mod.ts";
import {
  header,
  median,
  nowNs,
  QUICK,
  removeDir,
  report,
  RUNTIME,
  spin,
  startGenerator,
  tmpDir,
  withSysctl,
} from "./common.ts";

const N = QUICK ? 5_000 : 100_000;
const BUSY_MS = QUICK ? 300 : 2000;
const RUNS = QUICK ? 1 : 3;
const QUEUE = 16384;
const QUIET_MS = 1500; // after the generator is done: no event for this long means the rest is lost

header(`blocked consumer: main thread busy ${BUSY_MS} ms while another process makes ${N} events`, [
  `fs.inotify.max_queued_events = ${QUEUE} (the default) for the run; notiq with its default ring (${
    DEFAULT_RING_SIZE / 2 ** 20
  } MiB) and read size`,
  "events: symlinks with distinct names in a watched dir on /dev/shm (one IN_CREATE each), made by bench/c/gen.c at full speed",
  "each subject is watching (notiq: its iteration has started) before the busy loop begins",
  `medians of ${RUNS} runs`,
]);

interface Result {
  delivered: number;
  signalled: boolean;
  genMs: number;
}

/** Makes the events while this thread spins; resolves with the generator's report. */
async function busyWhileGenerating(dir: string): Promise<number> {
  const generated = startGenerator(dir, N);
  spin(BUSY_MS);
  const gen = await generated;
  if (gen.created !== N) throw new Error(`generator made ${gen.created} of ${N}`);
  return gen.ms;
}

async function notiq(batches: boolean): Promise<Result> {
  const dir = tmpDir("blocked");
  const ino = new Inotify();
  try {
    ino.addWatch(dir, IN.CREATE);
    let delivered = -1, signalled = false, lastAt = nowNs(); // -1: the sentinel below
    const consume = (async () => {
      if (batches) {
        for await (const batch of ino.batches()) {
          for (const ev of batch) (ev.mask & IN.Q_OVERFLOW) ? (signalled = true) : delivered++;
          lastAt = nowNs();
        }
      } else {
        for await (const ev of ino) {
          (ev.mask & IN.Q_OVERFLOW) ? (signalled = true) : delivered++;
          lastAt = nowNs();
        }
      }
    })();
    await startGenerator(dir, 1, "sentinel-");
    while (delivered < 0) await new Promise((r) => setTimeout(r, 1)); // iterating, reader running
    const genMs = await busyWhileGenerating(dir);
    while (delivered < N && (nowNs() - lastAt) / 1e6 < QUIET_MS) await new Promise((r) => setTimeout(r, 5));
    ino.close();
    await consume;
    return { delivered, signalled, genMs };
  } finally {
    ino.close();
    removeDir(dir);
  }
}

async function denoWatchFs(): Promise<Result> {
  const dir = tmpDir("blocked");
  // deno-lint-ignore no-explicit-any
  const watcher = (globalThis as any).Deno.watchFs(dir, { recursive: false });
  let delivered = 0, signalled = false, lastAt = nowNs();
  const consume = (async () => {
    // Deno reports a new dangling symlink as kind "remove": count every event but rescans.
    for await (const ev of watcher) {
      (ev.flag === "rescan") ? (signalled = true) : (delivered += ev.paths.length, lastAt = nowNs());
    }
  })();
  try {
    const genMs = await busyWhileGenerating(dir);
    lastAt = nowNs();
    while (delivered < N && (nowNs() - lastAt) / 1e6 < QUIET_MS) await new Promise((r) => setTimeout(r, 5));
    return { delivered, signalled, genMs };
  } finally {
    watcher.close();
    await consume;
    removeDir(dir);
  }
}

async function nodeFsWatch(): Promise<Result> {
  const dir = tmpDir("blocked");
  let delivered = 0, lastAt = nowNs();
  const watcher = fsWatch(dir, (_kind, name) => {
    if (name !== null) delivered++;
    lastAt = nowNs();
  });
  let signalled = false;
  watcher.on("error", () => void (signalled = true));
  try {
    const genMs = await busyWhileGenerating(dir);
    lastAt = nowNs();
    while (delivered < N && (nowNs() - lastAt) / 1e6 < QUIET_MS) await new Promise((r) => setTimeout(r, 5));
    return { delivered, signalled, genMs };
  } finally {
    watcher.close();
    removeDir(dir);
  }
}

const subjects: [string, () => Promise<Result>][] = [
  ["notiq batches()", () => notiq(true)],
  ["notiq for await", () => notiq(false)],
  RUNTIME === "deno" ? ["Deno.watchFs", denoWatchFs] : ["node:fs.watch (Bun)", nodeFsWatch],
];
const results = new Map<string, Result[]>(subjects.map(([name]) => [name, []]));
await withSysctl("max_queued_events", QUEUE, async () => {
  for (let run = 0; run < RUNS; run++) for (const [name, fn] of subjects) results.get(name)!.push(await fn());
});

report(
  "blocked",
  subjects.map(([name]) => {
    const rs = results.get(name)!;
    const delivered = median(rs.map((r) => r.delivered));
    return {
      subject: name,
      "delivered/generated (median)": `${delivered}/${N} = ${((100 * delivered) / N).toFixed(1)}%`,
      "loss signalled": rs.some((r) => r.signalled) ? "yes" : delivered < N ? "NO (silent)" : "- (no loss)",
      "generator ms": median(rs.map((r) => r.genMs)),
      runs: rs.map((r) => r.delivered).join(" "),
    };
  }),
  { N, busyMs: BUSY_MS, runs: RUNS },
);
