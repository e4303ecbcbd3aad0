import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";
import { pathToFileURL } from "node:url";
import { describeMask, IN, Inotify, type InotifyEvent, SyscallError } from "../../mod.ts";
import {
  assertFdCount,
  collect,
  deadline,
  fdCount,
  NEEDS_ROOT,
  removeDir,
  tempDir,
  waitFor,
  withSysctl,
} from "../helpers.ts";
import { evalModule } from "../fixtures/runtime.ts";

const has = (bit: number) => (events: InotifyEvent[]) => events.some((e) => e.mask & bit);
const names = (events: InotifyEvent[]) => events.map((e) => [describeMask(e.mask).join("|"), e.name]);

/**
 * Proves the background reader runs for `ino`: another process makes `name` while a next() waits
 * (the waiting consumer's one look at the next turn of the loop comes before the child runs), so
 * only the reader can deliver it. Returns the batches iterator, whose next batch waits again.
 */
async function readerRuns(ino: Inotify, dir: string, name = "sentinel") {
  const batches = ino.batches();
  const pending = batches.next();
  spawn("touch", [`${dir}/${name}`]);
  const { value: batch } = await deadline(pending, 10_000, `${name}, made by another process`);
  assert.deepEqual(Array.from(batch!, (ev) => ev.name), [name]);
  return batches;
}

/** Runs `fn` with a fresh dir and Inotify, both cleaned up after. */
async function withQueue(fn: (dir: string, ino: Inotify) => Promise<void> | void, options = {}): Promise<void> {
  const dir = tempDir();
  const ino = new Inotify(options);
  try {
    await fn(dir, ino);
  } finally {
    ino.close();
    removeDir(dir);
  }
}

