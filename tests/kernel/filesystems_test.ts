import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import process from "node:process";
import { loadSys } from "../../ffi/load.ts";
import { SyscallError } from "../../queue/errors.ts";
import { describeFilesystem, filesystemsOf, readMounts, statfsType } from "../../queue/filesystems.ts";
import { removeDir, tempDir } from "../helpers.ts";

const sys = await loadSys();

describe("statfsType() and filesystemsOf() on this kernel", () => {
  it("/dev/shm is tmpfs (full), /proc is proc (none), / is on a disk", () => {
    assert.deepEqual(describeFilesystem(statfsType(sys, "/dev/shm")), { type: "tmpfs", events: "full" });
    assert.deepEqual(describeFilesystem(statfsType(sys, "/proc")), { type: "proc", events: "none" });
    assert.deepEqual(describeFilesystem(statfsType(sys, "/proc/self")), { type: "proc", events: "none" });
    assert.equal(describeFilesystem(statfsType(sys, "/")).events, "full");
    assert.throws(
      () => statfsType(sys, "/no/such/path"),
      (err) =>
        err instanceof SyscallError && err.code === "ENOENT" && err.syscall === "statfs" &&
        err.path === "/no/such/path",
    );
  });

  it("lists the root's file system, then every mount inside the tree", () => {
    const mounts = readMounts(sys);
    assert.ok(mounts.some((m) => m.mountPoint === "/proc" && m.fsType === "proc"));
    const all = filesystemsOf(sys, "/", mounts);
    assert.equal(all[0].path, "/");
    assert.deepEqual(all.find((f) => f.path === "/proc"), { path: "/proc", type: "proc", events: "none" });
    assert.deepEqual(all.find((f) => f.path === "/sys"), { path: "/sys", type: "sysfs", events: "none" });
    assert.deepEqual(all.find((f) => f.path === "/dev/shm"), { path: "/dev/shm", type: "tmpfs", events: "full" });
    const dir = tempDir();
    try {
      mkdirSync(`${dir}/sub`);
      assert.deepEqual(filesystemsOf(sys, `${dir}/sub`, mounts), [
        { path: `${dir}/sub`, type: "tmpfs", events: "full" },
      ]);
    } finally {
      removeDir(dir);
    }
  });

  const bindfs = process.getuid?.() === 0 && spawnSync("bindfs", ["--version"]).status === 0;
  it("a FUSE mount inside a tree is local-only (bindfs)", {
    skip: bindfs ? false : "needs root and bindfs (apt-get install bindfs) for a FUSE mount",
  }, () => {
    const dir = tempDir();
    mkdirSync(`${dir}/source`);
    mkdirSync(`${dir}/tree/mnt`, { recursive: true });
    writeFileSync(`${dir}/source/f`, "f");
    assert.equal(spawnSync("bindfs", [`${dir}/source`, `${dir}/tree/mnt`]).status, 0);
    try {
      assert.deepEqual(filesystemsOf(sys, `${dir}/tree`, readMounts(sys)), [
        { path: `${dir}/tree`, type: "tmpfs", events: "full" },
        { path: `${dir}/tree/mnt`, type: "fuse", events: "local-only" },
      ]);
      assert.deepEqual(filesystemsOf(sys, `${dir}/tree/mnt`, readMounts(sys)), [
        { path: `${dir}/tree/mnt`, type: "fuse", events: "local-only" },
      ]);
    } finally {
      spawnSync("fusermount", ["-u", `${dir}/tree/mnt`]);
      removeDir(dir);
    }
  });
});
