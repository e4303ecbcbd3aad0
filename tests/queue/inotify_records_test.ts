import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { IN } from "../../queue/inotify_mask.ts";
import { decodeName, InotifyCursor, MIN_READ_SIZE } from "../../queue/inotify_records.ts";
import { inotifyBytes } from "../fixtures/inotify.ts";

function walk(bytes: Uint8Array, start = 0, end = bytes.byteLength) {
  const c = new InotifyCursor(bytes);
  c.reset(end, start);
  const seen: [number, number, number, string][] = [];
  while (c.next()) seen.push([c.wd, c.mask, c.cookie, c.name]);
  return seen;
}

describe("inotifyBytes fixture", () => {
  it("matches the bytes the kernel wrote for `touch a.txt` (KERNEL-SAMPLES.md)", () => {
    const kernel = "01 00 00 00 00 01 00 00 00 00 00 00 10 00 00 00 61 2e 74 78 74 00 00 00 00 00 00 00 00 00 00 00";
    const ours = [...inotifyBytes({ wd: 1, mask: IN.CREATE, name: "a.txt" })].map((b) =>
      b.toString(16).padStart(2, "0")
    );
    assert.equal(ours.join(" "), kernel);
  });
});

describe("InotifyCursor", () => {
  it("next() steps over padded names", () => {
    const bytes = inotifyBytes({ wd: 1, mask: IN.CREATE, name: "a.txt" }, { wd: 2, mask: IN.IGNORED });
    assert.deepEqual(walk(bytes), [[1, IN.CREATE, 0, "a.txt"], [2, IN.IGNORED, 0, ""]]);
  });

  it("reads names of 15, 16 and 255 bytes (padding of 1, 16 and 1 NULs)", () => {
    const names = ["a".repeat(15), "b".repeat(16), "c".repeat(255)];
    const bytes = inotifyBytes(...names.map((name, i) => ({ wd: i, mask: IN.CREATE, name })));
    assert.deepEqual(walk(bytes).map((r) => r[3]), names);
    assert.equal(bytes.byteLength, 16 + 16 + 16 + 32 + 16 + 256);
  });

  it("reads wd -1 and the unsigned high bits (Q_OVERFLOW, ONESHOT-era ISDIR)", () => {
    const bytes = inotifyBytes({ wd: -1, mask: IN.Q_OVERFLOW }, {
      wd: 3,
      mask: (IN.CREATE | IN.ISDIR | IN.ONESHOT) >>> 0,
      cookie: 0xffffffff,
    });
    assert.deepEqual(walk(bytes), [[-1, IN.Q_OVERFLOW, 0, ""], [3, 0xc0000100, 0xffffffff, ""]]);
  });

  it("keeps move cookies", () => {
    const bytes = inotifyBytes({ wd: 1, mask: IN.MOVED_FROM, cookie: 77, name: "x" }, {
      wd: 1,
      mask: IN.MOVED_TO,
      cookie: 77,
      name: "y",
    });
    assert.deepEqual(walk(bytes).map((r) => r[2]), [77, 77]);
  });

  it("walks a range in the middle of a larger buffer", () => {
    const one = inotifyBytes({ wd: 9, mask: IN.DELETE, name: "skip-me" });
    const two = inotifyBytes({ wd: 5, mask: IN.MODIFY, name: "mid" });
    const all = new Uint8Array(one.length * 2 + two.length);
    all.set(one, 0);
    all.set(two, one.length);
    all.set(one, one.length + two.length);
    assert.deepEqual(walk(all, one.length, one.length + two.length), [[5, IN.MODIFY, 0, "mid"]]);
  });

  it("nameBytes keeps names that are not UTF-8; name replaces the bad bytes", () => {
    const raw = new Uint8Array([0x66, 0xff, 0xfe, 0x2e, 0x74]); // "f", two invalid bytes, ".t"
    const c = new InotifyCursor(inotifyBytes({ wd: 1, mask: IN.CREATE, name: raw }));
    c.reset(32);
    assert.ok(c.next());
    assert.deepEqual([...c.nameBytes], [...raw]);
    assert.equal(c.name, "f\ufffd\ufffd.t");
    assert.deepEqual([...c.toEvent().nameBytes], [...raw]);
  });

  it("decodes UTF-8 names and works over a SharedArrayBuffer", () => {
    const fixture = inotifyBytes({ wd: 1, mask: IN.CREATE, name: "naïve-😀.txt" });
    const shared = new Uint8Array(new SharedArrayBuffer(fixture.length));
    shared.set(fixture);
    assert.deepEqual(walk(shared), [[1, IN.CREATE, 0, "naïve-😀.txt"]]);
  });

  it("toEvent() returns an object that outlives the bytes", () => {
    const bytes = inotifyBytes({ wd: 4, mask: IN.ATTRIB, cookie: 2, name: "keep" });
    const c = new InotifyCursor(bytes);
    c.reset(bytes.length);
    c.next();
    const ev = c.toEvent();
    bytes.fill(0);
    assert.deepEqual({ ...ev, nameBytes: [...ev.nameBytes] }, {
      wd: 4,
      mask: IN.ATTRIB,
      cookie: 2,
      name: "keep",
      nameBytes: [...new TextEncoder().encode("keep")],
    });
  });

  it("an empty range yields nothing", () => {
    assert.deepEqual(walk(new Uint8Array(0)), []);
  });

  describe("hostile bytes fail with a RangeError naming the offset, never loop", () => {
    const good = inotifyBytes({ wd: 1, mask: IN.CREATE, name: "a" });
    const cases: [string, Uint8Array, RegExp][] = [
      ["a truncated header", good.subarray(0, 10), /at byte 0: only 10 bytes left/],
      ["a name running past the end", good.subarray(0, 20), /at byte 0: name runs past the end/],
      ["a len that is not a multiple of 16", patchLen(good, 5), /at byte 0: impossible name length 5/],
      [
        "a len over 256",
        patchLen(inotifyBytes({ wd: 1, mask: 1, name: "x".repeat(255) }), 272),
        /impossible name length 272/,
      ],
      ["a len of 2^32-1", patchLen(good, 0xffffffff), /impossible name length 4294967295/],
      ["a bad second record", concat(good, good.subarray(0, 12)), /at byte 32: only 12 bytes left/],
    ];
    for (const [what, bytes, message] of cases) {
      it(what, () => assert.throws(() => walk(bytes), (err) => err instanceof RangeError && message.test(err.message)));
    }
  });

  it("reset() refuses a range outside the buffer", () => {
    assert.throws(() => new InotifyCursor(new Uint8Array(16)).reset(32), RangeError);
  });
});

