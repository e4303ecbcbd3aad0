import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as nodeFs from "node:fs";
import {
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { release } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { changesSince, SnapshotError, SyscallError, type WatchEvent, writeSnapshot } from "../../mod.ts";
import { loadSys } from "../../ffi/load.ts";
import type { Sys } from "../../ffi/types.ts";
import { writeFileAtomic } from "../../queue/atomic_file.ts";
import { hasFineTimestamps } from "../../queue/filesystems.ts";
import { churn, differences, fill, replay, Rng } from "../fixtures/churn.ts";
import { apply, show } from "../fixtures/watch.ts";
import { assertFdCount, fdCount, removeDir, tempDir } from "../helpers.ts";

const sys = await loadSys();
spawnSync("true"); // Bun keeps fds of its own from the first child process on: open them before counting

/** A temp dir with a tree root `t` in it; the snapshot goes beside the tree, at `snap`. */
async function withTree(body: (root: string, snap: string, dir: string) => void | Promise<void>): Promise<void> {
  const dir = tempDir();
  const before = fdCount();
  try {
    mkdirSync(`${dir}/t`);
    await body(`${dir}/t`, `${dir}/snap`, dir);
  } finally {
    removeDir(dir);
  }
  await assertFdCount(before);
}

/** Relative path -> a file's content, or "dir" (what a consumer that reads files knows). */
function contents(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const stack = [""];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    for (const e of readdirSync(rel ? `${root}/${rel}` : root, { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.set(path, "dir");
        stack.push(path);
      } else out.set(path, readFileSync(`${root}/${path}`, "latin1"));
    }
  }
  return out;
}

/** Checks that applying `events` to `before` gives `after`, as apply() and as a reading consumer. */
function assertApplies(root: string, before: Map<string, string>, events: WatchEvent[], after: Map<string, string>) {
  const context = `events:\n${events.map(show).join("\n")}`;
  const shape = new Map([...before].map(([k, v]) => [k, v === "dir"]));
  for (const ev of events) apply(shape, root, ev);
  assert.deepEqual([...shape].sort(), [...after].map(([k, v]) => [k, v === "dir"]).sort(), context);
  const wrong = differences(replay(before, root, events, after), after);
  assert.deepEqual(wrong, [], `a consumer applying the events is wrong about:\n${wrong.join("\n")}\n${context}`);
}

const rel = (root: string, events: WatchEvent[]) =>
  events.map((e) => `${e.kind} ${e.oldPath ? `${e.oldPath.slice(root.length)} -> ` : ""}${e.path.slice(root.length)}`);

const LONG_AGO = new Date("2020-01-01T00:00:00Z");

describe("writeSnapshot() and changesSince()", () => {
  it("turn the recorded tree into today's on random churn, modified files reported (seeded)", async () => {
    for (let seed = 1; seed <= 30; seed++) {
      await withTree(async (root, snap) => {
        const rng = new Rng(seed);
        fill(nodeFs, rng, root, 3, 2, 2);
        // Half the files look old (no racy window): their changes must be found by size and mtime.
        const old = new Set<string>();
        for (const [path, v] of contents(root)) {
          if (v !== "dir" && rng.int(2)) utimesSync(`${root}/${path}`, LONG_AGO, LONG_AGO), old.add(path);
        }
        const inodes = new Map([...old].map((p) => [p, lstatSync(`${root}/${p}`).ino]));
        const before = contents(root);
        await writeSnapshot(root, snap);
        const log = churn(nodeFs, rng, root, 5 + seed * 3);
        const events = await changesSince(snap);
        const after = contents(root);
        try {
          assertApplies(root, before, events, after);
          // An old file that nothing touched is never reported.
          for (const ev of events.filter((e) => e.kind === "modify")) {
            const path = ev.path.slice(root.length + 1);
            const ino = lstatSync(ev.path).ino;
            const untouched = [...inodes].find(([p, i]) =>
              i === ino && before.get(p) === after.get(path) && lstatSync(ev.path).mtimeMs === LONG_AGO.getTime()
            );
            assert.equal(untouched, undefined, `modify of an untouched old file: ${path}`);
          }
        } catch (err) {
          (err as Error).message = `seed ${seed}; churn:\n${log.join("\n")}\n${(err as Error).message}`;
          throw err;
        }
      });
    }
  });

  it("find renames by inode: a file, a whole directory (one event), a hard link", () =>
    withTree(async (root, snap) => {
      mkdirSync(`${root}/src/deep`, { recursive: true });
      writeFileSync(`${root}/src/deep/a.ts`, "a");
      writeFileSync(`${root}/notes.txt`, "n");
      writeFileSync(`${root}/one`, "1");
      linkSync(`${root}/one`, `${root}/two`);
      for (const p of ["src/deep/a.ts", "notes.txt", "one"]) utimesSync(`${root}/${p}`, LONG_AGO, LONG_AGO);
      await writeSnapshot(root, snap);
      renameSync(`${root}/src`, `${root}/lib`);
      renameSync(`${root}/notes.txt`, `${root}/lib/deep/notes.md`);
      renameSync(`${root}/two`, `${root}/three`);
      const events = rel(root, await changesSince(snap));
      assert.deepEqual([...events].sort(), [
        "rename /notes.txt -> /lib/deep/notes.md",
        "rename /src -> /lib",
        "rename /two -> /three",
      ]);
      assert.ok(events.indexOf("rename /src -> /lib") < events.indexOf("rename /notes.txt -> /lib/deep/notes.md"));
    }));

  const fine = hasFineTimestamps("tmpfs", release());
  it(`report a file written just before the snapshot ${fine ? "only when it changed (tmpfs has fine timestamps here)" : "as modified (this kernel's tmpfs stamps changes by a coarse clock)"}`, () =>
    withTree(async (root, snap) => {
      writeFileSync(`${root}/f`, "aaaa");
      writeFileSync(`${root}/g`, "gggg");
      await writeSnapshot(root, snap);
      writeFileSync(`${root}/g`, "GGGG"); // same size, at once: the same tick of a coarse clock
      assert.deepEqual(rel(root, await changesSince(snap)), fine ? ["modify /g"] : ["modify /f", "modify /g"]);
    }));

  it("compare names that are not UTF-8 by their bytes, and walk into such directories", () =>
    withTree(async (root, snap) => {
      const sh = (script: string) => assert.equal(spawnSync("sh", ["-c", script], { cwd: root }).status, 0);
      sh(`mkdir "$(printf 'dir\\377')" && touch "$(printf 'dir\\377/in')" "$(printf 'a\\377')" "$(printf 'a\\376')"`);
      sh(`touch -d 2020-01-01 "$(printf 'dir\\377/in')" "$(printf 'a\\377')" "$(printf 'a\\376')"`);
      await writeSnapshot(root, snap);
      assert.deepEqual(await changesSince(snap), []); // a\377 and a\376 print alike, and stay two names
      sh(`mv "$(printf 'a\\377')" "$(printf 'b\\377')" && echo more > "$(printf 'dir\\377/in')"`);
      assert.deepEqual(rel(root, await changesSince(snap)), ["rename /a\ufffd -> /b\ufffd", "modify /dir\ufffd/in"]);
    }));

  it("leave out the snapshot file itself when it is inside the tree, and what exclude leaves out", () =>
    withTree(async (root) => {
      mkdirSync(`${root}/node_modules/x`, { recursive: true });
      const exclude = (p: string) => p.endsWith("/node_modules");
      await writeSnapshot(root, `${root}/.snapshot`, { exclude });
      writeFileSync(`${root}/node_modules/x/new.js`, "");
      await writeSnapshot(root, `${root}/.snapshot`, { exclude }); // replaces itself: still nothing to report
      assert.deepEqual(await changesSince(`${root}/.snapshot`, { exclude }), []);
      writeFileSync(`${root}/main.ts`, "");
      assert.deepEqual(rel(root, await changesSince(`${root}/.snapshot`, { exclude })), ["create /main.ts"]);
      // Without exclude, what the snapshot left out is new.
      assert.deepEqual(rel(root, await changesSince(`${root}/.snapshot`)).sort(), [
        "create /main.ts",
        "create /node_modules",
        "create /node_modules/x",
        "create /node_modules/x/new.js",
      ]);
    }));

  it("follow symbolic links when asked, each directory once, and report a root gone", () =>
    withTree(async (root, snap, dir) => {
      mkdirSync(`${dir}/elsewhere`);
      writeFileSync(`${dir}/elsewhere/f`, "f");
      utimesSync(`${dir}/elsewhere/f`, LONG_AGO, LONG_AGO);
      symlinkSync(`${dir}/elsewhere`, `${root}/link`);
      symlinkSync(".", `${root}/loop`);
      await writeSnapshot(root, snap, { followSymlinks: true });
      writeFileSync(`${dir}/elsewhere/g`, "g");
      assert.deepEqual(rel(root, await changesSince(snap)), ["create /link/g"]);
      rmSync(root, { recursive: true });
      assert.deepEqual(await changesSince(snap), [{ kind: "delete", path: root, isDirectory: true }]);
    }));

  it("refuse missing, foreign, truncated, corrupt and newer snapshot files with the path", () =>
    withTree(async (root, snap) => {
      writeFileSync(`${root}/f`, "f");
      await assert.rejects(
        changesSince(snap),
        (err) => err instanceof SyscallError && err.code === "ENOENT" && err.path === snap && err.syscall === "open",
      );
      await assert.rejects(
        writeSnapshot(`${root}/nope`, snap),
        (err) => err instanceof SyscallError && err.code === "ENOENT" && err.path === `${root}/nope`,
      );
      await writeSnapshot(root, snap);
      const good = readFileSync(snap);
      const refused = async (bytes: Uint8Array, problem: string, words: RegExp) => {
        writeFileSync(snap, bytes);
        await assert.rejects(changesSince(snap), (err) => {
          assert.ok(err instanceof SnapshotError, String(err));
          assert.equal(err.problem, problem);
          assert.equal(err.path, snap);
          assert.match(err.message, words);
          return true;
        });
      };
      const flipped = good.slice();
      flipped[good.length >> 1] ^= 0x10;
      await refused(flipped, "corrupt", /checksum/);
      await refused(good.subarray(0, good.length - 3), "truncated", /truncated: \d+ of \d+ bytes/);
      await refused(new TextEncoder().encode("hello\n"), "foreign", /not a notiq snapshot/);
      const newer = good.slice();
      newer[8] = 9;
      await refused(newer, "version", /format version 9/);
      writeFileSync(snap, good);
      truncateSync(snap, 0);
      await assert.rejects(changesSince(snap), { name: "SnapshotError", problem: "truncated" });
    }));

  it("leave the old snapshot whole when a write fails part way (injected), with no temporary file left", () =>
    withTree(async (root, snap, dir) => {
      await writeSnapshot(root, snap);
      const good = readFileSync(snap);
      // A Sys whose write(2) writes 10 bytes, then fails with ENOSPC.
      let failedWrite = false;
      const failing: Sys = {
        ...sys,
        write: (fd, from) => {
          failedWrite = sys.write(fd, from.subarray(0, 10)) > 0;
          return -1;
        },
        errno: () => failedWrite ? (failedWrite = false, 28) : sys.errno(),
      };
      assert.throws(
        () => writeFileAtomic(failing, snap, new Uint8Array(1000)),
        (err) => err instanceof SyscallError && err.code === "ENOSPC" && err.syscall === "write",
      );
      assert.deepEqual(readFileSync(snap), good);
      assert.deepEqual(readdirSync(dir).sort(), ["snap", "t"]);
    }));

  const mounts = process.getuid?.() === 0 && spawnSync("mount", ["--version"]).status === 0;
  it("leave the old snapshot whole on a read-only or full file system", {
    skip: mounts ? false : "needs root and mount(8) for a small tmpfs",
  }, () =>
    withTree(async (root, _snap, dir) => {
      const mnt = `${dir}/mnt`;
      mkdirSync(mnt);
      assert.equal(spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]).status, 0);
      try {
        const snap = `${mnt}/snap`;
        await writeSnapshot(root, snap);
        const good = readFileSync(snap);
        for (let i = 0; i < 8000; i++) writeFileSync(`${root}/file-with-a-long-name-${i}`, "");
        await assert.rejects(writeSnapshot(root, snap), { name: "SyscallError", code: "ENOSPC" });
        assert.deepEqual(readFileSync(snap), good);
        assert.deepEqual(readdirSync(mnt), ["snap"]);
        assert.equal(spawnSync("mount", ["-o", "remount,ro", mnt]).status, 0);
        await assert.rejects(writeSnapshot(root, snap), { name: "SyscallError", code: "EROFS" });
        assert.deepEqual(readFileSync(snap), good);
      } finally {
        spawnSync("umount", [mnt]);
      }
    }));

  it("leave a whole snapshot (old or new) when the writing process is killed at any moment", () =>
    withTree(async (root, snap) => {
      fill(nodeFs, new Rng(5), root, 20, 3, 2);
      for (const [path, v] of contents(root)) if (v !== "dir") utimesSync(`${root}/${path}`, LONG_AGO, LONG_AGO);
      const script = fileURLToPath(new URL("../fixtures/snapshot_writer.ts", import.meta.url));
      const command = "Deno" in globalThis ? [process.execPath, "run", "-A", script] : [process.execPath, script];
      const rng = new Rng(9);
      for (let round = 0; round < 4; round++) {
        const child = spawn(command[0], [...command.slice(1), root, snap], { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout.setEncoding("utf8").on("data", (d) => out += d);
        const exited = new Promise((r) => child.on("exit", r));
        const target = 2 + rng.int(3);
        for (const end = Date.now() + 20000; (out.match(/wrote/g) ?? []).length < target;) {
          if (Date.now() > end) throw new Error(`the writer did not write ${target} snapshots: ${out}`);
          await new Promise((r) => setTimeout(r, 5));
        }
        await new Promise((r) => setTimeout(r, rng.int(4))); // a random point of the next write (time passing on purpose)
        child.kill("SIGKILL");
        await exited;
        assert.deepEqual(await changesSince(snap), [], `round ${round}: the snapshot is not whole`);
      }
    }));
});
