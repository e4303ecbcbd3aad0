/**
 * The io_uring Source (queue/uring.ts) against today's reader thread (queue/ring.ts Drain), each
 * subject in fresh processes, alternating, repeated; prints medians. Not a test, not a bench yet;
 * run as root (the drain raises fs.inotify.max_queued_events while it runs, then restores it):
 *   deno run -A tests/measure/uring.ts [reps]      bun tests/measure/uring.ts [reps]
 * Rows:
 * - rss: RSS added by watching one directory, from before the queue is made to after its first
 *   event (200 ms later, as tests/measure/instances.ts does);
 * - latency: `writeFileSync(newPath, "x")` until the consumer holds that name's CREATE, 1,000
 *   times after 100 of warm-up, p50 and p99 (the ordinary-write workload);
 * - drain: 100,000 CREATEs queued in the kernel before the first read, until all are parsed.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { loadSys } from "../../ffi/load.ts";
import { spawnReaderThread } from "../../ffi/reader_thread.ts";
import type { Sys } from "../../ffi/types.ts";
import { IN } from "../../queue/inotify_mask.ts";
import { InotifyCursor, MIN_READ_SIZE } from "../../queue/inotify_records.ts";
import { ReaderThread } from "../../queue/reader.ts";
import { Drain } from "../../queue/ring.ts";
import { uringSources } from "../../queue/uring.ts";

const SUBJECTS = ["uring", "thread"] as const;
type Subject = typeof SUBJECTS[number];
const OPTIONS = { capacity: 8 << 20, readSize: 65536, minRead: MIN_READ_SIZE };
const DRAINED = 100_000;
const here = fileURLToPath(import.meta.url);
const runtimeArgs = "Deno" in globalThis ? [process.execPath, "run", "-A", "--no-check"] : [process.execPath];
const runtime = "Deno" in globalThis ? `deno ${Deno.version.deno}` : `bun ${process.versions.bun}`;

/** A queue's records as runs of bytes, through either subject. */
interface Runs {
  next(): Promise<{ bytes: Uint8Array; start: number; end: number }>;
}

function open(sys: Sys, subject: Subject, fd: number): Runs {
  if (subject === "uring") {
    const openSource = uringSources(sys);
    if (openSource instanceof Error) throw openSource;
    const source = openSource(fd, OPTIONS);
    return { next: async () => (await source.next())! };
  }
  const drain = new Drain({ sys, reader: new ReaderThread(sys, spawnReaderThread) }, fd, {
    ringSize: OPTIONS.capacity,
    readSize: OPTIONS.readSize,
    minRead: OPTIONS.minRead,
  });
  return {
    next: async () => {
      const [start, end] = (await drain.next())!;
      return { bytes: drain.data, start, end };
    },
  };
}

function watch(sys: Sys, dir: string, mask: number = IN.CREATE): number {
  const fd = sys.inotifyInit1(0o4000 | 0o2000000);
  if (fd === -1 || sys.inotifyAddWatch(fd, new TextEncoder().encode(`${dir}\0`), mask) === -1) {
    throw new Error(`Cannot watch ${dir}: errno ${sys.errno()}`);
  }
  return fd;
}

/** Calls `onName` with each CREATE's name, forever. */
async function consume(runs: Runs, onName: (name: string) => void): Promise<never> {
  const cursors = new Map<Uint8Array, InotifyCursor>();
  for (;;) {
    const { bytes, start, end } = await runs.next();
    let cursor = cursors.get(bytes);
    if (!cursor) cursors.set(bytes, cursor = new InotifyCursor(bytes));
    cursor.reset(end, start);
    while (cursor.next()) if (cursor.mask & IN.CREATE) onName(cursor.name);
  }
}

