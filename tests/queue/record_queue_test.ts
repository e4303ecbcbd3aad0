/** RecordQueue over a fake Source: batches, kept records, break, close — no kernel. @module */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import type { Sys } from "../../ffi/types.ts";
import { IN } from "../../queue/inotify_mask.ts";
import { InotifyCursor, type InotifyEvent } from "../../queue/inotify_records.ts";
import { RecordQueue } from "../../queue/record_queue.ts";
import type { Run, Source } from "../../queue/source.ts";
import { inotifyBytes, type RecordSpec } from "../fixtures/inotify.ts";

/** A Source over one region: `push` appends records; `next` hands out what is unread. */
class FakeSource implements Source {
  readonly bytes = new Uint8Array(4096);
  read = 0;
  write = 0;
  closed = false;
  /** Calls of pause(), and whether a next() came since the last one. */
  pauses = 0;
  iterating = false;
  #last?: Run;
  #waiting?: () => void;

  push(...records: RecordSpec[]): void {
    const bytes = inotifyBytes(...records);
    this.bytes.set(bytes, this.write);
    this.write += bytes.byteLength;
    this.#waiting?.();
  }

  async next(consumed?: number): Promise<Run | undefined> {
    this.iterating = true;
    if (this.#last) this.read = consumed ?? this.#last.end;
    this.#last = undefined;
    while (!this.closed && this.read === this.write) await new Promise<void>((r) => this.#waiting = r);
    if (this.closed) return undefined;
    return this.#last = { bytes: this.bytes, start: this.read, end: this.write };
  }

  pause(): void {
    this.pauses++;
    this.iterating = false;
  }

  close(): void {
    this.closed = true;
    this.#waiting?.();
  }
}

function queue(readSize = 4096) {
  const source = new FakeSource();
  const closed: number[] = [];
  let opened = 0;
  const sys = { close: (fd: number) => (closed.push(fd), 0) } as unknown as Sys;
  const ignored: number[] = [];
  const q = new RecordQueue<InotifyCursor, InotifyEvent>(
    {
      sys,
      openSource: () => (opened++, source),
    },
    42,
    {
      owner: "Inotify",
      source: { capacity: 4096, readSize, minRead: 272 },
      cursor: (bytes) => new InotifyCursor(bytes),
      keep: (view) => view.toEvent(),
      observe: (view) => void (view.mask & IN.IGNORED && ignored.push(view.wd)),
    },
    {},
    43,
  );
  return { q, source, closed, ignored, opened: () => opened };
}

const names = (events: { name: string }[]) => events.map((e) => e.name);

describe("RecordQueue (fake Source)", () => {
  it("opens its source at the first iteration, not before", async () => {
    const { q, source, opened } = queue();
    assert.equal(opened(), 0);
    source.push({ wd: 1, mask: IN.CREATE, name: "a" });
    const batches = q.batches();
    assert.equal(opened(), 0);
    await batches.next();
    assert.equal(opened(), 1);
  });

  it("cuts a run into batches of about one read, each a view valid until the next", async () => {
    const { q, source } = queue(64); // 32-byte records: two a batch
    source.push(...["a", "b", "c", "d", "e"].map((name) => ({ wd: 1, mask: IN.CREATE, name })));
    const batches = q.batches();
    const seen: string[][] = [];
    while (seen.flat().length < 5) {
      const { value: batch } = await batches.next();
      seen.push(Array.from(batch!, (v) => v.name)); // the same view each time: read it inside the walk
    }
    assert.deepEqual(seen, [["a", "b"], ["c", "d"], ["e"]]);
  });

  it("kept() yields copies; a break keeps what was not yielded for the next loop", async () => {
    const { q, source } = queue();
    source.push(...["a", "b", "c"].map((name) => ({ wd: 1, mask: IN.CREATE, name })));
    const first: InotifyEvent[] = [];
    for await (const ev of q.kept()) {
      first.push(ev);
      if (ev.name === "a") break;
    }
    source.push({ wd: 1, mask: IN.CREATE, name: "d" });
    const rest: InotifyEvent[] = [];
    for await (const ev of q.kept()) {
      rest.push(ev);
      if (ev.name === "d") break;
    }
    assert.deepEqual([names(first), names(rest)], [["a"], ["b", "c", "d"]]);
    assert.deepEqual([...rest[2].nameBytes], [...new TextEncoder().encode("d")]);
  });

  it("pauses its source when a loop ends (break, return, or close), never while it iterates", async () => {
    const { q, source } = queue();
    source.push(...["a", "b"].map((name) => ({ wd: 1, mask: IN.CREATE, name })));
    for await (const ev of q.kept()) {
      assert.equal(source.iterating, true);
      if (ev.name === "a") break;
    }
    assert.deepEqual([source.pauses, source.iterating], [1, false]);
    const batches = q.batches();
    await batches.next(); // "b"
    await new Promise((r) => setImmediate(r)); // the consumer is away: still iterating
    assert.deepEqual([source.pauses, source.iterating], [1, true]);
    const pending = batches.next();
    q.close();
    assert.equal((await pending).done, true);
    assert.equal(source.pauses, 2);
  });

  it("observe() sees every record as its batch is handed out", async () => {
    const { q, source, ignored } = queue();
    source.push({ wd: 3, mask: IN.IGNORED }, { wd: 1, mask: IN.CREATE, name: "a" }, { wd: 4, mask: IN.IGNORED });
    await q.batches().next();
    assert.deepEqual(ignored, [3, 4]);
  });

  it("a record that cannot be inotify's fails the batch request with a RangeError", async () => {
    const { q, source } = queue();
    source.push({ wd: 1, mask: IN.CREATE, name: "a" });
    new DataView(source.bytes.buffer).setUint32(12, 7, true); // a name length no kernel writes
    await assert.rejects(q.batches().next(), /Cannot decode inotify record at byte 0: impossible name length 7/);
  });

  it("one consumer at a time", async () => {
    const { q, source } = queue();
    source.push({ wd: 1, mask: IN.CREATE, name: "a" });
    const one = q.batches();
    await one.next();
    await assert.rejects(q.batches().next(), /Cannot iterate: this Inotify is being iterated already/);
    await one.return();
    source.push({ wd: 1, mask: IN.CREATE, name: "b" });
    const { value: batch } = await q.batches().next();
    assert.deepEqual(Array.from(batch!, (v) => v.name), ["b"]);
  });

  it("close() ends a pending iteration, closes the source and then both fds; later calls say it is closed", async () => {
    const { q, source, closed } = queue();
    const pending = q.kept().next();
    await Promise.resolve();
    q.close();
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.equal(source.closed, true);
    assert.deepEqual(closed, [42, 43]);
    q.close(); // idempotent
    assert.deepEqual(closed, [42, 43]);
    assert.throws(() => q.assertOpen("add watch"), /^Error: Cannot add watch: this Inotify is closed$/);
    assert.deepEqual(await q.batches().next(), { done: true, value: undefined });
  });
});
