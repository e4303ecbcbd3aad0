/**
 * What every bench shares: the header (runtime and kernel versions), BENCH_QUICK / BENCH_JSON /
 * BENCH_RESULTS, the notiq readers to compare, the sysctl guard, the C helpers under bench/c/ and
 * the report; clocks, dirs, event makers, medians and tables come from measure.js.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { runJson, selfCommand, table } from "./measure.js";

// Written once in measure.js, which the Node child and cli.ts bench run too.
export {
  cpuSeconds,
  makeEvents,
  makeTree,
  median,
  nowNs,
  quantile,
  removeDir,
  rssKiB,
  runJson,
  selfCommand,
  sleep,
  spin,
  startGenerator,
  table,
  tmpDir,
  until,
} from "./measure.js";

/** BENCH_QUICK=1: seconds, not minutes; for CI, which only checks that every bench still runs. */
export const QUICK = process.env.BENCH_QUICK === "1";
/** BENCH_JSON=1: one JSON document on stdout instead of tables. */
export const JSON_OUT = process.env.BENCH_JSON === "1";
/** The runtime we run in. */
export const RUNTIME: "deno" | "bun" | "node" = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/** Node's major version ("26"), or "" under Deno and Bun (which have a process.versions.node of their own). */
const NODE_MAJOR = RUNTIME === "node" ? process.versions.node.split(".")[0] : "";

/**
 * The runtime as subject names carry it: "Deno", "Bun", "Node 26" — "chokidar (Node 26)" is
 * chokidar in this process; "node:fs.watch (Node 20.20.2)" is the child process's Node.
 */
export const RUNTIME_LABEL: string = RUNTIME === "deno" ? "Deno" : RUNTIME === "bun" ? "Bun" : `Node ${NODE_MAJOR}`;

/**
 * "deno 2.9.6 (v8 ...)", "bun 1.4.5", or "node 26.12.1 (v8 ..., node:ffi)" /
 * "node 24.22.3 (v8 ..., koffi 3.3.4)": Node's FFI is the one ffi/load.ts picks.
 */
export function runtimeVersion(): string {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (RUNTIME === "deno") return `deno ${g.Deno.version.deno} (v8 ${g.Deno.version.v8})`;
  if (RUNTIME === "bun") return `bun ${g.Bun.version}`;
  const ffi = process.getBuiltinModule?.("node:ffi") ? "node:ffi" : `koffi ${installed("koffi")}`;
  return `node ${process.versions.node} (v8 ${process.versions.v8}, ${ffi})`;
}

/** A notiq reader to measure: its label in subject names, and the environment that selects it. */
export interface Reader {
  label: string;
  env: Record<string, string>;
}

/**
 * The notiq readers to compare in one run, from BENCH_READERS (e.g. `thread,uring`): each gets a
 * row of its own (" [NOTIQ_READER=uring]"), run in a process with NOTIQ_READER set. Unset: one
 * row, with the reader notiq picks in this environment (NOTIQ_READER, if set, is passed on).
 * Only benches whose notiq subjects run in processes of their own (fresh, ring_memory, idle) can
 * compare readers in one run; the others measure the reader of the process they run in.
 */
export const READERS: Reader[] = (process.env.BENCH_READERS ?? "").split(",").map((r) => r.trim()).filter(Boolean)
  .map((r) => ({ label: ` [NOTIQ_READER=${r}]`, env: { NOTIQ_READER: r } }));
if (READERS.length === 0) READERS.push({ label: "", env: {} });

