/**
 * What notiq does on this machine: notiq as a subject of the workloads of measure.js (Inotify
 * `batches()` / `for await`, `watch()`), the measures built on them — drain of queued events,
 * write-to-event latency, where a slow consumer's queue overflows, setup of a tree — and
 * `cli.ts bench`, which runs those measures in a directory of the user's choice and prints them.
 * The benches (bench/*_bench.ts) take their notiq subjects and measures from here, so the command
 * and the benches measure the same way.
 *
 * @module
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { setImmediate } from "node:timers";
import type { ParseArgsOptionsConfig } from "node:util";
import { DEFAULT_BUFFER_SIZE, DEFAULT_RING_SIZE, IN, Inotify, watch } from "../mod.ts";
import {
  makeEvents,
  makeTree,
  nowNs,
  type Peer,
  quantile,
  removeDir,
  setup,
  sleep,
  table,
  Tally,
  tmpDir,
  until,
  writes,
} from "./measure.js";

/** How a consumer reads an Inotify: per batch (views) or per event (plain objects). */
export type NotiqApi = "batches()" | "for await";

/** Reads `ino` into `tally` until it is closed; every event's name is touched (decoded). */
export async function readInto(ino: Inotify, api: NotiqApi, tally: Tally): Promise<void> {
  const see = (ev: { mask: number; name: string }) => {
    if (ev.mask & IN.Q_OVERFLOW) tally.loss("IN_Q_OVERFLOW");
    else tally.seen(ev.name);
  };
  if (api === "batches()") {
    for await (const batch of ino.batches()) {
      for (const ev of batch) see(ev);
      tally.arrived();
    }
  } else {
    for await (const ev of ino) {
      see(ev);
      tally.arrived();
    }
  }
}

/** The mask of a consumer of ordinary writes: a new file is CREATE, MODIFY, CLOSE_WRITE. */
export const WRITE_MASK: number = IN.CREATE | IN.MODIFY | IN.CLOSE_WRITE;

/**
 * notiq's Inotify as a peer, read with `api`: one watch with `mask` on `dir`, or with `recursive`
 * on every directory under it (listed once with readdirSync, as a program would; directories made
 * later are not watched).
 */
export function notiqInotify(api: NotiqApi, mask: number = IN.CREATE): Peer {
  return (dir, recursive, tally) => {
    const ino = new Inotify();
    const stack = [dir];
    while (stack.length > 0) {
      const at = stack.pop()!;
      ino.addWatch(at, mask);
      if (!recursive) break;
      for (const entry of readdirSync(at, { withFileTypes: true })) {
        if (entry.isDirectory()) stack.push(join(at, entry.name));
      }
    }
    const reading = readInto(ino, api, tally);
    return async () => {
      ino.close();
      await reading;
    };
  };
}

/**
 * notiq's watch() as a peer: watching once `ready` resolves (events are kept from then on). Its
 * iteration starts at the next turn of the event loop, as after `await watcher.ready` in a
 * program.
 */
export const notiqWatch: Peer = async (dir, recursive, tally) => {
  const watcher = watch(dir, { recursive });
  await watcher.ready;
  const reading = new Promise((next) => setImmediate(next)).then(async () => {
    for await (const ev of watcher) {
      if (ev.kind === "overflow" || ev.kind === "error") tally.loss(ev.kind);
      else tally.seen(ev.path);
      tally.arrived();
    }
  });
  return async () => {
    await watcher.close();
    await reading;
  };
};

/** What a drain delivered: ms from the start of reading to the last event, and the tally's counts. */
export interface Drained {
  ms: number;
  delivered: number;
  repeated: number;
  lost: string;
}

/**
 * Drain of queued events, kernel->JS: `n` events (symlinks, one IN_CREATE each) are made in a
 * watched directory under `base` while nothing reads, then reading starts with `api` — notiq's
 * Inotify `batches()` / `for await`, or `watch()` (watching from `ready`, iterated from t0); ms
 * until the last one is in the consumer's hands. A consumer that delivers nothing for `stallMs`
 * has lost the rest. The kernel queue must hold `n` (fs.inotify.max_queued_events).
 */
