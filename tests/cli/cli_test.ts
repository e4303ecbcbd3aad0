import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { removeDir, waitFor } from "../helpers.ts";
import { here, runFile } from "../fixtures/runtime.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";

const cli = fileURLToPath(new URL("../../cli.ts", import.meta.url));
// The runtime running this test runs the CLI: deno run -A cli.ts ... / bun cli.ts ... / node cli.ts ...
const runtime = runFile(cli);
// The permissions the README gives: Deno's --allow-read does not cover listing /dev or /proc; notiq's
// FFI listing does not need it.
const readmeRuntime = runFile(cli, here, ["--allow-ffi", "--allow-read"]);
const tempDir = () => mkdtempSync(`${tmpdir()}/notiq-cli-`);

function run(args: string[], prefix: string[] = [], command = runtime) {
  const [cmd, ...rest] = [...prefix, ...command];
  return spawnSync(cmd, [...rest, ...args], { encoding: "utf8", timeout: 20000 });
}

/** Starts `cli.ts watch`, waits for its "Watching" line, acts, and collects stdout until `done`. */
async function session(args: string[], act: () => void, done: (lines: string[]) => boolean) {
  const child = spawn(runtime[0], [...runtime.slice(1), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.setEncoding("utf8").on("data", (d) => out += d);
  child.stderr.setEncoding("utf8").on("data", (d) => err += d);
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  // On a timeout the child goes too, and the message says what it printed.
  const wait = (what: string, test: () => boolean) =>
    waitFor(() => (child.kill("SIGKILL"), `${what}; stdout:\n${out}\nstderr:\n${err}`), test, 15_000);
  await wait("the watcher to start", () => err.includes("Watching"));
  act();
  const lines = () => out.split("\n").filter(Boolean);
  await wait("the events", () => done(lines()));
  // process.kill, not child.kill(): a child that Deno's child.kill() signals dies without running its handler.
  process.kill(child.pid!, "SIGINT");
  const code = await exited;
  return { lines: lines(), stderr: err, code };
}

describe("cli.ts watch", () => {
  it("prints JSON lines for a tree, with renames paired, and exits 0 on Ctrl-C", async () => {
    const dir = tempDir();
    try {
      let renamed = false;
      const { lines, code, stderr } = await session(["watch", "--json", dir], () => {
        mkdirSync(`${dir}/a/b`, { recursive: true });
        writeFileSync(`${dir}/a/b/f.txt`, "x");
      }, (lines) => {
        if (!renamed && lines.some((l) => l.includes("f.txt"))) renameSync(`${dir}/a`, `${dir}/z`), renamed = true;
        return lines.some((l) => l.includes('"rename"'));
      });
      const events = lines.map((l) => JSON.parse(l));
      assert.ok(
        events.every((e) => typeof e.time === "string" && typeof e.kind === "string"),
        "nothing but events on stdout",
      );
      assert.deepEqual(events.filter((e) => e.kind === "create").map((e) => [e.path, e.isDirectory]), [
        [`${dir}/a`, true],
        [`${dir}/a/b`, true],
        [`${dir}/a/b/f.txt`, false],
      ]);
      const rename = events.find((e) => e.kind === "rename");
      assert.deepEqual([rename.oldPath, rename.path], [`${dir}/a`, `${dir}/z`]);
      assert.equal(code, 0, stderr);
    } finally {
      removeDir(dir);
    }
  });

  it("-e filters kinds and --exclude prunes by name", async () => {
    const dir = tempDir();
    try {
      const { lines } = await session(["watch", "-e", "create", "--exclude", "node_modules", dir], () => {
        mkdirSync(`${dir}/node_modules/x`, { recursive: true });
        writeFileSync(`${dir}/node_modules/x/f`, "");
        writeFileSync(`${dir}/last`, "");
      }, (lines) => lines.some((l) => l.endsWith("/last")));
      assert.deepEqual(lines, [`create ${dir}/last`]);
    } finally {
      removeDir(dir);
    }
  });

  it("--settle MS folds an editor's atomic save into one modify, in the same JSON lines", async () => {
    const dir = tempDir();
    try {
      writeFileSync(`${dir}/f`, "old");
      // 500 ms of quiet: the test's two calls below are one window even on a busy machine.
      const { lines, code, stderr } = await session(["watch", "--settle", "500", "--json", dir], () => {
        writeFileSync(`${dir}/.f.tmp`, "new");
        renameSync(`${dir}/.f.tmp`, `${dir}/f`);
      }, (lines) => lines.length > 0);
      const events = lines.map((l) => JSON.parse(l));
      assert.deepEqual(events.map(({ time: _, ...rest }) => rest), [{
        kind: "modify",
        path: `${dir}/f`,
        isDirectory: false,
      }]);
      assert.deepEqual(Object.keys(events[0]), ["time", "kind", "path", "isDirectory"]);
      assert.equal(code, 0, stderr);
    } finally {
      removeDir(dir);
    }
  });

  it("--settle needs a number of milliseconds: one line on stderr and exit 1", () => {
    const r = run(["watch", "--settle", "soon", "/"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'notiq: --settle needs a number of milliseconds, 0 or more, got "soon"\n');
  });

  it("--timeout exits 2 when nothing happens, with nothing on stdout", () => {
    const dir = tempDir();
    try {
      const r = run(["watch", "-q", "--timeout", "0.5", dir]);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, "");
    } finally {
      removeDir(dir);
    }
  });

  it("watches a tree under /dev/shm with the README's permissions (Deno: --allow-ffi --allow-read)", () => {
    const dir = mkdtempSync("/dev/shm/notiq-cli-");
    try {
      mkdirSync(`${dir}/sub/deeper`, { recursive: true });
      // --exclude too: its globs are matched without reading the environment (no --allow-env)
      const r = run(["watch", "--timeout", "0.5", "--exclude", "deep*", dir], [], readmeRuntime);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr, `Watching ${dir} (2 watches); Ctrl-C to stop\n`);
    } finally {
      removeDir(dir);
    }
  });

  it("a missing path is one line on stderr and exit 1", () => {
    const r = run(["watch", "/no/such/notiq-dir"]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "notiq: ENOENT: no such file or directory, inotify_add_watch '/no/such/notiq-dir'\n");
  });

  it("an unknown kind or command is one line on stderr and exit 1", () => {
    for (const args of [["watch", "-e", "bogus", "/"], ["frobnicate"]]) {
      const r = run(args);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^notiq: unknown [^\n]*\n$/);
    }
  });

  it("the exhausted watch limit is one line with the numbers", {
    skip: spawnSync("unshare", ["-U", "-r", "true"]).status === 0 ? false : "unshare -U -r is not available",
  }, () => {
    const dir = tempDir();
    try {
      for (let i = 0; i < 12; i++) mkdirSync(`${dir}/d${i}`);
      const r = run(["watch", dir], [
        "unshare",
        "-U",
        "-r",
        "sh",
        "-c",
        'echo 5 > /proc/sys/user/max_inotify_watches && exec "$@"',
        "sh",
      ]);
      assert.equal(r.status, 1);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr,
        /^notiq: ENOSPC: .*holds 5 watches and the tree needs 13; fs.inotify.max_user_watches is 5 .*sysctl fs.inotify.max_user_watches=\d+\)\n$/,
      );
    } finally {
      removeDir(dir);
    }
  });

  it("--help explains every flag", () => {
    const r = run(["watch", "--help"]);
    assert.equal(r.status, 0);
    for (
      const flag of [
        "--recursive",
        "--events",
        "--exclude",
        "--json",
        "--timeout",
        "--quiet",
        "--follow-symlinks",
        "--settle",
        "--help",
      ]
    ) {
      assert.ok(r.stdout.includes(flag), flag);
    }
    assert.match(run(["--help"]).stdout, /watch .*\n.*stats/);
  });
});

