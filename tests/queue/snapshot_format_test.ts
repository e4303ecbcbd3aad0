import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "../../queue/crc32.ts";
import { FILE_TYPE } from "../../queue/fs_calls.ts";
import {
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_MAGIC,
  SNAPSHOT_VERSION,
  SnapshotEncoder,
  type SnapshotEntry,
  SnapshotError,
  type SnapshotProblem,
} from "../../queue/snapshot_format.ts";

const HEADER = {
  roots: ["/srv/a", "/srv/b/ü"],
  followSymlinks: true,
  startMs: 1_700_000_000_123.5,
  endMs: 1_700_000_001_000,
};
const BAD_NAME = new Uint8Array([0x62, 0xff, 0xfe, 0x2e, 0x74]); // not UTF-8

const ENTRIES: SnapshotEntry[] = [
  {
    parent: -1,
    name: "",
    type: FILE_TYPE.DIRECTORY,
    dev: 259 * 2 ** 20 + 1,
    ino: 2,
    size: 4096,
    mtimeSec: 1_700_000_000,
    mtimeNsec: 999_999_999,
  },
  {
    parent: -1,
    name: "",
    type: FILE_TYPE.FILE,
    dev: 259 * 2 ** 20 + 1,
    ino: 77,
    size: 0,
    mtimeSec: 1_600_000_000,
    mtimeNsec: 0,
  },
  {
    parent: 0,
    name: "src",
    type: FILE_TYPE.DIRECTORY,
    dev: 259 * 2 ** 20 + 1,
    ino: 3,
    size: 60,
    mtimeSec: 1_700_000_000,
    mtimeNsec: 5,
  },
  {
    parent: 0,
    name: BAD_NAME,
    type: FILE_TYPE.FILE,
    dev: 259 * 2 ** 20 + 1,
    ino: 2 ** 52 + 7,
    size: 2 ** 40,
    mtimeSec: -86400,
    mtimeNsec: 1,
  },
  {
    parent: 0,
    name: "mnt",
    type: FILE_TYPE.DIRECTORY,
    dev: 0 * 2 ** 20 + 45,
    ino: 1,
    size: 40,
    mtimeSec: 1_700_000_000,
    mtimeNsec: 0,
  },
  {
    parent: 2,
    name: "a".repeat(255),
    type: FILE_TYPE.SYMLINK,
    dev: 259 * 2 ** 20 + 1,
    ino: 4,
    size: 9,
    mtimeSec: 4_000_000_000,
    mtimeNsec: 123,
  },
  {
    parent: 4,
    name: "inside",
    type: FILE_TYPE.FILE,
    dev: 45,
    ino: 3,
    size: 1,
    mtimeSec: 4_000_000_000,
    mtimeNsec: 122,
  },
  { parent: 2, name: "fifo", type: FILE_TYPE.FIFO, dev: 259 * 2 ** 20 + 1, ino: 5, size: 0, mtimeSec: 0, mtimeNsec: 0 },
];

function decoded(bytes: Uint8Array) {
  const { header, entries: t } = decodeSnapshot(bytes, "/x.snapshot");
  const rows = Array.from({ length: t.count }, (_, i) => ({
    parent: t.parent[i],
    name: [...t.names.subarray(t.nameStart[i], t.nameEnd[i])],
    type: t.type[i],
    dev: t.dev[i],
    ino: t.inoHigh[i] * 2 ** 32 + t.inoLow[i],
    size: t.size[i],
    mtimeSec: t.mtimeSec[i],
    mtimeNsec: t.mtimeNsec[i],
  }));
  return { header, rows };
}

const expected = ENTRIES.map((e) => ({
  ...e,
  name: [...(typeof e.name === "string" ? new TextEncoder().encode(e.name) : e.name)],
}));

function refused(bytes: Uint8Array): SnapshotProblem {
  try {
    decodeSnapshot(bytes, "/x.snapshot");
  } catch (err) {
    assert.ok(err instanceof SnapshotError, `not a SnapshotError: ${err}`);
    assert.equal(err.path, "/x.snapshot");
    assert.ok(err.message.startsWith("Cannot read snapshot '/x.snapshot': "), err.message);
    return err.problem;
  }
  throw new Error("decoded");
}

/** `bytes` with its checksum made right again (what a newer writer, or a forger, would leave). */
function resealed(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out, 0, out.length - 4), true);
  return out;
}

