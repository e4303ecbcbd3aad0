/**
 * Measures what each further Inotify instance costs: RSS over the process's start, and the time to
 * its first event, for 8 instances (64 KiB rings) each watching the same dir on /dev/shm. Not a test:
 *   deno run -A tests/measure/instances.ts      bun tests/measure/instances.ts
 *
 * @module
 */
import process from "node:process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { IN, Inotify } from "../../mod.ts";

const dir = mkdtempSync("/dev/shm/notiq-instances-");
const rssMiB = () => process.memoryUsage().rss / 2 ** 20;
const runtime = "Deno" in globalThis ? `deno ${Deno.version.deno}` : `bun ${process.versions.bun}`;
const base = rssMiB();
const queues: Inotify[] = [];
try {
  for (let n = 1; n <= 8; n++) {
    const t0 = performance.now();
    const ino = new Inotify({ ringSize: 65536 });
    queues.push(ino);
    ino.addWatch(dir, IN.CREATE);
    const first = ino[Symbol.asyncIterator]().next();
    writeFileSync(`${dir}/f${n}`, "");
    await first;
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 200)); // let RSS settle
    console.log(
      `${runtime} instance ${n}: RSS +${(rssMiB() - base).toFixed(1)} MiB, first event after ${ms.toFixed(1)} ms`,
    );
  }
} finally {
  for (const q of queues) q.close();
  rmSync(dir, { recursive: true });
}