describe("cli.ts stats", () => {
  it("prints a table of counts per path and kind after --timeout", async () => {
    const dir = tempDir();
    try {
      const child = spawn(runtime[0], [...runtime.slice(1), "stats", "-e", "create,delete", "-t", "1.5", dir], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "", err = "";
      child.stdout.setEncoding("utf8").on("data", (d) => out += d);
      child.stderr.setEncoding("utf8").on("data", (d) => err += d);
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      await waitFor(() => `the "Watching" line; stderr:\n${err}`, () => err.includes("Watching"), 15_000);
      writeFileSync(`${dir}/a`, "1");
      writeFileSync(`${dir}/b`, "1");
      rmSync(`${dir}/a`);
      assert.equal(await exited, 0, err);
      const rows = out.trim().split("\n").map((l) => l.trim().split(/\s+/));
      assert.deepEqual(rows[0], ["total", "create", "delete", "path"]);
      assert.deepEqual(rows.slice(1), [["2", "1", "1", `${dir}/a`], ["1", "1", "0", `${dir}/b`]]);
    } finally {
      removeDir(dir);
    }
  });
});

describe("cli.ts snapshot and since", () => {
  it("records a tree, then prints what changed (text and --json lines), with the README's permissions", () => {
    const dir = mkdtempSync("/dev/shm/notiq-cli-"); // Deno's --allow-read does not cover /dev: FFI does the reading
    try {
      mkdirSync(`${dir}/tree/src`, { recursive: true });
      const snap = `${dir}/snap`;
      const wrote = run(["snapshot", snap, `${dir}/tree`], [], readmeRuntime);
      assert.equal(wrote.status, 0, wrote.stderr);
      assert.equal(wrote.stdout, "");
      assert.match(wrote.stderr, new RegExp(`^Wrote ${snap}: 2 entries of ${dir}/tree, \\d+ bytes, in \\d+ ms\\n$`));
      const quiet = run(["since", snap], [], readmeRuntime);
      assert.deepEqual([quiet.status, quiet.stdout, quiet.stderr], [0, "", ""]);
      renameSync(`${dir}/tree/src`, `${dir}/tree/lib`);
      writeFileSync(`${dir}/tree/lib/a.ts`, "a");
      const text = run(["since", snap], [], readmeRuntime);
      assert.equal(text.status, 0, text.stderr);
      assert.equal(text.stdout, `rename ${dir}/tree/src -> ${dir}/tree/lib/\ncreate ${dir}/tree/lib/a.ts\n`);
      const json = run(["since", "--json", snap], [], readmeRuntime);
      const lines = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(lines.map(({ time, ...rest }) => (assert.ok(!Number.isNaN(Date.parse(time))), rest)), [
        { kind: "rename", path: `${dir}/tree/lib`, isDirectory: true, oldPath: `${dir}/tree/src` },
        { kind: "create", path: `${dir}/tree/lib/a.ts`, isDirectory: false },
      ]);
      // --exclude on both sides.
      const excluded = run(["since", "--exclude", "*.ts", snap]); // Deno: node:path's matchesGlob reads an env var
      assert.equal(excluded.stdout, `rename ${dir}/tree/src -> ${dir}/tree/lib/\n`);
    } finally {
      removeDir(dir);
    }
  });

  it("refuses a missing, foreign or corrupt snapshot with one line on stderr and exit 1", () => {
    const dir = tempDir();
    try {
      const missing = run(["since", `${dir}/nope`]);
      assert.deepEqual([missing.status, missing.stdout], [1, ""]);
      assert.equal(missing.stderr, `notiq: ENOENT: no such file or directory, open '${dir}/nope'\n`);
      writeFileSync(`${dir}/text`, "hello\n");
      const foreign = run(["since", `${dir}/text`]);
      assert.equal(foreign.status, 1);
      assert.match(foreign.stderr, /^notiq: Cannot read snapshot '.*\/text': not a notiq snapshot .*\n$/);
      mkdirSync(`${dir}/tree`);
      assert.equal(run(["snapshot", "-q", `${dir}/snap`, `${dir}/tree`]).stderr, "");
      const bytes = readFileSync(`${dir}/snap`);
      bytes[bytes.length - 1] ^= 1;
      writeFileSync(`${dir}/snap`, bytes);
      const corrupt = run(["since", `${dir}/snap`]);
      assert.equal(corrupt.status, 1);
      assert.match(
        corrupt.stderr,
        /^notiq: Cannot read snapshot '.*\/snap': corrupt: checksum 0x[0-9a-f]{8} where the file says 0x[0-9a-f]{8}\n$/,
      );
      const usage = run(["snapshot", `${dir}/snap`]);
      assert.deepEqual([usage.status, usage.stderr], [1, "notiq: no PATH given (see --help)\n"]);
      const gone = run(["snapshot", `${dir}/snap`, `${dir}/gone`]);
      assert.deepEqual([gone.status, gone.stderr], [
        1,
        `notiq: ENOENT: no such file or directory, statx '${dir}/gone'\n`,
      ]);
    } finally {
      removeDir(dir);
    }
  });

  it("--help explains every flag of snapshot and since", () => {
    const snapshot = run(["snapshot", "--help"]).stdout;
    for (const flag of ["--exclude", "--follow-symlinks", "--quiet", "--help"]) {
      assert.match(snapshot, new RegExp(flag));
    }
    const since = run(["since", "--help"]).stdout;
    for (const flag of ["--exclude", "--json", "--help"]) assert.match(since, new RegExp(flag));
    assert.match(run(["--help"]).stdout, /snapshot +record .*\n +since +print what changed/);
  });
});
