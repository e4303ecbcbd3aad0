// @ts-check
/**
 * The watchers people would otherwise use, as bench subjects beside notiq — node:fs.watch,
 * Deno.watchFs, chokidar, @parcel/watcher — and the workloads every subject runs (drain, blocked,
 * latency, setup, idle), with the primitives those share with the TypeScript benches (common.ts
 * re-exports them). Plain JavaScript with JSDoc types, so the same code runs in-process under Deno
 * and Bun, and under Node 20 in a child process:
 *
 *   node bench/peers.js <workload> <peer> '<options as JSON>'   prints the result as one JSON line
 *   node bench/peers.js make-events DIR N [PREFIX]              the event generator without a C compiler
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, watch as fsWatch } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

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
 * A fresh directory on tmpfs (/dev/shm), or the temp dir where there is none.
 * @param {string} prefix
 */
export function tmpDir(prefix) {
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  return mkdtempSync(join(base, `notiq-bench-${prefix}-`));
}

/** @param {string} dir */
export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/** Resident set size of this process in KiB (VmRSS). */
export function rssKiB() {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) : NaN;
}

/** CPU seconds (user + system, all threads) this process has used. */
export function cpuSeconds() {
  // Fields after the ")" of comm: utime is the 12th, stime the 13th, in clock ticks (100 Hz on Linux).
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * A command line that runs `script` again in this runtime (Deno needs `run -A`; Node and Bun take the file).
 * @param {string} script
 * @returns {[string, string[]]}
 */
export function selfCommand(script) {
  return "Deno" in globalThis ? [process.execPath, ["run", "-A", script]] : [process.execPath, [script]];
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
export function makeEvents(dir, count, prefix = "f") {
  for (let i = 0; i < count; i++) symlinkSync("x", `${dir}/${eventName(i, prefix)}`);
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
 * @param {string[]} generator the command before its DIR N PREFIX: bench/c/gen.c, or this file's make-events
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
 * them, so a peer that reports a file twice (chokidar over Deno's fs.watch does) or reports the
 * directory instead (a rescan) is not counted as delivering more.
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
 * resolved) to the function that stops it.
 * @typedef {(dir: string, recursive: boolean, tally: Tally) => Promise<Stop> | Stop} Peer
 * @typedef {() => Promise<void> | void} Stop
 */

/** @type {Peer} */
function nodeFsWatch(dir, recursive, tally) {
  const watcher = fsWatch(dir, { recursive }, (_kind, name) => {
    tally.seen(name);
    tally.arrived();
  });
  watcher.on("error", (err) => tally.loss(`error: ${err.message}`));
  return () => watcher.close();
}

/** @type {Peer} */
function denoWatchFs(dir, recursive, tally) {
  const watcher = Deno.watchFs(dir, { recursive });
  const reading = (async () => {
    for await (const ev of watcher) {
      if (ev.flag === "rescan") tally.loss("rescan flag"); // events were dropped; paths name the dir
      else for (const path of ev.paths) tally.seen(path); // a new dangling symlink is kind "remove": count any kind
      tally.arrived();
    }
  })();
  return async () => {
    watcher.close();
    await reading;
  };
}

/**
 * Each peer's loader: a module that is missing or fails to load rejects here, not in the middle
 * of a workload.
 * @type {Record<string, () => Promise<Peer>>}
 */
export const PEERS = {
  "node:fs.watch": () => Promise.resolve(nodeFsWatch),
  "Deno.watchFs": () =>
    "Deno" in globalThis ? Promise.resolve(denoWatchFs) : Promise.reject(new Error("Deno.watchFs needs Deno")),
  chokidar: async () => {
    const { watch } = await import("chokidar");
    return async (dir, recursive, tally) => {
      // followSymlinks: false, or chokidar stat()s each new symlink's (missing) target and drops it.
      const watcher = watch(dir, { ignoreInitial: true, followSymlinks: false, depth: recursive ? undefined : 0 });
      watcher.on("all", (_kind, path) => {
        tally.seen(path);
        tally.arrived();
      });
      watcher.on("error", (err) => tally.loss(`error: ${err}`));
      await new Promise((resolve) => watcher.once("ready", () => resolve(undefined)));
      return () => watcher.close();
    };
  },
  "@parcel/watcher": async () => {
    const { subscribe } = (await import("@parcel/watcher")).default;
    return async (dir, _recursive, tally) => { // always recursive: it has no other mode
      const subscription = await subscribe(dir, (err, events) => {
        if (err) tally.loss(`error: ${err.message}`);
        else for (const ev of events) tally.seen(ev.path);
        tally.arrived();
      });
      return () => subscription.unsubscribe();
    };
  },
};

/**
 * @param {string} name a key of PEERS
 * @returns {Promise<Peer>}
 */
export function loadPeer(name) {
  const load = PEERS[name];
  if (!load) throw new Error(`unknown peer ${JSON.stringify(name)} (one of ${Object.keys(PEERS).join(", ")})`);
  return load();
}

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
 * latency: make a file (a new name each time), wait for its event; µs of each round trip. The
 * peer is parked, waiting, when each event is made, as a consumer is between events.
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
 * setup: time until the peer watches the tree at `root` recursively, and the RSS that added
 * (measure it in a process of its own); then the time until an event made in `probe` (a
 * directory deep in the tree, or none) arrives: a peer whose watches are not in place yet when
 * it says ready shows here (probeMs null: not within 5 s).
 * @param {Peer} peer
 * @param {{ root: string, probe?: string }} options
 */
export async function setup(peer, { root, probe }) {
  const tally = new Tally(1);
  const rss0 = rssKiB();
  const t0 = nowNs();
  const stop = await peer(root, true, tally);
  const ms = (nowNs() - t0) / 1e6;
  const probePath = probe && `${probe}/${eventName(0)}`;
  try {
    /** @type {number | null | undefined} null: the probe's event did not arrive; undefined: no probe */
    let probeMs = probePath ? null : undefined;
    if (probePath) {
      const t1 = nowNs();
      symlinkSync("x", probePath);
      if (await until(() => tally.delivered > 0, 5000)) probeMs = (tally.lastAt - t1) / 1e6;
    }
    await sleep(200); // let reader threads come up before RSS is read
    return { ms, probeMs, rssKiB: rssKiB() - rss0 };
  } finally {
    await stop();
    if (probePath) rmSync(probePath, { force: true });
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

/** The workloads by name, as the command line and the benches' child processes name them. */
export const WORKLOADS = { drain, blocked, latency, setup, idle };

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [command, ...args] = process.argv.slice(2);
  if (command === "make-events") {
    const [dir, count, prefix] = args;
    const t0 = performance.now();
    makeEvents(dir, Number(count), prefix);
    console.log(JSON.stringify({ ms: performance.now() - t0, created: Number(count) }));
  } else if (command in WORKLOADS) {
    /** @type {(peer: Peer, options: any) => Promise<unknown>} */
    const workload = WORKLOADS[/** @type {keyof WORKLOADS} */ (command)];
    console.log(JSON.stringify(await workload(await loadPeer(args[0]), JSON.parse(args[1] ?? "{}"))));
  } else {
    console.error(`usage: peers.js <${Object.keys(WORKLOADS).join("|")}> <peer> '<options JSON>'`);
    console.error("       peers.js make-events DIR N [PREFIX]");
    process.exit(2);
  }
  process.exit(0); // a peer's leftover handle (a timer, a native thread) must not keep the child alive
}
