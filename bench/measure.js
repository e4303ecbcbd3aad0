// @ts-check
/**
 * The workloads every bench subject runs — notiq, the watchers of peers.js, in this process or
 * under Node 20 in a child — and what they measure with: clocks, event makers, the tally of what
 * arrived, the round-trip loops, medians and tables. Plain JavaScript with JSDoc types and only
 * `node:` modules, so it runs unchanged under Deno, Bun and Node 20; it ships with cli.ts, whose
 * `bench` command (machine.ts) runs the same workloads on the user's machine.
 *
 * A subject is a {@link Peer}: it starts watching, passes what arrives to a {@link Tally}, and
 * returns the function that stops it. A workload takes a peer and its options and resolves to
 * plain JSON, so a child process can print it (peers.js) and the bench read it back.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** Monotonic time in nanoseconds, as a number. */
export function nowNs() {
  return Number(process.hrtime.bigint());
}

/**
 * Busy-waits (the main thread stays blocked, as a long synchronous task would).
 * @param {number} ms
 */
export function spin(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy */ }
}

/**
 * @param {number} ms
 * @returns {Promise<void>}
 */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits for `check()` to be true, polling every few ms; false after `ms` without it.
 * @param {() => boolean} check
 * @param {number} ms
 */
export async function until(check, ms) {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) return false;
    await sleep(2);
  }
  return true;
}

/**
 * A fresh directory under `base`, by default on tmpfs (/dev/shm), or the temp dir where there is none.
 * @param {string} prefix
 * @param {string} [base]
 */
export function tmpDir(prefix, base) {
  base ??= existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  return mkdtempSync(join(base, `notiq-bench-${prefix}-`));
}

/** @param {string} dir */
export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Resident set size of this process in KiB: VmRSS, or the runtime's figure where /proc cannot be
 * read (Deno asks --allow-all for /proc).
 */
export function rssKiB() {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]);
  } catch { /* the runtime's figure */ }
  return Math.round(process.memoryUsage().rss / 1024);
}

/** CPU seconds (user + system, all threads) this process has used. */
export function cpuSeconds() {
  // Fields after the ")" of comm: utime is the 12th, stime the 13th, in clock ticks (100 Hz on Linux).
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * A command line that runs `script` again in this runtime (Deno needs `run -A`; Bun takes the
 * file; Node takes it after this process's flags, e.g. --experimental-ffi).
 * @param {string} script
 * @returns {[string, string[]]}
 */
export function selfCommand(script) {
  if ("Deno" in globalThis) return [process.execPath, ["run", "-A", script]];
  if ("Bun" in globalThis) return [process.execPath, [script]];
  return [process.execPath, [...process.execArgv, script]];
}

/**
 * The name of a workload's `i`th event, PREFIX%07d as bench/c/gen.c makes them: distinct names,
 * as the kernel merges identical unread events.
 * @param {number} i
 */
export function eventName(i, prefix = "f") {
  return `${prefix}${String(i).padStart(7, "0")}`;
}

/**
 * Makes `count` events in `dir` from this thread: one symlink each (a single IN_CREATE).
 * @param {string} dir
 * @param {number} count
 */
export function makeEvents(dir, count, prefix = "f", from = 0) {
  for (let i = from; i < from + count; i++) symlinkSync("x", `${dir}/${eventName(i, prefix)}`);
}

/**
 * Makes a tree of `dirs` directories under `root` (which exists): about √dirs directories a0, a1,
 * ... at the top and the rest spread evenly below them as aN/bM. Returns the last directory made,
 * where a probe of {@link setup} goes.
 * @param {string} root
 * @param {number} dirs
 */
export function makeTree(root, dirs) {
  const width = Math.max(1, Math.min(dirs, Math.round(Math.sqrt(dirs))));
  let last = root;
  for (let i = 0; i < width; i++) mkdirSync(last = join(root, `a${i}`));
  for (let k = 0; k < dirs - width; k++) mkdirSync(last = join(root, `a${k % width}`, `b${Math.floor(k / width)}`));
  return last;
}

/**
 * Runs a command that prints one JSON line last (a C helper, a child process running a workload)
 * and parses that line. Spawning is synchronous: the child runs from the moment this returns.
 * Rejects with the end of the child's stderr when it fails, or is killed after `timeoutMs`.
 * @template T
 * @param {string} cmd
 * @param {(string | number)[]} args
 * @param {{ env?: Record<string, string>, timeoutMs?: number }} [options]
 * @returns {Promise<T>}
 */
export function runJson(cmd, args, { env, timeoutMs = 600_000 } = {}) {
  const child = spawn(cmd, args.map(String), { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.setEncoding("utf8").on("data", (/** @type {string} */ s) => void (out += s));
  child.stderr.setEncoding("utf8").on("data", (/** @type {string} */ s) => void (err += s));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve, reject) => {
    child.on("error", (e) => (clearTimeout(timer), reject(e))); // e.g. ENOENT: no such command
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").at(-1);
      if (code === 0 && last) return resolve(JSON.parse(last));
      // deno-lint-ignore no-control-regex
      const lines = err.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim()).filter((l) => l);
      const why = lines.find((l) => /error/i.test(l)) ?? lines.at(-1) ?? "no output";
      reject(new Error(`${[cmd, ...args].join(" ").slice(0, 120)}...: exited with ${signal ?? code}: ${why}`));
    });
  });
}

