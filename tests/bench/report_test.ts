import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type BenchDoc, merge, render, type Results, splice } from "../../bench/report.ts";
import { removeDir } from "../helpers.ts";

const script = fileURLToPath(new URL("../../bench/report.ts", import.meta.url));
const runtime = "Deno" in globalThis ? [process.execPath, "run", "-A", script] : [process.execPath, script];

function report(args: string[]) {
  const [cmd, ...rest] = runtime;
  return spawnSync(cmd, [...rest, ...args], { encoding: "utf8", timeout: 20_000 });
}

const RUNTIME_NAMES = {
  deno: "deno 2.9.6 (v8 15.0)",
  bun: "bun 1.4.5",
  node26: "node 26.12.1 (v8 14.6, node:ffi)",
  node24: "node 24.22.3 (v8 13.6, koffi 3.3.4)",
};
type RuntimeName = keyof typeof RUNTIME_NAMES;
const COMMANDS: Record<RuntimeName, string> = {
  deno: "deno run -A",
  bun: "bun",
  node26: "node_modules/node26/bin/node",
  node24: "node_modules/node24/bin/node",
};

/** A document as common.ts's report() writes it. */
function doc(bench: string, runtimeName: RuntimeName, rows: BenchDoc["rows"], extra = {}): BenchDoc {
  return {
    bench,
    runtime: RUNTIME_NAMES[runtimeName],
    kernel: "6.18.44",
    quick: false,
    date: "2026-12-05T10:00:00.000Z",
    command: `${COMMANDS[runtimeName]} bench/${bench}_bench.ts`,
    machine: { arch: "x64", cpu: "Some CPU", cpus: 2, memoryGiB: 8, virtual: true },
    versions: { node: "20.20.2" },
    rows,
    ...extra,
  };
}

const IDLE = (cpu: number, own: string): BenchDoc["rows"] => [
  { subject: "notiq watch()", "idle CPU s / 10 s": cpu, runs: "0" },
  { subject: own, "idle CPU s / 10 s": 0.01, runs: "0.01" },
];
const RESULTS: Results = {
  about: "test",
  results: [
    doc("idle", "bun", IDLE(0.02, "node:fs.watch (Bun)"), { idleSeconds: 10, idleDirs: 1000 }),
    doc("idle", "deno", IDLE(0, "node:fs.watch (Deno)"), { idleSeconds: 10, idleDirs: 1000 }),
  ],
};

