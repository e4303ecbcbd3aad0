/**
 * Does koffi hold up inside a node:worker_threads Worker, as notiq's reader thread uses it? (koffi
 * issue #190 reports random crashes there; those came from koffi's async calls, which notiq does
 * not make.) Not a test; run with a Node that has no node:ffi, so that koffi is the binding:
 *   node tests/measure/koffi_worker.ts [RUNS]        (node_modules/node24/bin/node in this repo)
 * Each run is a fresh process: one Inotify whose consumer waits, so the reader thread (a Worker
 * that binds libc with koffi) drains 2,000 events while the main thread is blocked for part of
 * them, then closes and exits; the process exit stops and joins that Worker. Then one process
 * starts and terminates 50 Workers in turn, each making 20,000 koffi calls while the main thread
 * makes its own. Prints the runs, how each ended, and the crashes.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import process from "node:process";

const runs = Number(process.argv[2] ?? 100);
const mod = new URL("../../mod.ts", import.meta.url).href;
const load = new URL("../../ffi/load.ts", import.meta.url).href;

const drain = `
  import { IN, Inotify } from ${JSON.stringify(mod)};
  import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
  const dir = mkdtempSync("/dev/shm/notiq-koffi-");
  const ino = new Inotify();
  ino.addWatch(dir, IN.CREATE);
  const it = ino[Symbol.asyncIterator]();
  let seen = 0;
  const first = it.next(); // the consumer waits: the reader thread starts
  for (let i = 0; i < 1000; i++) writeFileSync(dir + "/a" + i, "");
  if (!(await first).done) seen++;
  const until = Date.now() + 50; while (Date.now() < until); // blocked: only the reader drains
  for (let i = 0; i < 1000; i++) writeFileSync(dir + "/b" + i, "");
  while (seen < 2000 && !(await it.next()).done) seen++;
  ino.close();
  rmSync(dir, { recursive: true });
  console.log(seen);`;

const churn = `
  import { Worker } from "node:worker_threads";
  const { loadSys } = await import(${JSON.stringify(load)});
  const sys = await loadSys();
  const body = "const { loadSys } = await import(" + ${JSON.stringify(JSON.stringify(load))} + ");" +
    "const sys = await loadSys(); const fd = sys.eventfd(0, 0o4000); const b = new Uint8Array(8);" +
    "for (let i = 0; i < 20000; i++) { sys.poll(new Uint8Array(8), 0); sys.read(fd, b); } sys.close(fd);";
  for (let i = 0; i < 50; i++) {
    const w = new Worker(new URL("data:text/javascript," + encodeURIComponent(body)));
    const done = new Promise((resolve, reject) => { w.on("exit", resolve); w.on("error", reject); });
    for (let j = 0; j < 5000; j++) sys.getdents64(-1, new Uint8Array(64));
    if (i % 2) await w.terminate(); else await done;
  }
  console.log("50 workers");`;

function run(source: string): string {
  const child = spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", "-e", source], {
    encoding: "utf8",
    timeout: 60_000,
  });
  if (child.signal) return `signal ${child.signal}: ${child.stderr.trim().split("\n").slice(0, 4).join(" | ")}`;
  if (child.status !== 0) return `exit ${child.status}: ${child.stderr.trim().split("\n").slice(-3).join(" | ")}`;
  return `ok ${child.stdout.trim()}`;
}

console.log(`node ${process.versions.node}, binding: ${process.getBuiltinModule?.("node:ffi") ? "node:ffi" : "koffi"}`);
const ends = new Map<string, number>();
for (let i = 0; i < runs; i++) {
  const end = run(drain);
  ends.set(end, (ends.get(end) ?? 0) + 1);
}
console.log(`${runs} processes, reader thread on koffi:`, Object.fromEntries(ends));
console.log(`worker churn: ${run(churn)}`);
