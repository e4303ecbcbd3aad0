import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  describeNotification,
  KEY_NOTIFY,
  MIN_READ_SIZE,
  WATCH_META,
  WATCH_TYPE,
  WatchQueueCursor,
} from "../../queue/watch_queue_records.ts";
import { RecordBatch } from "../../queue/record_queue.ts";
import { hexBytes, KERNEL_SAMPLES, keyNote, lossNote, removalNote, watchQueueBytes } from "../fixtures/watch_queue.ts";

type Row = [type: number, subtype: number, watchId: number, length: number, keyId?: number, aux?: number];

function walk(bytes: Uint8Array, start = 0, end = bytes.byteLength): Row[] {
  const c = new WatchQueueCursor(bytes);
  c.reset(end, start);
  const seen: Row[] = [];
  while (c.next()) {
    const row: Row = [c.type, c.subtype, c.watchId, c.length];
    if (c.keyId !== undefined) row.push(c.keyId);
    if (c.aux !== undefined) row.push(c.aux);
    seen.push(row);
  }
  return seen;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

const RING = 0x071bd053, KEY = 0x224494c8;

describe("watchQueueBytes fixture", () => {
  const cases: [keyof typeof KERNEL_SAMPLES, Uint8Array][] = [
    ["LINKED", watchQueueBytes(keyNote(KEY_NOTIFY.LINKED, RING, KEY, 1))],
    ["UPDATED", watchQueueBytes(keyNote(KEY_NOTIFY.UPDATED, KEY, 0, 2))],
    ["UNLINKED", watchQueueBytes(keyNote(KEY_NOTIFY.UNLINKED, RING, KEY, 1))],
    ["REMOVAL", watchQueueBytes(removalNote(2, KEY))],
    ["LOSS", watchQueueBytes(lossNote())],
  ];
  for (const [name, ours] of cases) {
    it(`matches the bytes a 6.1 kernel wrote for ${name} (KERNEL-SAMPLES.md)`, () => {
      assert.deepEqual([...ours], [...hexBytes(KERNEL_SAMPLES[name])]);
    });
  }
});

describe("WatchQueueCursor", () => {
  it("decodes every kernel sample: type, subtype, watch id, key id, aux", () => {
    const s = KERNEL_SAMPLES;
    const bytes = hexBytes(
      [s.LINKED, s.UPDATED, s.SETATTR, s.REVOKED, s.UNLINKED, s.INVALIDATED, s.REMOVAL, s.LOSS].join(" "),
    );
    const K = WATCH_TYPE.KEY_NOTIFY, M = WATCH_TYPE.META;
    assert.deepEqual(walk(bytes), [
      [K, KEY_NOTIFY.LINKED, 1, 16, RING, KEY],
      [K, KEY_NOTIFY.UPDATED, 2, 16, KEY, 0],
      [K, KEY_NOTIFY.SETATTR, 2, 16, KEY, 0],
      [K, KEY_NOTIFY.REVOKED, 2, 16, KEY, 0],
      [K, KEY_NOTIFY.UNLINKED, 1, 16, RING, KEY],
      [K, KEY_NOTIFY.INVALIDATED, 3, 16, 0x084d4aa2, 0],
      [M, WATCH_META.REMOVAL, 2, 16, KEY],
      [M, WATCH_META.LOSS, 0, 8],
    ]);
  });

  it("reads a LOSS before a record, as one read returns them (24 bytes)", () => {
    const bytes = hexBytes(`${KERNEL_SAMPLES.LOSS} ${KERNEL_SAMPLES.LINKED}`);
    assert.equal(bytes.length, 24);
    assert.deepEqual(walk(bytes), [[0, WATCH_META.LOSS, 0, 8], [1, KEY_NOTIFY.LINKED, 1, 16, RING, KEY]]);
  });

  it("reads a REMOVAL of 8 bytes without an id", () => {
    assert.deepEqual(walk(watchQueueBytes(removalNote(9))), [[0, WATCH_META.REMOVAL, 9, 8]]);
  });

  it("reads records at odd offsets (records are not aligned)", () => {
    const body = watchQueueBytes(keyNote(KEY_NOTIFY.CLEARED, 5, 0, 3), {
      type: 7,
      subtype: 1,
      payload: new Uint8Array(3),
    }, lossNote());
    for (const shift of [1, 3, 5]) {
      const bytes = concat(new Uint8Array(shift), body);
      assert.deepEqual(walk(bytes, shift), [[1, KEY_NOTIFY.CLEARED, 3, 16, 5, 0], [7, 1, 0, 11], [
        0,
        WATCH_META.LOSS,
        0,
        8,
      ]]);
    }
  });

  it("splits the first word into a 24-bit type and an 8-bit subtype, and info into its fields", () => {
    const bytes = watchQueueBytes({
      type: 0xabcdef,
      subtype: 0xfe,
      watchId: 0xff,
      flags: 0xffff,
      payload: new Uint8Array(119),
    });
    const c = new WatchQueueCursor(bytes);
    c.reset(bytes.length);
    assert.ok(c.next());
    assert.deepEqual([c.type, c.subtype, c.watchId, c.flags, c.length], [0xabcdef, 0xfe, 0xff, 0xffff, 127]);
    assert.equal(c.keyId, undefined);
    assert.equal(c.aux, undefined);
  });

  it("reads aux as signed (INSTANTIATED carries an error code)", () => {
    assert.deepEqual(walk(watchQueueBytes(keyNote(KEY_NOTIFY.INSTANTIATED, KEY, -126, 4))), [[1, 0, 4, 16, KEY, -126]]);
  });

  it("payload is a view of the bytes after the header; toNotification() copies it", () => {
    const bytes = concat(new Uint8Array(3), watchQueueBytes(keyNote(KEY_NOTIFY.UPDATED, KEY, 0x01020304, 2)));
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
    shared.set(bytes);
    const c = new WatchQueueCursor(shared);
    c.reset(shared.length, 3);
    assert.ok(c.next());
    assert.equal(c.payload.byteLength, 8);
    assert.equal(c.payload.getUint32(0, true), KEY);
    const n = c.toNotification();
    shared.fill(0);
    assert.equal(c.payload.getUint32(0, true), 0, "the view follows the bytes");
    assert.ok(n.payload.buffer instanceof ArrayBuffer);
    assert.deepEqual({ ...n, payload: [...new Uint8Array(n.payload.buffer)] }, {
      type: WATCH_TYPE.KEY_NOTIFY,
      subtype: KEY_NOTIFY.UPDATED,
      watchId: 2,
      flags: 0,
      length: 16,
      keyId: KEY,
      aux: 0x01020304,
      payload: [0xc8, 0x94, 0x44, 0x22, 4, 3, 2, 1],
    });
  });

  it("toNotification() of a LOSS has no keyId or aux and an empty payload", () => {
    const c = new WatchQueueCursor(watchQueueBytes(lossNote()));
    c.reset(8);
    c.next();
    const n = c.toNotification();
    assert.deepEqual(Object.keys(n).sort(), ["flags", "length", "payload", "subtype", "type", "watchId"]);
    assert.equal(n.payload.byteLength, 0);
  });

  it("an empty range yields nothing", () => assert.deepEqual(walk(new Uint8Array(0)), []));

  describe("hostile bytes fail with a RangeError naming the offset, never loop", () => {
    const key = watchQueueBytes(keyNote(KEY_NOTIFY.LINKED, 1, 2, 3));
    const cases: [string, Uint8Array, RegExp][] = [
      ["a truncated header", key.subarray(0, 5), /at byte 0: only 5 bytes left/],
      [
        "a length of 0",
        watchQueueBytes({ type: 1, subtype: 0, length: 0, payload: new Uint8Array(8) }),
        /at byte 0: impossible length 0/,
      ],
      ["a length of 7", watchQueueBytes({ type: 9, subtype: 0, length: 7 }), /at byte 0: impossible length 7/],
      ["a record running past the end", key.subarray(0, 12), /at byte 0: its 16 bytes run past the end/],
      [
        "a length of 127 in a 16-byte buffer",
        watchQueueBytes({ type: 1, subtype: 0, length: 127, payload: new Uint8Array(8) }),
        /run past the end/,
      ],
      [
        "a key notification of 8 bytes",
        watchQueueBytes({ type: 1, subtype: 2 }),
        /at byte 0: a key notification of 8 bytes/,
      ],
      [
        "a bad second record",
        concat(key, watchQueueBytes({ type: 0, subtype: 0, length: 3 })),
        /at byte 16: impossible length 3/,
      ],
      [
        "a bad record at an odd offset",
        concat(watchQueueBytes({ type: 5, subtype: 0, payload: new Uint8Array(1) }), key.subarray(0, 4)),
        /at byte 9: only 4 bytes left/,
      ],
    ];
    for (const [what, bytes, message] of cases) {
      it(what, () => assert.throws(() => walk(bytes), (err) => err instanceof RangeError && message.test(err.message)));
    }
  });

  it("reset() refuses a range outside the buffer", () => {
    assert.throws(() => new WatchQueueCursor(new Uint8Array(16)).reset(32), RangeError);
  });
});

describe("RecordBatch of notifications", () => {
  it("iterates one view per record over a range of the ring", () => {
    const bytes = concat(
      new Uint8Array(5),
      hexBytes(`${KERNEL_SAMPLES.LOSS} ${KERNEL_SAMPLES.UPDATED}`),
      new Uint8Array(7),
    );
    const batch = new RecordBatch<WatchQueueCursor>();
    batch.set(new WatchQueueCursor(bytes), 5, 5 + 24);
    assert.equal(batch.byteLength, 24);
    const seen = [];
    for (const view of batch) seen.push(view.toNotification()); // the same view each time: copy inside the loop
    assert.deepEqual(seen.map((n) => describeNotification(n)), [["META", "LOSS"], ["KEY_NOTIFY", "UPDATED"]]);
    assert.equal(seen[1].keyId, KEY);
  });
});

describe("describeNotification", () => {
  it("names known types and subtypes and numbers the rest", () => {
    assert.deepEqual(describeNotification({ type: 1, subtype: KEY_NOTIFY.INVALIDATED }), ["KEY_NOTIFY", "INVALIDATED"]);
    assert.deepEqual(describeNotification({ type: 0, subtype: WATCH_META.REMOVAL }), ["META", "REMOVAL"]);
    assert.deepEqual(describeNotification({ type: 1, subtype: 99 }), ["KEY_NOTIFY", "99"]);
    assert.deepEqual(describeNotification({ type: 42, subtype: 1 }), ["42", "1"]);
  });
});

describe("constants", () => {
  it("match <linux/watch_queue.h>", () => {
    assert.deepEqual(WATCH_TYPE, { META: 0, KEY_NOTIFY: 1 });
    assert.deepEqual(WATCH_META, { REMOVAL: 0, LOSS: 1 });
    assert.deepEqual(Object.values(KEY_NOTIFY), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(Object.keys(KEY_NOTIFY), [
      "INSTANTIATED",
      "UPDATED",
      "LINKED",
      "UNLINKED",
      "CLEARED",
      "REVOKED",
      "INVALIDATED",
      "SETATTR",
    ]);
  });

  it("MIN_READ_SIZE holds the longest record (127 bytes)", () => assert.ok(MIN_READ_SIZE >= 127));
});
