/**
 * The one source of every published figure: bench/results.json holds each bench's rows as it
 * printed them (BENCH_RESULTS), with the date, the machine, the versions and the command, and
 * this script makes the one table of figures that README.md and bench/README.md show between
 * `<!-- bench:begin -->` and `<!-- bench:end -->`.
 *
 * ```sh
 * deno run -A bench/report.ts record [--replace] FILE  # FILE's documents into results.json (by command), then write
 * deno run -A bench/report.ts write                    # rewrite both READMEs' tables from results.json
 * deno run --allow-read bench/report.ts check          # exit 1 when a README's table is not what results.json gives
 * deno run --allow-read bench/report.ts show FILE      # print the table FILE's documents give (a quick run's)
 * ```
 *
 * `bash bench/run.sh` records (and writes) after a full run; `bun bench/report.ts ...` works too.
 * `--results FILE` and `--readme FILE` (repeatable) point elsewhere, for tests.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fmt } from "./measure.js";

type Cell = string | number;
type Row = Record<string, Cell>;

/** One bench run under one runtime, as common.ts's report() writes it. */
export interface BenchDoc {
  bench: string;
  runtime: string;
  kernel: string;
  quick: boolean;
  date: string;
  command: string;
  machine: { arch: string; cpu: string; cpus: number; memoryGiB: number; virtual: boolean };
  versions: Record<string, string>;
  rows: Row[];
  [extra: string]: unknown;
}

/** bench/results.json. */
export interface Results {
  about: string;
  results: BenchDoc[];
}

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const BEGIN = "<!-- bench:begin -->";
export const END = "<!-- bench:end -->";
const IGNORE_START = "<!-- deno-fmt-ignore-start -->", IGNORE_END = "<!-- deno-fmt-ignore-end -->";
const ABOUT = "Every published figure of notiq's benches, as each bench printed it: recorded by `bash bench/run.sh` " +
  "(bench/report.ts record); README.md and bench/README.md show them through `bench/report.ts write`.";

/** One line of the table per subject: which rows, under what question, as which figure. */
interface Line {
  question: (doc: BenchDoc) => string;
  rows?: (row: Row, doc: BenchDoc) => boolean;
  subject?: (row: Row) => string;
  figure: (row: Row) => string;
}

const n = (x: unknown) => typeof x === "number" ? x.toLocaleString("en-US") : String(x);
const f = (x: Cell | undefined) => fmt(x);
const x = (v: Cell | undefined) => typeof v === "number" ? `${fmt(v)}x` : String(v);
const col = (row: Row, prefix: string) => row[Object.keys(row).find((k) => k.startsWith(prefix)) ?? ""];

