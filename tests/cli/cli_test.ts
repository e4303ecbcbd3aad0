import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { removeDir } from "../fixtures/watch.ts";
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
  const wait = async (what: string, test: () => boolean) => {
    for (const end = Date.now() + 15000; !test();) {
      if (Date.now() > end) {
        child.kill("SIGKILL");
        throw new Error(`Timed out waiting for ${what}; stdout:\n${out}\nstderr:\n${err}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
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
      const r = run(["watch", "--timeout", "0.5", dir], [], readmeRuntime);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr, `Watching ${dir} (3 watches); Ctrl-C to stop\n`);
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
      for (const end = Date.now() + 15000; !err.includes("Watching") && Date.now() < end;) {
        await new Promise((r) => setTimeout(r, 20));
      }
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