describe("Inotify events from the kernel", () => {
  // Each event bit, caused for real: [name, mask to watch, what to watch, how to cause it]
  const cases: [string, number, "dir" | "file", (dir: string) => void][] = [
    ["ACCESS", IN.ACCESS, "file", (d) => readFileSync(`${d}/f`)],
    ["MODIFY", IN.MODIFY, "file", (d) => writeFileSync(`${d}/f`, "more")],
    ["ATTRIB", IN.ATTRIB, "file", (d) => spawnSync("chmod", ["600", `${d}/f`])],
    ["CLOSE_WRITE", IN.CLOSE_WRITE, "file", (d) => closeSync(openSync(`${d}/f`, "w"))],
    ["CLOSE_NOWRITE", IN.CLOSE_NOWRITE, "file", (d) => closeSync(openSync(`${d}/f`, "r"))],
    ["OPEN", IN.OPEN, "file", (d) => closeSync(openSync(`${d}/f`, "r"))],
    ["MOVED_FROM", IN.MOVED_FROM, "dir", (d) => renameSync(`${d}/f`, `${d}/g`)],
    ["MOVED_TO", IN.MOVED_TO, "dir", (d) => renameSync(`${d}/f`, `${d}/g`)],
    ["CREATE", IN.CREATE, "dir", (d) => writeFileSync(`${d}/new`, "")],
    ["DELETE", IN.DELETE, "dir", (d) => unlinkSync(`${d}/f`)],
    ["DELETE_SELF", IN.DELETE_SELF, "file", (d) => unlinkSync(`${d}/f`)],
    ["MOVE_SELF", IN.MOVE_SELF, "file", (d) => renameSync(`${d}/f`, `${d}/g`)],
  ];
  for (const [name, bit, target, cause] of cases) {
    it(`reports ${name}`, () =>
      withQueue(async (dir, ino) => {
        writeFileSync(`${dir}/f`, "x");
        const wd = ino.addWatch(target === "dir" ? dir : `${dir}/f`, bit);
        cause(dir);
        const [ev] = await collect(ino[Symbol.asyncIterator](), (evs) => evs.length > 0);
        assert.equal(ev.wd, wd);
        assert.equal(ev.mask & bit, bit, `got ${describeMask(ev.mask)}`);
        assert.equal(ev.name, target === "file" ? "" : { CREATE: "new", MOVED_TO: "g" }[name] ?? "f");
      }));
  }

  it("reports UNMOUNT then IGNORED when a watched filesystem goes away", async (t) => {
    const dir = tempDir();
    try {
      mkdirSync(`${dir}/mnt`);
      if (spawnSync("mount", ["-t", "tmpfs", "none", `${dir}/mnt`]).status !== 0) {
        return t.skip("cannot mount tmpfs here");
      }
      const ino = new Inotify();
      try {
        const wd = ino.addWatch(`${dir}/mnt`, IN.CREATE);
        assert.equal(spawnSync("umount", [`${dir}/mnt`]).status, 0);
        const events = await collect(ino[Symbol.asyncIterator](), has(IN.IGNORED));
        assert.deepEqual(events.map((e) => [e.wd, describeMask(e.mask & ~IN.ISDIR)]), [[wd, ["UNMOUNT"]], [wd, [
          "IGNORED",
        ]]]);
        assert.equal(ino.watches.has(wd), false);
      } finally {
        ino.close();
        spawnSync("umount", [`${dir}/mnt`]);
      }
    } finally {
      removeDir(dir);
    }
  });

  it("sets ISDIR for directories", () =>
    withQueue(async (dir, ino) => {
      ino.addWatch(dir, IN.CREATE | IN.DELETE);
      mkdirSync(`${dir}/sub`);
      writeFileSync(`${dir}/file`, "");
      rmdirSync(`${dir}/sub`);
      const events = await collect(ino[Symbol.asyncIterator](), (evs) => evs.length === 3);
      assert.deepEqual(names(events), [["CREATE|ISDIR", "sub"], ["CREATE", "file"], ["DELETE|ISDIR", "sub"]]);
    }));

  it("pairs MOVED_FROM and MOVED_TO by cookie, across directories", () =>
    withQueue(async (dir, ino) => {
      mkdirSync(`${dir}/a`);
      mkdirSync(`${dir}/b`);
      writeFileSync(`${dir}/a/one`, "");
      writeFileSync(`${dir}/a/two`, "");
      const a = ino.addWatch(`${dir}/a`, IN.MOVE);
      const b = ino.addWatch(`${dir}/b`, IN.MOVE);
      renameSync(`${dir}/a/one`, `${dir}/b/uno`);
      renameSync(`${dir}/a/two`, `${dir}/b/dos`);
      const [from1, to1, from2, to2] = await collect(ino[Symbol.asyncIterator](), (evs) => evs.length === 4);
      assert.deepEqual([from1.wd, from1.name, to1.wd, to1.name], [a, "one", b, "uno"]);
      assert.deepEqual([from2.name, to2.name], ["two", "dos"]);
      assert.ok(from1.cookie !== 0 && from1.cookie === to1.cookie);
      assert.ok(from2.cookie === to2.cookie && from2.cookie !== from1.cookie);
    }));

  it("keeps names that are not UTF-8 exact in nameBytes", () =>
    withQueue(async (dir, ino) => {
      ino.addWatch(dir, IN.CREATE);
      assert.equal(spawnSync("sh", ["-c", `touch "$(printf 'bad\\377\\376name')"`], { cwd: dir }).status, 0);
      const [ev] = await collect(ino[Symbol.asyncIterator](), (evs) => evs.length > 0);
      assert.deepEqual([...ev.nameBytes], [
        ...new TextEncoder().encode("bad"),
        0xff,
        0xfe,
        ...new TextEncoder().encode("name"),
      ]);
      assert.equal(ev.name, "bad\ufffd\ufffdname");
    }));

  it("reports a name of NAME_MAX bytes whole", () =>
    withQueue(async (dir, ino) => {
      const long = "n".repeat(255);
      ino.addWatch(dir, IN.CREATE);
      writeFileSync(`${dir}/${long}`, "");
      const [ev] = await collect(ino[Symbol.asyncIterator](), (evs) => evs.length > 0);
      assert.equal(ev.name, long);
    }, { bufferSize: 272 }));
});

