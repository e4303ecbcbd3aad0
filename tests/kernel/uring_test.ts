import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync, unlinkSync, writeFileSync } from "node:fs";
import process from "node:process";
import { setImmediate } from "node:timers";
import { fileURLToPath } from "node:url";
import { loadSys } from "../../ffi/load.ts";
import type { Sys } from "../../ffi/types.ts";
import { IN } from "../../queue/inotify_mask.ts";
import { InotifyCursor, MIN_READ_SIZE } from "../../queue/inotify_records.ts";
import type { Source } from "../../queue/source.ts";
import { uringSources } from "../../queue/uring.ts";
import { SyscallError } from "../../queue/errors.ts";
import { canSetSysctl, deadline, fdCount, NEEDS_ROOT, removeDir, tempDir, withSysctl } from "../helpers.ts";

const sys = await loadSys();
const open = uringSources(sys);
const skip = open instanceof Error ? `io_uring cannot be used here: ${open.message}` : false;
// A second io_uring with regions that switch often, for the tests of order
const small = open instanceof Error ? open : uringSources(sys, { switchAt: 4096 });
const INOTIFY = { capacity: 8 << 20, readSize: 65536, minRead: MIN_READ_SIZE };
const runtime = "Deno" in globalThis
  ? [process.execPath, "run", "-A", "--no-check", "--v8-flags=--expose-gc"]
  : [process.execPath];
const child = fileURLToPath(new URL("../fixtures/uring_child.ts", import.meta.url));

/** An inotify fd watching `dir` for `mask`. */
function watch(dir: string, mask: number): number {
  const fd = sys.inotifyInit1(0o4000 | 0o2000000); // IN_NONBLOCK | IN_CLOEXEC
  assert.notEqual(fd, -1);
  assert.notEqual(sys.inotifyAddWatch(fd, new TextEncoder().encode(`${dir}\0`), mask), -1);
  return fd;
}

/** Reads records off a source until `done()`, each as "MASK name"; fails after `ms` with what came. */
async function readUntil(source: Source, seen: string[], done: () => boolean, ms = 10_000): Promise<void> {
  const cursors = new Map<Uint8Array, InotifyCursor>();
  const reading = (async () => {
    while (!done()) {
      const run = await source.next();
      if (!run) return;
      let cursor = cursors.get(run.bytes);
      if (!cursor) cursors.set(run.bytes, cursor = new InotifyCursor(run.bytes));
      cursor.reset(run.end, run.start);
      while (cursor.next()) {
        seen.push(
          cursor.mask & IN.Q_OVERFLOW
            ? "Q_OVERFLOW"
            : `${cursor.mask & IN.CREATE ? "C" : cursor.mask & IN.DELETE ? "D" : cursor.mask} ${cursor.name}`,
        );
      }
    }
  })();
  await deadline(reading, ms, `records after ${seen.length}: ${seen.slice(-3).join(", ")}`);
}

/** The first index where `seen` and `expected` differ, with both, or undefined. */
function firstDifference(seen: string[], expected: string[]): string | undefined {
  for (let i = 0; i < Math.max(seen.length, expected.length); i++) {
    if (seen[i] !== expected[i]) return `record #${i}: ${seen[i]?.slice(0, 40)}, expected ${expected[i]?.slice(0, 40)}`;
  }
  return undefined;
}

/** A seeded generator (mulberry32): the seed goes in failure messages. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

/** `count` names of 1-`longest` bytes (`unique`: distinct, at least 7 bytes, starting with their index). */
function names(count: number, seed: number, unique = false, longest = 255): string[] {
  const next = random(seed);
  return Array.from({ length: count }, (_, i) => {
    const prefix = unique ? i.toString(36).padStart(5, "0") + "." : "";
    const length = Math.max(prefix.length + 1, 1 + Math.floor(next() * longest));
    let name = prefix;
    while (name.length < length) name += LETTERS[Math.floor(next() * LETTERS.length)];
    return name;
  });
}

