/**
 * Whether closed rings are returned: bench/ring_memory_bench.ts's loop (new Inotify({ ringSize: 1 MiB })
 * -> one event -> close()) run 20,000 times in one process, RSS every 2,500 cycles. A leak grows
 * with the cycles; a one-time step does not. Not a test:
 *   deno run -A tests/measure/ring_cycles.ts      bun tests/measure/ring_cycles.ts      node tests/measure/ring_cycles.ts
 *
 * @module
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import process from "node:process";
import { IN, Inotify } from "../../mod.ts";

const CYCLES = 20_000, EVERY = 2_500;
const dir = mkdtempSync("/dev/shm/notiq-rings-");
const mib = () => (process.memoryUsage().rss / 1048576).toFixed(1);
console.log(`start: rss ${mib()} MiB`);
try {
  for (let i = 1; i <= CYCLES; i++) {
    const inotify = new Inotify({ ringSize: 1 << 20 });
    inotify.addWatch(dir, IN.CREATE);
    const next = inotify[Symbol.asyncIterator]().next(); // waiting, as a consumer between events
    writeFileSync(`${dir}/f${i}`, "x");
    if ((await next).value?.name !== `f${i}`) throw new Error(`cycle ${i}: no event`);
    inotify.close();
    unlinkSync(`${dir}/f${i}`);
    if (i % EVERY === 0) console.log(`${i} cycles: rss ${mib()} MiB`);
  }
} finally {
  rmSync(dir, { recursive: true });
}
