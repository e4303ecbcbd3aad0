/**
 * Question: in a fresh process, what does starting to watch cost — the time from the first call
 * to the first event of a file made right after, and the RSS that watching adds — for one
 * directory and for a 10,000-directory tree, notiq beside the watchers people would otherwise use
 * and C?
 *
 * deno run -A bench/fresh_bench.ts      bun bench/fresh_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1, BENCH_READERS)
 * node_modules/node26/bin/node bench/fresh_bench.ts   (node:ffi; node24 in place of node26: koffi)
 *
 * Every sample is a process of its own, and the watch its first call: notiq in this file again
 * (FRESH_CHILD set), the peers in bench/peers.js (under Node too), C in bench/c/watch_tree.c. The
 * workload is measure.js's setup(): the time runs from the call (notiq watch(root); Deno.watchFs
 * and fs.watch with { recursive: true }; @parcel/watcher's subscribe(); C's inotify_init1 + nftw)
 * until the first event of a file written once the subject says it watches; a subject that says so
 * before its watches are in place misses that file, and another is written every 20 ms until one
 * arrives ("probes"). Loading the subject's module (notiq: mod.ts; parcel: its native addon) comes
 * before, timed apart. RSS: before the call, and at that first event.
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
  nowNs,
  QUICK,
  READERS,
  removeDir,
  report,
  runC,
  runJson,
  selfCommand,
  tmpDir,
} from "./common.ts";
import { setup } from "./measure.js";

const TREE_DIRS = QUICK ? 100 : 10_000;
const RUNS = QUICK ? 1 : 5;
const LATER_MS = QUICK ? 200 : 500; // RSS again this long after the first event, still watching

interface Sample {
  watchingMs: number;
  firstEventMs: number;
  probes: number;
  rssKiB: number;
  rssLaterKiB: number;
  loadMs?: number;
}

// FRESH_CHILD=[subject, options]: one setup of notiq in this new process, as JSON. Nothing of
// notiq is loaded before: the first import of mod.ts is timed as its load.
if (process.env.FRESH_CHILD) {
  const [subject, options] = JSON.parse(process.env.FRESH_CHILD);
  const t0 = nowNs();
  await import("../mod.ts");
  const loadMs = (nowNs() - t0) / 1e6;
  const { notiqInotify, notiqWatch } = await import("./machine.ts");
  const peer = subject === "watch()" ? notiqWatch : notiqInotify("for await");
  console.log(JSON.stringify({ ...(await setup(peer, options)), loadMs }));
  process.exit(0);
}

const { peerNotes, peers, roundRobin } = await import("./subjects.ts");

header(`fresh process: from the first call to the first event, and the RSS it adds`, [
  `one dir: an empty directory on /dev/shm; tree: ${TREE_DIRS} directories under a root on /dev/shm (about √n at the top,`,
  "the rest below them), watched recursively; the probe file goes in the last directory made",
  "call -> event: from the call that starts watching to the first event of a probe file written once the subject says it",
  "watches (notiq watch(): `ready`; parcel: subscribe() resolved; fs.watch, Deno.watchFs: the call returned; C: the walk",
  "done); probes: files written (one every 20 ms until one arrives: more than 1 means it said so before it watched)",
  "call -> watching: until the subject says it watches; load: importing its module first (notiq: mod.ts), not in the above",
  `RSS added: VmRSS at the first event, and ${LATER_MS} ms later while still watching, minus VmRSS before the call (notiq's`,
  "reader thread starts when its iteration first waits: after the first event, when that was already queued)",
  "notiq for await: new Inotify(), addWatch(dir, IN.CREATE), a for await pending: one directory only",
  "chokidar is left out: its setup stats every entry (seconds for the tree)",
  ...peerNotes().filter((n) => !n.includes("chokidar")),
  `every sample a new process, one at a time, round-robin; medians of ${RUNS} runs`,
]);

type Shape = "one dir" | "tree";

/** A subject: runs one sample of a shape in a new process. */
interface Runner {
  name: string;
  peer?: boolean;
  shapes: Shape[];
  run: (shape: Shape, options: { root: string; probe: string; laterMs: number }) => Promise<Sample>;
}

