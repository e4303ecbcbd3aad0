/**
 * Questions: how much CPU does watching cost while nothing happens (1,000 watched directories,
 * 10 s), and how long and how much memory does it take to start watching a 10,000-directory tree?
 *
 * deno run -A bench/idle_bench.ts      bun bench/idle_bench.ts      (BENCH_QUICK=1, BENCH_JSON=1)
 *
 * Each subject runs in a process of its own (this file again, with IDLE_CHILD set), so CPU and RSS
 * are its own. notiq has no recursive watch() yet here: its setup is a readdir walk + addWatch per
 * directory; Deno.watchFs and fs.watch get { recursive: true } on the root; C is nftw + add_watch.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, watch as fsWatch } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { IN, Inotify } from "../mod.ts";
import {
  compileC,
  cpuSeconds,
  header,
  median,
  note,
  nowNs,
  QUICK,
  removeDir,
  report,
  rssKiB,
  runC,
  RUNTIME,
  selfCommand,
  sleep,
  tmpDir,
} from "./common.ts";

const IDLE_DIRS = QUICK ? 100 : 1000;
const IDLE_S = QUICK ? 1 : 10;
const TREE = QUICK ? [10, 10] : [100, 99]; // 100 + 100 * 99 + the root = 10,001 directories
const RUNS = QUICK ? 1 : 3;
const MASK = IN.CREATE | IN.DELETE | IN.MODIFY | IN.MOVE | IN.CLOSE_WRITE | IN.ATTRIB | IN.ONLYDIR;

interface ChildResult {
  ms?: number;
  rssKiB?: number;
  cpu?: number;
  watches?: number;
}

/** notiq's recursive setup until watch() exists: walk, add a watch per directory. */
function notiqWatchTree(ino: Inotify, root: string): number {
  let count = 0;
  const walk = (dir: string) => {
    ino.addWatch(dir, MASK);
    count++;
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
  };
  walk(root);
  return count;
}

/** Runs one subject in this process (IDLE_CHILD=subject:mode) and prints its JSON. */
async function child(subject: string, mode: string, root: string): Promise<ChildResult> {
  const rss0 = rssKiB();
  const t0 = nowNs();
  let close: () => void;
  let watches: number | undefined;
  let ms = NaN;
  if (subject === "notiq") {
    const ino = new Inotify();
    watches = notiqWatchTree(ino, root);
    ms = (nowNs() - t0) / 1e6; // watching: events queue in the kernel from here on
    // Start delivering (the reader thread runs from the first iteration) so RSS and CPU include it.
    const pending = ino[Symbol.asyncIterator]().next();
    await sleep(0);
    void pending;
    close = () => ino.close();
  } else if (subject === "Deno.watchFs") {
    // deno-lint-ignore no-explicit-any
    const watcher = (globalThis as any).Deno.watchFs(root, { recursive: true });
    const pending = watcher[Symbol.asyncIterator]().next();
    void pending;
    close = () => watcher.close();
  } else if (subject === "node:fs.watch") {
    const watcher = fsWatch(root, { recursive: true }, () => {});
    close = () => watcher.close();
  } else if (subject === "baseline") {
    close = () => {};
  } else throw new Error(`unknown subject ${subject}`);
  if (Number.isNaN(ms)) ms = (nowNs() - t0) / 1e6;
  if (mode === "setup") {
    await sleep(200); // let a reader thread come up before RSS is read
    const result = { ms, rssKiB: rssKiB() - rss0, watches };
    close();
    return result;
  }
  await sleep(500);
  const cpu0 = cpuSeconds();
  await sleep(IDLE_S * 1000);
  const cpu = cpuSeconds() - cpu0;
  close();
  return { cpu, watches };
}

if (process.env.IDLE_CHILD) {
  const [subject, mode, root] = process.env.IDLE_CHILD.split("|");
  console.log(JSON.stringify(await child(subject, mode, root)));
  process.exit(0);
}

header("idle and setup", [
  `idle: CPU seconds (user + system, all threads; /proc, 10 ms ticks) over ${IDLE_S} s with ${IDLE_DIRS} watched directories, nothing happening`,
  `setup: time to watch a tree of ${
    1 + TREE[0] + TREE[0] * TREE[1]
  } directories (/dev/shm) and the RSS it added; each subject in its own process`,
  "notiq setup: time of the readdir walk + addWatch per directory; RSS after its iteration started too (reader thread up)",
  "baseline: the runtime doing nothing, for the runtime's own idle CPU and RSS noise",
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

const idleRoot = tmpDir("idle");
const treeRoot = tmpDir("tree");
try {
  makeTree(idleRoot, [IDLE_DIRS - 1, 0]);
  makeTree(treeRoot, TREE);
  const script = fileURLToPath(import.meta.url);
  const [cmd, args] = selfCommand(script);
  const runChild = (subject: string, mode: string, root: string): ChildResult => {
    const r = spawnSync(cmd, args, {
      env: { ...process.env, IDLE_CHILD: `${subject}|${mode}|${root}` },
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`${subject} ${mode} failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  };
  const exe = compileC("watch_tree");
  const subjects = ["notiq", RUNTIME === "deno" ? "Deno.watchFs" : "node:fs.watch", ...(exe ? ["C"] : []), "baseline"];
  if (!exe) note("C subject skipped: no C compiler");
  const idle = new Map<string, number[]>(subjects.map((s) => [s, []]));
  const setupMs = new Map<string, number[]>(subjects.map((s) => [s, []]));
  const setupRss = new Map<string, number[]>(subjects.map((s) => [s, []]));
  for (let run = 0; run < RUNS; run++) {
    for (const s of subjects) {
      const i = s === "C" ? runC<ChildResult>(exe!, [idleRoot, "idle", IDLE_S]) : runChild(s, "idle", idleRoot);
      idle.get(s)!.push(i.cpu!);
      const t = s === "C" ? runC<ChildResult>(exe!, [treeRoot, "setup"]) : runChild(s, "setup", treeRoot);
      setupMs.get(s)!.push(t.ms!);
      setupRss.get(s)!.push(t.rssKiB!);
    }
  }
  const notiqMs = median(setupMs.get("notiq")!), cMs = exe ? median(setupMs.get("C")!) : NaN;
  const notiqCpu = median(idle.get("notiq")!);
  report(
    "idle",
    subjects.map((s) => ({
      subject: s === "node:fs.watch" ? "node:fs.watch (Bun)" : s,
      [`idle CPU s / ${IDLE_S} s`]: median(idle.get(s)!),
      "idle x notiq": notiqCpu > 0 ? median(idle.get(s)!) / notiqCpu : "n/a (notiq 0)",
      "setup ms": median(setupMs.get(s)!),
      "setup x C": exe ? median(setupMs.get(s)!) / cMs : "n/a",
      "setup x notiq": median(setupMs.get(s)!) / notiqMs,
      "RSS added MiB": median(setupRss.get(s)!) / 1024,
      "runs setup ms": setupMs.get(s)!.map((x) => x.toFixed(0)).join(" "),
    })),
    { idleDirs: IDLE_DIRS, idleSeconds: IDLE_S, runs: RUNS },
  );
} finally {
  removeDir(idleRoot);
  removeDir(treeRoot);
}
