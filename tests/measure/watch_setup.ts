/**
 * Measures a recursive watch of a 10,000-directory tree on /dev/shm: setup time, RSS, and the time
 * to repair an overflow (the rescan). Not a test; run as root (it lowers max_queued_events for the
 * instant of inotify_init1, then restores it):
 *   deno run -A tests/measure/watch_setup.ts      bun tests/measure/watch_setup.ts
 *
 * @module
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { watch, type Watcher } from "../../mod.ts";
import { withSysctl } from "../helpers.ts";

const WIDE = 100, DEEP = 100; // 100 x 100 = 10,000 directories under the root
const root = mkdtempSync("/dev/shm/notiq-measure-");
const runtime = "Deno" in globalThis ? `deno ${Deno.version.deno}` : `bun ${process.versions.bun}`;
const rssMiB = () => process.memoryUsage().rss / 2 ** 20;
try {
  for (let i = 0; i < WIDE; i++) for (let j = 0; j < DEEP; j++) mkdirSync(`${root}/d${i}/e${j}`, { recursive: true });
  const dirs = WIDE * DEEP + WIDE;
  const rssBefore = rssMiB();
  let t = performance.now();
  let watcher: Watcher = watch(root);
  await watcher.ready;
  const setupMs = performance.now() - t;
  const rssAfter = rssMiB();
  const watches = watcher.stats().watches;
  await watcher.close();

  // Overflow: a 64-event kernel queue and a tiny ring, 200 changes while nobody reads.
  watcher = await withSysctl("max_queued_events", 64, () => watch(root, { ringSize: 272, bufferSize: 272 }));
  await watcher.ready;
  for (let i = 0; i < 200; i++) writeFileSync(`${root}/d${i % WIDE}/e${i % DEEP}/f${i}`, "");
  t = performance.now();
  let events = 0;
  for await (const ev of watcher) {
    events++;
    if (ev.kind === "overflow") continue;
    if (watcher.stats().rescans > 0 && events > 200) break;
  }
  const repairMs = performance.now() - t;
  const { lastRescanMs, rescans } = watcher.stats();
  console.log(JSON.stringify({
    runtime,
    dirs,
    watches,
    setupMs: Math.round(setupMs),
    rssBeforeMiB: Math.round(rssBefore),
    rssAfterMiB: Math.round(rssAfter),
    rescans,
    rescanMs: Math.round(lastRescanMs),
    overflowToConsistentMs: Math.round(repairMs),
  }));
} finally {
  rmSync(root, { recursive: true, force: true });
}