/** What each bench contributes to the table; a bench without an entry shows all its columns. */
const LINES: Record<string, Line[]> = {
  fresh: [
    {
      question: (d) =>
        `fresh process, ${n(d.treeDirs)}-dir tree: call -> first event ms (x C); RSS added MiB at it / ${
          n(d.laterMs)
        } ms later`,
      rows: (r) => r["tree: call -> event ms"] !== "n/a",
      figure: (r) =>
        `${f(r["tree: call -> event ms"])} (${x(r["tree x C"])}); +${f(r["tree: RSS added MiB"])} / +${
          f(col(r, "tree: RSS added +"))
        }`,
    },
    {
      question: (d) =>
        `fresh process, one dir: call -> first event ms; RSS added MiB at it / ${
          n(d.laterMs)
        } ms later; module load ms`,
      figure: (r) =>
        `${f(r["1 dir: call -> event ms"])}; +${f(r["1 dir: RSS added MiB"])} / +${
          f(col(r, "1 dir: RSS added +"))
        }; load ${f(r["load ms"])}`,
    },
  ],
  ring_memory: [{
    question: (d) => `ring memory, ${n(d.cycles)} open/read/close cycles: RSS start / peak / end MiB`,
    figure: (r) => `${f(r["start MiB"])} / ${f(r["peak MiB"])} / ${f(r["end MiB"])}`,
  }],
  latency: ["writeFileSync", "symlink(2)"].map((workload) => ({
    question: () => `latency, ${workload}: p50 / p99 µs`,
    rows: (r: Row) => r.workload === workload,
    figure: (r: Row) => `${f(r["p50 µs"])} / ${f(r["p99 µs"])}`,
  })),
  drain: [{
    question: (d) => `drain of ${n(d.N)} queued events: ms (x C), delivered`,
    subject: (r) => `${r.subject} (${r.measured})`,
    figure: (r) =>
      `${f(r["ms (median)"])} (${x(r["x C"])}), ${r.delivered}${
        r["loss signalled"] === "-" ? "" : `, loss signalled: ${r["loss signalled"]}`
      }`,
  }],
  blocked: [{
    question: (d) => `blocked ${n(d.busyMs)} ms, ${n(d.N)} events at the default queue: delivered, loss signalled`,
    figure: (r) => `${String(r["delivered/generated (median)"]).split("= ")[1]}, ${r["loss signalled"]}`,
  }],
  idle: [{
    question: (d) => `idle CPU s over ${n(d.idleSeconds)} s, ${n(d.idleDirs)} watched dirs`,
    figure: (r) => f(col(r, "idle CPU")),
  }],
  parse: [{
    question: () => "parse: M records/s (x C)",
    figure: (r) => `${f(r["M records/s"])} (${x(r["x C"])})`,
  }],
  overflow: [{
    question: (d) => `overflow of ${n(d.N)} events, slowest consumer: first loss at event, silent gaps`,
    rows: (r, d) => r["delay/batch ms"] === Math.max(...d.rows.map((o) => Number(o["delay/batch ms"]))),
    subject: (r) => `ring ${r.ring}, ${r["delay/batch ms"]} ms/batch`,
    figure: (r) => `${r["first loss at event"]}, ${r["silent gaps"]}`,
  }],
  repair: [{
    question: () => "repair after Q_OVERFLOW: ms (x setup), state ok",
    subject: (r) => String(r.tree),
    figure: (r) => `${f(r["repair ms"])} (${x(r["repair / setup"])}), ${r["state ok"]}`,
  }],
};

/** The order of the table: the questions of issue #15 first. */
const ORDER = ["fresh", "ring_memory", "latency", "drain", "blocked", "idle", "parse", "overflow", "repair"];

/**
 * The column a document goes in: "deno", "bun", or Node by its major version, "node26" (node:ffi)
 * or "node24" (koffi), from "deno 2.9.6 (v8 ...)", "node 26.12.1 (v8 ..., node:ffi)".
 */
const runtimeOf = (doc: BenchDoc) => columnOf(doc.runtime);

function columnOf(runtime: string): string {
  const [name, version = ""] = runtime.split(" ");
  return name === "node" ? `node${version.split(".")[0]}` : name;
}