export async function drainQueued(
  api: NotiqApi | "watch()",
  { n, stallMs, base }: { n: number; stallMs: number; base?: string },
): Promise<Drained> {
  const dir = tmpDir("drain", base);
  const tally = new Tally(n);
  let stop = () => Promise.resolve();
  try {
    let start: () => Promise<void>;
    if (api === "watch()") {
      const watcher = watch(dir, { recursive: false });
      await watcher.ready;
      stop = () => watcher.close();
      start = async () => {
        for await (const ev of watcher) {
          if (ev.kind === "overflow" || ev.kind === "error") tally.loss(ev.kind);
          else tally.seen(ev.path);
          tally.arrived();
        }
      };
    } else {
      const ino = new Inotify();
      ino.addWatch(dir, IN.CREATE);
      stop = () => Promise.resolve(ino.close());
      start = () => readInto(ino, api, tally);
    }
    makeEvents(dir, n);
    const t0 = nowNs();
    const reading = start();
    await tally.settle(n, stallMs);
    await stop();
    await reading;
    return { ms: Math.max(0, tally.lastAt - t0) / 1e6, ...tally.result() };
  } finally {
    await stop();
    removeDir(dir);
  }
}

/** Where a slow consumer's queue overflowed in a burst. */
export interface Overflowed {
  /** The consumer's sleep after each batch, while the burst lasts. */
  delayMs: number;
  /** Events in the burst. */
  made: number;
  /** Events delivered before the Q_OVERFLOW record (all of them when none came). */
  kept: number;
  overflowed: boolean;
  /** Events delivered in all (the kernel queues again once there is room). */
  delivered: number;
  ringSize: number;
  /** fs.inotify.max_queued_events when the Inotify was made. */
  maxQueuedEvents: number;
}

/** Symlinks made per turn of the event loop in {@link overflowPoint}'s burst. */
const BURST_CHUNK = 1024;

/**
 * Where the queue overflows for a slow consumer: a burst of events (symlinks with 8-byte names:
 * 32-byte records) is made at full speed in a directory under `base`, 1.25 times what the ring
 * and the kernel queue hold together, while the consumer (Inotify `batches()`) sleeps `delayMs`
 * after each batch; `kept` is how many it had before the Q_OVERFLOW record. The burst is made by
 * this thread, BURST_CHUNK symlinks per turn of the event loop, so the consumer's timers run in
 * between; once the burst is made the consumer reads the rest without sleeping.
 */
export async function overflowPoint(
  { delayMs, base, ringSize = DEFAULT_RING_SIZE, maxQueuedEvents }: {
    delayMs: number;
    base?: string;
    ringSize?: number;
    /** fs.inotify.max_queued_events, as {@linkcode maxQueuedEvents} found it */
    maxQueuedEvents: number;
  },
): Promise<Overflowed> {
  const made = Math.ceil(1.25 * (Math.floor(ringSize / 32) + maxQueuedEvents));
  const dir = tmpDir("overflow", base);
  const ino = new Inotify({ ringSize, bufferSize: Math.min(DEFAULT_BUFFER_SIZE, ringSize) });
  let kept = 0, delivered = 0, overflowed = false, bursting = true, lastAt = nowNs();
  try {
    ino.addWatch(dir, IN.CREATE);
    const consuming = (async () => {
      for await (const batch of ino.batches()) {
        for (const ev of batch) {
          if (!(ev.mask & IN.Q_OVERFLOW)) delivered++;
          else if (!overflowed) overflowed = true, kept = delivered;
        }
        lastAt = nowNs();
        if (bursting) await sleep(delayMs);
      }
    })();
    for (let i = 0; i < made; i += BURST_CHUNK) {
      makeEvents(dir, Math.min(BURST_CHUNK, made - i), "f", i);
      await new Promise((next) => setImmediate(next));
    }
    bursting = false;
    // The rest at full speed once the consumer's last sleep ends: done when all arrived, or nothing
    // came for 500 ms (the rest is lost).
    const awakeAt = nowNs() + delayMs * 1e6;
    await until(() => delivered >= made || nowNs() - Math.max(lastAt, awakeAt) > 500e6, 120_000);
    ino.close();
    await consuming;
    return { delayMs, made, kept: overflowed ? kept : delivered, overflowed, delivered, ringSize, maxQueuedEvents };
  } finally {
    ino.close();
    removeDir(dir);
  }
}

