/**
 * WatchQueue against the real kernel. Key notifications need CONFIG_WATCH_QUEUE, which our
 * machines' kernel lacks: there, only the capability checks run; the rest runs in the VM:
 *
 *   bash tests/vm/run.sh -- sh -c 'deno test -A --no-check tests/kernel/watch_queue_test.ts && bun test tests/kernel/watch_queue_test.ts'
 *
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { assertFdCount, deadline, fdCount } from "../helpers.ts";
import {
  describeNotification,
  KEY_NOTIFY,
  KEY_SPEC,
  keys,
  SyscallError,
  WATCH_META,
  WATCH_TYPE,
  type WatchNotification,
  WatchQueue,
} from "../../mod.ts";

const why = WatchQueue.probe();
const skip = why ? `key notifications unavailable: ${why.message}` : false;
// JS runs 40-60x slower under the VM's emulated CPU: generous, but bounded, waits.
const WAIT_MS = process.env.NOTIQ_VM ? 60_000 : 5_000;

type Row = (string | number | undefined)[];

/** A notification as [SUBTYPE, keyId, aux, watchId] (REMOVAL: [SUBTYPE, keyId, watchId]; LOSS: [SUBTYPE]). */
function row(n: WatchNotification): Row {
  const [, name] = describeNotification(n);
  if (n.type === WATCH_TYPE.META) return n.subtype === WATCH_META.LOSS ? [name] : [name, n.keyId, n.watchId] as Row;
  return [name, n.keyId, n.aux, n.watchId];
}

/** Reads `count` notifications, or fails after a bounded wait saying what did arrive. */
async function take(it: AsyncIterator<WatchNotification>, count: number): Promise<WatchNotification[]> {
  const seen: WatchNotification[] = [];
  const reading = (async () => {
    while (seen.length < count) {
      const r = await it.next();
      if (r.done) throw new Error(`iteration ended after ${JSON.stringify(seen.map(row))}`);
      seen.push(r.value);
    }
    return seen;
  })();
  return await deadline(reading, WAIT_MS, () => `${count} notifications; got ${JSON.stringify(seen.map(row))}`);
}

/** Reads until a notification satisfies `done`; returns all read. */
async function until(
  it: AsyncIterator<WatchNotification>,
  done: (n: WatchNotification) => boolean,
): Promise<WatchNotification[]> {
  const seen: WatchNotification[] = [];
  const reading = (async () => {
    for (;;) {
      const r = await it.next();
      if (r.done) throw new Error(`iteration ended after ${JSON.stringify(seen.map(row))}`);
      seen.push(r.value);
      if (done(r.value)) return seen;
    }
  })();
  return await deadline(reading, WAIT_MS, () => `a notification; got ${JSON.stringify(seen.map(row))}`);
}

describe("WatchQueue capability detection (real kernel)", () => {
  it("supported() agrees with probe() and leaves no fd open", async () => {
    const before = fdCount();
    assert.equal(WatchQueue.supported(), why === undefined);
    WatchQueue.probe();
    await assertFdCount(before);
  });

  it("new WatchQueue() throws pipe2 ENOPKG naming CONFIG_WATCH_QUEUE on a kernel without it", {
    skip: why instanceof SyscallError && why.code === "ENOPKG" ? false : "this kernel has CONFIG_WATCH_QUEUE",
  }, async () => {
    assert.equal(WatchQueue.supported(), false);
    const before = fdCount();
    assert.throws(
      () => new WatchQueue(),
      (err) =>
        err instanceof SyscallError && err.code === "ENOPKG" && err.errno === -65 && err.syscall === "pipe2" &&
        /CONFIG_WATCH_QUEUE/.test(err.message),
    );
    await assertFdCount(before);
  });

  it("the VM's kernel supports key notifications", { skip: process.env.NOTIQ_VM ? false : "not in the VM" }, () => {
    assert.equal(why, undefined, String(why));
  });
});

