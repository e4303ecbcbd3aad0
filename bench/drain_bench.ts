/**
 * Question: with 100,000 distinct events queued while nothing reads, how long until the consumer
 * has them all — notiq batches() and for await, the runtime's own watcher, and a C reader?
 *
 * deno run -A bench/drain_bench.ts      bun bench/drain_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 *
 * Not mitata: one drain is a one-shot of ~100k events that needs fresh kernel state; each subject
 * runs RUNS times, round-robin, and the table shows medians.
 *
 * @module
 */
import { symlinkSync, watch as fsWatch } from "node:fs";
import { IN, Inotify } from "../mod.ts";
import type { InotifyCore } from "../queue/inotify.ts";
import {
  compileC,
  header,
  median,
  note,
  nowNs,
  QUICK,
  readSysctl,
  removeDir,
  report,
  runC,
  RUNTIME,
  tmpDir,
  withSysctl,
} from "./common.ts";

const N = QUICK ? 5_000 : 100_000;
const RUNS = QUICK ? 1 : 5;
const STALL_MS = 3000; // a subject that delivers nothing for this long has lost the rest

header(`drain: ${N} events queued while nothing reads, then time until the consumer has them all`, [
  "events: one symlink per distinct name (f0000000...) in a watched dir on /dev/shm -> one IN_CREATE each",
  "kernel->JS: the events wait in the kernel queue and reading starts at t0 (notiq's reader thread, spawned parked at addWatch, starts reading at t0)",
  "buffer->JS: the subject's reader thread was running and drained the kernel while the main thread made the events",
  "ms: from t0 to the last event delivered; a subject that stalls for 3 s is stopped and its loss counted",
  "every consumer touches each event's name; C (kernel->user) is read(2) + walk + strlen, 64 KiB reads",
  `medians of ${RUNS} runs; fs.inotify.max_queued_events raised to ${2 * N} for the run, then restored`,
]);

interface Result {
  ms: number;
  events: number;
  overflow: boolean;
}

function makeEvents(dir: string, count: number, prefix = "f"): void {
  for (let i = 0; i < count; i++) symlinkSync("x", `${dir}/${prefix}${String(i).padStart(7, "0")}`);
}

/** Consumes a batches() iterator until N events (or overflow, or a stall); returns the count. */
async function consumeBatches(
  it: AsyncIterator<Iterable<{ mask: number; name: string }>>,
  ino: InotifyCore,
): Promise<[number, boolean, number]> {
  let events = 0, overflow = false, chars = 0, tLast = 0;
  const stall = setInterval(() => {
    if (events === last) ino.close();
    last = events;
  }, STALL_MS);
  let last = -1;
  try {
    while (events < N && !overflow) {
      const r = await it.next();
      if (r.done) break;
      for (const ev of r.value) {
        if (ev.mask & IN.Q_OVERFLOW) overflow = true;
        else events++, chars += ev.name.length;
      }
      tLast = nowNs();
    }
  } finally {
    clearInterval(stall);
  }
  return [events, overflow, tLast];
}

async function notiqBatches(warm: boolean): Promise<Result> {
  const dir = tmpDir("drain");
  const ino = new Inotify();
  try {
    ino.addWatch(dir, IN.CREATE);
    const it = ino.batches()[Symbol.asyncIterator]();
    if (warm) {
      makeEvents(dir, 1, "warm-");
      await it.next(); // the reader thread is running from here on
    }
    makeEvents(dir, N);
    const t0 = nowNs();
    const [events, overflow, tLast] = await consumeBatches(it, ino);
    return { ms: (tLast - t0) / 1e6, events, overflow };
  } finally {
    ino.close();
    removeDir(dir);
  }
}

async function notiqForAwait(warm: boolean): Promise<Result> {
  const dir = tmpDir("drain");
  const ino = new Inotify();
  try {
    ino.addWatch(dir, IN.CREATE);
    const it = ino[Symbol.asyncIterator]();
    if (warm) {
      makeEvents(dir, 1, "warm-");
      await it.next();
    }
    makeEvents(dir, N);
    const t0 = nowNs();
    let events = 0, overflow = false, last = -1, chars = 0, tLast = 0;
    const stall = setInterval(() => {
      if (events === last) ino.close();
      last = events;
    }, STALL_MS);
    try {
      while (events < N && !overflow) {
        const r = await it.next();
        if (r.done) break;
        if (r.value.mask & IN.Q_OVERFLOW) overflow = true;
        else events++, chars += r.value.name.length;
        tLast = nowNs();
      }
    } finally {
      clearInterval(stall);
    }
    return { ms: (tLast - t0) / 1e6, events: chars >= 0 ? events : 0, overflow };
  } finally {
    ino.close();
    removeDir(dir);
  }
}