/**
 * Starts making `count` events in `dir` from another process, so they happen while this thread
 * is busy; the child runs from the moment this returns.
 * @param {string[]} generator the command before its DIR N PREFIX: bench/c/gen.c, or peers.js make-events
 * @param {string} dir
 * @param {number} count
 * @returns {Promise<{ ms: number, created: number }>}
 */
export function startGenerator(generator, dir, count, prefix = "f") {
  const [cmd, ...args] = generator;
  return runJson(cmd, [...args, dir, count, prefix]);
}

/**
 * What a subject delivered. Workload names (f0000000...) are counted once each, by the number in
 * them, so a peer that reports a file twice (chokidar over Deno's fs.watch does; every subject
 * sees a write as several events) or reports the directory instead (a rescan) is not counted as
 * delivering more.
 */
export class Tally {
  /** Workload names delivered, each once. */
  delivered = 0;
  /** Further deliveries of a workload name already delivered. */
  repeated = 0;
  /** Events about anything else: the sentinel, the directory itself. */
  other = 0;
  /** The first loss signal ("" while none): Q_OVERFLOW, Deno's rescan flag, an error event. */
  lost = "";
  /** nowNs() of the last delivery. */
  lastAt = 0;
  #seen;
  #want = Infinity;
  #reached = () => {};

  /** @param {number} names how many workload names there are: f0000000 to f{names - 1} */
  constructor(names) {
    this.#seen = new Uint8Array(names);
  }