describe("WatchQueue key notifications (real kernel)", { skip }, () => {
  // A keyring of our own in the process keyring, so nothing outside the test is touched.
  let ring = 0;
  let serial = 0;
  const newKey = (payload = "v") => keys.addKey("user", `k${serial++}`, payload, ring);

  before(() => {
    ring = keys.addKey("keyring", `notiq-wq-test-${process.pid}`, "", KEY_SPEC.PROCESS_KEYRING);
  });
  after(() => {
    if (ring) keys.unlinkKey(ring, KEY_SPEC.PROCESS_KEYRING);
  });

  it("a watched keyring reports LINKED (keyId = keyring, aux = key) and UNLINKED", async () => {
    using q = new WatchQueue({ size: 32 });
    q.watchKey(ring, 1);
    const it = q[Symbol.asyncIterator]();
    const key = newKey();
    keys.unlinkKey(key, ring);
    const seen = await take(it, 2);
    assert.deepEqual(seen.map(row), [["LINKED", ring, key, 1], ["UNLINKED", ring, key, 1]]);
    assert.equal(seen[0].type, WATCH_TYPE.KEY_NOTIFY);
    assert.equal(seen[0].length, 16);
    assert.equal(seen[0].flags, 0);
    assert.equal(seen[0].payload.byteLength, 8);
    assert.equal(seen[0].payload.getInt32(4, true), key);
  });

  it("a watched key reports UPDATED, SETATTR and REVOKED with its watch id", async () => {
    const key = newKey();
    using q = new WatchQueue();
    q.watchKey(key, 2);
    const it = q[Symbol.asyncIterator]();
    keys.updateKey(key, "v2");
    keys.setKeyTimeout(key, 3600);
    keys.revokeKey(key);
    assert.deepEqual((await take(it, 3)).map(row), [
      ["UPDATED", key, 0, 2],
      ["SETATTR", key, 0, 2],
      ["REVOKED", key, 0, 2],
    ]);
  });

  it("clearKeyring() reports CLEARED on the watched keyring", async () => {
    const inner = keys.addKey("keyring", `r${serial++}`, "", ring);
    keys.addKey("user", "a", "1", inner);
    using q = new WatchQueue();
    q.watchKey(inner, 3);
    const it = q[Symbol.asyncIterator]();
    keys.clearKeyring(inner);
    assert.deepEqual((await take(it, 1)).map(row), [["CLEARED", inner, 0, 3]]);
  });

  it("invalidateKey() reports INVALIDATED, then REMOVAL once the key is destroyed", async () => {
    const key = newKey();
    using q = new WatchQueue();
    q.watchKey(key, 4);
    const it = q[Symbol.asyncIterator]();
    keys.invalidateKey(key);
    const seen = await until(it, (n) => n.type === WATCH_TYPE.META && n.subtype === WATCH_META.REMOVAL);
    assert.deepEqual(seen.map(row), [["INVALIDATED", key, 0, 4], ["REMOVAL", key, 4]]);
  });

  it("a key destroyed after its last unlink ends its watch with REMOVAL", async () => {
    const key = newKey();
    using q = new WatchQueue();
    q.watchKey(key, 5);
    const it = q[Symbol.asyncIterator]();
    keys.unlinkKey(key, ring);
    const seen = await until(it, (n) => n.type === WATCH_TYPE.META);
    assert.deepEqual(seen.map(row).at(-1), ["REMOVAL", key, 5]);
    assert.equal(seen.at(-1)!.length, 16);
  });

  it("unwatchKey() reports REMOVAL; a second unwatchKey() fails with EBADSLT", async () => {
    const key = newKey();
    using q = new WatchQueue();
    q.watchKey(key, 6);
    assert.throws(() => q.watchKey(key, 6), (err) => err instanceof SyscallError && err.code === "EBUSY");
    const it = q[Symbol.asyncIterator]();
    q.unwatchKey(key);
    assert.deepEqual((await take(it, 1)).map(row), [["REMOVAL", key, 6]]);
    assert.throws(
      () => q.unwatchKey(key),
      (err) => err instanceof SyscallError && err.code === "EBADSLT" && err.syscall === "keyctl",
    );
    keys.updateKey(key, "unwatched"); // nothing arrives for it: the next notification is the marker below
    q.watchKey(ring, 7);
    const marker = newKey();
    assert.deepEqual((await take(it, 1)).map(row), [["LINKED", ring, marker, 7]]);
  });

  it("setFilter() by subtype lets only those subtypes through", async () => {
    const key = newKey();
    using q = new WatchQueue();
    q.setFilter([{ type: WATCH_TYPE.KEY_NOTIFY, subtypes: [KEY_NOTIFY.UPDATED, KEY_NOTIFY.REVOKED] }]);
    q.watchKey(ring, 1);
    q.watchKey(key, 2);
    const it = q[Symbol.asyncIterator]();
    const other = newKey(); // LINKED: filtered out
    keys.setKeyTimeout(key, 3600); // SETATTR: filtered out
    keys.updateKey(key, "v2");
    keys.unlinkKey(other, ring); // UNLINKED: filtered out
    keys.revokeKey(key);
    assert.deepEqual((await take(it, 2)).map(row), [["UPDATED", key, 0, 2], ["REVOKED", key, 0, 2]]);
  });

  it("setFilter() by watch id (infoMask 0xff00) keeps one watch's notifications", async () => {
    const key = newKey();
    using q = new WatchQueue();
    q.setFilter([{ type: WATCH_TYPE.KEY_NOTIFY, infoMask: 0xff00, infoFilter: 2 << 8 }]);
    q.watchKey(ring, 1);
    q.watchKey(key, 2);
    const it = q[Symbol.asyncIterator]();
    newKey(); // LINKED on watch 1: filtered out
    keys.updateKey(key, "v2");
    newKey();
    keys.setKeyTimeout(key, 60);
    assert.deepEqual((await take(it, 2)).map(row), [["UPDATED", key, 0, 2], ["SETATTR", key, 0, 2]]);
    q.setFilter(null);
    const last = newKey();
    assert.deepEqual((await take(it, 1)).map(row), [["LINKED", ring, last, 1]]);
  });

  it("a filter naming only unknown types blocks every key notification, but not REMOVAL", async () => {
    const key = newKey();
    using q = new WatchQueue();
    q.setFilter([{ type: 200 }]);
    q.watchKey(key, 9);
    const it = q[Symbol.asyncIterator]();
    keys.updateKey(key, "blocked");
    q.unwatchKey(key);
    assert.deepEqual((await take(it, 1)).map(row), [["REMOVAL", key, 9]]);
  });

  it("an overflowed queue of size 1 (32 notes) reports LOSS to the consumer, then carries on", async () => {
    const key = newKey();
    using q = new WatchQueue({ size: 1 });
    q.watchKey(key, 3);
    // Reading starts with the first iteration: until then the kernel queue fills up and overflows.
    for (let i = 0; i < 40; i++) keys.updateKey(key, `v${i}`);
    assert.equal(q.pendingBytes(), 32 * 16, "the kernel rounds 1 note up to a page of 32");
    const it = q[Symbol.asyncIterator]();
    const seen = await until(it, (n) => n.type === WATCH_TYPE.META && n.subtype === WATCH_META.LOSS);
    assert.equal(seen.length, 33, JSON.stringify(seen.map(row)));
    assert.ok(seen.slice(0, 32).every((n) => row(n).join() === ["UPDATED", key, 0, 3].join()));
    assert.equal(seen[32].length, 8);
    assert.equal(seen[32].watchId, 0);
    keys.revokeKey(key);
    assert.deepEqual((await take(it, 1)).map(row), [["REVOKED", key, 0, 3]]);
  });

  it("batches() yields zero-copy views; toNotification() copies", async () => {
    const key = newKey();
    using q = new WatchQueue();
    q.watchKey(key, 8);
    keys.updateKey(key, "a");
    keys.updateKey(key, "b");
    const kept: WatchNotification[] = [];
    const reading = (async () => {
      for await (const batch of q.batches()) {
        for (const view of batch) {
          assert.equal(view.payload.getInt32(0, true), key);
          kept.push(view.toNotification());
        }
        if (kept.length >= 2) break;
      }
    })();
    await deadline(reading, WAIT_MS, () => `2 notifications; got ${kept.length}`);
    assert.deepEqual(kept.map(row), [["UPDATED", key, 0, 8], ["UPDATED", key, 0, 8]]);
  });

  it("close() ends a pending read promptly", async () => {
    using q = new WatchQueue();
    q.watchKey(ring, 1);
    const it = q[Symbol.asyncIterator]();
    const pending = it.next();
    await new Promise((resolve) => setImmediate(resolve)); // its look at the next turn found nothing: it waits
    q.close();
    assert.deepEqual(await deadline(pending, WAIT_MS, "the pending read to end"), {
      done: true,
      value: undefined,
    });
    assert.throws(() => q.watchKey(ring, 2), /this WatchQueue is closed/);
  });

  it("leaks no fd: open, watch, read, close", async () => {
    { // warm up: the first reader thread may open what the runtime keeps for its workers
      using q = new WatchQueue();
      q.watchKey(ring, 1);
      newKey();
      await take(q[Symbol.asyncIterator](), 1);
    }
    const before = fdCount();
    for (let i = 0; i < 3; i++) {
      const q = new WatchQueue({ size: 8 });
      q.watchKey(ring, 1);
      const key = newKey();
      assert.deepEqual((await take(q[Symbol.asyncIterator](), 1)).map(row), [["LINKED", ring, key, 1]]);
      q.close();
    }
    await assertFdCount(before, WAIT_MS);
  });
});
