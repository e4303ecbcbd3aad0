import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Sys } from "../../ffi/types.ts";
import { IN } from "../../queue/inotify_mask.ts";
import { ERRNO, O } from "../../queue/linux.ts";
import { QueueMarker } from "../../queue/queue_marker.ts";

const decoder = new TextDecoder();
const text = (bytes: Uint8Array) => decoder.decode(bytes.subarray(0, bytes.indexOf(0)));

/** The calls a marker makes, logged; `failOpen` makes open(2) fail with EACCES. */
function fakes(failOpen = false) {
  const calls: string[] = [];
  let nextWd = 10;
  const sys = {
    memfdCreate: (name: Uint8Array, flags: number) => (calls.push(`memfd_create ${text(name)} ${flags}`), 7),
    open: (path: Uint8Array, flags: number) => (calls.push(`open ${text(path)} ${flags}`), failOpen ? -1 : 8),
    close: (fd: number) => (calls.push(`close ${fd}`), 0),
    errno: () => ERRNO.EACCES,
  } as unknown as Sys;
  const watches = {
    addWatch: (path: string, mask: number) => (calls.push(`add_watch ${path} ${mask}`), nextWd++),
    rmWatch: (wd: number) => void calls.push(`rm_watch ${wd}`),
  };
  return { calls, marker: new QueueMarker(sys, watches) };
}

describe("QueueMarker", () => {
  it("mark() opens nothing before the first mark, then reopens the memfd read-only and closes it", () => {
    const { calls, marker } = fakes();
    assert.deepEqual(calls, []);
    marker.mark(() => {});
    marker.mark(() => {});
    assert.deepEqual(calls, [
      "memfd_create notiq-marker 1",
      `add_watch /proc/self/fd/7 ${IN.OPEN | IN.CLOSE_NOWRITE}`,
      `open /proc/self/fd/7 ${O.RDONLY | O.CLOEXEC}`,
      "close 8",
      `open /proc/self/fd/7 ${O.RDONLY | O.CLOEXEC}`,
      "close 8",
    ]);
    marker.close();
    assert.equal(calls.at(-1), "close 7");
  });

  it("take(): the k-th CLOSE_NOWRITE reaches the k-th mark; other records are not the marker's", () => {
    const { marker } = fakes();
    const reached: string[] = [];
    marker.mark(() => reached.push("first"));
    marker.mark(() => reached.push("second"));
    assert.equal(marker.take(10, IN.OPEN), true);
    assert.equal(marker.take(1, IN.CLOSE_NOWRITE), false, "another watch's");
    assert.equal(marker.take(-1, IN.Q_OVERFLOW), false, "an overflow is everyone's");
    assert.deepEqual(reached, []);
    assert.equal(marker.take(10, IN.CLOSE_NOWRITE), true);
    assert.deepEqual(reached, ["first"]);
    marker.take(10, IN.OPEN);
    marker.take(10, IN.CLOSE_NOWRITE);
    assert.deepEqual(reached, ["first", "second"]);
  });

  it("take() leaves Q_OVERFLOW alone before any mark (no wd yet)", () => {
    assert.equal(fakes().marker.take(-1, IN.Q_OVERFLOW), false);
  });

  it("lost(): hands back the marks not read and moves to a new wd; the old one's records are swallowed until its IGNORED", () => {
    const { calls, marker } = fakes();
    const reached: string[] = [];
    marker.mark(() => reached.push("read"));
    marker.mark(() => reached.push("dropped"));
    marker.take(10, IN.CLOSE_NOWRITE);
    const lost = marker.lost();
    assert.equal(lost.length, 1);
    assert.equal(calls.at(-1), "rm_watch 10");
    marker.mark(() => reached.push("again"));
    assert.equal(calls.at(-3), `add_watch /proc/self/fd/7 ${IN.OPEN | IN.CLOSE_NOWRITE}`);
    assert.equal(marker.take(10, IN.CLOSE_NOWRITE), true, "the dropped mark's record, come late");
    assert.deepEqual(reached, ["read"], "reaches nothing");
    assert.equal(marker.take(10, IN.IGNORED), true);
    assert.equal(marker.take(10, IN.CLOSE_NOWRITE), false, "wd 10 is no longer the marker's");
    marker.take(11, IN.CLOSE_NOWRITE);
    assert.deepEqual(reached, ["read", "again"]);
  });

  it("mark() throws a SyscallError when open fails, and queues no mark", () => {
    const { marker } = fakes(true);
    assert.throws(() => marker.mark(() => assert.fail("reached")), { code: "EACCES", syscall: "open" });
    assert.equal(marker.take(10, IN.CLOSE_NOWRITE), true);
  });

  it("mark() throws once closed", () => {
    const { marker } = fakes();
    marker.close();
    assert.throws(() => marker.mark(() => {}), { message: "Cannot mark: this marker is closed" });
  });
});
