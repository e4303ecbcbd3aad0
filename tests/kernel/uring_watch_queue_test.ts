/**
 * A notification pipe read by the io_uring Source (queue/uring.ts), with regions small enough that
 * the kernel's reads end at their end many times: there a note that does not fit, and the 8-byte
 * LOSS record, end a read with ENOBUFS (records are not aligned, so a region may end 8 bytes short
 * of a 16-byte note), and the pipe's own loss comes in band, after what fit. Needs
 * CONFIG_WATCH_QUEUE and Linux >= 6.12: runs in the VM (tests/vm/suite.sh), skips elsewhere.
 *
 *   bash tests/vm/run.sh -- sh -c 'deno test -A --no-check tests/kernel/uring_watch_queue_test.ts && bun test ./tests/kernel/uring_watch_queue_test.ts'
 *
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { loadSys } from "../../ffi/load.ts";
import { bindKeys, KEY_SPEC } from "../../queue/keys.ts";
import type { Host } from "../../queue/source.ts";
import { uringSources } from "../../queue/uring.ts";
import { probeWatchQueue, WatchQueue } from "../../queue/watch_queue.ts";
import { KEY_NOTIFY, WATCH_META, WATCH_TYPE, type WatchNotification } from "../../queue/watch_queue_records.ts";
import { deadline, waitFor } from "../helpers.ts";

const sys = await loadSys();
const open = uringSources(sys);
const why = probeWatchQueue(sys) ?? (open instanceof Error ? open : undefined);
const skip = why ? `a notification pipe cannot be read through io_uring here: ${why.message}` : false;
// JS runs 40-60x slower under the VM's emulated CPU: generous, but bounded, waits.
const WAIT_MS = process.env.NOTIQ_VM ? 120_000 : 10_000;
const keys = bindKeys(sys);

/** A host whose sources are the io_uring ones, with two regions of `capacity / 2` bytes. */
function uringHost(capacity: number): Host {
  const openSource = open as Exclude<typeof open, Error>;
  return { sys, openSource: (fd, options) => openSource(fd, { ...options, capacity }) };
}

/** A notification as "LOSS", or its subtype's first letter and watch id ("U3": UPDATED, watch 3). */
function row(n: WatchNotification): string {
  if (n.type === WATCH_TYPE.META && n.subtype === WATCH_META.LOSS) return "LOSS";
  assert.equal(n.type, WATCH_TYPE.KEY_NOTIFY);
  assert.equal(n.subtype, KEY_NOTIFY.UPDATED, `subtype ${n.subtype}`);
  return `U${n.watchId}`;
}

/** Reads from `it` until `count` notifications came; fails after a bounded wait with what did. */
async function take(it: AsyncIterator<WatchNotification>, seen: string[], count: number): Promise<void> {
  const reading = (async () => {
    while (seen.length < count) {
      const r = await it.next();
      if (r.done) throw new Error(`iteration ended after ${seen.length}`);
      seen.push(row(r.value));
    }
  })();
  await deadline(reading, WAIT_MS, () => `${count} notifications; got ${seen.length}: ${seen.slice(-3)}`);
}

describe("io_uring Source on a notification pipe", { skip }, () => {
  let ring = 0;
  let serial = 0;
  before(() => {
    ring = keys.addKey("keyring", `notiq-uring-wq-test-${process.pid}`, "", KEY_SPEC.PROCESS_KEYRING);
  });
  after(() => {
    if (ring) keys.unlinkKey(ring, KEY_SPEC.PROCESS_KEYRING);
  });

  it("keeps every note in order across region ends (ENOBUFS), one of them 8 bytes short of a note after a LOSS", async () => {
    const ids = Array.from({ length: 7 }, () => keys.addKey("user", `k${serial++}`, "v", ring));
    using q = new WatchQueue({ size: 1 }, uringHost(8192)); // 32 notes; regions of 4 KiB: 256 notes of 16 bytes
    ids.forEach((id, i) => q.watchKey(id, i + 1));
    // Before reading starts, 40 updates overflow the 32-note queue: 32 notes, then the 8-byte LOSS
    // record; after them the first region's end falls 8 bytes short of a note.
    for (let n = 0; n < 40; n++) keys.updateKey(ids[n % 7], "x");
    const expected = Array.from({ length: 32 }, (_, n) => `U${n % 7 + 1}`);
    expected.push("LOSS");
    const it = q[Symbol.asyncIterator]();
    const seen: string[] = [];
    const bursts = 10, burst = 300; // more than a region: each burst ends at least one
    const reading = take(it, seen, expected.length + bursts * burst);
    for (let b = 0; b < bursts; b++) {
      // No turn of the event loop during a burst: the kernel reads each note as its keyctl returns,
      // to the end of a region and on into the other one, while the consumer is not caught up.
      for (let n = 0; n < burst; n++) {
        keys.updateKey(ids[n % 7], "y");
        expected.push(`U${n % 7 + 1}`);
      }
      await waitFor(
        () => `the consumer to catch up: ${seen.length} of ${expected.length}`,
        () => seen.length >= expected.length,
        WAIT_MS,
      );
    }
    await reading;
    assert.deepEqual(seen, expected);
  });

  it("gives the pipe's LOSS after what fit, once both regions are full and the pipe overflowed", async () => {
    const key = keys.addKey("user", `k${serial++}`, "v", ring);
    using q = new WatchQueue({ size: 1 }, uringHost(8192));
    q.watchKey(key, 9);
    const it = q[Symbol.asyncIterator]();
    const seen: string[] = [];
    const first = take(it, seen, 1); // arms the kernel's reads
    keys.updateKey(key, "a");
    await first;
    // The consumer holds on to its first note (it asks for no more) while 600 updates come, with
    // no turn of the event loop: 255 more notes fill the first region, 256 the second, 32 the pipe.
    for (let n = 0; n < 600; n++) keys.updateKey(key, `b${n}`);
    await take(it, seen, 1 + 255 + 256 + 32 + 1);
    assert.deepEqual(seen, [...Array(1 + 255 + 256 + 32).fill("U9"), "LOSS"]);
    keys.updateKey(key, "c"); // and reading goes on
    await take(it, seen, seen.length + 1);
    assert.equal(seen.at(-1), "U9");
  });
});
