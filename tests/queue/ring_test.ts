/** The ring protocol, both sides on one thread against a fake fd: no kernel, no reader thread. @module */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Sys } from "../../ffi/types.ts";
import { ERRNO } from "../../queue/linux.ts";
import { Next, Ring, RingProducer } from "../../queue/ring.ts";

/** A nonblocking fd that holds bytes: each read takes what fits; EAGAIN when empty. */
class FakeFd {
  pending: number[] = [];
  reads = 0;
  /** Set to make the next read fail with this errno, or 0 for end of file. */
  fail?: number;
  #errno = 0;
  /** While the producer is inside read(2): lets a test act as the consumer at that moment. */
  during?: () => void;

  readonly sys = {
    read: (_fd: number, into: Uint8Array) => {
      this.reads++;
      this.during?.();
      if (this.fail !== undefined) {
        this.#errno = this.fail;
        return this.fail === 0 ? 0 : -1;
      }
      if (this.pending.length === 0) {
        this.#errno = ERRNO.EAGAIN;
        return -1;
      }
      const n = Math.min(into.byteLength, this.pending.length);
      into.set(this.pending.splice(0, n));
      return n;
    },
    errno: () => this.#errno,
  } as unknown as Sys;

  write(...bytes: number[]): void {
    this.pending.push(...bytes);
  }
}

const FD = 7;

/** A ring and its producer over one buffer; `kick` runs what the reader thread would do. */
function pair(capacity: number, minRead: number, readSize = capacity) {
  const fd = new FakeFd();
  let kicks = 0;
  const ring = new Ring(capacity, minRead, () => {
    kicks++;
    producer.step(fd.sys, false); // the thread looks at the control words when kicked
  });
  const producer = new RingProducer({ ring: ring.buffer, fd: FD, readSize, minRead });
  return { fd, ring, producer, kicks: () => kicks };
}

/** Everything unread, in order, as the consumer takes it; releases it. */
function drain(ring: Ring): number[] {
  const out: number[] = [];
  for (let span; (span = ring.available());) {
    out.push(...ring.data.subarray(span[0], span[1]));
    ring.release(span[1]);
  }
  return out;
}