/** The most events {@linkcode maxQueuedEvents} makes to find the limit. */
const PROBE_CAP = 1 << 18;

/**
 * fs.inotify.max_queued_events — the events one inotify queue holds while nothing reads it —
 * from the sysctl, or where /proc cannot be read (Deno without --allow-all), found by filling a
 * queue under `base`: events (32 bytes each) are made until the kernel queues its Q_OVERFLOW
 * record (16 bytes), so FIONREAD says how many fit; past PROBE_CAP events it stops ("probed, at least").
 */
export function maxQueuedEvents(base: string): { value: number; from: "sysctl" | "probed" | "probed, at least" } {
  try {
    return { value: Number(readFileSync("/proc/sys/fs/inotify/max_queued_events", "utf8").trim()), from: "sysctl" };
  } catch { /* probe it */ }
  const dir = tmpDir("queue", base);
  const ino = new Inotify();
  try {
    ino.addWatch(dir, IN.CREATE);
    for (let made = 0; made < PROBE_CAP; made += 1024) {
      makeEvents(dir, 1024, "f", made);
      const bytes = ino.pendingBytes();
      if (bytes % 32 === 16) return { value: (bytes - 16) / 32, from: "probed" };
    }
    return { value: PROBE_CAP, from: "probed, at least" };
  } finally {
    ino.close();
    removeDir(dir);
  }
}

/** What `cli.ts bench` found: the machine, then one list per measure. */
export interface MachineReport {
  /** The directory measured in (the work directory was made, and removed, under it). */
  dir: string;
  /** Its filesystem type and mount point, from /proc/self/mountinfo. */
  filesystem: { type: string; mountPoint: string };
  runtime: string;
  kernel: string;
  cpus: number;
  /** fs.inotify.max_queued_events (found only when drain or overflow is measured). */
  maxQueuedEvents?: number;
  /** Where maxQueuedEvents comes from: the sysctl, or probed where /proc cannot be read. */
  maxQueuedEventsFrom?: string;
  quick: boolean;
  /** The measures run, in order. */
  measures: Measure[];
  setup: { dirs: number; readyMs: number; firstEventMs: number; probes: number }[];
  latency: { api: string; writes: number; p50Us: number; p99Us: number }[];
  drain: { api: string; events: number; ms: number; eventsPerSecond: number; delivered: number; lost: string }[];
  overflow: Overflowed[];
  /** How to raise fs.inotify.max_queued_events, when a burst overflowed it. */
  advice?: string;
}

/** The measures of `cli.ts bench`, in the order they run. */
export const MEASURES = ["setup", "latency", "drain", "overflow"] as const;
export type Measure = typeof MEASURES[number];

/** The sizes of each measure: the full ones, and `--quick`'s (seconds; rough figures). */
const SIZES = {
  full: {
    trees: [1_000, 10_000],
    writes: 1000,
    warmup: 100,
    drain: 100_000,
    delays: [10, 100, 1000],
    ringSize: DEFAULT_RING_SIZE,
  },
  quick: { trees: [100, 1_000], writes: 50, warmup: 5, drain: 2_000, delays: [10, 100], ringSize: 64 * 1024 },
};

/** The runtime running this: "deno 2.9.6", "bun 1.4.5", "node 26.1.0". */
function runtimeName(): string {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  if (g.Bun) return `bun ${g.Bun.version}`;
  return `node ${process.versions.node}`;
}