/** Runs `args` in a child process of this runtime; resolves with its exit code and output. */
function run(args: string[], ms: number): Promise<{ code: number | null; out: string; err: string }> {
  const proc = spawn(runtime[0], [...runtime.slice(1), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  proc.stdout.setEncoding("utf8").on("data", (d: string) => out += d);
  proc.stderr.setEncoding("utf8").on("data", (d: string) => err += d);
  const exited = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    proc.on("exit", (code) => resolve({ code, out, err }))
  );
  return deadline(exited, ms, `${args.join(" ")} to exit`).catch((e: Error) => {
    proc.kill("SIGKILL");
    throw new Error(`${e.message}; it printed ${JSON.stringify(out)} ${JSON.stringify(err)}`);
  });
}

/** Spins for `ms` without returning to the event loop or making a system call. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe("uringSources()", () => {
  it("returns the SyscallError when io_uring_setup is refused (seccomp, io_uring_disabled)", () => {
    for (const [errno, code] of [[1, "EPERM"], [38, "ENOSYS"]] as const) {
      const refused: Sys = { ...sys, syscall: () => -1, errno: () => errno };
      const result = uringSources(refused);
      assert.ok(result instanceof SyscallError, String(result));
      assert.equal(result.code, code);
      assert.equal(result.syscall, "io_uring_setup");
    }
  });

  it("returns one function per thread: one io_uring for every source", { skip }, () => {
    assert.equal(uringSources(sys), open);
  });
});

describe("io_uring Source", { skip }, () => {
  const openSource = open as Exclude<typeof open, Error>;
  const openSmall = small as Exclude<typeof small, Error>;

  it("delivers 20,000 creations and deletions of names 1-255 bytes long in order", { timeout: 90_000 }, async () => {
    // Names of every length end regions with EINVAL at nearly every region's end.
    const dir = tempDir();
    const fd = watch(dir, IN.CREATE | IN.DELETE);
    const source = openSmall(fd, { ...INOTIFY, capacity: 64 * 1024 });
    const seed = Date.now() % 100_000;
    const all = names(20_000, seed);
    try {
      const expected = all.flatMap((name) => [`C ${name}`, `D ${name}`]);
      const seen: string[] = [];
      const reading = readUntil(source, seen, () => seen.length >= expected.length, 60_000);
      for (let i = 0; i < all.length; i++) {
        writeFileSync(`${dir}/${all[i]}`, "");
        unlinkSync(`${dir}/${all[i]}`);
        if (i % 100 === 99) await new Promise((r) => setImmediate(r)); // the consumer reads in between
      }
      await reading;
      assert.equal(firstDifference(seen, expected), undefined, `seed ${seed}`);
    } finally {
      source.close();
      sys.close(fd);
      removeDir(dir);
    }
  });

  // The test's timeout is past readUntil's deadline, so that a hang says how far the records got.
  it("keeps the order while another process creates 20,000 files and the regions switch", {
    timeout: 90_000,
  }, async () => {
    const dir = tempDir();
    const fd = watch(dir, IN.CREATE);
    const source = openSmall(fd, { ...INOTIFY, capacity: 64 * 1024 });
    const seed = Date.now() % 100_000;
    const all = names(20_000, seed, true);
    const list = `${dir}.list`;
    try {
      writeFileSync(list, all.join("\n") + "\n");
      const seen: string[] = [];
      const reading = readUntil(source, seen, () => seen.length >= all.length, 60_000);
      const writer = spawn("sh", ["-c", `xargs touch < "${list}"`], { cwd: dir });
      const exited = new Promise((resolve) => writer.on("exit", resolve));
      await reading;
      assert.equal(await deadline(exited, 60_000, "the writer"), 0);
      assert.equal(firstDifference(seen, all.map((name) => `C ${name}`)), undefined, `seed ${seed}`);
    } finally {
      source.close();
      sys.close(fd);
      removeDir(dir);
      rmSync(list, { force: true });
    }
  });

  // [capacity, longest name, completion queue entries]: ~15 MB of records into one region, with a
  // completion queue a spinning thread cannot fill (its reads come per timer tick, at most 2,000 in
  // 2 s at HZ=1000; one per event, as without COOP_TASKRUN, would fill it 25 times over); ~8 MB,
  // more than a region of the default 8 MiB capacity holds (the read linked behind takes over at
  // its end), with the default queue
  for (const [capacity, longest, cqEntries] of [[32 << 20, 255, 4096], [8 << 20, 96, undefined]] as const) {
    it(
      `loses nothing from a 100,000-event burst of names up to ${longest} bytes while the main thread spins 2 s (capacity ${
        capacity >> 20
      } MiB${cqEntries ? `, a completion queue of ${cqEntries}` : ""})`,
      { timeout: 120_000 },
      async () => {
        const opener = cqEntries ? uringSources(sys, { cqEntries }) : openSource;
        assert.ok(!(opener instanceof Error));
        const dir = tempDir();
        const seed = Date.now() % 100_000;
        const all = names(100_000, seed, true, longest);
        const list = `${dir}.list`;
        const burst = async () => {
          const fd = watch(dir, IN.CREATE); // the queue's limit is taken here
          const source = opener(fd, { ...INOTIFY, capacity });
          try {
            const seen: string[] = [];
            const first = readUntil(source, seen, () => seen.length > 0); // arms the read
            writeFileSync(`${dir}/first`, "");
            await first;
            writeFileSync(list, all.join("\n") + "\n");
            // xargs touch: each event comes alone (~1 per read without COOP_TASKRUN)
            const writer = spawn("sh", ["-c", `xargs touch < "${list}"`], { cwd: dir });
            const exited = new Promise((resolve) => writer.on("exit", resolve));
            spin(2000); // only the kernel reads; its queue holds 16,384 events
            assert.equal(await deadline(exited, 60_000, "the burst"), 0);
            await readUntil(source, seen, () => seen.length > all.length || seen.includes("Q_OVERFLOW"), 60_000);
            assert.equal(firstDifference(seen.slice(1), all.map((name) => `C ${name}`)), undefined, `seed ${seed}`);
          } finally {
            source.close();
            sys.close(fd);
          }
        };
        try {
          if (canSetSysctl()) await withSysctl("max_queued_events", 16384, burst);
          else await burst();
        } finally {
          removeDir(dir);
          rmSync(list, { force: true });
        }
      },
    );
  }

  it(
    "keeps reading while its consumer awaits something else: 40,000 events, each read alone, through a completion queue of 1,024",
    {
      skip: NEEDS_ROOT,
      timeout: 60_000,
    },
    async () => {
      // The thread sleeps in the event loop; each event wakes it and is read alone: 40,000
      // completions, more than the completion queue (1,024) and the kernel queue (16,384) hold
      // together unless this thread reaps them while the consumer is away (its iteration holds an
      // eventfd read on the runtime's pool).
      const small = uringSources(sys, { cqEntries: 1024 });
      assert.ok(!(small instanceof Error));
      const dir = tempDir();
      const count = 40_000;
      await withSysctl("max_queued_events", 16384, async () => {
        const fd = watch(dir, IN.CREATE);
        const source = small(fd, INOTIFY);
        try {
          const seen: string[] = [];
          const first = readUntil(source, seen, () => seen.length > 0);
          writeFileSync(`${dir}/first`, "");
          await first;
          // One file at a time from a shell loop: ~10-30 µs apart, each read before the next comes
          const writer = spawn("sh", ["-c", `i=0; while [ $i -lt ${count} ]; do : > f$i; i=$((i+1)); done`], {
            cwd: dir,
          });
          // The consumer awaits something else: the writer's exit
          assert.equal(await deadline(new Promise((r) => writer.on("exit", r)), 50_000, "the writer"), 0);
          await readUntil(source, seen, () => seen.length > count || seen.includes("Q_OVERFLOW"));
          const expected = Array.from({ length: count }, (_, i) => `C f${i}`);
          assert.equal(firstDifference(seen.slice(1), expected), undefined);
        } finally {
          source.close();
          sys.close(fd);
          removeDir(dir);
        }
      });
    },
  );

  it("reads a backlog queued before the first next() on this thread, one read's worth per next(), in order", async () => {
    const dir = tempDir();
    const fd = watch(dir, IN.CREATE);
    const readSize = 4096;
    const source = openSource(fd, { ...INOTIFY, readSize });
    const all = Array.from({ length: 2000 }, (_, i) => `f${String(i).padStart(4, "0")}`); // 32-byte records
    try {
      for (const name of all) writeFileSync(`${dir}/${name}`, "");
      const seen: string[] = [];
      const runs: number[] = [];
      const cursors = new Map<Uint8Array, InotifyCursor>();
      while (seen.length < all.length + 1) {
        const run = await deadline(source.next(), 5000, `records after ${seen.length}`);
        assert.ok(run);
        runs.push(run.end - run.start);
        let cursor = cursors.get(run.bytes);
        if (!cursor) cursors.set(run.bytes, cursor = new InotifyCursor(run.bytes));
        cursor.reset(run.end, run.start);
        while (cursor.next()) seen.push(cursor.name);
        // The backlog is read: what comes now is read by the kernel
        if (seen.length === all.length) writeFileSync(`${dir}/after`, "");
      }
      assert.deepEqual(seen, [...all, "after"]);
      // A read(2) per next() while the backlog lasts (the kernel's first read would take it all)
      assert.deepEqual(runs.slice(0, 15), Array(15).fill(readSize));
    } finally {
      source.close();
      sys.close(fd);
      removeDir(dir);
    }
  });

  it("has both regions to fill right after the regions switch, before any turn of the event loop", {
    skip: NEEDS_ROOT,
  }, async () => {
    const dir = tempDir();
    const fd = await withSysctl("max_queued_events", 64, () => watch(dir, IN.CREATE));
    const source = openSmall(fd, { ...INOTIFY, capacity: 8192 }); // regions of 128 records; switch past 1 KiB
    const name = (i: number) => `f${String(i).padStart(4, "0")}`; // 32-byte records
    try {
      const seen: string[] = [];
      const first = readUntil(source, seen, () => seen.length >= 1); // arms the reads
      writeFileSync(`${dir}/${name(0)}`, "");
      await first;
      for (let i = 1; i <= 40; i++) writeFileSync(`${dir}/${name(i)}`, ""); // 1,312 bytes: past the switch
      await readUntil(source, seen, () => seen.length >= 41);
      // Giving the run back (caught up) switches regions; then 200 records with no turn of the
      // event loop: more than one region (128) and the kernel queue (64) hold together.
      const pending = source.next();
      for (let i = 41; i < 241; i++) writeFileSync(`${dir}/${name(i)}`, "");
      const more: string[] = [];
      const run = await pending;
      assert.ok(run);
      const cursor = new InotifyCursor(run.bytes);
      cursor.reset(run.end, run.start);
      while (cursor.next()) more.push(cursor.mask & IN.Q_OVERFLOW ? "Q_OVERFLOW" : `C ${cursor.name}`);
      await readUntil(source, more, () => more.length >= 200 || more.includes("Q_OVERFLOW"));
      assert.equal(firstDifference(more, Array.from({ length: 200 }, (_, i) => `C ${name(41 + i)}`)), undefined);
    } finally {
      source.close();
      sys.close(fd);
      removeDir(dir);
    }
  });

  it("gives the kernel's Q_OVERFLOW, after what fit, to a consumer that stopped consuming", {
    skip: canSetSysctl() ? false : "needs root to lower fs.inotify.max_queued_events",
  }, async () => {
    const dir = tempDir();
    const fd = await withSysctl("max_queued_events", 64, () => watch(dir, IN.CREATE));
    const source = openSource(fd, { ...INOTIFY, capacity: 8192 }); // two regions of 4 KiB
    try {
      const seen: string[] = [];
      const reading = readUntil(source, seen, () => seen.includes("Q_OVERFLOW")); // arms the reads
      const all = Array.from({ length: 1000 }, (_, i) => `f${String(i).padStart(4, "0")}`); // 32-byte records
      for (const name of all) writeFileSync(`${dir}/${name}`, ""); // no turn of the event loop meanwhile
      await reading;
      const fit = seen.indexOf("Q_OVERFLOW");
      // Both regions (the second read was linked behind the first), then the kernel queue's 64
      assert.equal(fit, 2 * 4096 / 32 + 64, `records before Q_OVERFLOW: ${fit}`);
      assert.equal(firstDifference(seen.slice(0, fit), all.slice(0, fit).map((n) => `C ${n}`)), undefined);
      assert.equal(seen.length, fit + 1);
    } finally {
      source.close();
      sys.close(fd);
      removeDir(dir);
    }
  });

  it("catches up after its completion queue overflowed while the thread was busy", async () => {
    const overflowing = uringSources(sys, { cqEntries: 8 });
    assert.ok(!(overflowing instanceof Error));
    const dir = tempDir();
    const fd = watch(dir, IN.CREATE);
    const source = overflowing(fd, INOTIFY);
    const all = Array.from({ length: 5000 }, (_, i) => `f${String(i).padStart(4, "0")}`);
    try {
      const seen: string[] = [];
      const reading = readUntil(source, seen, () => seen.length >= all.length); // arms the reads
      // No turn of the event loop meanwhile: each file's system calls end in a read of its one
      // event, a completion each, past the queue's 8 entries (the rest waits in the kernel queue).
      for (const name of all) writeFileSync(`${dir}/${name}`, "");
      await reading;
      assert.equal(firstDifference(seen, all.map((name) => `C ${name}`)), undefined);
    } finally {
      source.close();
      sys.close(fd);
      removeDir(dir);
    }
  });

  it("close() resolves a pending next() with undefined", async () => {
    const dir = tempDir();
    const fd = watch(dir, IN.CREATE);
    const source = openSource(fd, INOTIFY);
    try {
      const pending = source.next();
      await new Promise((r) => setImmediate(r)); // past the first look: waiting on the eventfd
      source.close();
      assert.equal(await deadline(pending, 1000, "next() after close()"), undefined);
      assert.equal(await source.next(), undefined);
      source.close(); // idempotent
    } finally {
      sys.close(fd);
      removeDir(dir);
    }
  });

  it("next() refuses a second consumer while one waits", async () => {
    const dir = tempDir();
    const fd = watch(dir, IN.CREATE);
    const source = openSource(fd, INOTIFY);
    try {
      const pending = source.next();
      await assert.rejects(source.next(), /pending already/);
      source.close();
      assert.equal(await pending, undefined);
    } finally {
      sys.close(fd);
      removeDir(dir);
    }
  });

  it("close() while the kernel reads stops every read: the regions serve the next source intact", async () => {
    const dir = tempDir();
    // The writer creates f1, f2, ... as fast as a shell can (no external command)
    const writer = spawn("sh", ["-c", "i=0; while :; do i=$((i+1)); : > f$i; done"], { cwd: dir });
    try {
      for (let round = 0; round < 20; round++) {
        const fd = watch(dir, IN.CREATE);
        const source = openSmall(fd, { ...INOTIFY, capacity: 16384 });
        const seen: string[] = [];
        await readUntil(source, seen, () => seen.length >= 100 * (round % 4 + 1));
        source.close(); // the writer goes on: reads were in flight
        sys.close(fd);
        // The regions came from the sources closed before: none of their reads may land here.
        const numbers = seen.map((record) => Number(/^C f(\d+)$/.exec(record)?.[1]));
        const wrong = numbers.findIndex((n, i) => i > 0 && n !== numbers[i - 1] + 1);
        assert.equal(wrong, -1, `round ${round}: ${seen[wrong - 1]} then ${seen[wrong]}`);
      }
    } finally {
      writer.kill("SIGKILL");
      removeDir(dir);
    }
  });

  it("serves 64 sources at once, each its own records in order", async () => {
    const dirs = Array.from({ length: 64 }, () => tempDir());
    const fds = dirs.map((dir) => watch(dir, IN.CREATE));
    const sources = fds.map((fd) => openSmall(fd, { ...INOTIFY, capacity: 16384 }));
    try {
      const seen = sources.map(() => [] as string[]);
      const reading = sources.map((source, i) => readUntil(source, seen[i], () => seen[i].length >= 200, 30_000));
      for (let n = 0; n < 200; n++) {
        for (const dir of dirs) writeFileSync(`${dir}/file-${n}-${"x".repeat(n % 97)}`, "");
        if (n % 20 === 0) await new Promise((r) => setImmediate(r));
      }
      await Promise.all(reading);
      const expected = Array.from({ length: 200 }, (_, n) => `C file-${n}-${"x".repeat(n % 97)}`);
      for (const s of seen) assert.equal(firstDifference(s, expected), undefined);
    } finally {
      for (const source of sources) source.close();
      for (const fd of fds) sys.close(fd);
      for (const dir of dirs) removeDir(dir);
    }
  });

  it("leaves no fd open after 200 open/read/close cycles", async () => {
    const dir = tempDir();
    const cycle = async (i: number) => {
      const fd = watch(dir, IN.CREATE);
      const source = openSource(fd, INOTIFY);
      const seen: string[] = [];
      const reading = readUntil(source, seen, () => seen.length > 0);
      writeFileSync(`${dir}/f${i}`, "");
      await reading;
      source.close();
      sys.close(fd);
    };
    try {
      await cycle(0); // the thread's io_uring and its eventfd stay open
      const before = fdCount();
      for (let i = 1; i <= 200; i++) await cycle(i);
      assert.ok(fdCount() <= before, `${fdCount()} fds open, ${before} before`); // others' may have closed
    } finally {
      removeDir(dir);
    }
  });

  it("keeps the process alive from the first next() until pause(), and lets it exit after", async () => {
    const dir = tempDir();
    try {
      const event = await run([child, "event", dir], 20_000);
      assert.deepEqual([event.code, event.out.trim()], [0, "event"], event.err);
      const away = await run([child, "away", dir], 20_000);
      assert.deepEqual([away.code, away.out.trim()], [0, "kept alive"], away.err);
      // Through Inotify: a loop's end pauses its source; an instance never iterated holds nothing
      for (const mode of ["unread", "broke"]) {
        const fresh = tempDir(); // the timer's file is new: it makes a CREATE
        try {
          const { code, out, err } = await run([child, mode, fresh], 20_000);
          assert.deepEqual([code, out.trim()], [0, mode], err);
        } finally {
          removeDir(fresh);
        }
      }
      const closed = await run([child, "close", dir], 20_000);
      assert.deepEqual([closed.code, closed.out.trim()], [0, "closed"], closed.err);
    } finally {
      removeDir(dir);
    }
  });

  it("gives its memory back: 10,000 open/read/close cycles leave RSS within bounds", { timeout: 120_000 }, async () => {
    const dir = tempDir();
    try {
      const { code, out, err } = await run([child, "cycles", "10000", dir], 120_000);
      assert.equal(code, 0, err);
      const { before, after } = JSON.parse(out);
      const grown = (after - before) / 2 ** 20;
      console.log(`RSS ${(before / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB after 10,000 cycles`);
      // Generous: the runtimes' own heaps grow by 6-12 MiB over such a loop without any source.
      assert.ok(grown < 64, `RSS grew by ${grown.toFixed(1)} MiB`);
    } finally {
      removeDir(dir);
    }
  });
});