describe("Ring and RingProducer (fake fd)", () => {
  it("the producer leaves the fd alone until start(); then reads and publishes", () => {
    const { fd, ring, producer } = pair(64, 8);
    fd.write(1, 2, 3);
    assert.equal(producer.step(fd.sys, true), Next.Idle);
    assert.equal(fd.reads, 0);
    const token = ring.published();
    assert.equal(ring.start(), true);
    assert.equal(ring.start(), false); // idempotent
    assert.equal(producer.step(fd.sys, true), Next.Poll);
    assert.notEqual(ring.published(), token);
    assert.deepEqual(drain(ring), [1, 2, 3]);
    assert.equal(producer.step(fd.sys, true), Next.Poll); // EAGAIN: wait for poll()
  });

  it("the consumer fills an empty ring itself, in the same order", () => {
    const { fd, ring } = pair(64, 8);
    fd.write(...Array.from({ length: 100 }, (_, i) => i));
    const seen: number[] = [];
    while (ring.fill(fd.sys, FD, 16, 8)) seen.push(...drain(ring));
    assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => i));
  });

  it("wraps: a read that does not fit at the end goes to 0, and the consumer follows in order", () => {
    const { fd, ring, producer } = pair(32, 8, 16);
    ring.start();
    const sent: number[] = [], seen: number[] = [];
    for (let round = 0; round < 40; round++) {
      const bytes = Array.from({ length: 3 + (round % 11) }, (_, i) => (round * 7 + i) & 0xff);
      sent.push(...bytes);
      fd.write(...bytes);
      while (fd.pending.length > 0) {
        producer.step(fd.sys, true);
        if (round % 3 !== 0) seen.push(...drain(ring)); // sometimes let it run ahead
      }
      seen.push(...drain(ring));
    }
    assert.deepEqual(seen, sent);
  });

  it("a full ring stops the producer until the consumer releases, and the release kicks it", () => {
    const { fd, ring, producer, kicks } = pair(32, 8, 8);
    ring.start();
    fd.write(...Array.from({ length: 200 }, (_, i) => i & 0xff));
    let steps = 0;
    while (producer.step(fd.sys, true) !== Next.Idle) steps++;
    assert.ok(steps >= 4 && fd.pending.length > 100, `${steps} reads, ${fd.pending.length} left in the fd`);
    const reads = fd.reads;
    assert.equal(producer.step(fd.sys, true), Next.Idle); // still full: no read
    assert.equal(fd.reads, reads);
    const before = kicks();
    const seen = drain(ring);
    assert.equal(kicks(), before + 1, "release() kicks a producer that found the ring full");
    assert.equal(producer.step(fd.sys, true), Next.Poll);
    seen.push(...drain(ring));
    assert.deepEqual(seen, Array.from({ length: seen.length }, (_, i) => i & 0xff));
  });

  it("fill() gives up while the producer holds the lock, instead of reading out of order", () => {
    const { fd, ring, producer } = pair(64, 8);
    ring.start();
    fd.write(1, 2, 3);
    let filled: boolean | undefined;
    fd.during = () => (fd.during = undefined, filled = ring.fill(fd.sys, FD, 16, 8));
    producer.step(fd.sys, true);
    assert.equal(filled, false);
    assert.deepEqual(drain(ring), [1, 2, 3]);
  });

  it("stopReader() before the thread took the ring: false, and the producer never reads", () => {
    const fd = new FakeFd();
    const ring = new Ring(64, 8, () => {}); // posted to a thread that has not looked yet
    const producer = new RingProducer({ ring: ring.buffer, fd: FD, readSize: 64, minRead: 8 });
    ring.start();
    fd.write(1);
    assert.equal(ring.stopReader(), false);
    assert.equal(producer.step(fd.sys, true), Next.Done);
    assert.equal(fd.reads, 0);
  });

  it("stopReader() while the thread runs waits until it let go: true", () => {
    const { fd, ring, producer } = pair(64, 8);
    ring.start();
    assert.equal(producer.step(fd.sys, true), Next.Poll);
    assert.equal(ring.stopReader(), true); // the kick made the producer see CLOSING
    assert.equal(producer.step(fd.sys, true), Next.Done);
    assert.equal(ring.failure(), 0);
  });

  for (const [what, fail, failure] of [["a read error", 5, 5], ["end of file", 0, -1]] as const) {
    it(`${what} stops the producer, and failure() tells the consumer`, () => {
      const { fd, ring, producer } = pair(64, 8);
      ring.start();
      fd.fail = fail;
      const token = ring.published();
      assert.equal(producer.step(fd.sys, true), Next.Done);
      assert.notEqual(ring.published(), token, "the consumer is woken to look");
      assert.equal(ring.failure(), failure);
    });
  }

  it("EINTR reads again at once; EAGAIN waits for poll()", () => {
    const { fd, ring, producer } = pair(64, 8);
    ring.start();
    fd.fail = ERRNO.EINTR;
    assert.equal(producer.step(fd.sys, true), Next.Again);
    fd.fail = undefined;
    assert.equal(producer.step(fd.sys, true), Next.Poll);
  });

  it("a reused buffer starts empty, with the producer parked", () => {
    const { fd, ring } = pair(64, 8);
    fd.write(9, 9);
    ring.fill(fd.sys, FD, 16, 8);
    ring.stopReader();
    const again = new Ring(64, 8, () => {}, ring.buffer);
    assert.equal(again.available(), undefined);
    assert.equal(again.failure(), 0);
    const producer = new RingProducer({ ring: again.buffer, fd: FD, readSize: 64, minRead: 8 });
    assert.equal(producer.step(fd.sys, true), Next.Idle); // not started
  });
});