describe("Inotify watch registry", () => {
  it("addWatch() returns the same wd for a watched path and replaces its mask", () =>
    withQueue((dir, ino) => {
      const wd = ino.addWatch(dir, IN.CREATE);
      assert.equal(ino.addWatch(pathToFileURL(dir), IN.DELETE), wd);
      assert.deepEqual(ino.watches.get(wd), { path: dir, mask: IN.DELETE });
      assert.equal(ino.findWatch(`${dir}/./`), wd);
      assert.equal(ino.findWatch(`${dir}/nothing`), undefined);
    }));

  it("MASK_ADD ORs into the mask, in the kernel too", () =>
    withQueue(async (dir, ino) => {
      const wd = ino.addWatch(dir, IN.CREATE);
      assert.equal(ino.addWatch(dir, IN.DELETE | IN.MASK_ADD), wd);
      assert.equal(ino.watches.get(wd)!.mask, IN.CREATE | IN.DELETE);
      writeFileSync(`${dir}/f`, "");
      unlinkSync(`${dir}/f`);
      const events = await collect(ino[Symbol.asyncIterator](), (evs) => evs.length === 2);
      assert.deepEqual(names(events), [["CREATE", "f"], ["DELETE", "f"]]);
    }));

  it("MASK_CREATE fails with EEXIST on a watched path", () =>
    withQueue((dir, ino) => {
      ino.addWatch(dir, IN.CREATE | IN.MASK_CREATE);
      assert.throws(() => ino.addWatch(dir, IN.DELETE | IN.MASK_CREATE), {
        code: "EEXIST",
        syscall: "inotify_add_watch",
        path: dir,
      });
      assert.equal([...ino.watches.values()][0].mask, IN.CREATE);
    }));

  it("ONLYDIR fails with ENOTDIR on a file", () =>
    withQueue((dir, ino) => {
      writeFileSync(`${dir}/f`, "");
      assert.throws(() => ino.addWatch(`${dir}/f`, IN.CREATE | IN.ONLYDIR), { code: "ENOTDIR", errno: -20 });
      assert.equal(ino.watches.size, 0);
    }));

  it("DONT_FOLLOW watches the symlink itself", () =>
    withQueue((dir, ino) => {
      mkdirSync(`${dir}/target`);
      symlinkSync(`${dir}/target`, `${dir}/link`);
      const target = ino.addWatch(`${dir}/target`, IN.CREATE);
      assert.equal(ino.addWatch(`${dir}/link`, IN.CREATE), target);
      assert.notEqual(ino.addWatch(`${dir}/link`, IN.ATTRIB | IN.DONT_FOLLOW), target);
    }));

  it("EXCL_UNLINK drops events of children after they are unlinked", () =>
    withQueue(async (dir, ino) => {
      for (const [name, flags] of [["kept", 0], ["excluded", IN.EXCL_UNLINK]] as const) {
        mkdirSync(`${dir}/${name}`);
        ino.addWatch(`${dir}/${name}`, IN.MODIFY | IN.CREATE | flags);
        const fd = openSync(`${dir}/${name}/f`, "w");
        unlinkSync(`${dir}/${name}/f`);
        writeSync(fd, "after unlink");
        closeSync(fd);
        writeFileSync(`${dir}/${name}/marker`, "");
      }
      const events = await collect(ino[Symbol.asyncIterator](), (evs) =>
        evs.filter((e) => e.name === "marker").length === 2);
      const modified = new Set(
        events.filter((e) =>
          e.mask & IN.MODIFY
        ).map((e) => ino.watches.get(e.wd)!.path),
      );
      assert.deepEqual([...modified], [`${dir}/kept`]);
    }));

  it("rmWatch() removes the watch at once and IGNORED follows", () =>
    withQueue(async (dir, ino) => {
      const wd = ino.addWatch(dir, IN.CREATE);
      ino.rmWatch(wd);
      assert.equal(ino.watches.size, 0);
      writeFileSync(`${dir}/after`, "");
      const events = await collect(ino[Symbol.asyncIterator](), has(IN.IGNORED));
      assert.deepEqual(events.map((e) => [e.wd, describeMask(e.mask)]), [[wd, ["IGNORED"]]]);
      assert.throws(() => ino.rmWatch(wd), { code: "EINVAL", syscall: "inotify_rm_watch" });
    }));

  it("a deleted directory's watch leaves after DELETE_SELF and IGNORED", () =>
    withQueue(async (dir, ino) => {
      mkdirSync(`${dir}/sub`);
      const wd = ino.addWatch(`${dir}/sub`, IN.DELETE_SELF);
      rmdirSync(`${dir}/sub`);
      const events = await collect(ino[Symbol.asyncIterator](), has(IN.IGNORED));
      assert.deepEqual(events.map((e) => describeMask(e.mask)), [["DELETE_SELF"], ["IGNORED"]]);
      assert.equal(ino.watches.has(wd), false);
    }));

  it("ONESHOT reports one event, then IGNORED, and leaves watches", () =>
    withQueue(async (dir, ino) => {
      const wd = ino.addWatch(dir, IN.CREATE | IN.ONESHOT);
      writeFileSync(`${dir}/first`, "");
      writeFileSync(`${dir}/second`, "");
      const events = await collect(ino[Symbol.asyncIterator](), has(IN.IGNORED));
      assert.deepEqual(names(events), [["CREATE", "first"], ["IGNORED", ""]]);
      assert.equal(ino.watches.has(wd), false);
    }));
});

