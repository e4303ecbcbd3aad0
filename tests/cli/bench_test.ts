import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { removeDir, tempDir, waitFor } from "../helpers.ts";

const cli = fileURLToPath(new URL("../../cli.ts", import.meta.url));
// The runtime running this test runs the CLI: deno run -A cli.ts ... / bun cli.ts ...
const runtime = "Deno" in globalThis ? [process.execPath, "run", "-A", cli] : [process.execPath, cli];
// The permissions `bench --help` names for Deno; Deno asks --allow-all for anything under /dev and /proc.
const readmeRuntime = "Deno" in globalThis
  ? [process.execPath, "run", "--allow-ffi", "--allow-read", "--allow-write", cli]
  : [process.execPath, cli];

/** What can make a directory this process cannot write to: a mode for users, the immutable flag for root. */
const ROOT = process.getuid?.() === 0;
const CANNOT_LOCK = ROOT && spawnSync("chattr", []).error !== undefined
  ? "root, and no chattr to make a dir immutable"
  : false;

// Bun's default test timeout is 5 s; a quick bench takes seconds, more on a busy machine.
const SLOW = { timeout: 120_000 };

function run(args: string[], command = runtime) {
  const [cmd, ...rest] = command;
  return spawnSync(cmd, [...rest, ...args], { encoding: "utf8", timeout: 120_000 });
}

/** The first cells of the table's rows (the measure column), without the header. */
function measures(stdout: string): string[] {
  return stdout.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| measure"))
    .map((l) => l.split("|")[1].trim());
}

describe("cli.ts bench", () => {
  it("--quick prints a row per measure and leaves DIR as it was", SLOW, () => {
    const dir = tempDir();
    try {
      const r = run(["bench", "--quick", dir]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^notiq bench in ${dir} \\(tmpfs at /dev/shm\\): .*quick mode`));
      assert.deepEqual(measures(r.stdout).map((m) => m.replace(/ of a \d+-directory tree| \d+ ms per batch$/, " N")), [
        "setup: watch() N",
        "setup: watch() N",
        "latency: writeFileSync -> CREATE, for await (Inotify)",
        "latency: writeFileSync -> CREATE, watch()",
        "drain: batches() (Inotify)",
        "drain: for await (Inotify)",
        "drain: watch()",
        "overflow: consumer sleeps N",
        "overflow: consumer sleeps N",
      ]);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      removeDir(dir);
    }
  });

  it("--json prints one object with every measure", SLOW, () => {
    const dir = tempDir();
    try {
      const r = run(["bench", "--quick", "--json", dir]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim().split("\n").length, 1, "one line");
      const report = JSON.parse(r.stdout);
      assert.equal(report.dir, dir);
      assert.deepEqual(report.filesystem, { type: "tmpfs", mountPoint: "/dev/shm" });
      assert.equal(report.quick, true);
      assert.deepEqual(report.measures, ["setup", "latency", "drain", "overflow"]);
      assert.equal(report.maxQueuedEventsFrom, "sysctl");
      const positive = (x: unknown) => typeof x === "number" && Number.isFinite(x) && x > 0;
      assert.ok(positive(report.maxQueuedEvents) && positive(report.cpus), JSON.stringify(report));
      assert.equal(report.setup.length, 2);
      for (const s of report.setup) assert.ok(positive(s.dirs) && positive(s.readyMs) && positive(s.firstEventMs));
      assert.deepEqual(report.latency.map((l: { api: string }) => l.api), ["for await (Inotify)", "watch()"]);
      for (const l of report.latency) assert.ok(positive(l.p50Us) && l.p99Us >= l.p50Us);
      assert.deepEqual(report.drain.map((d: { api: string }) => d.api), [
        "batches() (Inotify)",
        "for await (Inotify)",
        "watch()",
      ]);
      for (const d of report.drain) assert.ok(d.delivered === d.events && positive(d.eventsPerSecond) && d.lost === "");
      assert.equal(report.overflow.length, 2);
      for (const o of report.overflow) {
        assert.ok(o.kept <= o.delivered && o.delivered <= o.made && typeof o.overflowed === "boolean");
      }
      assert.equal("advice" in report, report.overflow.some((o: { overflowed: boolean }) => o.overflowed));
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      removeDir(dir);
    }
  });

  it("runs with the permissions its help names (Deno: --allow-ffi --allow-read --allow-write)", SLOW, () => {
    // Outside /dev, and only the measures that need no full kernel queue: /tmp may be a slow disk.
    const dir = mkdtempSync(`${tmpdir()}/notiq-cli-`);
    try {
      const r = run(["bench", "--quick", "--only", "setup,latency", dir], readmeRuntime);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(measures(r.stdout).length, 4, r.stdout);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      removeDir(dir);
    }
  });

  it("refuses a DIR it cannot write: one line, exit 1", { ...SLOW, skip: CANNOT_LOCK }, () => {
    const dir = tempDir();
    try {
      if (ROOT) assert.equal(spawnSync("chattr", ["+i", dir]).status, 0, "chattr +i");
      else chmodSync(dir, 0o555);
      const r = run(["bench", "--quick", dir]);
      assert.equal(r.status, 1);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, new RegExp(`^notiq: cannot measure in ${dir}: E(PERM|ACCES): [^\\n]*\\n$`));
    } finally {
      if (ROOT) spawnSync("chattr", ["-i", dir]);
      else chmodSync(dir, 0o755);
      removeDir(dir);
    }
  });

  it("refuses an unknown measure: one line, exit 1", () => {
    const r = run(["bench", "--only", "setup,speed"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'notiq: unknown measure "speed" (one of setup, latency, drain, overflow)\n');
  });

  it("removes what it made on Ctrl-C and exits 130", SLOW, async () => {
    const dir = tempDir();
    try {
      const child = spawn(runtime[0], [...runtime.slice(1), "bench", dir], { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      child.stderr.setEncoding("utf8").on("data", (d) => err += d);
      const exited = new Promise<number | string | null>((r) => child.on("exit", (code, signal) => r(code ?? signal)));
      try {
        await waitFor("the work directory", () => readdirSync(dir).length > 0, 15_000);
      } catch (e) {
        child.kill("SIGKILL");
        throw e;
      }
      // process.kill, not child.kill(): a child that Deno's child.kill() signals dies without running its handler.
      process.kill(child.pid!, "SIGINT");
      assert.equal(await exited, 130, err);
      assert.match(err, /^notiq: interrupted; removed /m);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      removeDir(dir);
    }
  });
});