/** The kernel release, or "unknown" where neither /proc nor os.release() may be read (Deno without -A). */
function kernelRelease(): string {
  try {
    return readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    try {
      return release();
    } catch {
      return "unknown";
    }
  }
}

/**
 * The filesystem that holds `dir`: the longest mount point of /proc/self/mountinfo above it
 * ("unknown" where /proc cannot be read).
 */
function filesystemOf(dir: string): { type: string; mountPoint: string } {
  let best = { type: "unknown", mountPoint: "" };
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  let mountinfo = "";
  try {
    mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return best;
  }
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (dash < 0) continue;
    const mountPoint = unescape(fields[4]);
    const under = dir === mountPoint || dir.startsWith(mountPoint === "/" ? "/" : mountPoint + "/");
    if (under && mountPoint.length >= best.mountPoint.length) best = { type: fields[dash + 1], mountPoint };
  }
  return best;
}

/**
 * Where to measure when no DIR is given: tmpfs's /dev/shm, else the temp dir (Deno asks
 * --allow-all for anything under /dev, and --allow-env for TMPDIR: then /tmp).
 */
function defaultDirs(): string[] {
  let temp = "/tmp";
  try {
    temp = tmpdir();
  } catch { /* /tmp */ }
  return ["/dev/shm", temp];
}

/** Makes the work directory under the first of `dirs` that takes it; the last one's failure is thrown. */
function makeWorkDir(dirs: string[]): { dir: string; work: string } {
  for (let i = 0;; i++) {
    const dir = dirs[i];
    try {
      if (!statSync(dir).isDirectory()) throw new Error("not a directory");
      return { dir: realpathSync(dir), work: mkdtempSync(join(dir, "notiq-bench-")) };
    } catch (err) {
      if (i === dirs.length - 1) throw new Error(`cannot measure in ${dir}: ${(err as Error).message.split("\n")[0]}`);
    }
  }
}

/**
 * Runs the `measures` in `work` (a fresh directory made under `dir`, which the caller removes).
 * `progress` hears one line as each measure starts.
 */
