import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { loadSys } from "../../ffi/load.ts";
import { FILE_TYPE, FsCalls } from "../../queue/fs_calls.ts";
import { SyscallError } from "../../queue/errors.ts";
import { assertFdCount, fdCount, removeDir, tempDir } from "../helpers.ts";

const sys = await loadSys();
const fs = new FsCalls(sys);
spawnSync("true"); // Bun keeps fds of its own from the first child process on: open them before counting

async function withDir(body: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = tempDir();
  const before = fdCount();
  try {
    await body(dir);
  } finally {
    removeDir(dir);
  }
  await assertFdCount(before);
}

const sorted = (entries: { name: string; type: number }[]) =>
  entries.map(({ name, type }) => [name, type]).sort(([a], [b]) => (a < b ? -1 : 1));

describe("FsCalls.list()", () => {
  it("lists every entry but . and .. with its type", () =>
    withDir((dir) => {
      mkdirSync(`${dir}/sub`);
      writeFileSync(`${dir}/file`, "x");
      symlinkSync("sub", `${dir}/link`);
      symlinkSync("nowhere", `${dir}/dangling`);
      assert.equal(spawnSync("mkfifo", [`${dir}/fifo`]).status, 0);
      assert.deepEqual(sorted(fs.list(dir)), [
        ["dangling", FILE_TYPE.SYMLINK],
        ["fifo", FILE_TYPE.FIFO],
        ["file", FILE_TYPE.FILE],
        ["link", FILE_TYPE.SYMLINK],
        ["sub", FILE_TYPE.DIRECTORY],
      ]);
      assert.deepEqual(fs.list(`${dir}/sub`), []);
    }));

  it("lists a directory larger than one getdents64 buffer whole, with node:fs's names", () =>
    withDir((dir) => {
      // 3,000 entries of 48 bytes: 144 KiB of records, five 32 KiB reads.
      for (let i = 0; i < 3000; i++) writeFileSync(`${dir}/entry-${String(i).padStart(20, "0")}`, "");
      writeFileSync(`${dir}/é-ünïcode-名前`, "");
      const names = fs.list(dir).map((e) => e.name).sort();
      assert.equal(names.length, 3001);
      assert.deepEqual(names, readdirSync(dir).sort());
    }));

  it("gives names that are not UTF-8 the decoding of inotify names", () =>
    withDir((dir) => {
      assert.equal(spawnSync("sh", ["-c", `touch "$(printf 'bad\\377\\376name')"`], { cwd: dir }).status, 0);
      assert.deepEqual(fs.list(dir), [{ name: "bad\ufffd\ufffdname", type: FILE_TYPE.FILE }]);
    }));

  it("asks lstat for the type where the file system leaves d_type UNKNOWN", () =>
    withDir((dir) => {
      mkdirSync(`${dir}/sub`);
      symlinkSync("sub", `${dir}/link`);
      // The kernel's listing, with every d_type cleared as such file systems leave it.
      const unknownTypes = new FsCalls({
        ...sys,
        getdents64(fd, into) {
          const n = sys.getdents64(fd, into);
          for (let at = 0; at < n; at += into[at + 16] | (into[at + 17] << 8)) into[at + 18] = FILE_TYPE.UNKNOWN;
          return n;
        },
      });
      assert.deepEqual(sorted(unknownTypes.list(dir)), [["link", FILE_TYPE.SYMLINK], ["sub", FILE_TYPE.DIRECTORY]]);
    }));

  it("throws SyscallError from open with the path: ENOENT, ENOTDIR, ENAMETOOLONG", () =>
    withDir((dir) => {
      writeFileSync(`${dir}/file`, "");
      const fails = (path: string, code: string) =>
        assert.throws(() => fs.list(path), (err) => {
          assert.ok(err instanceof SyscallError);
          assert.deepEqual([err.code, err.syscall, err.path], [code, "open", path]);
          return true;
        });
      fails(`${dir}/missing`, "ENOENT");
      fails(`${dir}/file`, "ENOTDIR");
      fails(`${dir}/${"d/".repeat(2100)}`, "ENAMETOOLONG"); // beyond PATH_MAX: not cut short
    }));
});

describe("FsCalls.lstat() and stat()", () => {
  it("agree with node:fs lstatSync on type, ino, size and mtimeMs", () =>
    withDir((dir) => {
      writeFileSync(`${dir}/file`, "twelve bytes");
      mkdirSync(`${dir}/sub`);
      for (const path of [`${dir}/file`, `${dir}/sub`]) {
        const ours = fs.lstat(path)!, theirs = lstatSync(path);
        assert.equal(ours.type, theirs.isDirectory() ? FILE_TYPE.DIRECTORY : FILE_TYPE.FILE);
        assert.deepEqual([ours.ino, ours.size], [theirs.ino, theirs.size]);
        // Deno's node:fs keeps whole milliseconds, Bun's the nanoseconds as a fraction
        assert.equal(Math.trunc(ours.mtimeMs), Math.trunc(theirs.mtimeMs));
      }
    }));

  it("lstat() sees a link, stat() what it leads to; both undefined for what is not there", () =>
    withDir((dir) => {
      mkdirSync(`${dir}/sub`);
      writeFileSync(`${dir}/file`, "");
      symlinkSync("sub", `${dir}/link`);
      symlinkSync("nowhere", `${dir}/dangling`);
      symlinkSync("loop", `${dir}/loop`);
      assert.equal(fs.lstat(`${dir}/link`)?.type, FILE_TYPE.SYMLINK);
      assert.equal(fs.stat(`${dir}/link`)?.type, FILE_TYPE.DIRECTORY);
      assert.equal(fs.lstat(`${dir}/dangling`)?.type, FILE_TYPE.SYMLINK);
      assert.equal(fs.stat(`${dir}/dangling`), undefined);
      assert.equal(fs.stat(`${dir}/loop`), undefined, "ELOOP: leads nowhere");
      assert.equal(fs.lstat(`${dir}/missing`), undefined);
      assert.equal(fs.lstat(`${dir}/file/below`), undefined, "ENOTDIR");
    }));

  it("throws SyscallError from statx for other errors, with the path", () => {
    const path = `/${"d/".repeat(2100)}`;
    assert.throws(() => fs.lstat(path), (err) => {
      assert.ok(err instanceof SyscallError);
      assert.deepEqual([err.code, err.syscall, err.path], ["ENAMETOOLONG", "statx", path]);
      return true;
    });
  });
});