/** The columns' order: Deno, Bun, then Node, the newest first. */
function columnOrder(a: string, b: string): number {
  const rank = (r: string) =>
    r === "deno" ? 0 : r === "bun" ? 1 : r.startsWith("node") ? 1000 - Number(r.slice(4)) : 9999;
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** A column's heading: "Deno", "Bun", "Node 26". */
const heading = (runtime: string) =>
  runtime.startsWith("node") ? `Node ${runtime.slice(4)}` : runtime[0].toUpperCase() + runtime.slice(1);

/** How a runtime runs a bench, as the standard command of its column. */
function standardCommand(runtime: string, bench: string): string {
  const file = `bench/${bench}_bench.ts`;
  if (runtime === "deno") return `deno run -A ${file}`;
  if (runtime === "bun") return `bun ${file}`;
  return `node_modules/${runtime}/bin/node ${file}`;
}

/** The bench file a figure came from (`bench/NAME_bench.ts`): one file may record several benches ("settle", "settle e2e"). */
const benchFile = (doc: BenchDoc) => /\bbench\/(\w+)_bench\.ts\b/.exec(doc.command)?.[1] ?? doc.bench;

/**
 * A subject's name without its runtime, which the column gives: "chokidar (Node 26)" is chokidar,
 * "node:fs.watch (Bun)" the runtime's own; "node:fs.watch (Node 20.20.2)", Node in a child
 * process, keeps its version.
 */
function plain(subject: string): string {
  return subject.replace(/^node:fs\.watch \((Deno|Bun|Node \d+)\)$/, "node:fs.watch (the runtime's)")
    .replace(/ \((Deno|Bun|Node \d+)\)$/, "");
}

function generic(doc: BenchDoc): Line[] {
  return [{
    question: () => doc.bench,
    figure: (r) => Object.entries(r).slice(1).map(([k, v]) => `${k} ${typeof v === "number" ? fmt(v) : v}`).join(", "),
  }];
}

const escape = (s: string) => s.replace(/\|/g, "\\|");

/** The Markdown that goes between the markers: the table, then where and how it was measured. */
export function render(results: Results): string {
  if (results.results.length === 0) {
    return wrap(
      "No figures recorded yet: `bash bench/run.sh` runs every bench under Deno, Bun and Node, records what they print in " +
        "`bench/results.json`, and generates this table from it.",
    );
  }
  const runtimes = [...new Set(results.results.map(runtimeOf))].sort(columnOrder);
  const benches = [...new Set(results.results.map((d) => d.bench))]
    .sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || (a < b ? -1 : 1));
  const header = ["question", "subject", ...runtimes.map(heading), "bench"];
  const lines: string[][] = [];
  for (const bench of benches) {
    const docs = results.results.filter((d) => d.bench === bench);
    const specs = LINES[bench] ?? generic(docs[0]);
    for (const spec of specs) {
      const figures = new Map<string, Map<string, string>>(); // subject -> runtime -> figure
      for (const doc of docs) {
        // A run with NOTIQ_READER set gives notiq's rows for that reader; the peers come from the plain run.
        const reader = /\bNOTIQ_READER=(\S+)/.exec(doc.command)?.[1];
        const plainRun = docs.some((d) => runtimeOf(d) === runtimeOf(doc) && !/\bNOTIQ_READER=/.test(d.command));
        for (const row of doc.rows) {
          if (spec.rows && !spec.rows(row, doc)) continue;
          let name = plain(String(row.subject ?? Object.values(row)[0]));
          if (reader && name.startsWith("notiq")) name += ` [NOTIQ_READER=${reader}]`;
          else if (reader && plainRun) continue;
          const named = { ...row, subject: name };
          const subject = spec.subject ? spec.subject(named) : named.subject;
          if (!figures.has(subject)) figures.set(subject, new Map());
          figures.get(subject)!.set(runtimeOf(doc), spec.figure(row));
        }
      }
      let first = true;
      for (const [subject, byRuntime] of figures) {
        lines.push([
          first ? spec.question(docs[0]) : "",
          subject,
          ...runtimes.map((r) => byRuntime.get(r) ?? "-"),
          first ? `\`${benchFile(docs[0])}\`` : "",
        ]);
        first = false;
      }
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => escape(l[i]).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => escape(c).padEnd(widths[i])).join(" | ")} |`;
  const table = [line(header), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...lines.map(line)];
  return [...table, "", ...measuredWhere(results.results, runtimes)].join("\n");
}

/** The paragraphs under the table: the commands, and when, where and with what each bench ran. */
function measuredWhere(docs: BenchDoc[], runtimes: string[]): string[] {
  const standard = (d: BenchDoc) => d.command === standardCommand(runtimeOf(d), benchFile(d));
  const commands = runtimes.map((r) => `\`${standardCommand(r, "X")}\` (${heading(r)} column)`);
  const out = [
    wrap(
      "Generated by `bench/report.ts` from `bench/results.json`, which `bash bench/run.sh` records: do not edit by " +
        `hand. Each figure comes from ${commands.slice(0, -1).join(", ")}${commands.length > 1 ? " or " : ""}${
          commands.at(-1)
        }, X the bench in the last column, whose own output explains every column and note; medians of ` +
        "several runs, and only ratios within one run mean much.",
    ),
  ];
  const odd = [...new Set(docs.filter((d) => !standard(d)).map((d) => `\`${d.command}\``))];
  if (odd.length) out.push("", wrap(`Other commands: ${odd.join(", ")}.`));
  // One line per day and machine: which benches ran there, with which runtimes and peers.
  const where = new Map<string, { docs: BenchDoc[]; runtimes: Set<string>; peers: Set<string> }>();
  for (const d of docs) {
    const m = d.machine;
    const key = `${d.date.slice(0, 10)} on ${m.arch}, ${m.cpus} ${m.virtual ? "vCPUs" : "CPUs"} (${m.cpu}), ` +
      `${m.memoryGiB} GiB, Linux ${d.kernel}`;
    if (!where.has(key)) where.set(key, { docs: [], runtimes: new Set(), peers: new Set() });
    const group = where.get(key)!;
    group.docs.push(d);
    group.runtimes.add(d.runtime);
    for (const [k, v] of Object.entries(d.versions)) group.peers.add(`${k} ${v}`);
  }
  const say = (key: string, g: { runtimes: Set<string>; peers: Set<string> }) =>
    `${key}; ${[...g.runtimes].sort((a, b) => columnOrder(columnOf(a), columnOf(b))).join(", ")}; peers: ${
      [...g.peers].join(", ")
    }`;
  const groups = [...where];
  if (groups.length === 1) out.push("", wrap(`Measured ${say(...groups[0])}.`));
  else {
    out.push("", "Measured:", "");
    for (const [key, g] of groups) {
      out.push(wrap(`- ${g.docs.map((d) => `${d.bench} (${runtimeOf(d)})`).join(", ")}: ${say(key, g)}`, "  "));
    }
  }
  return out;
}