/** Prints what was measured where, unless the output is JSON. */
export function header(title: string, notes: string[] = []): void {
  if (JSON_OUT) return;
  console.log(`# ${title}`);
  console.log(
    `runtime: ${runtimeVersion()}  kernel: Linux ${release()}  cpus: ${navigator.hardwareConcurrency}${
      QUICK ? "  QUICK mode" : ""
    }`,
  );
  const env = ["NOTIQ_READER", "BENCH_READERS"].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`);
  if (env.length) console.log(`environment: ${env.join(" ")}`);
  for (const note of notes) console.log(`note: ${note}`);
  console.log("");
}

/** Prints a note (stderr when the output is JSON, so stdout stays one document). */
export function note(text: string): void {
  if (JSON_OUT) console.error(`note: ${text}`);
  else console.log(`note: ${text}`);
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

const ROOT = dirname(here);

/**
 * The command that ran this bench, as a reader would type it at the repository's root. Node: the
 * project's Node (node_modules/node26/bin/node) by that path, another as `node`; its flags but
 * --disable-warning (which changes no figure).
 */
export function commandLine(): string {
  const script = relative(ROOT, process.argv[1] ?? "");
  const env = ["BENCH_QUICK", "BENCH_READERS", "NOTIQ_READER"].filter((k) => process.env[k])
    .map((k) => `${k}=${process.env[k]}`);
  if (RUNTIME === "deno") return [...env, `deno run -A ${script}`].join(" ");
  if (RUNTIME === "bun") return [...env, `bun ${script}`].join(" ");
  const own = /\/node_modules\/(node\d+)\/bin\/node$/.exec(process.execPath)?.[1];
  const flags = process.execArgv.filter((a) => !a.startsWith("--disable-warning"));
  return [...env, own ? `node_modules/${own}/bin/node` : "node", ...flags, script].join(" ");
}

/** What machine this is: CPU model and count, memory, and whether it runs under a hypervisor. */
export function machine(): { arch: string; cpu: string; cpus: number; memoryGiB: number; virtual: boolean } {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const mem = /MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"));
  return {
    arch: process.arch,
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1].trim() ?? "unknown",
    cpus: navigator.hardwareConcurrency,
    memoryGiB: mem ? Math.round(Number(mem[1]) / 2 ** 20) : NaN,
    virtual: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo),
  };
}

let nodeFound: { path: string; version: string } | undefined | null = null;

/**
 * The first real Node on PATH outside node_modules and its version ("20.20.2"), or undefined.
 * Real: Deno puts a `node` of its own on its children's PATH (node_compat_bin), and runs itself
 * for a bare "node" that is not on PATH. Outside node_modules: node_modules/.bin/node (first on
 * PATH in bench/run.sh) is the project's Node 24, whose benches are a run of their own.
 */
export function findNode(): { path: string; version: string } | undefined {
  if (nodeFound !== null) return nodeFound;
  nodeFound = undefined;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const path = join(dir, "node");
    try {
      if (realpathSync(path).includes("/node_modules/")) continue;
    } catch {
      continue; // no such file
    }
    const r = spawnSync(path, ["-p", "globalThis.Deno || globalThis.Bun ? '' : process.versions.node"], {
      encoding: "utf8",
    });
    const version = r.status === 0 ? r.stdout.trim() : "";
    if (version) {
      nodeFound = { path, version };
      break;
    }
  }
  return nodeFound;
}

/** The version of an installed package, or "(not installed)". */
export function installed(pkg: string): string {
  try {
    return JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")).version;
  } catch {
    return "(not installed)";
  }
}

/**
 * Prints the final result: a table, or with BENCH_JSON=1 the JSON document. With
 * BENCH_RESULTS=FILE the document is also appended to FILE as one line (bench/run.sh collects
 * them there for bench/report.ts): the rows as measured, with the date, the machine, the
 * versions and the command that made them.
 */
export function report(
  title: string,
  rows: Record<string, string | number>[],
  extra: Record<string, unknown> = {},
): void {
  const doc = () => ({
    bench: title,
    runtime: runtimeVersion(),
    kernel: release(),
    quick: QUICK,
    date: new Date().toISOString(),
    command: commandLine(),
    machine: machine(),
    versions: {
      node: findNode()?.version ?? "(none on PATH)",
      chokidar: installed("chokidar"),
      "@parcel/watcher": installed("@parcel/watcher"),
    },
    rows,
    ...extra,
  });
  if (JSON_OUT) console.log(JSON.stringify(doc()));
  else {
    console.log(table(rows));
    console.log("");
  }
  if (process.env.BENCH_RESULTS) appendFileSync(process.env.BENCH_RESULTS, JSON.stringify(doc()) + "\n");
}