export async function measureMachine(
  work: string,
  { dir, quick, measures = [...MEASURES], progress = () => {} }: {
    dir: string;
    quick: boolean;
    measures?: Measure[];
    progress?: (line: string) => void;
  },
): Promise<MachineReport> {
  const size = quick ? SIZES.quick : SIZES.full;
  const report: MachineReport = {
    dir,
    filesystem: filesystemOf(dir),
    runtime: runtimeName(),
    kernel: kernelRelease(),
    cpus: navigator.hardwareConcurrency,
    quick,
    measures: MEASURES.filter((m) => measures.includes(m)),
    setup: [],
    latency: [],
    drain: [],
    overflow: [],
  };
  const queue = () => {
    if (report.maxQueuedEvents === undefined) {
      const found = maxQueuedEvents(work);
      report.maxQueuedEvents = found.value;
      report.maxQueuedEventsFrom = found.from;
    }
    return report.maxQueuedEvents;
  };
  const run = (measure: Measure) => measures.includes(measure);
  // Setup first: the first tree is this process's first watch(), as a program's would be.
  for (const dirs of run("setup") ? size.trees : []) {
    progress(`setup of a ${dirs}-directory tree`);
    const root = join(work, `tree-${dirs}`);
    mkdirSync(root);
    const probe = makeTree(root, dirs);
    const r = await setup(notiqWatch, { root, probe });
    report.setup.push({ dirs, readyMs: r.watchingMs, firstEventMs: r.firstEventMs, probes: r.probes });
    removeDir(root);
  }
  const subjects: [string, Peer][] = [
    ["for await (Inotify)", notiqInotify("for await", WRITE_MASK)],
    ["watch()", notiqWatch],
  ];
  for (const [api, peer] of run("latency") ? subjects : []) {
    progress(`latency of ${size.writes} writes, ${api}`);
    const { us } = await writes(peer, { iterations: size.writes, warmup: size.warmup, base: work });
    us.sort((a, b) => a - b);
    report.latency.push({ api, writes: size.writes, p50Us: quantile(us, 0.5), p99Us: quantile(us, 0.99) });
  }
  for (const api of run("drain") ? ["batches()", "for await", "watch()"] as const : []) {
    const n = Math.min(size.drain, queue());
    progress(`drain of ${n} queued events, ${api}`);
    const r = await drainQueued(api, { n, stallMs: 2000, base: work });
    report.drain.push({
      api: api === "watch()" ? api : `${api} (Inotify)`,
      events: n,
      ms: r.ms,
      eventsPerSecond: r.delivered / (r.ms / 1e3),
      delivered: r.delivered,
      lost: r.lost,
    });
  }
  for (const delayMs of run("overflow") ? size.delays : []) {
    progress(`overflow of a burst, consumer sleeping ${delayMs} ms per batch`);
    report.overflow.push(
      await overflowPoint({ delayMs, base: work, ringSize: size.ringSize, maxQueuedEvents: queue() }),
    );
  }
  const worst = report.overflow.filter((o) => o.overflowed).sort((a, b) => a.kept - b.kept)[0];
  if (worst) {
    const want = 2 ** Math.ceil(Math.log2(worst.maxQueuedEvents + worst.made - worst.kept));
    report.advice = [
      `A burst of ${worst.made} events overflowed the kernel queue after ${worst.kept} (consumer sleeping ${worst.delayMs} ms per batch):`,
      `fs.inotify.max_queued_events is ${worst.maxQueuedEvents}, and notiq's ring (ringSize, ${
        worst.ringSize / 1024
      } KiB) holds ${Math.floor(worst.ringSize / 32)} events of this size more.`,
      `To hold such a burst, raise the kernel queue: sudo sysctl fs.inotify.max_queued_events=${want}`,
      `and keep it after a reboot: echo fs.inotify.max_queued_events=${want} | sudo tee /etc/sysctl.d/60-inotify.conf`,
      "(or give Inotify / watch() a larger ringSize). An overflow is never silent: it arrives as an event.",
    ].join("\n");
  }
  return report;
}

const us = (x: number) => `${x >= 100 ? x.toFixed(0) : x.toFixed(1)} µs`;
const ms = (x: number) => `${x >= 100 ? x.toFixed(0) : x.toFixed(1)} ms`;

/** The report as the table `cli.ts bench` prints, with the machine above it and the advice below. */
export function formatMachine(r: MachineReport): string {
  const rows: Record<string, string>[] = [];
  for (const s of r.setup) {
    rows.push({
      measure: `setup: watch() of a ${s.dirs}-directory tree`,
      result: ms(s.firstEventMs),
      detail: `call -> first event of a file made once ready (ready after ${ms(s.readyMs)}${
        s.probes > 1 ? `, ${s.probes} probe files` : ""
      })${s === r.setup[0] ? "; the process's first watch()" : ""}`,
    });
  }
  for (const l of r.latency) {
    rows.push({
      measure: `latency: writeFileSync -> CREATE, ${l.api}`,
      result: `p50 ${us(l.p50Us)}, p99 ${us(l.p99Us)}`,
      detail: `${l.writes} new files written one at a time, each awaited`,
    });
  }
  for (const d of r.drain) {
    rows.push({
      measure: `drain: ${d.api}`,
      result: `${(d.eventsPerSecond / 1e6).toFixed(2)} M events/s`,
      detail: `${d.events} events queued while nothing read: ${d.delivered} in ${ms(d.ms)}${
        d.lost ? ` (lost: ${d.lost})` : ""
      }`,
    });
  }
  for (const o of r.overflow) {
    rows.push({
      measure: `overflow: consumer sleeps ${o.delayMs} ms per batch`,
      result: o.overflowed ? `${o.kept} kept, then Q_OVERFLOW` : `all ${o.kept} kept`,
      detail: `burst of ${o.made} at full speed; ring ${o.ringSize / 1024} KiB + kernel queue ${o.maxQueuedEvents}${
        o.overflowed ? `; ${o.delivered} delivered in all` : ""
      }`,
    });
  }
  const fs = r.filesystem.type === "unknown"
    ? "filesystem unknown"
    : `${r.filesystem.type} at ${r.filesystem.mountPoint}`;
  const queue = r.maxQueuedEvents === undefined
    ? ""
    : `, fs.inotify.max_queued_events ${r.maxQueuedEvents}${
      r.maxQueuedEventsFrom === "sysctl" ? "" : ` (${r.maxQueuedEventsFrom})`
    }`;
  return [
    `notiq bench in ${r.dir} (${fs}): ${r.runtime}, Linux ${r.kernel}, ${r.cpus} cpus${queue}${
      r.quick ? ", quick mode (rough)" : ""
    }`,
    "",
    table(rows, ["result", "detail"]),
    ...(r.advice ? ["", r.advice] : []),
  ].join("\n") + "\n";
}

