/**
 * What every bench shares: the header (runtime and kernel versions), BENCH_QUICK / BENCH_JSON,
 * medians, the sysctl guard, the C helpers under bench/c/ and the tables; tmpfs dirs, the event
 * makers and the child processes come from peers.js.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runJson, selfCommand } from "./peers.js";

// Written once in peers.js, which the Node child runs too.
export {
  cpuSeconds,
  makeEvents,
  nowNs,
  removeDir,
  rssKiB,
  runJson,
  selfCommand,
  sleep,
  spin,
  startGenerator,
  tmpDir,
  until,
} from "./peers.js";

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
    const r = spawnSync(cc, ["-O2", "-march=native", "-pthread", "-o", out, source], { encoding: "utf8" });
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
export function runC<T>(exe: string, args: (string | number)[]): Promise<T> {
  return runJson<T>(exe, args);
}

/** bench/peers.js, which the benches run in child processes. */
export const PEERS_SCRIPT = join(here, "peers.js");

/**
 * The event generator for startGenerator(): bench/c/gen.c, or peers.js make-events without a C
 * compiler (slower, but it runs in any runtime, the Node child's too).
 */
export function generator(): string[] {
  const exe = compileC("gen");
  if (exe) return [exe];
  const [cmd, args] = selfCommand(PEERS_SCRIPT);
  return [cmd, ...args, "make-events"];
}

process.on("exit", () => {
  if (cTemp) rmSync(cTemp, { recursive: true, force: true });
});

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
