/**
 * Each program in examples/ run as a child process under the runtime running this file (Deno:
 * `deno run -A`, Bun: `bun`), checked by what it prints.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { WatchQueue } from "../../mod.ts";
import { Example } from "./child.ts";
import { deadline } from "../helpers.ts";

function tempDir(): string {
  return mkdtempSync("/dev/shm/notiq-example-");
}

// Bun's default test timeout is 5 s; each test that may take longer on a busy machine says so.
const SLOW = { timeout: 30_000 };
// sync_mirror's --burst 20000 makes 60,000 events through a 64 KiB ring: they overflow a kernel
// queue of the default 16,384, not one raised far beyond it.
const queueLimit = Number(readFileSync("/proc/sys/fs/inotify/max_queued_events", "utf8"));
const BURST = {
  timeout: 90_000,
  skip: queueLimit > 40_000 ? `fs.inotify.max_queued_events is ${queueLimit}: the burst cannot overflow it` : false,
};

describe("examples/tail_dir.ts", () => {
  it("prints the events of a file the test creates and renames, then ends after COUNT", SLOW, async () => {
    const dir = tempDir();
    const tail = new Example("tail_dir.ts", [dir, "4"]);
    try {
      await tail.line(/^watching /);
      writeFileSync(`${dir}/a.txt`, "hello"); // create, modify, close_write
      renameSync(`${dir}/a.txt`, `${dir}/b.txt`); // rename
      assert.equal(await tail.end(), 0, tail.output);
      assert.deepEqual(tail.lines.slice(1), [
        `create ${dir}/a.txt`,
        `modify ${dir}/a.txt`,
        `close_write ${dir}/a.txt`,
        `rename ${dir}/a.txt -> ${dir}/b.txt`,
      ]);
    } finally {
      await tail.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("examples/sync_mirror.ts", () => {
  it("ends with a mirror equal to the source after the test changes the source", SLOW, async () => {
    const dir = tempDir();
    const mirror = new Example("sync_mirror.ts", [`${dir}/src`, `${dir}/dst`, "--idle", "1500"]);
    try {
      mkdirSync(`${dir}/src/old/deep`, { recursive: true });
      writeFileSync(`${dir}/src/old/deep/f.txt`, "one");
      writeFileSync(`${dir}/src/gone.txt`, "bye");

      await mirror.line(/^mirroring /);
      assert.equal(readFileSync(`${dir}/dst/old/deep/f.txt`, "utf8"), "one", "the first copy");
      mkdirSync(`${dir}/src/new`);
      writeFileSync(`${dir}/src/new/g.txt`, "two");
      renameSync(`${dir}/src/old`, `${dir}/src/renamed`);
      writeFileSync(`${dir}/src/renamed/deep/f.txt`, "changed");
      rmSync(`${dir}/src/gone.txt`);
      assert.equal(await mirror.end(), 0, mirror.output);
      assert.match(mirror.lines.at(-1)!, /^mirror equal: 5 entries$/);
      assert.equal(readFileSync(`${dir}/dst/renamed/deep/f.txt`, "utf8"), "changed");
    } finally {
      await mirror.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("ends equal after a kernel queue overflow, through the rescan (--burst)", BURST, async () => {
    const dir = tempDir();
    mkdirSync(`${dir}/src/sub`, { recursive: true });
    writeFileSync(`${dir}/src/sub/keep.txt`, "kept");
    const mirror = new Example("sync_mirror.ts", [`${dir}/src`, `${dir}/dst`, "--burst", "20000", "--idle", "1000"]);
    try {
      assert.equal(await mirror.end(60_000), 0, mirror.output);
      assert.match(mirror.lines.at(-1)!, /^mirror equal: 10002 entries$/);
      // 20000 files x 3 events each exceed the default fs.inotify.max_queued_events (16384)
      const counts = /\((\d+) overflows, (\d+) rescans\)/.exec(mirror.lines.at(-2) ?? "");
      assert.ok(counts, `no "(N overflows, N rescans)" line: ${mirror.output}`);
      const [overflows, rescans] = [Number(counts[1]), Number(counts[2])];
      assert.ok(overflows > 0, `the burst did not overflow the kernel queue: ${mirror.output}`);
      assert.equal(rescans, overflows, mirror.output);
    } finally {
      await mirror.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("ends unequal after an overflow with --on-overflow report", BURST, async () => {
    const dir = tempDir();
    mkdirSync(`${dir}/src`);
    const mirror = new Example("sync_mirror.ts", [
      `${dir}/src`,
      `${dir}/dst`,
      ...["--burst", "20000", "--idle", "1000", "--on-overflow", "report"],
    ]);
    try {
      assert.equal(await mirror.end(60_000), 1, mirror.output);
      assert.ok(mirror.lines.some((l) => l.startsWith("overflow:")), mirror.output);
      assert.match(mirror.lines.at(-1)!, /^mirror differs: /);
    } finally {
      await mirror.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("examples/keyring_monitor.ts", () => {
  const supported = WatchQueue.supported();
  it(
    `--demo ${supported ? "prints the key notifications it causes" : "says why it cannot run, and exits 0"}`,
    SLOW,
    async () => {
      const monitor = new Example("keyring_monitor.ts", ["--demo"]);
      try {
        assert.equal(await monitor.end(), 0, monitor.output);
        if (supported) {
          const [, ring] = /^watching keyring (\d+)$/.exec(monitor.lines[0]) ?? assert.fail(monitor.output);
          const [, key] = /^LINKED key (\d+) into keyring/.exec(monitor.lines[1]) ?? assert.fail(monitor.output);
          assert.deepEqual(monitor.lines.slice(1), [
            `LINKED key ${key} into keyring ${ring} (watch 1)`,
            `UPDATED key ${key} (watch 2)`,
            `REVOKED key ${key} (watch 2)`,
            `UNLINKED key ${key} from keyring ${ring} (watch 1)`,
            "4 notifications",
          ]);
        } else {
          assert.match(monitor.lines[0], /^key notifications are not available here: .*CONFIG_WATCH_QUEUE/);
        }
      } finally {
        await monitor.stop();
      }
    },
  );
});

describe("examples/throughput.ts", () => {
  it("prints a positive events/s for a burst on /dev/shm", { timeout: 90_000 }, async () => {
    const run = new Example("throughput.ts", ["--count", "20000"]);
    try {
      assert.equal(await run.end(60_000), 0, run.output);
      const line = run.lines.find((l) => l.startsWith("events/s:")) ?? assert.fail(run.output);
      assert.ok(Number(/^events\/s:\s+(\d+)/.exec(line)?.[1]) > 0, line);
      assert.match(run.lines.find((l) => l.startsWith("read:"))!, /^read:\s+20000 events in \d+ batches/);
    } finally {
      await run.stop();
    }
  });
});

describe("examples/live_reload_server.ts", () => {
  it("serves HTML with the client script and pushes one reload per burst over SSE", SLOW, async () => {
    const dir = tempDir();
    const server = new Example("live_reload_server.ts", [dir, "--port", "0", "--settle", "100"]);
    const stream = new AbortController();
    try {
      writeFileSync(`${dir}/index.html`, "<html><body><h1>v1</h1></body></html>");
      const url = await server.line(/^http:\/\/127\.0\.0\.1:\d+\/$/);

      const html = await (await fetch(url)).text();
      assert.match(html, /<h1>v1<\/h1><script>new EventSource\("\/__live_reload"\).*<\/script><\/body>/);
      const missing = await fetch(new URL("nope.css", url));
      assert.equal(missing.status, 404);
      await missing.body?.cancel();

      const events = await fetch(new URL("__live_reload", url), { signal: stream.signal });
      assert.equal(events.headers.get("content-type"), "text/event-stream");
      await server.line(/^page connected \(1 open\)$/);
      writeFileSync(`${dir}/index.html`, "<h1>v2</h1>");
      writeFileSync(`${dir}/app.js`, "1");

      const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      await deadline(
        (async () => {
          while (!text.includes("event: reload\n")) text += (await reader.read()).value ?? "";
        })(),
        10_000,
        `a reload event; got ${JSON.stringify(text)}`,
      );
      // Settled: the new file's create comes before the write of the one that was there.
      assert.match(text, /event: reload\ndata: \["app.js","index.html"\]\n\n/);
      await server.line(/^reload: app.js, index.html \(1 page\)$/);
      stream.abort();
      assert.equal(await server.stop(), 0, server.output);
      assert.equal(server.lines.at(-1), "stopped");
    } finally {
      stream.abort();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
