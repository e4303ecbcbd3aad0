/**
 * Questions: how much CPU does watching cost while nothing happens (1,000 watched directories,
 * 10 s), and how long and how much memory does it take to start watching a 10,000-directory tree
 * recursively — notiq's watch() beside the watchers people would otherwise use, and C?
 *
 * deno run -A bench/idle_bench.ts      bun bench/idle_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 *
 * Each subject runs in a process of its own, so CPU and RSS are its own: notiq and the baseline
 * in this file again (IDLE_CHILD set), the peers in bench/peers.js (under Node too), C in
 * bench/c/watch_tree.c. Every subject watches the root recursively: notiq watch(root) until
 * `ready`, chokidar until its `ready`, @parcel/watcher until subscribe() resolves, Deno.watchFs
 * and fs.watch with { recursive: true }; C is nftw + inotify_add_watch.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  compileC,
  header,
  median,
  note,
  QUICK,
  removeDir,
  report,
  runC,
  runJson,
  selfCommand,
  tmpDir,
} from "./common.ts";
import { type Peer, WORKLOADS } from "./peers.js";
import { notiqWatch, peerNotes, peers, roundRobin, type Workload } from "./subjects.ts";

const IDLE_DIRS = QUICK ? 100 : 1000;
const IDLE_S = QUICK ? 1 : 10;
const TREE = QUICK ? [10, 10] : [100, 99]; // 100 + 100 * 99 + the root = 10,001 directories
const RUNS = QUICK ? 1 : 3;

/** The subjects this file runs in a child of its own: notiq, and the runtime doing nothing. */
const CHILD_PEERS: Record<string, Peer> = { notiq: notiqWatch, baseline: () => () => {} };

if (process.env.IDLE_CHILD) {
  const [subject, workload, options]: [string, Workload, object] = JSON.parse(process.env.IDLE_CHILD);
  // deno-lint-ignore no-explicit-any
  console.log(JSON.stringify(await WORKLOADS[workload](CHILD_PEERS[subject], options as any)));
  process.exit(0);
}

header("idle and setup", [
  `idle: CPU seconds (user + system, all threads; /proc, 10 ms ticks) over ${IDLE_S} s with ${IDLE_DIRS} watched directories, nothing happening`,
  `setup: time to watch a tree of ${
    1 + TREE[0] + TREE[0] * TREE[1]
  } directories (/dev/shm) recursively, until the subject says it is watching, and the RSS it added`,
  "ready -> probe: then a symlink is made in the tree's last directory: time until its event arrives (none: not in 5 s),",
  "which shows a subject that says ready before its watches are in place",
  "notiq: watch(root) until `await watcher.ready`; its iteration starts after that, and the process's reader thread when the",
  "iteration first waits (not in setup ms: 25-45 ms in Deno, whose worker creation blocks, 4-9 in Bun); up for RSS and CPU",
  "baseline: the runtime doing nothing, for the runtime's own idle CPU and RSS noise",
  "idle runs every subject's process of a round at once (each counts only its own CPU); setup runs them one at a time",
  ...peerNotes(),
  `medians of ${RUNS} runs`,
]);

function makeTree(root: string, levels: number[]): void {
  const [n, m] = levels;
  for (let i = 0; i < n; i++) {
    const a = join(root, `a${i}`);
    mkdirSync(a);
    for (let j = 0; j < m; j++) mkdirSync(join(a, `b${j}`));
  }
}

interface Setup {
  ms: number;
  /** null: the probe's event did not arrive; undefined: no probe (C, baseline) */
  probeMs?: number | null;
  rssKiB: number;
}

/** A subject of this bench: runs the idle or setup workload in a process of its own. */
interface Runner {
  name: string;
  peer?: boolean;
  run: (workload: "idle" | "setup", options: object) => Promise<unknown>;
}

const idleRoot = tmpDir("idle");
const treeRoot = tmpDir("tree");
try {
  makeTree(idleRoot, [IDLE_DIRS - 1, 0]);
  makeTree(treeRoot, TREE);
  const idleOptions = { root: idleRoot, seconds: IDLE_S };
  const setupOptions = { root: treeRoot, probe: join(treeRoot, `a${TREE[0] - 1}`, `b${TREE[1] - 1}`) };
  const [cmd, args] = selfCommand(fileURLToPath(import.meta.url));
  const inChild = (subject: string, probe = true): Runner["run"] => (workload, options) =>
    runJson(cmd, args, {
      env: { IDLE_CHILD: JSON.stringify([subject, workload, probe ? options : { ...options, probe: undefined }]) },
    });
  const exe = compileC("watch_tree");
  const runners: Runner[] = [
    { name: "notiq watch()", run: inChild("notiq") },
    ...(await peers("own process")).map((p) => ({ name: p.name, peer: true, run: p.run })),
  ];
  if (exe) {
    runners.push({
      name: "C (nftw + inotify_add_watch)",
      run: (w) => runC(exe, w === "idle" ? [idleRoot, "idle", IDLE_S] : [treeRoot, "setup"]),
    });
  } else note("C subject skipped: no C compiler");
  runners.push({ name: "baseline", run: inChild("baseline", false) });

  // Idle: each round's processes all at once (each counts only its own CPU, and all wait); setup: one at a time.
  const idle = new Map(
    (await roundRobin(
      runners.map((r) => ({ ...r, run: () => r.run("idle", idleOptions) as Promise<{ cpu: number }> })),
      RUNS,
      { concurrent: true },
    )).map(([s, rs]) => [s.name, median(rs.map((r) => r.cpu))]),
  );
  const setup = await roundRobin(
    runners.map((r) => ({ ...r, run: () => r.run("setup", setupOptions) as Promise<Setup> })),
    RUNS,
  );
  const msOf = (rs: Setup[]) => median(rs.map((r) => r.ms));
  const notiqMs = msOf(setup.find(([s]) => s.name === "notiq watch()")![1]);
  const notiqCpu = idle.get("notiq watch()")!;
  const c = setup.find(([s]) => s.name.startsWith("C "))?.[1];
  const cMs = c ? msOf(c) : NaN;
  report(
    "idle",
    setup.map(([{ name }, rs]) => {
      const cpu = idle.get(name) ?? NaN;
      const probes = rs.map((r) => r.probeMs);
      return {
        subject: name,
        [`idle CPU s / ${IDLE_S} s`]: Number.isNaN(cpu) ? "failed" : cpu,
        "idle x notiq": notiqCpu > 0 ? cpu / notiqCpu : "n/a (notiq 0)",
        "setup ms": msOf(rs),
        "setup x C": c ? msOf(rs) / cMs : "n/a",
        "setup x notiq": msOf(rs) / notiqMs,
        "ready -> probe ms": probes.includes(undefined)
          ? "n/a"
          : probes.includes(null)
          ? "none"
          : median(probes as number[]),
        "RSS added MiB": median(rs.map((r) => r.rssKiB)) / 1024,
        "runs setup ms": rs.map((r) => r.ms.toFixed(0)).join(" "),
      };
    }),
    { idleDirs: IDLE_DIRS, idleSeconds: IDLE_S, runs: RUNS },
  );
} finally {
  removeDir(idleRoot);
  removeDir(treeRoot);
}
