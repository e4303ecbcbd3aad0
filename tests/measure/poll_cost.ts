/**
 * What a `poll` walk costs on a FUSE mount. Not a test; needs root and bindfs (tests/fuse/setup.sh):
 *   deno run -A tests/measure/poll_cost.ts      bun tests/measure/poll_cost.ts
 * A bindfs mirror (no attribute cache) of 100 directories x 100 files on /dev/shm, watched with
 * `poll`; each `sync()` makes a walk, whose time `stats().lastPollMs` gives. Prints the setup time
 * and five walks.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { watch } from "../../mod.ts";

const dir = mkdtempSync("/dev/shm/notiq-poll-cost-");
try {
  for (let d = 0; d < 100; d++) {
    mkdirSync(`${dir}/src/d${d}`, { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(`${dir}/src/d${d}/f${f}`, "x");
  }
  mkdirSync(`${dir}/mnt`);
  const mount = spawnSync("bindfs", [
    "-o",
    "attr_timeout=0,entry_timeout=0,negative_timeout=0",
    `${dir}/src`,
    `${dir}/mnt`,
  ]);
  if (mount.status !== 0) throw new Error(`bindfs failed: ${mount.stderr}`);
  try {
    const start = performance.now();
    await using watcher = watch(`${dir}/mnt`, { poll: 60_000 });
    await watcher.ready;
    const setup = performance.now() - start;
    void (async () => {
      for await (const _ of watcher);
    })();
    const walks: string[] = [];
    for (let i = 0; i < 5; i++) {
      await watcher.sync();
      walks.push(watcher.stats().lastPollMs.toFixed(0));
    }
    const runtime = "Deno" in globalThis ? "deno" : "bun";
    console.log(`${runtime}: 10,100 entries on bindfs: setup ${setup.toFixed(0)} ms; walks ${walks.join(", ")} ms`);
  } finally {
    spawnSync("fusermount", ["-u", `${dir}/mnt`]);
  }
} finally {
  rmSync(dir, { recursive: true });
}
