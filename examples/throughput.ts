/**
 * How many events per second `Inotify.batches()` delivers: creates a burst of files with distinct
 * names in a fresh directory on /dev/shm (tmpfs, so no disk is measured), reads the
 * `CREATE` events as zero-copy batches, and prints the rates. Ends when every event has arrived,
 * or after `--timeout` seconds.
 *
 * ```sh
 * deno run -A examples/throughput.ts [--count 100000] [--timeout 30] [--dir /dev/shm]
 * bun examples/throughput.ts --count 100000
 * ```
 *
 * Deno asks for all permissions (`-A`) to write anywhere under /dev, /dev/shm included; with
 * `--dir /tmp` (tmpfs on many systems) `--allow-ffi --allow-read --allow-write` are enough.
 *
 * The reader thread drains the kernel queue into the ring while the burst is being made, so the
 * kernel's `fs.inotify.max_queued_events` (16384 by default) does not cap the burst; the ring
 * does (`ringSize`, 8 MiB: about 260,000 events with short names). Past it the kernel queue fills
 * and one `Q_OVERFLOW` says events were lost, which this program reports.
 *
 * @module
 */
import { IN, Inotify } from "@notiq/notiq";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    count: { type: "string", default: "100000" },
    timeout: { type: "string", default: "30" },
    dir: { type: "string", default: "/dev/shm" },
  },
});
const count = Number(values.count);
const timeoutMs = Number(values.timeout) * 1000;
if (!Number.isSafeInteger(count) || count < 1) {
  throw new RangeError(`--count must be a positive integer, got ${values.count}`);
}

const runtime = "Deno" in globalThis
  ? `Deno ${process.versions.deno}`
  : process.versions.bun
  ? `Bun ${process.versions.bun}`
  : `Node ${process.versions.node}`;
console.log(`${runtime}: ${count} files in ${values.dir}`);

const dir = mkdtempSync(`${values.dir}/notiq-throughput-`);
const ino = new Inotify();
const timer = setTimeout(() => ino.close(), timeoutMs); // close() ends the loop below
try {
  ino.addWatch(dir, IN.CREATE);
  const batches = ino.batches();

  // The reader thread starts with the first iteration and takes a moment to load (Node: 100-300 ms
  // on a busy machine). Until it drains the kernel queue, a burst past fs.inotify.max_queued_events
  // overflows: a second event leaving the kernel queue while this thread does not read shows it runs.
  closeSync(openSync(`${dir}/warm-up`, "w"));
  await batches.next();
  closeSync(openSync(`${dir}/warm-up-2`, "w"));
  for (const end = Date.now() + 10_000; ino.pendingBytes() > 0 && Date.now() < end;) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }

  const next = batches.next(); // asked for before the burst, so reading overlaps making files
  const start = performance.now();
  for (let i = 0; i < count; i++) closeSync(openSync(`${dir}/f${i}`, "w"));
  const made = performance.now();

  let events = -1, overflows = 0, batchCount = 0; // -1: warm-up-2 comes first
  for (let r = await next; !r.done; r = await batches.next()) {
    batchCount++;
    for (const ev of r.value) {
      if (ev.mask & IN.Q_OVERFLOW) overflows++;
      else if (ev.mask & IN.CREATE) events++;
    }
    if (events === count || overflows) break; // all there, or what was lost will not come
  }
  const done = performance.now();

  const perSecond = (n: number, ms: number) => Math.round(n / (Math.max(ms, 0.01) / 1000));
  console.log(
    `made:       ${count} files in ${(made - start).toFixed(0)} ms (${perSecond(count, made - start)} files/s)`,
  );
  console.log(
    `read:       ${events} events in ${batchCount} batches, ${(done - made).toFixed(1)} ms after the last file`,
  );
  console.log(`events/s:   ${perSecond(events, done - made)} through batches() once the burst was made`);
  console.log(`end to end: ${perSecond(events, done - start)} events/s from the first file to the last event`);
  if (overflows) console.log(`overflow: the kernel queue overflowed; ${count - events} events were lost`);
  else if (events < count) console.log(`timeout: ${count - events} events had not arrived after ${values.timeout} s`);
  process.exitCode = events === count ? 0 : 1;
} finally {
  clearTimeout(timer);
  ino.close();
  rmSync(dir, { recursive: true, force: true });
}