const oneDir = tmpDir("fresh-one");
const treeRoot = tmpDir("fresh-tree");
try {
  const shapes: Record<Shape, { root: string; probe: string; laterMs: number }> = {
    "one dir": { root: oneDir, probe: oneDir, laterMs: LATER_MS },
    tree: { root: treeRoot, probe: makeTree(treeRoot, TREE_DIRS), laterMs: LATER_MS },
  };
  const [cmd, args] = selfCommand(fileURLToPath(import.meta.url));
  const notiq = (subject: string, env: Record<string, string>): Runner["run"] => (_, options) =>
    runJson<Sample>(cmd, args, { env: { ...env, FRESH_CHILD: JSON.stringify([subject, options]) } });
  const runners: Runner[] = READERS.flatMap(({ label, env }): Runner[] => [
    { name: `notiq watch()${label}`, shapes: ["one dir", "tree"], run: notiq("watch()", env) },
    { name: `notiq for await${label}`, shapes: ["one dir"], run: notiq("for await", env) },
  ]);
  for (const p of await peers("own process")) {
    if (p.name.startsWith("chokidar")) continue;
    runners.push({ name: p.name, peer: true, shapes: ["one dir", "tree"], run: (_, o) => p.run("setup", o) });
  }
  const exe = compileC("watch_tree");
  if (exe) {
    runners.push({
      name: "C (nftw + inotify_add_watch)",
      shapes: ["one dir", "tree"],
      run: (_, o) => runC<Sample>(exe, [o.root, "setup", o.probe, o.laterMs]),
    });
  } else note("C subject skipped: no C compiler");

  const samples = await roundRobin(
    runners.flatMap((r) =>
      r.shapes.map((shape) => ({ name: r.name, peer: r.peer, measured: shape, run: () => r.run(shape, shapes[shape]) }))
    ),
    RUNS,
  );
  const of = (name: string, shape: Shape) => samples.find(([s]) => s.name === name && s.measured === shape)?.[1];
  const med = (rs: Sample[] | undefined, pick: (s: Sample) => number | undefined) =>
    rs ? median(rs.map(pick).filter((x): x is number => x !== undefined)) : NaN;
  const c = "C (nftw + inotify_add_watch)";
  const cTree = med(of(c, "tree"), (s) => s.firstEventMs);
  const cOne = med(of(c, "one dir"), (s) => s.firstEventMs);
  const names = [...new Set(samples.map(([s]) => s.name))];
  const cell = (x: number) => Number.isNaN(x) ? "n/a" : x;
  report(
    "fresh",
    names.map((name) => {
      const one = of(name, "one dir"), tree = of(name, "tree");
      const oneMs = med(one, (s) => s.firstEventMs), treeMs = med(tree, (s) => s.firstEventMs);
      return {
        subject: name,
        "load ms": cell(med([...(one ?? []), ...(tree ?? [])], (s) => s.loadMs)),
        "1 dir: call -> event ms": cell(oneMs),
        "1 dir x C": cell(oneMs / cOne),
        "1 dir: RSS added MiB": cell(med(one, (s) => s.rssKiB) / 1024),
        [`1 dir: RSS added +${LATER_MS} ms`]: cell(med(one, (s) => s.rssLaterKiB) / 1024),
        "tree: call -> watching ms": cell(med(tree, (s) => s.watchingMs)),
        "tree: call -> event ms": cell(treeMs),
        "tree x C": cell(treeMs / cTree),
        "tree: probes": tree ? Math.max(...tree.map((s) => s.probes)) : "n/a",
        "tree: RSS added MiB": cell(med(tree, (s) => s.rssKiB) / 1024),
        [`tree: RSS added +${LATER_MS} ms`]: cell(med(tree, (s) => s.rssLaterKiB) / 1024),
        "runs tree ms": tree ? tree.map((s) => s.firstEventMs.toFixed(0)).join(" ") : "",
      };
    }),
    { treeDirs: TREE_DIRS, laterMs: LATER_MS, runs: RUNS },
  );
} finally {
  removeDir(oneDir);
  removeDir(treeRoot);
}