describe("Inotify errors", () => {
  it("ENOENT names the path", () =>
    withQueue((dir, ino) => {
      const err = assert.throws(() => ino.addWatch(`${dir}/missing`, IN.CREATE), (err) => {
        assert.ok(err instanceof SyscallError);
        assert.equal(err.code, "ENOENT");
        assert.equal(err.errno, -2);
        assert.equal(err.syscall, "inotify_add_watch");
        assert.equal(err.path, `${dir}/missing`);
        assert.equal(err.message, `ENOENT: no such file or directory, inotify_add_watch '${dir}/missing'`);
        return true;
      });
      return err;
    }));

  it("bad arguments throw TypeError or RangeError before any system call", () =>
    withQueue((dir, ino) => {
      const bad: [unknown, unknown, ErrorConstructor, RegExp][] = [
        [42, IN.CREATE, TypeError, /path must be a non-empty string or a file: URL, got number/],
        ["", IN.CREATE, TypeError, /path must be/],
        [`${dir}\0x`, IN.CREATE, TypeError, /contains a NUL byte/],
        [dir, 0, RangeError, /mask has no event bits/],
        [dir, "CREATE", TypeError, /mask must be an integer, got string/],
        [dir, 1.5, TypeError, /mask must be an integer/],
        [dir, 2 ** 33, RangeError, /not a 32-bit value/],
        [dir, IN.CREATE | 0x1000, RangeError, /unknown mask bits 0x1000/],
        [dir, IN.ONLYDIR, RangeError, /no event bits/],
        [dir, IN.CREATE | IN.MASK_ADD | IN.MASK_CREATE, RangeError, /exclude each other/],
      ];
      for (const [path, mask, type, message] of bad) {
        assert.throws(() => ino.addWatch(path as string, mask as number), (err) =>
          err instanceof type && message.test((err as Error).message));
      }
      assert.throws(() =>
        ino.rmWatch("1" as unknown as number), TypeError);
      assert.throws(() => new Inotify({ bufferSize: 100 }), /bufferSize must be from 272/);
      assert.throws(() => new Inotify({ bufferSize: 4096, ringSize: 1024 }), RangeError);
      assert.throws(() => new Inotify({ ringSize: -1 }), RangeError);
      assert.throws(() => new Inotify({ bufferSize: "big" as unknown as number }), TypeError);
      assert.equal(ino.watches.size, 0);
    }));

  it("a closed instance refuses every call without touching its fd", () => {
    const ino = new Inotify();
    ino.close();
    ino.close(); // idempotent
    assert.throws(() => ino.addWatch("/tmp", IN.CREATE), { message: "Cannot add watch: this Inotify is closed" });
    assert.throws(() => ino.rmWatch(1), /Cannot remove watch: this Inotify is closed/);
    assert.throws(() => ino.pendingBytes(), /this Inotify is closed/);
    assert.equal(ino.closed, true);
  });

  it("iterating a closed instance ends at once", async () => {
    const ino = new Inotify();
    ino.close();
    assert.deepEqual(await ino[Symbol.asyncIterator]().next(), { done: true, value: undefined });
  });

  it("ENOSPC names fs.inotify.max_user_watches", { skip: NEEDS_ROOT }, () =>
    withQueue(async (dir, ino) => {
      mkdirSync(`${dir}/a`);
      await withSysctl("max_user_watches", 1, () => {
        assert.throws(() => {
          ino.addWatch(dir, IN.CREATE);
          ino.addWatch(`${dir}/a`, IN.CREATE);
        }, { code: "ENOSPC", message: /raise fs\.inotify\.max_user_watches/ });
      });
    }));

  it("EMFILE names fs.inotify.max_user_instances", { skip: NEEDS_ROOT }, async () => {
    using _held = new Inotify();
    await withSysctl("max_user_instances", 1, () => {
      assert.throws(() => new Inotify(), {
        code: "EMFILE",
        syscall: "inotify_init1",
        message: /raise fs\.inotify\.max_user_instances/,
      });
    });
  });
});