describe("bench/report.ts", () => {
  it("render() makes one table: a row per subject, a column per runtime, Deno first, then where it ran", () => {
    const lines = render(RESULTS).split("\n");
    assert.match(lines[0], /^\| question +\| subject +\| Deno +\| Bun +\| bench +\|$/);
    assert.match(
      lines[2],
      /^\| idle CPU s over 10 s, 1,000 watched dirs \| notiq watch\(\) +\| 0 +\| 0\.02 \| `idle` \|$/,
    );
    assert.match(lines[3], /^\| +\| node:fs\.watch \(the runtime's\) \| 0\.01 \| 0\.01 \| +\|$/);
    assert.ok(lines.some((l) => l.startsWith("Measured 2026-12-05 on x64, 2 vCPUs (Some CPU), 8 GiB, Linux 6.18.44;")));
    assert.ok(!lines.some((l) => l.startsWith("Other commands")), "the usual commands are not listed");
  });

  it("render() labels notiq's rows of a NOTIQ_READER run, and takes the peers from the plain run", () => {
    const uring = {
      ...doc("idle", "deno", IDLE(0.03, "node:fs.watch (Deno)")),
      command: "NOTIQ_READER=uring deno run -A x",
    };
    const text = render({ about: "test", results: [...RESULTS.results, uring] });
    assert.match(text, /\| notiq watch\(\) \[NOTIQ_READER=uring\] +\| 0\.03 +\| - +\|/);
    assert.equal(text.match(/node:fs\.watch \(the runtime's\) +\| 0\.01 +\| 0\.01 +\|/g)?.length, 1);
    assert.match(text, /Other commands: `NOTIQ_READER=uring deno run -A x`\./);
  });

  it("render() gives Node a column per major version after Bun, newest first, with its peers' rows", () => {
    const rows = (cpu: number, own: string): BenchDoc["rows"] => [
      ...IDLE(cpu, `node:fs.watch (${own})`),
      { subject: `chokidar (${own})`, "idle CPU s / 10 s": 0.5, runs: "0.5" },
      { subject: "node:fs.watch (Node 20.20.2)", "idle CPU s / 10 s": 0.04, runs: "0.04" },
    ];
    const extra = { idleSeconds: 10, idleDirs: 1000 };
    const text = render({
      about: "test",
      results: [
        doc("idle", "node24", rows(0.24, "Node 24"), extra),
        ...RESULTS.results,
        doc("idle", "node26", rows(0.26, "Node 26"), extra),
      ],
    });
    const lines = text.split("\n");
    assert.match(lines[0], /^\| question +\| subject +\| Deno +\| Bun +\| Node 26 \| Node 24 \| bench +\|$/);
    assert.match(text, /\| notiq watch\(\) +\| 0 +\| 0\.02 \| 0\.26 +\| 0\.24 +\|/);
    assert.match(text, /\| node:fs\.watch \(the runtime's\) +\| 0\.01 \| 0\.01 \| 0\.01 +\| 0\.01 +\|/);
    assert.match(text, /\| chokidar +\| - +\| - +\| 0\.50 +\| 0\.50 +\|/);
    assert.match(text, /\| node:fs\.watch \(Node 20\.20\.2\) +\| - +\| - +\| 0\.04 +\| 0\.04 +\|/);
    assert.ok(!text.includes("Other commands"), "node_modules/node26/bin/node bench/X_bench.ts is a usual command");
    assert.match(text.replace(/\s+/g, " "), /`node_modules\/node26\/bin\/node bench\/X_bench\.ts` \(Node 26 column\)/);
    assert.match(
      text.replace(/\s+/g, " "),
      /; deno 2\.9\.6 \(v8 15\.0\), bun 1\.4\.5, node 26\.12\.1 \(v8 14\.6, node:ffi\), node 24\.22\.3 \(v8 13\.6, koffi 3\.3\.4\)/,
    );
  });

  it("merge() replaces the figures of the same command, keeps the others, and refuses quick ones", () => {
    const again = doc("idle", "deno", IDLE(0.05, "node:fs.watch (Deno)"));
    const merged = merge(RESULTS, [again]);
    assert.deepEqual(merged.results.map((d) => d.rows[0]["idle CPU s / 10 s"]), [0.02, 0.05]);
    assert.deepEqual(merge(RESULTS, [again], true).results, [again]);
    assert.throws(() => merge(RESULTS, [{ ...again, quick: true }]), /not recording quick figures/);
  });

  it("write puts the table between the markers, and check fails once a README differs", () => {
    const dir = mkdtempSync(`${tmpdir()}/notiq-report-`);
    try {
      const results = `${dir}/results.json`, readme = `${dir}/README.md`;
      writeFileSync(results, JSON.stringify(RESULTS));
      writeFileSync(readme, "# x\n\n<!-- bench:begin -->\nold figures\n<!-- bench:end -->\n\nafter\n");
      const args = ["--results", results, "--readme", readme];
      assert.equal(report(["check", ...args]).status, 1, "the old figures differ");
      const written = report(["write", ...args]);
      assert.equal(written.status, 0, written.stderr);
      const text = readFileSync(readme, "utf8");
      assert.equal(text, splice(text, render(RESULTS), readme));
      assert.ok(text.endsWith("<!-- bench:end -->\n\nafter\n") && !text.includes("old figures"));
      assert.equal(report(["check", ...args]).status, 0);
      writeFileSync(readme, text.replace("0.02", "0.01"));
      const stale = report(["check", ...args]);
      assert.equal(stale.status, 1);
      assert.match(
        stale.stderr,
        /the bench table differs from what .* gives; run: deno run -A bench\/report\.ts write/,
      );
    } finally {
      removeDir(dir);
    }
  });

  it("the repository's READMEs show what bench/results.json gives", () => {
    const r = report(["check"]);
    assert.equal(r.status, 0, r.stderr);
  });
});
