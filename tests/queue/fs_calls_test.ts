import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DirentCursor, FILE_TYPE } from "../../queue/fs_calls.ts";
import { direntBytes } from "../fixtures/dirents.ts";

function walk(bytes: Uint8Array, end = bytes.byteLength): [string, number, boolean][] {
  const cursor = new DirentCursor(bytes);
  cursor.reset(end);
  const seen: [string, number, boolean][] = [];
  while (cursor.next()) seen.push([cursor.name(), cursor.type, cursor.isDots]);
  return seen;
}

describe("DirentCursor", () => {
  it("next() steps over each record's padding and finds its name and type", () => {
    const bytes = direntBytes(
      { type: FILE_TYPE.DIRECTORY, name: "." },
      { type: FILE_TYPE.DIRECTORY, name: ".." },
      { type: FILE_TYPE.FILE, name: "a.txt" }, // 19 + 6 = 25: padded to 32
      { type: FILE_TYPE.SYMLINK, name: "link-with-a-longer-name" },
      { type: FILE_TYPE.DIRECTORY, name: "..." },
    );
    assert.deepEqual(walk(bytes), [
      [".", FILE_TYPE.DIRECTORY, true],
      ["..", FILE_TYPE.DIRECTORY, true],
      ["a.txt", FILE_TYPE.FILE, false],
      ["link-with-a-longer-name", FILE_TYPE.SYMLINK, false],
      ["...", FILE_TYPE.DIRECTORY, false],
    ]);
  });

  it("decodes names that are not UTF-8 as event names are, with the exact bytes in range", () => {
    const name = new Uint8Array([0x62, 0xff, 0xfe, 0x6e]);
    const bytes = direntBytes({ type: FILE_TYPE.FILE, name });
    const cursor = new DirentCursor(bytes);
    cursor.reset(bytes.byteLength);
    assert.ok(cursor.next());
    assert.equal(cursor.name(), "b\ufffd\ufffdn");
    assert.deepEqual([...bytes.subarray(cursor.nameStart, cursor.nameEnd)], [...name]);
  });

  it("walks only the bytes it is reset to", () => {
    const bytes = direntBytes({ type: FILE_TYPE.FILE, name: "one" }, { type: FILE_TYPE.FILE, name: "two" });
    assert.deepEqual(walk(bytes, 24).map(([name]) => name), ["one"]);
    assert.deepEqual(walk(bytes, 0), []);
  });

  it("throws a RangeError naming the offset for impossible lengths and names without a NUL", () => {
    const good = direntBytes({ type: FILE_TYPE.FILE, name: "ok" }); // 24 bytes
    const zero = direntBytes({ type: FILE_TYPE.FILE, name: "ok" }, { type: FILE_TYPE.FILE, name: "zz" });
    new DataView(zero.buffer).setUint16(24 + 16, 0, true); // would never advance
    assert.throws(() => walk(zero), /dirent at byte 24: length 0/);
    const long = direntBytes({ type: FILE_TYPE.FILE, name: "ok" });
    new DataView(long.buffer).setUint16(16, 4096, true);
    assert.throws(() => walk(long), /dirent at byte 0: length 4096 with 24 bytes left/);
    const noNul = good.slice();
    noNul.fill(0x61, 19);
    assert.throws(() => walk(noNul), /dirent at byte 0: name has no NUL/);
    assert.throws(() => walk(good, 10), /dirent at byte 0: only 10 bytes left/);
  });
});