// A full collection, where the runtime offers one to tests: Bun.gc, or gc() with --expose-gc.
// deno-lint-ignore no-explicit-any
const fullGc: (() => void) | undefined = (globalThis as any).Bun?.gc?.bind(null, true) ?? (globalThis as any).gc;

describe("Inotify reading", () => {
  it("an instance used only by its waiting iteration is not collected (and closed) meanwhile", {
    skip: fullGc ? false : "this runtime offers no gc() here (Bun.gc, or --expose-gc)",
  }, async () => {
    const dir = tempDir();
    let held: WeakRef<Inotify> | undefined;
    try {
      const first = (() => { // the instance is reachable only through its iterator
        const ino = new Inotify();
        held = new WeakRef(ino);
        ino.addWatch(dir, IN.CREATE);
        return ino[Symbol.asyncIterator]().next().then((r) => r.value?.name);
      })();
      // Time passes on purpose, before and after the collection: the loop settles into its wait,
      // then a finalizer, if one was due, runs at some later turn of the event loop.
      await new Promise((r) => setTimeout(r, 100));
      fullGc!();
      await new Promise((r) => setTimeout(r, 100));
      spawn("touch", [`${dir}/after-gc`]);
      assert.equal(await deadline(first, 5000, "the event after a collection"), "after-gc");
    } finally {
      held?.deref()?.close();
      removeDir(dir);
    }
  });

  it("pendingBytes() counts the kernel queue (FIONREAD) before reading starts", () =>
    withQueue((dir, ino) => {
      ino.addWatch(dir, IN.CREATE);
      assert.equal(ino.pendingBytes(), 0);
      writeFileSync(`${dir}/abc`, ""); // 16 + 16
      writeFileSync(`${dir}/${"x".repeat(20)}`, ""); // 16 + 32
      assert.equal(ino.pendingBytes(), 80);
    }));

  it("batches() yields views that hold one or more records", () =>
    withQueue(async (dir, ino) => {
      ino.addWatch(dir, IN.CREATE);
      for (let i = 0; i < 100; i++) writeFileSync(`${dir}/f${i}`, "");
      const seen: string[] = [];
      const batches = ino.batches();
      while (seen.length < 100) {
        const { value: batch } = await deadline(batches.next(), 5000, "a batch");
        for (const ev of batch!) seen.push(ev.name);
      }
      assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => `f${i}`));
    }));

  it("only one iteration at a time; the next one resumes after the last event yielded", () =>
    withQueue(async (dir, ino) => {
      ino.addWatch(dir, IN.CREATE);
      writeFileSync(`${dir}/a`, "");
      writeFileSync(`${dir}/b`, "");
      const first = ino[Symbol.asyncIterator]();
      assert.equal((await first.next()).value?.name, "a");
      await assert.rejects(ino.batches().next(), /being iterated already/);
      await first.return!();
      const [b] = await collect(ino[Symbol.asyncIterator](), (evs) => evs.length === 1);
      assert.equal(b.name, "b");
    }));

  it("close() ends a pending for await promptly", () =>
    withQueue(async (dir, ino) => {
      ino.addWatch(dir, IN.CREATE);
      const batches = await readerRuns(ino, dir);
      const pending = batches.next();
      await new Promise((r) => setImmediate(r)); // its look at the next turn found nothing: it waits on the reader
      const start = performance.now();
      ino.close();
      assert.deepEqual(await deadline(pending, 1000, "the pending next() to end"), { done: true, value: undefined });
      console.log(`close() -> done in ${(performance.now() - start).toFixed(2)} ms`);
    }));

  it("close() during a wait never reads the fd number again, once another file has it", () =>
    withQueue(async (dir, ino) => {
      ino.addWatch(dir, IN.CREATE);
      const inotifyFds = () =>
        readdirSync("/proc/self/fd").filter((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:inotify";
          } catch {
            return false;
          }
        }).map(Number);
      const [fd] = inotifyFds();
      const pending = ino[Symbol.asyncIterator]().next(); // waits; looks again at the next turn of the loop
      ino.close();
      writeFileSync(`${dir}/other`, "hello");
      const other = openSync(`${dir}/other`, "r"); // the lowest free number: the inotify fd's
      try {
        assert.equal(other, fd, "the file got the closed fd's number");
        assert.deepEqual(await pending, { done: true, value: undefined });
        await new Promise((r) => setImmediate(r));
        const bytes = Buffer.alloc(16);
        assert.equal(bytes.toString("utf8", 0, readSync(other, bytes)), "hello", "nothing read it before us");
      } finally {
        closeSync(other);
      }
    }));

  it("close() right after the first read, while the reader thread still loads, returns at once", () => {
    // A hang here would be synchronous, so it runs in a child process that is killed if it hangs.
    const script = `
      import { IN, Inotify } from ${JSON.stringify(new URL("../../mod.ts", import.meta.url).href)};
      for (let i = 0; i < 5; i++) {
        const ino = new Inotify();
        ino.addWatch("/tmp", IN.CREATE); // spawns the reader thread, which takes 20-50 ms to load
        const pending = ino[Symbol.asyncIterator]().next();
        ino.close();
        if (!(await pending).done) throw new Error("not done");
      }
      console.log("closed");`;
    const [command, ...args] = evalModule(script);
    const env = { ...process.env, NOTIQ_READER: "thread" }; // what it checks is the thread's
    const child = spawnSync(command!, args, { timeout: 20_000, encoding: "utf8", env });
    assert.equal(child.stdout.trim(), "closed", `status ${child.status} ${child.signal ?? ""}: ${child.stderr}`);
  });

  it("starts the reader thread only when a consumer first has to wait", () => {
    // In a fresh process, where no other test has started it.
    const script = `
      import { IN, Inotify } from ${JSON.stringify(new URL("../../mod.ts", import.meta.url).href)};
      import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
      const threads = () => readdirSync("/proc/self/task").length;
      const dir = mkdtempSync("/dev/shm/notiq-test-");
      const ino = new Inotify();
      const before = threads();
      ino.addWatch(dir, IN.CREATE);
      writeFileSync(dir + "/queued", "");
      const it = ino[Symbol.asyncIterator]();
      const queued = (await it.next()).value.name; // in the kernel already: read on this thread
      const afterQueued = threads();
      const waiting = it.next();
      const afterWait = threads();
      writeFileSync(dir + "/later", "");
      const later = (await waiting).value.name;
      ino.close();
      rmSync(dir, { recursive: true });
      console.log(JSON.stringify({ queued, later, started: [afterQueued - before, afterWait - before > 0] }));`;
    const [command, ...args] = evalModule(script);
    const env = { ...process.env, NOTIQ_READER: "thread" }; // what it checks is the thread's
    const child = spawnSync(command!, args, { timeout: 20_000, encoding: "utf8", env });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { queued: "queued", later: "later", started: [0, true] });
  });

  it("closing leaks no fd, whether or not reading started", async () => {
    const before = fdCount();
    for (let i = 0; i < 3; i++) {
      const dir = tempDir();
      const ino = new Inotify();
      ino.addWatch(dir, IN.CREATE);
      if (i > 0) {
        writeFileSync(`${dir}/f`, "");
        await collect(ino[Symbol.asyncIterator](), (evs) => evs.length === 1);
      }
      ino.close();
      removeDir(dir);
    }
    await assertFdCount(before);
  });

  it("Q_OVERFLOW reaches the consumer when the kernel queue overflows", { skip: NEEDS_ROOT }, async () => {
    const dir = tempDir();
    try {
      // max_queued_events is read when the instance is created: restore it right after.
      using ino = await withSysctl("max_queued_events", 16, () => new Inotify());
      ino.addWatch(dir, IN.CREATE);
      for (let i = 0; i < 40; i++) writeFileSync(`${dir}/f${i}`, "");
      const events = await collect(ino[Symbol.asyncIterator](), has(IN.Q_OVERFLOW));
      assert.equal(events.length, 17);
      assert.deepEqual([events[16].wd, describeMask(events[16].mask), events[16].name], [-1, ["Q_OVERFLOW"], ""]);
    } finally {
      removeDir(dir);
    }
  });

  it(
    "when the ring is full the reader stops, and the kernel's Q_OVERFLOW still arrives",
    { skip: NEEDS_ROOT },
    async () => {
      const dir = tempDir();
      try {
        using ino = await withSysctl("max_queued_events", 64, () => new Inotify({ bufferSize: 512, ringSize: 1024 }));
        ino.addWatch(dir, IN.CREATE);
        writeFileSync(`${dir}/first`, "");
        const batches = ino.batches();
        await deadline(batches.next(), 5000, "the first batch"); // held: the ring cannot be freed
        for (let i = 0; i < 1000; i++) writeFileSync(`${dir}/f${String(i).padStart(4, "0")}`, "");
        // The reader fills the ring, the kernel queue fills, and its overflow record (16 bytes, where
        // each event is 32) is queued: nothing more comes after it.
        await waitFor("the kernel queue to overflow", () => ino.pendingBytes() % 32 === 16);
        let created = 0, overflows = 0;
        while (overflows === 0) {
          const { value: batch } = await deadline(batches.next(), 5000, "the overflow");
          for (const ev of batch!) ev.mask & IN.Q_OVERFLOW ? overflows++ : created++;
        }
        assert.equal(overflows, 1);
        assert.ok(created >= 64 && created < 1000, `delivered ${created} of 1000 before the overflow`);
      } finally {
        removeDir(dir);
      }
    },
  );

  it("instances share one reader; each gets its own events, and closing one leaves the rest", async () => {
    const threads = () => readdirSync("/proc/self/task").length;
    const dirs = Array.from({ length: 8 }, () => tempDir());
    const queues = dirs.map(() => new Inotify());
    try {
      queues.forEach((q, i) => q.addWatch(dirs[i], IN.CREATE));
      const iterators = queues.map((q) => q[Symbol.asyncIterator]());
      // A next() that finds nothing waits for the reader thread: the first event comes through it.
      const first = iterators[0].next();
      writeFileSync(`${dirs[0]}/first`, "");
      assert.equal((await deadline(first, 5000, "the first event")).value?.name, "first");
      const before = threads();
      const pending = iterators.map((it) => it.next());
      queues[3].close();
      dirs.forEach((dir, i) => writeFileSync(`${dir}/only-${i}`, ""));
      const got = await deadline(Promise.all(pending), 5000, "one event per instance");
      assert.deepEqual(
        got.map((r) => r.done ? "done" : r.value.name),
        dirs.map((_, i) => i === 3 ? "done" : `only-${i}`),
      );
      assert.ok(threads() - before < 3, `${threads() - before} more threads for 7 more instances`);
    } finally {
      for (const q of queues) q.close();
      dirs.forEach(removeDir);
    }
  });

  it("an instance whose ring is full does not hold up the others", async () => {
    const [fullDir, liveDir] = [tempDir(), tempDir()];
    try {
      using full = new Inotify({ ringSize: 1024, bufferSize: 272 });
      using live = new Inotify();
      full.addWatch(fullDir, IN.CREATE);
      live.addWatch(liveDir, IN.CREATE);
      // 32,000 bytes: more than either reader holds for a ring of 1 KiB (io_uring rounds it up to pages)
      for (let i = 0; i < 1000; i++) writeFileSync(`${fullDir}/f${i}`, "");
      const stuck = full.batches();
      let created = 0;
      for (const ev of (await stuck.next()).value!) created += ev.mask & IN.CREATE ? 1 : 0;
      // Reading has started and nothing more is taken from this ring: the reader fills it, then waits.
      const events = live[Symbol.asyncIterator]();
      for (let i = 0; i < 20; i++) {
        const next = events.next(); // waits: only the reader thread can deliver it
        writeFileSync(`${liveDir}/n${i}`, "");
        assert.equal((await deadline(next, 5000, `event ${i} of the live instance`)).value?.name, `n${i}`);
      }
      assert.ok(full.pendingBytes() > 0, "the full ring's events wait in the kernel queue");
      for (let r; created < 1000 && !(r = await deadline(stuck.next(), 5000, "the full ring's rest")).done;) {
        for (const ev of r.value) created += ev.mask & IN.CREATE ? 1 : 0;
      }
      assert.equal(created, 1000, "the full ring's events all come once it is read again");
    } finally {
      removeDir(fullDir);
      removeDir(liveDir);
    }
  });

  it("keeps the kernel's order while the consumer and the reader thread both read", async () => {
    // A consumer that finds the ring empty reads the fd itself; the reader thread reads it too.
    const dir = tempDir();
    try {
      using ino = new Inotify({ bufferSize: 512 }); // many small reads: many chances to race
      ino.addWatch(dir, IN.CREATE);
      const batches = ino.batches();
      const child = spawn("sh", ["-c", "seq -w 1 20000 | sed 's/^/f/' | xargs touch"], { cwd: dir });
      const exited = new Promise((resolve) => child.on("exit", resolve));
      const seen: string[] = [];
      while (seen.length < 20_000) {
        const { value: batch } = await deadline(batches.next(), 10_000, `events after ${seen.length}`);
        for (const ev of batch!) seen.push(ev.mask & IN.Q_OVERFLOW ? "Q_OVERFLOW" : ev.name);
      }
      assert.equal(await deadline(exited, 60_000, "the child to finish"), 0);
      const expected = Array.from({ length: 20_000 }, (_, i) => `f${String(i + 1).padStart(5, "0")}`);
      const firstWrong = seen.findIndex((name, i) => name !== expected[i]);
      assert.equal(firstWrong, -1, `event #${firstWrong}: ${seen[firstWrong]}, expected ${expected[firstWrong]}`);
    } finally {
      removeDir(dir);
    }
  });

  it("loses nothing from a 100,000-event burst while the main thread is busy for 2 s", async () => {
    const dir = tempDir();
    try {
      using ino = new Inotify();
      ino.addWatch(dir, IN.CREATE);
      const batches = await readerRuns(ino, dir);
      const first = batches.next();
      await new Promise((r) => setImmediate(r)); // it waits on the reader, which reads on its own from now on
      const child = spawn("sh", ["-c", "seq -w 1 100000 | sed 's/^/f/' | xargs touch"], { cwd: dir });
      const exited = new Promise((resolve) => child.on("exit", resolve));
      const start = Date.now();
      while (Date.now() - start < 2000); // the main thread is stuck; the kernel queue holds 16384
      let created = 0, overflows = 0;
      const count = (batch: Iterable<{ mask: number }>) => {
        for (const ev of batch) ev.mask & IN.Q_OVERFLOW ? overflows++ : created++;
      };
      count((await first).value!);
      assert.equal(await deadline(exited, 60_000, "the burst to finish"), 0);
      while (created + overflows < 100_000 && overflows === 0) {
        count((await deadline(batches.next(), 10_000, `events after ${created}`)).value!);
      }
      assert.deepEqual({ created, overflows }, { created: 100_000, overflows: 0 });
    } finally {
      removeDir(dir);
    }
  });
});
