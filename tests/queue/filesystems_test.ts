import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { describeFilesystem, FS_MAGIC, hasFineTimestamps } from "../../queue/filesystems.ts";
import { parseMountInfo, unescapeMountField } from "../../queue/mountinfo.ts";

// /proc/self/mountinfo of the machine these tests were written on (a VM: ext4 root, a FUSE mount).
const THIS_MACHINE = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12335016k,nr_inodes=3083754,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683792k
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
45 27 0:40 / /tmp/fmnt rw,nosuid,nodev,relatime - fuse /tmp/fsrc rw,user_id=0,group_id=0,default_permissions,allow_other
`;

// WSL 2: Windows drives over 9p (drvfs; newer builds use virtiofs), a name with a space, a backslash.
const WSL = `63 1 8:32 / / rw,relatime - ext4 /dev/sdc rw,discard,errors=remount-ro,data=ordered
96 63 0:62 / /mnt/c rw,noatime - 9p C:\\134 rw,dirsync,aname=drvfs;path=C:\\;uid=1000;gid=1000;symlinkroot=/mnt/,mmap,access=client,msize=65536,trans=fd,rfd=5,wfd=5
97 63 0:63 / /mnt/d rw,noatime - virtiofs drvfsa rw
98 96 0:64 / /mnt/c/Program\\040Files/My\\011App rw,relatime shared:5 master:2 - tmpfs none rw
`;

// Docker Desktop: a bind mount over virtiofs shown as "fakeowner", the older gRPC FUSE and osxfs.
const DOCKER_DESKTOP =
  `712 711 0:181 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X:/var/lib/docker/overlay2/l/Y,upperdir=/var/lib/docker/overlay2/Z/diff,workdir=/var/lib/docker/overlay2/Z/work
730 712 0:95 /Users/me/project /app rw,relatime - fakeowner /run/host_mark/Users rw
731 712 0:96 /Users/me/cache /cache rw,nosuid,nodev,relatime - fuse.grpcfuse grpcfuse rw,user_id=0,group_id=0,allow_other,max_read=1048576
732 712 0:97 /Users/me/old /old rw,relatime - fuse.osxfs osxfs rw,user_id=0,group_id=0,allow_other
`;

describe("parseMountInfo()", () => {
  it("reads every field of this machine's lines", () => {
    const mounts = parseMountInfo(THIS_MACHINE);
    assert.equal(mounts.length, 8);
    assert.deepEqual(mounts[3], {
      mountId: 25,
      parentId: 24,
      dev: 23,
      root: "/",
      mountPoint: "/dev/shm",
      options: "rw,relatime",
      optionalFields: [],
      fsType: "tmpfs",
      source: "tmpfs",
      superOptions: "rw,size=24683792k",
    });
    assert.equal(mounts[4].dev, 254 * 2 ** 20);
    assert.deepEqual(mounts.map((m) => `${m.mountPoint} ${m.fsType}`), [
      "/proc proc",
      "/sys sysfs",
      "/dev devtmpfs",
      "/dev/shm tmpfs",
      "/ ext4",
      "/sys/fs/cgroup tmpfs",
      "/sys/fs/cgroup/unified cgroup2",
      "/tmp/fmnt fuse",
    ]);
  });

  it("undoes the escapes of WSL's and Docker Desktop's lines, and keeps optional fields", () => {
    const wsl = parseMountInfo(WSL);
    assert.equal(wsl[1].source, "C:\\");
    assert.equal(wsl[1].fsType, "9p");
    assert.equal(wsl[3].mountPoint, "/mnt/c/Program Files/My\tApp");
    assert.deepEqual(wsl[3].optionalFields, ["shared:5", "master:2"]);
    const docker = parseMountInfo(DOCKER_DESKTOP);
    assert.deepEqual(docker.map((m) => [m.root, m.mountPoint, m.fsType]), [
      ["/", "/", "overlay"],
      ["/Users/me/project", "/app", "fakeowner"],
      ["/Users/me/cache", "/cache", "fuse.grpcfuse"],
      ["/Users/me/old", "/old", "fuse.osxfs"],
    ]);
    assert.equal(unescapeMountField("a\\134b\\012c\\040d"), "a\\b\nc d");
  });

  it("refuses a line without the fields of proc(5), naming it", () => {
    assert.throws(() => parseMountInfo("22 27 0:21 / /proc rw,relatime proc proc rw\n"), /line 1: /);
    assert.throws(() => parseMountInfo("ok\n"), RangeError);
  });
});

describe("describeFilesystem()", () => {
  const cases: [number, string | undefined, string, string][] = [
    [0x01021994, "tmpfs", "tmpfs", "full"],
    [0xef53, "ext4", "ext4", "full"],
    [0xef53, undefined, "ext4", "full"],
    [0x794c7630, "overlay", "overlay", "full"],
    [0x01021997, "9p", "9p", "local-only"], // WSL's /mnt/c
    [0x65735546, "virtiofs", "virtiofs", "local-only"],
    [0x65735546, "fuse", "fuse", "local-only"],
    [0x65735546, "fuseblk", "fuseblk", "local-only"],
    [0x65735546, "fuse.sshfs", "fuse.sshfs", "local-only"],
    [0x65735546, "fuse.grpcfuse", "fuse.grpcfuse", "local-only"],
    [0x12345678, "fakeowner", "fakeowner", "local-only"], // Docker Desktop's bind mounts
    [0x6969, "nfs4", "nfs4", "local-only"],
    [0xfe534d42, "cifs", "cifs", "local-only"],
    [0xfe534d42, "smb3", "smb3", "local-only"],
    [0x786f4256, "vboxsf", "vboxsf", "local-only"],
    [0x9fa0, "proc", "proc", "none"],
    [0x62656572, "sysfs", "sysfs", "none"],
    [0x63677270, "cgroup2", "cgroup2", "none"],
    [0x64626720, "debugfs", "debugfs", "none"],
    [0x12345678, undefined, "0x12345678", "full"],
    [0x12345678, "newfs", "newfs", "full"],
  ];
  for (const [magic, name, type, events] of cases) {
    it(`0x${magic.toString(16)} ${name ?? "(no name)"} -> ${type}, ${events}`, () => {
      assert.deepEqual(describeFilesystem(magic, name), { type, events });
    });
  }

  it("knows every magic once, with a name", () => {
    for (const [magic, kind] of FS_MAGIC) assert.ok(kind.type.length > 0 && magic > 0);
  });
});

describe("hasFineTimestamps()", () => {
  it("is true for tmpfs, ext4, xfs and btrfs from Linux 6.13 on (multigrain timestamps)", () => {
    assert.equal(hasFineTimestamps("tmpfs", "6.13.0"), true);
    assert.equal(hasFineTimestamps("ext4", "6.18.44-fc-v1252"), true);
    assert.equal(hasFineTimestamps("btrfs", "7.0.1"), true);
    assert.equal(hasFineTimestamps("tmpfs", "6.12.9-arch1"), false);
    assert.equal(hasFineTimestamps("ext4", "5.15.0-105-generic"), false);
    assert.equal(hasFineTimestamps("9p", "6.18.0"), false);
    assert.equal(hasFineTimestamps("nfs4", "6.18.0"), false);
    assert.equal(hasFineTimestamps("tmpfs", "garbage"), false);
  });
});