describe("decodeName", () => {
  it("decodes ASCII and UTF-8 alike", () => {
    const bytes = new TextEncoder().encode("plain.txt|ünï.txt");
    assert.equal(decodeName(bytes, 0, 9), "plain.txt");
    assert.equal(decodeName(bytes, 10, bytes.length), "ünï.txt");
  });
});

describe("MIN_READ_SIZE", () => {
  it("is the header plus NAME_MAX plus the NUL", () => assert.equal(MIN_READ_SIZE, 16 + 255 + 1));
});

function patchLen(bytes: Uint8Array, len: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(12, len, true);
  return copy;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

describe("InotifyCursor.name (cached by bytes)", () => {
  it("returns the right name for repeats, look-alikes and long names in any order", () => {
    const names = [
      "a",
      "b",
      "a",
      "ab",
      "a".repeat(15),
      "a".repeat(16),
      "a",
      "x".repeat(63),
      "x".repeat(64),
      "y".repeat(255),
      "ab",
      "naïve",
      "b",
    ];
    const bytes = inotifyBytes(...names.concat(names).map((name, i) => ({ wd: i, mask: IN.CREATE, name })));
    assert.deepEqual(walk(bytes).map((r) => r[3]), names.concat(names));
  });

  it("tells apart names whose bytes differ only in the last word, after many others", () => {
    const many = Array.from({ length: 5000 }, (_, i) => `file-${i}`);
    const order = [...many, ...[...many].reverse()];
    const bytes = inotifyBytes(...order.map((name, i) => ({ wd: i, mask: IN.CREATE, name })));
    assert.deepEqual(walk(bytes).map((r) => r[3]), order);
  });

  it("toEvent() nameBytes are separate copies", () => {
    const bytes = inotifyBytes({ wd: 1, mask: IN.CREATE, name: "same" }, { wd: 1, mask: IN.CREATE, name: "same" });
    const c = new InotifyCursor(bytes);
    c.reset(bytes.length);
    c.next();
    const one = c.toEvent();
    c.next();
    const two = c.toEvent();
    one.nameBytes[0] = 0x53;
    assert.deepEqual([...two.nameBytes], [...new TextEncoder().encode("same")]);
    assert.equal(one.nameBytes.byteLength, 4);
  });
});