/** Prose filled to 120 columns, never breaking inside a `code span`; `indent` starts the lines after the first. */
function wrap(text: string, indent = ""): string {
  const words = text.match(/(?:`[^`]*`|[^\s`])+/g) ?? [];
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    if (line && line.length + 1 + word.length > 120) lines.push(line), line = indent + word;
    else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join("\n");
}

/** `text` with the part between the markers replaced by `block`; throws when the markers are missing. */
export function splice(text: string, block: string, file: string): string {
  const begin = text.indexOf(BEGIN), end = text.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${file}: no ${BEGIN} ... ${END} to put the table between`);
  // deno fmt would re-align and re-wrap what the generator made: it leaves the block alone.
  return `${text.slice(0, begin + BEGIN.length)}\n${IGNORE_START}\n\n${block}\n\n${IGNORE_END}\n${text.slice(end)}`;
}

/** The bench documents in a file of JSON lines (BENCH_RESULTS), skipping blank lines. */
export function readDocs(file: string): BenchDoc[] {
  return readFileSync(file, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** Merges `docs` into `results`, each replacing the one made by the same command. */
export function merge(results: Results, docs: BenchDoc[], replace = false): Results {
  const quick = docs.find((d) => d.quick);
  if (quick) throw new Error(`not recording quick figures (${quick.command}): run without BENCH_QUICK`);
  const kept = replace ? [] : results.results.filter((old) => !docs.some((d) => d.command === old.command));
  return { about: ABOUT, results: [...kept, ...docs] };
}

function readResults(file: string): Results {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { about: ABOUT, results: [] };
    throw err;
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: {
      results: { type: "string", default: join(ROOT, "bench", "results.json") },
      readme: { type: "string", multiple: true, default: [join(ROOT, "README.md"), join(ROOT, "bench", "README.md")] },
      replace: { type: "boolean", default: false },
    },
    allowPositionals: true,
  });
  const [command, file] = positionals;
  const results = values.results!;
  const readmes = values.readme!;
  const writeReadmes = (block: string) => {
    for (const readme of readmes) writeFileSync(readme, splice(readFileSync(readme, "utf8"), block, readme));
  };
  if (command === "record" && file) {
    const merged = merge(readResults(results), readDocs(file), values.replace);
    writeFileSync(results, JSON.stringify(merged, null, 2) + "\n");
    writeReadmes(render(merged));
    console.log(`recorded ${merged.results.length} bench runs in ${results}; tables written to ${readmes.join(", ")}`);
  } else if (command === "write") {
    writeReadmes(render(readResults(results)));
  } else if (command === "check") {
    const block = render(readResults(results));
    const stale = readmes.filter((r) => {
      const text = readFileSync(r, "utf8");
      return splice(text, block, r) !== text;
    });
    if (stale.length) {
      console.error(
        `${
          stale.join(", ")
        }: the bench table differs from what ${results} gives; run: deno run -A bench/report.ts write`,
      );
      process.exit(1);
    }
  } else if (command === "show" && file) {
    console.log(render({ about: ABOUT, results: readDocs(file) }));
  } else {
    console.error("usage: report.ts record [--replace] FILE | write | check | show FILE");
    process.exit(2);
  }
}