/** One measurement in this (fresh) process; prints one JSON line. */
async function child(row: string, subject: Subject, dir: string): Promise<void> {
  const sys = await loadSys();
  if (row === "rss") {
    const before = process.memoryUsage().rss;
    const runs = open(sys, subject, watch(sys, dir));
    const first = runs.next();
    writeFileSync(`${dir}/first`, "");
    await first;
    await new Promise((r) => setTimeout(r, 200)); // let RSS settle
    console.log(JSON.stringify({ rssMiB: (process.memoryUsage().rss - before) / 2 ** 20 }));
    process.exit(0); // the reader thread and a pending wait would keep the process
  }
  if (row === "latency") {
    const runs = open(sys, subject, watch(sys, dir, IN.CREATE | IN.MODIFY | IN.CLOSE_WRITE));
    let want = "", done: () => void = () => {};
    consume(runs, (name) => name === want && done());
    const samples: number[] = [];
    for (let i = 0; i < 1100; i++) {
      want = `n${i}`;
      const seen = new Promise<void>((resolve) => done = resolve);
      const watchdog = setTimeout(() => {
        throw new Error(`no CREATE of ${want} in 10 s`);
      }, 10_000);
      const t = performance.now();
      writeFileSync(`${dir}/${want}`, "x");
      await seen;
      if (i >= 100) samples.push((performance.now() - t) * 1000);
      clearTimeout(watchdog);
    }
    samples.sort((a, b) => a - b);
    const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
    console.log(JSON.stringify({ p50us: at(0.5), p99us: at(0.99) }));
    process.exit(0);
  }
  if (row === "drain") {
    const fd = watch(sys, dir);
    const runs = open(sys, subject, fd);
    for (let i = 0; i < DRAINED; i++) writeFileSync(`${dir}/f${i}`, ""); // queued: nothing reads yet
    const t = performance.now();
    let count = 0;
    await new Promise<void>((resolve) => consume(runs, () => ++count === DRAINED && resolve()));
    console.log(JSON.stringify({ drainMs: performance.now() - t }));
    process.exit(0);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function run(row: string, subject: Subject): Record<string, number> {
  const dir = mkdtempSync("/dev/shm/notiq-uring-measure-");
  try {
    const out = spawnSync(runtimeArgs[0], [...runtimeArgs.slice(1), here, "child", row, subject, dir], {
      encoding: "utf8",
      timeout: 120_000,
    });
    if (out.status !== 0) throw new Error(`${row} ${subject} failed: ${out.stderr}`);
    return JSON.parse(out.stdout.trim().split("\n").pop()!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const reps = Number(process.argv[2] ?? 5);
  console.log(`${runtime}, Linux ${release()}, ${reps} runs per row, subjects alternating; medians`);
  const SYSCTL = "/proc/sys/fs/inotify/max_queued_events";
  const queued = readFileSync(SYSCTL, "utf8");
  const results: Record<string, Record<Subject, Record<string, number>[]>> = {};
  try {
    for (const row of ["rss", "latency", "drain"]) {
      results[row] = { uring: [], thread: [] };
      if (row === "drain") writeFileSync(SYSCTL, String(2 * DRAINED));
      for (let rep = 0; rep < reps; rep++) {
        for (const subject of rep % 2 ? [...SUBJECTS].reverse() : SUBJECTS) {
          results[row][subject].push(run(row, subject));
        }
      }
    }
  } finally {
    writeFileSync(SYSCTL, queued);
  }
  for (const [row, bySubject] of Object.entries(results)) {
    for (const subject of SUBJECTS) {
      const samples = bySubject[subject];
      const fields = Object.keys(samples[0]).map((key) => {
        const all = samples.map((s) => s[key]);
        return `${key} ${median(all).toFixed(1)} (${Math.min(...all).toFixed(1)}-${Math.max(...all).toFixed(1)})`;
      });
      console.log(`${row.padEnd(8)} ${subject.padEnd(7)} ${fields.join(", ")}`);
    }
  }
}

if (process.argv[2] === "child") {
  await child(process.argv[3], process.argv[4] as Subject, process.argv[5]);
} else {
  main();
}