async function denoWatchFs(): Promise<Result> {
  const dir = tmpDir("drain");
  // deno-lint-ignore no-explicit-any
  const watcher = (globalThis as any).Deno.watchFs(dir, { recursive: false });
  try {
    makeEvents(dir, N);
    const t0 = nowNs();
    let events = 0, overflow = false, last = -1, t1 = 0;
    const stall = setInterval(() => {
      if (events === last) watcher.close();
      last = events;
    }, STALL_MS);
    try {
      for await (const ev of watcher) {
        // Deno reports a new dangling symlink as kind "remove": count every event but rescans.
        if (ev.flag === "rescan") overflow = true;
        else events += ev.paths.length;
        t1 = nowNs();
        if (events >= N) break;
      }
    } finally {
      clearInterval(stall);
    }
    return { ms: (t1 - t0) / 1e6, events, overflow };
  } finally {
    try {
      watcher.close();
    } catch { /* closed by the stall timer */ }
    removeDir(dir);
  }
}

async function nodeFsWatch(): Promise<Result> {
  const dir = tmpDir("drain");
  let events = 0, t1 = 0, finish = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const watcher = fsWatch(dir, (_kind, name) => {
    if (name !== null) events++;
    t1 = nowNs();
    if (events === N) finish();
  });
  try {
    makeEvents(dir, N);
    const t0 = nowNs();
    let last = -1;
    const stall = setInterval(() => {
      if (events === last) finish();
      last = events;
    }, STALL_MS);
    await done;
    clearInterval(stall);
    return { ms: (t1 - t0) / 1e6, events, overflow: false };
  } finally {
    watcher.close();
    removeDir(dir);
  }
}

function cReader(exe: string): Result {
  const dir = tmpDir("drain");
  try {
    const r = runC<{ ms: number; events: number; overflow: number }>(exe, [dir, N]);
    return { ms: r.ms, events: r.events, overflow: r.overflow !== 0 };
  } finally {
    removeDir(dir);
  }
}

const exe = compileC("drain");
const subjects: [string, string, () => Promise<Result> | Result][] = [
  ["notiq batches()", "kernel->JS", () => notiqBatches(false)],
  ["notiq batches()", "buffer->JS", () => notiqBatches(true)],
  ["notiq for await", "kernel->JS", () => notiqForAwait(false)],
  ["notiq for await", "buffer->JS", () => notiqForAwait(true)],
  RUNTIME === "deno" ? ["Deno.watchFs", "buffer->JS", denoWatchFs] : ["node:fs.watch (Bun)", "buffer->JS", nodeFsWatch],
];
if (exe) subjects.push(["C reader", "kernel->user", () => cReader(exe)]);
else note("C reader skipped: no C compiler");

const results = new Map<string, Result[]>(subjects.map(([name, what]) => [`${name}|${what}`, []]));
await withSysctl("max_queued_events", Math.max(readSysctl("max_queued_events"), 2 * N), async () => {
  for (let run = 0; run < RUNS; run++) {
    for (const [name, what, fn] of subjects) results.get(`${name}|${what}`)!.push(await fn());
  }
});

const med = (key: string) => median(results.get(key)!.map((r) => r.ms));
const notiqMs = med("notiq batches()|kernel->JS");
const cMs = exe ? med("C reader|kernel->user") : NaN;
report(
  "drain",
  subjects.map(([name, what]) => {
    const rs = results.get(`${name}|${what}`)!;
    const ms = med(`${name}|${what}`);
    const delivered = median(rs.map((r) => r.events));
    return {
      subject: name,
      measured: what,
      "ms (median)": ms,
      "M events/s": delivered / ms / 1e3,
      delivered: `${((100 * delivered) / N).toFixed(1)}%`,
      "loss signalled": rs.some((r) => r.overflow) ? "yes" : delivered < N ? "NO" : "-",
      "x C": exe ? ms / cMs : "n/a",
      "x notiq batches (kernel->JS)": ms / notiqMs,
      runs: rs.map((r) => r.ms.toFixed(1)).join(" "),
    };
  }),
  { N, runs: RUNS },
);
