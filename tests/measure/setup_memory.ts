/**
 * Where watch()'s setup time and memory go, in one fresh process. Not a test; run it with the gc exposed:
 *   deno run -A --v8-flags=--expose-gc tests/measure/setup_memory.ts      bun tests/measure/setup_memory.ts
 *   node --expose-gc tests/measure/setup_memory.ts                         (add --cpu-prof for a profile)
 * Five watch() calls in a row on a tree of 10,100 directories on /dev/shm, each from the call to the
 * event of a file written after `ready` (the first is the process's cold call); RSS and the JS heap
 * before the call, at that event, and after a full gc (the tree's live size).
 *
 * @module
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";

const CALLS = 5;
const root = mkdtempSync("/dev/shm/notiq-setup-");
for (let i = 0; i < 100; i++) for (let j = 0; j < 100; j++) mkdirSync(`${root}/d${i}/e${j}`, { recursive: true });

const g = globalThis as { gc?: () => void; Bun?: { gc(full: boolean): void } };
const gc = g.gc ?? (g.Bun ? () => g.Bun!.gc(true) : undefined);
if (!gc) console.log("no gc exposed: the 'after gc' figures are not a full gc's");
const mib = (n: number) => (n / 1048576).toFixed(1);
const memory = () => {
  const m = process.memoryUsage();
  return `rss ${mib(m.rss)} heap ${mib(m.heapUsed)}`;
};

const t0 = performance.now();
const { watch } = await import("../../mod.ts");
console.log(`import ${(performance.now() - t0).toFixed(1)} ms; ${memory()} MiB`);
try {
  for (let call = 0; call < CALLS; call++) {
    const before = memory();
    const t = performance.now();
    const watcher = watch(root);
    await watcher.ready;
    const name = `probe-${call}`;
    writeFileSync(`${root}/d99/e99/${name}`, "x");
    for await (const ev of watcher) if (ev.path.endsWith(name)) break;
    const ms = performance.now() - t;
    const atEvent = memory();
    gc?.();
    console.log(
      `call ${call}: ${ms.toFixed(1)} ms | before ${before} | at the event ${atEvent} | after gc ${memory()}`,
    );
    await watcher.close();
  }
} finally {
  rmSync(root, { recursive: true });
}
