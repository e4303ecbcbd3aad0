/**
 * Question: how much CPU does watching cost while nothing happens — 1,000 watched directories,
 * 10 s — for notiq (Inotify `for await`, `watch()`) beside the watchers people would otherwise use
 * and C? notiq's must be 0: its reader parks (this check was a test; timing belongs here).
 *
 * deno run -A bench/idle_bench.ts      bun bench/idle_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 * node_modules/node26/bin/node bench/idle_bench.ts   (node:ffi)
 *
 * Each subject runs in a process of its own, so the CPU counted is its own: notiq and the baseline
 * in this file again (IDLE_CHILD set), the peers in bench/peers.js (under Node too), C in
 * bench/c/watch_tree.c. Every subject watches the root recursively: notiq's Inotify one watch per
 * directory (listed once) read by `for await`, notiq watch(root) iterated from `ready`, chokidar
 * until its `ready`, @parcel/watcher until subscribe() resolves, Deno.watchFs and fs.watch with
 * { recursive: true }; C is nftw + inotify_add_watch, then poll(). Setup time and memory of a
 * fresh process: fresh_bench.ts.
 *
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  compileC,
  header,
  makeTree,
  median,
  note,
  QUICK,
  READERS,
  removeDir,
  report,
  runC,
  runJson,
  selfCommand,
  tmpDir,
} from "./common.ts";
import { notiqInotify, notiqWatch } from "./machine.ts";
import { idle, type Peer } from "./measure.js";
import { peerNotes, peers, roundRobin } from "./subjects.ts";

const IDLE_DIRS = QUICK ? 100 : 1000;
const IDLE_S = QUICK ? 1 : 10;
const RUNS = QUICK ? 1 : 3;

/** A polling reader would burn most of a core; parked threads use next to nothing. Above this, exit 1. */
const NOTIQ_MAX_CPU_S = 0.1;

/** The subjects this file runs in a child of its own: notiq, and the runtime doing nothing. */
const CHILD_PEERS: Record<string, Peer> = {
  "for await": notiqInotify("for await"),
  "watch()": notiqWatch,
  baseline: () => () => {},
};

if (process.env.IDLE_CHILD) {
  const [subject, options] = JSON.parse(process.env.IDLE_CHILD);
  console.log(JSON.stringify(await idle(CHILD_PEERS[subject], options)));
  process.exit(0);
}

header("idle: CPU while watching and nothing happens", [
  `CPU seconds (user + system, all threads; /proc, 10 ms ticks) over ${IDLE_S} s with ${IDLE_DIRS} watched directories,`,
  "counted from 0.5 s after the subject started watching (start-up work is not idling)",
  "notiq for await: new Inotify(), one IN_CREATE watch per directory, a for await pending (its reader parked);",
  "notiq watch(): watch(root) iterated from `ready`",
  "baseline: the runtime doing nothing, for the runtime's own idle CPU",
  `exit 1 if a notiq row uses more than ${NOTIQ_MAX_CPU_S} s (a polling reader would use most of the ${IDLE_S} s)`,
  "every subject's process of a round runs at once (each counts only its own CPU)",
  ...peerNotes(),
  `medians of ${RUNS} runs`,
]);

interface Runner {
  name: string;
  peer?: boolean;
  run: () => Promise<{ cpu: number }>;
}

const root = tmpDir("idle");
try {
  makeTree(root, IDLE_DIRS - 1); // + the root
  const options = { root, seconds: IDLE_S };
  const [cmd, args] = selfCommand(fileURLToPath(import.meta.url));
  const inChild = (subject: string, env: Record<string, string> = {}) => () =>
    runJson<{ cpu: number }>(cmd, args, { env: { ...env, IDLE_CHILD: JSON.stringify([subject, options]) } });
  const runners: Runner[] = READERS.flatMap(({ label, env }) => [
    { name: `notiq for await${label}`, run: inChild("for await", env) },
    { name: `notiq watch()${label}`, run: inChild("watch()", env) },
  ]);
  for (const p of await peers("own process")) {
    runners.push({ name: p.name, peer: true, run: () => p.run("idle", options) });
  }
  const exe = compileC("watch_tree");
  if (exe) runners.push({ name: "C (nftw + inotify_add_watch)", run: () => runC(exe, [root, "idle", IDLE_S]) });
  else note("C subject skipped: no C compiler");
  runners.push({ name: "baseline", run: inChild("baseline") });

  const rows = await roundRobin(runners, RUNS, { concurrent: true });
  const notiqCpu = median(rows[0][1].map((r) => r.cpu));
  report(
    "idle",
    rows.map(([{ name }, rs]) => {
      const cpu = median(rs.map((r) => r.cpu));
      return {
        subject: name,
        [`idle CPU s / ${IDLE_S} s`]: cpu,
        "x notiq for await": notiqCpu > 0 ? cpu / notiqCpu : "n/a (notiq 0)",
        runs: rs.map((r) => r.cpu.toFixed(2)).join(" "),
      };
    }),
    { idleDirs: IDLE_DIRS, idleSeconds: IDLE_S, runs: RUNS },
  );
  for (const [{ name }, rs] of rows) {
    const cpu = median(rs.map((r) => r.cpu));
    if (name.startsWith("notiq ") && cpu > NOTIQ_MAX_CPU_S) {
      console.error(`FAIL: ${name} used ${cpu} s of CPU in ${IDLE_S} s idle`);
      process.exitCode = 1;
    }
  }
} finally {
  removeDir(root);
}
