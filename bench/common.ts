/**
 * What every bench shares: the header (runtime and kernel versions), BENCH_QUICK / BENCH_JSON,
 * medians, tmpfs dirs, the sysctl guard, the C helpers under bench/c/ and the tables.
 *
 * @module
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** BENCH_QUICK=1: seconds, not minutes; for CI, which only checks that every bench still runs. */
export const QUICK = process.env.BENCH_QUICK === "1";
/** BENCH_JSON=1: one JSON document on stdout instead of tables. */
export const JSON_OUT = process.env.BENCH_JSON === "1";
/** The runtime we run in. */
export const RUNTIME: "deno" | "bun" = "Deno" in globalThis ? "deno" : "bun";

/** "deno 2.9.6" or "bun 1.4.5". */
export function runtimeVersion(): string {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  return RUNTIME === "deno" ? `deno ${g.Deno.version.deno} (v8 ${g.Deno.version.v8})` : `bun ${g.Bun.version}`;
}

/** Prints what was measured where, unless the output is JSON. */
export function header(title: string, notes: string[] = []): void {
  if (JSON_OUT) return;
  console.log(`# ${title}`);
  console.log(
    `runtime: ${runtimeVersion()}  kernel: Linux ${release()}  cpus: ${navigator.hardwareConcurrency}${
      QUICK ? "  QUICK mode" : ""
    }`,
  );
  for (const note of notes) console.log(`note: ${note}`);
  console.log("");
}

/** Prints a note (stderr when the output is JSON, so stdout stays one document). */
export function note(text: string): void {
  if (JSON_OUT) console.error(`note: ${text}`);
  else console.log(`note: ${text}`);
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The q-quantile (0..1) of sorted numbers, nearest rank. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Monotonic time in nanoseconds, as a number. */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** A fresh directory on tmpfs (/dev/shm), or the temp dir where there is none. */
export function tmpDir(prefix: string): string {
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  return mkdtempSync(join(base, `notiq-bench-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

const SYSCTL = "/proc/sys/fs/inotify/";

export function readSysctl(name: string): number {
  return Number(readFileSync(SYSCTL + name, "utf8").trim());
}

/**
 * Runs `fn` with fs.inotify.`name` set to `value`, and always restores it. Without the right to
 * write it (not root), runs with the current value and says so.
 */
export async function withSysctl<T>(name: string, value: number, fn: () => Promise<T> | T): Promise<T> {
  const before = readSysctl(name);
  if (before === value) return await fn();
  try {
    writeFileSync(SYSCTL + name, `${value}\n`);
  } catch (err) {
    note(`cannot set fs.inotify.${name}=${value} (${(err as Error).message}); running with ${before}`);
    return await fn();
  }
  try {
    return await fn();
  } finally {
    writeFileSync(SYSCTL + name, `${before}\n`);
  }
}

const here = dirname(fileURLToPath(import.meta.url));
let cTemp: string | undefined;
const compiled = new Map<string, string | undefined>();

/**
 * Compiles bench/c/`name`.c with gcc (or cc) -O2 into a temp dir, once per process.
 * @returns the executable, or undefined (with a note) when there is no C compiler.
 */
export function compileC(name: string): string | undefined {
  if (compiled.has(name)) return compiled.get(name);
  let exe: string | undefined;
  const source = join(here, "c", `${name}.c`);
  for (const cc of ["gcc", "cc"]) {
    cTemp ??= mkdtempSync(join(tmpdir(), "notiq-bench-c-"));
    const out = join(cTemp, name);
    const r = spawnSync(cc, ["-O2", "-march=native", "-o", out, source], { encoding: "utf8" });
    if (r.status === 0) {
      exe = out;
      break;
    }
    if (r.error === undefined && r.stderr) note(`${cc} failed on ${source}: ${r.stderr.trim().split("\n")[0]}`);
  }
  if (!exe) note(`no C compiler (gcc, cc): the C rows of this bench are skipped`);
  compiled.set(name, exe);
  return exe;
}

/** Runs a compiled C helper and parses the one JSON line it prints. */
export function runC<T>(exe: string, args: (string | number)[]): T {
  const out = execFileSync(exe, args.map(String), { encoding: "utf8", maxBuffer: 64 << 20 });
  return JSON.parse(out.trim().split("\n").at(-1)!) as T;
}

process.on("exit", () => {
  if (cTemp) rmSync(cTemp, { recursive: true, force: true });
});

/** A command line that runs `script` again in this runtime (for subjects that need a process each). */
export function selfCommand(script: string): [string, string[]] {
  return RUNTIME === "deno" ? [process.execPath, ["run", "-A", script]] : [process.execPath, [script]];
}

/** Resident set size of this process in KiB (VmRSS). */
export function rssKiB(): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) : NaN;
}

/** CPU seconds (user + system, all threads) this process has used. */
export function cpuSeconds(): number {
  // Fields after the ")" of comm: utime is the 12th, stime the 13th, in clock ticks (100 Hz on Linux).
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Busy-waits (the main thread stays blocked, as a long synchronous task would). */
export function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* busy */ }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Formats a table of rows (objects with the same keys) as aligned Markdown. */
export function table(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return "(no rows)";
  const keys = Object.keys(rows[0]);
  const cells = rows.map((r) => keys.map((k) => fmt(r[k])));
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    `| ${c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join(" | ")} |`;
  return [
    line(keys),
    `|${widths.map((w, i) => (i === 0 ? "-" : "") + "-".repeat(w + 1) + (i === 0 ? "" : ":")).join("|")}|`,
    ...cells.map(line),
  ].join("\n");
}

function fmt(v: string | number | undefined): string {
  if (v === undefined) return "";
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** Prints the final result: a table, or with BENCH_JSON=1 the JSON document. */
export function report(
  title: string,
  rows: Record<string, string | number>[],
  extra: Record<string, unknown> = {},
): void {
  if (JSON_OUT) {
    console.log(
      JSON.stringify({ bench: title, runtime: runtimeVersion(), kernel: release(), quick: QUICK, rows, ...extra }),
    );
  } else {
    console.log(table(rows));
    console.log("");
  }
}

/** Waits for `check()` to be true, polling every few ms; false after `ms` without it. */
export async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) return false;
    await sleep(2);
  }
  return true;
}

/**
 * Starts making `count` events in `dir` from another process (bench/c/gen.c, or make_events.ts
 * without a compiler), so they happen while this thread is busy. Spawning is synchronous: the
 * child runs from the moment this returns.
 */
export function startGenerator(dir: string, count: number, prefix = "f"): Promise<{ ms: number; created: number }> {
  const exe = compileC("gen");
  const [cmd, args] = exe ? [exe, [dir, String(count), prefix]] : selfCommand(join(here, "make_events.ts"));
  if (!exe) args.push(dir, String(count), prefix);
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (s: string) => void (out += s));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`event generator exited with ${code}`));
      else resolve(JSON.parse(out.trim().split("\n").at(-1)!));
    });
  });
}