/**
 * `cli.ts bench [DIR]`, in the shape of cli.ts's commands: makes a work directory under DIR,
 * measures, prints, and removes the work directory — also on Ctrl-C and SIGTERM (then exit 130).
 * A DIR it cannot write is refused before anything is measured.
 */
export const benchCommand = {
  summary: "measure notiq on this machine: drain rate, write latency, queue overflow, tree setup",
  usage: "bench [--json] [--quick] [--only MEASURES] [DIR]",
  options: {
    json: { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    only: { type: "string", multiple: true },
    help: { type: "boolean", short: "h", default: false },
  } as ParseArgsOptionsConfig,
  help: {
    json: "print one JSON object instead of the table",
    quick: "small sizes: done in seconds, figures rough",
    only: `measure only these, comma-separated or repeated: ${MEASURES.join(", ")} (default: all)`,
    help: "show this help. DIR: where to measure (its filesystem); default /dev/shm, else the temp dir; a full run " +
      "makes about a million small files there, removed as it goes (slow on a slow disk: try --quick first). " +
      "Deno: --allow-ffi --allow-read --allow-write (with -A it can also use /dev/shm and read /proc)",
  } as Record<string, string>,
  async run(values: Record<string, unknown>, paths: string[]): Promise<number> {
    if (paths.length > 1) throw new Error(`bench takes one DIR, got ${paths.length}`);
    const only = (values.only as string[] | undefined)?.flatMap((m) => m.split(",")).map((m) => m.trim())
      .filter(Boolean);
    const unknown = only?.find((m) => !(MEASURES as readonly string[]).includes(m));
    if (unknown !== undefined) throw new Error(`unknown measure "${unknown}" (one of ${MEASURES.join(", ")})`);
    // The handlers first: a signal that comes right after the work directory is made must find them.
    let work: string | undefined;
    const clean = () => work !== undefined && removeDir(work);
    const interrupted = () => {
      clean();
      process.stderr.write(`notiq: interrupted${work === undefined ? "" : `; removed ${work}`}\n`);
      process.exit(130);
    };
    process.on("SIGINT", interrupted);
    process.on("SIGTERM", interrupted);
    process.on("exit", clean);
    try {
      const made = makeWorkDir(paths.length ? paths : defaultDirs());
      const dir = made.dir;
      work = made.work;
      const progress = process.stderr.isTTY
        ? (line: string) => process.stderr.write(`measuring ${line}...\n`)
        : undefined;
      const measures = only as Measure[] | undefined;
      const report = await measureMachine(work, { dir, quick: values.quick as boolean, measures, progress });
      process.stdout.write(values.json ? JSON.stringify(report) + "\n" : formatMachine(report));
      return 0;
    } finally {
      clean();
      process.off("SIGINT", interrupted);
      process.off("SIGTERM", interrupted);
      process.off("exit", clean);
    }
  },
};