describe("snapshot format", () => {
  const bytes = encodeSnapshot(HEADER, ENTRIES);

  it("decodes what it encodes: header, every field, names as their exact bytes", () => {
    const { header, rows } = decoded(bytes);
    assert.deepEqual(header, HEADER);
    assert.deepEqual(rows, expected);
  });

  it("starts with the magic and the version, and ends with the CRC-32 of the rest", () => {
    assert.deepEqual([...bytes.subarray(0, 8)], [...SNAPSHOT_MAGIC]);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    assert.equal(view.getUint16(8, true), SNAPSHOT_VERSION);
    assert.equal(view.getUint32(12, true), ENTRIES.length);
    assert.equal(view.getUint32(16, true), bytes.length);
    assert.equal(view.getUint32(bytes.length - 4, true), crc32(bytes, 0, bytes.length - 4));
  });

  it("takes under 10 bytes beside the name for an entry of a tree made at once", () => {
    const encoder = new SnapshotEncoder({ ...HEADER, roots: ["/r"] });
    const st = {
      type: FILE_TYPE.DIRECTORY,
      dev: 45,
      inoHigh: 0,
      inoLow: 1000,
      size: 4096,
      mtimeSec: 1_700_000_000,
      mtimeNsec: 0,
    };
    encoder.add(-1, new Uint8Array(0), 0, 0, st);
    const name = new TextEncoder().encode("file-0000.txt");
    for (let i = 0; i < 10_000; i++) {
      encoder.add(0, name, 0, name.length, {
        ...st,
        type: FILE_TYPE.FILE,
        inoLow: 1001 + i,
        size: 100 + (i % 3000),
        mtimeNsec: i * 20_000,
      });
    }
    const size = encoder.finish().length;
    const perEntry = size / 10_001 - name.length;
    assert.ok(perEntry < 10, `${perEntry} bytes per entry beside the name`);
  });

  it("refuses every single flipped bit, as foreign, version, truncated or corrupt — never a wrong answer", () => {
    const seen = new Set<SnapshotProblem>();
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = bytes.slice();
        copy[i] ^= 1 << bit;
        seen.add(refused(copy));
      }
    }
    assert.deepEqual([...seen].sort(), ["corrupt", "foreign", "truncated", "version"]);
  });

  it("refuses every cut of the file as truncated", () => {
    for (let n = 0; n < bytes.length; n++) assert.equal(refused(bytes.subarray(0, n)), "truncated", `cut at ${n}`);
    assert.equal(refused(new Uint8Array([...bytes, 0])), "corrupt");
  });

  it("refuses other files as foreign, naming the magic", () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    assert.equal(refused(png), "foreign");
    assert.equal(refused(new TextEncoder().encode('{"json": true}\n'.repeat(5))), "foreign");
    assert.equal(refused(new Uint8Array(0)), "truncated");
    assert.throws(
      () => decodeSnapshot(png, "/x"),
      /not a notiq snapshot \(it does not start with the magic number 89 4E 51 53/,
    );
  });

  it("refuses a newer version with words that say so, even with a right checksum", () => {
    const newer = bytes.slice();
    new DataView(newer.buffer).setUint16(8, SNAPSHOT_VERSION + 1, true);
    assert.equal(refused(resealed(newer)), "version");
    assert.throws(() => decodeSnapshot(resealed(newer), "/x"), /format version 2, newer than the 1 this notiq reads/);
  });

  it("refuses a file whose checksum holds but whose structure does not", () => {
    const copy = bytes.slice();
    // Reserved bit 7 of the first entry's flags, right after the roots.
    const rootsEnd = 40 + 1 + HEADER.roots.reduce((n, r) => n + 1 + new TextEncoder().encode(r).length, 0);
    copy[rootsEnd] |= 0x80;
    assert.throws(() => decodeSnapshot(resealed(copy), "/x"), /corrupt: entry 0 has flags 0x000000d4 at byte 59/);
    // Entries cut short, with the length and the checksum made to match.
    const short = new Uint8Array(bytes.length - 6);
    short.set(bytes.subarray(0, short.length - 4));
    new DataView(short.buffer).setUint32(16, short.length, true);
    assert.throws(
      () => decodeSnapshot(resealed(short), "/x"),
      /corrupt: (entry 7 of 8 missing|a number runs past the end)/,
    );
  });

  it("encoder refuses entries out of order and names longer than NAME_MAX", () => {
    const encoder = new SnapshotEncoder({ ...HEADER, roots: ["/r"] });
    const st = { type: FILE_TYPE.DIRECTORY, dev: 1, inoHigh: 0, inoLow: 1, size: 0, mtimeSec: 0, mtimeNsec: 0 };
    assert.throws(() => encoder.add(0, new Uint8Array(0), 0, 0, st), RangeError);
    encoder.add(-1, new Uint8Array(0), 0, 0, st);
    assert.throws(() => encoder.add(-1, new Uint8Array(1), 0, 1, st), RangeError);
    assert.throws(() => encoder.add(0, new Uint8Array(256), 0, 256, st), RangeError);
  });
});