  /**
   * One event, by the name or path it is about (node:fs.watch may give null). Call `arrived()`
   * after each delivery's events: one timestamp per delivery, not per event.
   * @param {string | null} name
   */
  seen(name) {
    const i = name === null ? -1 : workloadIndex(name);
    if (i < 0 || i >= this.#seen.length) this.other++;
    else if (this.#seen[i] === 0) this.#seen[i] = 1, this.delivered++;
    else this.repeated++;
  }

  /** A delivery ended (a callback, a batch): stamps it and wakes `reach()`. */
  arrived() {
    this.lastAt = nowNs();
    if (this.delivered >= this.#want) {
      this.#want = Infinity;
      this.#reached();
    }
  }

  /** @param {string} why */
  loss(why) {
    this.lost ||= why;
  }

  /**
   * Resolves once `count` workload names have been delivered.
   * @param {number} count
   * @returns {Promise<void>}
   */
  reach(count) {
    if (this.delivered >= count) return Promise.resolve();
    this.#want = count;
    return new Promise((resolve) => (this.#reached = resolve));
  }

  /**
   * Resolves once `count` names are delivered, or after `quietMs` without any delivery: the rest
   * is lost.
   * @param {number} count
   * @param {number} quietMs
   */
  async settle(count, quietMs) {
    const since = nowNs();
    let timer;
    const quiet = new Promise((resolve) => {
      timer = setInterval(() => {
        if ((nowNs() - Math.max(this.lastAt, since)) / 1e6 > quietMs) resolve(undefined);
      }, Math.min(100, quietMs / 4));
    });
    try {
      await Promise.race([this.reach(count), quiet]);
    } finally {
      clearInterval(timer);
    }
  }

  result() {
    return { delivered: this.delivered, repeated: this.repeated, lost: this.lost };
  }
}

const DIGIT_0 = 48, LETTER_F = 102;

/**
 * i for a name or path ending in f%07d, else -1 (no substring made: this runs once per event).
 * @param {string} name
 */
function workloadIndex(name) {
  const at = name.length - 7;
  if (at < 1 || name.charCodeAt(at - 1) !== LETTER_F) return -1;
  let i = 0;
  for (let k = at; k < name.length; k++) {
    const d = name.charCodeAt(k) - DIGIT_0;
    if (d < 0 || d > 9) return -1;
    i = i * 10 + d;
  }
  return i;
}

/**
 * A subject under test: starts watching `dir` (its whole tree when `recursive`), passes each
 * event's name or path to `tally.seen()`, calls `tally.arrived()` after each delivery and
 * `tally.loss()` on a loss signal; resolves once watching (chokidar: `ready`, parcel: `subscribe()`
 * resolved, notiq's watch(): `ready`) to the function that stops it.
 * @typedef {(dir: string, recursive: boolean, tally: Tally) => Promise<Stop> | Stop} Peer
 * @typedef {() => Promise<void> | void} Stop
 */

/**
 * Makes one event (not a workload name) and waits for it: from here on the peer is watching and
 * its reader, whatever thread it runs on, is running.
 * @param {string} dir
 * @param {Tally} tally
 */
async function sentinel(dir, tally) {
  makeEvents(dir, 1, "sentinel-");
  if (!(await until(() => tally.other > 0 || tally.delivered > 0, 5000))) {
    throw new Error("the sentinel event did not arrive within 5 s: not watching");
  }
}

/**
 * drain: `n` events made from this thread while the peer watches (its own thread, if it has one,
 * drains the kernel meanwhile); ms from the end of making them to the last delivery.
 * @param {Peer} peer
 * @param {{ n: number, stallMs: number }} options stallMs: no delivery for this long and the rest is lost
 */
export async function drain(peer, { n, stallMs }) {
  const dir = tmpDir("drain");
  const tally = new Tally(n);
  const stop = await peer(dir, false, tally);
  try {
    await sentinel(dir, tally);
    makeEvents(dir, n);
    const t0 = nowNs();
    await tally.settle(n, stallMs);
    return { ms: Math.max(0, tally.lastAt - t0) / 1e6, ...tally.result() };
  } finally {
    await stop();
    removeDir(dir);
  }
}

/**
 * blocked: another process makes `n` events while this thread spins for `busyMs`; what arrives.
 * @param {Peer} peer
 * @param {{ n: number, busyMs: number, quietMs: number, generator: string[] }} options
 */
export async function blocked(peer, { n, busyMs, quietMs, generator }) {
  const dir = tmpDir("blocked");
  const tally = new Tally(n);
  const stop = await peer(dir, false, tally);
  try {
    await sentinel(dir, tally);
    const generated = startGenerator(generator, dir, n);
    spin(busyMs);
    const gen = await generated;
    if (gen.created !== n) throw new Error(`generator made ${gen.created} of ${n}`);
    await tally.settle(n, quietMs);
    return { genMs: gen.ms, ...tally.result() };
  } finally {
    await stop();
    removeDir(dir);
  }
}

/**
 * latency: make a file (a new name each time) with symlink(2), one IN_CREATE, and wait for its
 * event; µs of each round trip. The peer is parked, waiting, when each event is made, as a
 * consumer is between events.
 * @param {Peer} peer
 * @param {{ iterations: number, warmup: number }} options
 */
export async function latency(peer, options) {
  const dir = tmpDir("latency");
  const tally = new Tally(options.warmup + options.iterations);
  const stop = await peer(dir, false, tally);
  try {
    const arrival = (/** @type {number} */ i) => tally.reach(i + 1).then(() => tally.lastAt);
    return { us: await roundTrips(dir, options, arrival), repeated: tally.repeated };
  } finally {
    await stop();
    removeDir(dir);
  }
}

/**
 * The latency loop: makes event `i` in `dir` (a symlink named eventName(i)), awaits `arrival(i)`,
 * which resolves with the nowNs() at which the consumer held the event (what the consumer does
 * after that, e.g. asking for the next one, is not counted); µs of each round trip after the
 * first `warmup`. Fails after 10 s without an arrival.
 * @param {string} dir
 * @param {{ iterations: number, warmup: number }} options
 * @param {(i: number) => Promise<number>} arrival
 */
export async function roundTrips(dir, { iterations, warmup }, arrival) {
  /** @type {number[]} */
  const us = [];
  // A subject that stops delivering must fail the run, not hang it; one timer, not one per event.
  let progressAt = nowNs(), timer;
  const STALLED = Symbol("stalled");
  const stalled = new Promise((resolve) => {
    timer = setInterval(() => nowNs() - progressAt > 10e9 && resolve(STALLED), 1000);
  });
  try {
    for (let i = 0; i < warmup + iterations; i++) {
      const path = `${dir}/${eventName(i)}`;
      const t0 = nowNs();
      symlinkSync("x", path);
      const heldAt = await Promise.race([arrival(i), stalled]);
      if (heldAt === STALLED) throw new Error(`no event for #${i} in 10 s`);
      progressAt = nowNs();
      if (i >= warmup) us.push((heldAt - t0) / 1e3);
    }
    return us;
  } finally {
    clearInterval(timer);
  }
}

/**
 * writes: the ordinary-write latency workload of issue #15, in `base` (default: /dev/shm) — see
 * {@link writeRoundTrips}. The peer gets every event of each file (CREATE, MODIFY, CLOSE_WRITE);
 * the first event of a name is its CREATE, and that one ends the round trip.
 * @param {Peer} peer
 * @param {{ iterations: number, warmup: number, base?: string }} options
 */
export async function writes(peer, { iterations, warmup, base }) {
  const dir = tmpDir("writes", base);
  const tally = new Tally(warmup + iterations);
  const stop = await peer(dir, false, tally);
  try {
    const arrival = (/** @type {number} */ i) => tally.reach(i + 1).then(() => tally.lastAt);
    return { us: await writeRoundTrips(dir, { iterations, warmup }, arrival), repeated: tally.repeated };
  } finally {
    await stop();
    removeDir(dir);
  }
}

/**
 * The ordinary-write loop: `writeFileSync(newPath, "x")` (CREATE, MODIFY, CLOSE_WRITE of a new
 * name each time), a 10 s watchdog setTimeout armed, then await `arrival(i)`, which resolves with
 * the nowNs() at which the consumer held the file's CREATE; the watchdog is cleared. µs from
 * before the write to that moment, for each iteration after the first `warmup`.
 * @param {string} dir
 * @param {{ iterations: number, warmup: number }} options
 * @param {(i: number) => Promise<number>} arrival
 */
export async function writeRoundTrips(dir, { iterations, warmup }, arrival) {
  /** @type {number[]} */
  const us = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const path = `${dir}/${eventName(i)}`;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let watchdog;
    const t0 = nowNs();
    writeFileSync(path, "x");
    const late = new Promise((_, reject) => {
      watchdog = setTimeout(() => reject(new Error(`no CREATE of ${path} within 10 s`)), 10_000);
    });
    try {
      const heldAt = /** @type {number} */ (await Promise.race([arrival(i), late]));
      if (i >= warmup) us.push((heldAt - t0) / 1e3);
    } finally {
      clearTimeout(watchdog);
    }
  }
  return us;
}

/**
 * setup: from the call that starts watching `root` (recursively) to the first event of a file
 * written in `probe` (a directory of the tree, or the root) once the subject says it watches; a
 * subject that says so before its watches are in place misses it, so another probe file is
 * written every `probeEveryMs` until one arrives (`probes` counts them). RSS is read before the
 * call, right after that first event, and `laterMs` after it while still watching (what a reader
 * started after the first event costs shows there). Run it as the first call of a fresh process.
 * @param {Peer} peer
 * @param {{ root: string, probe: string, probeEveryMs?: number, timeoutMs?: number, laterMs?: number }} options
 */
export async function setup(peer, { root, probe, probeEveryMs = 20, timeoutMs = 10_000, laterMs = 0 }) {
  const tally = new Tally(Math.ceil(timeoutMs / probeEveryMs) + 1);
  let probes = 0;
  const write = () => writeFileSync(`${probe}/${eventName(probes++)}`, "x");
  const rss0 = rssKiB();
  const t0 = nowNs();
  const stop = await peer(root, true, tally);
  const watchingAt = nowNs();
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let again;
  try {
    write();
    again = setInterval(write, probeEveryMs);
    const first = tally.reach(1);
    if (!(await Promise.race([first.then(() => true), sleep(timeoutMs).then(() => false)]))) {
      throw new Error(`no event of ${probes} probe files in ${probe} within ${timeoutMs / 1000} s`);
    }
    const rss1 = rssKiB();
    clearInterval(again);
    const firstEventMs = (tally.lastAt - t0) / 1e6;
    if (laterMs > 0) await sleep(laterMs);
    return {
      watchingMs: (watchingAt - t0) / 1e6,
      firstEventMs,
      probes,
      rssKiB: rss1 - rss0,
      rssLaterKiB: rssKiB() - rss0,
    };
  } finally {
    clearInterval(again);
    await stop();
    for (let i = 0; i < probes; i++) rmSync(`${probe}/${eventName(i)}`, { force: true });
  }
}

/**
 * idle: CPU seconds the peer uses over `seconds` while it watches the tree at `root` recursively
 * and nothing happens (measure it in a process of its own).
 * @param {Peer} peer
 * @param {{ root: string, seconds: number }} options
 */
export async function idle(peer, { root, seconds }) {
  const stop = await peer(root, true, new Tally(0));
  try {
    await sleep(500); // start-up work is not idling
    const cpu0 = cpuSeconds();
    await sleep(seconds * 1000);
    return { cpu: cpuSeconds() - cpu0 };
  } finally {
    await stop();
  }
}

/** The workloads by name, as peers.js's command line and the benches' child processes name them. */
export const WORKLOADS = { drain, blocked, latency, writes, setup, idle };

/** @param {number[]} xs */
export function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The q-quantile (0..1) of sorted numbers, nearest rank.
 * @param {number[]} sorted
 * @param {number} q
 */
export function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Formats a table of rows (objects with the same keys) as aligned Markdown: the first column,
 * those named in `left` and those of words left-aligned, the others (numbers) right-aligned.
 * @param {Record<string, string | number | undefined>[]} rows
 * @param {string[]} [left]
 */
export function table(rows, left = []) {
  if (rows.length === 0) return "(no rows)";
  const keys = Object.keys(rows[0]);
  const words = (/** @type {string} */ k) =>
    rows.every((r) => typeof r[k] === "string" && /^[a-z]/i.test(String(r[k])));
  const isLeft = keys.map((k, i) => i === 0 || left.includes(k) || words(k));
  const cells = rows.map((r) => keys.map((k) => fmt(r[k])));
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => c[i].length)));
  const line = (/** @type {string[]} */ c) =>
    `| ${c.map((x, i) => (isLeft[i] ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join(" | ")} |`;
  return [
    line(keys),
    `|${widths.map((w, i) => (isLeft[i] ? "-" : "") + "-".repeat(w + 1) + (isLeft[i] ? "" : ":")).join("|")}|`,
    ...cells.map(line),
  ].join("\n");
}

/**
 * A number as the tables print it: integers whole, others to 3 significant digits or so.
 * @param {string | number | undefined} v
 */
export function fmt(v) {
  if (v === undefined) return "";
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}
