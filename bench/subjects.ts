/**
 * Who runs the workloads of peers.js: notiq through peers of its own (Inotify batches() / for
 * await, watch()), the peers of this runtime, in this process or each in a process of its own,
 * and node:fs.watch under the real Node in a child process; and the round-robin runner, which
 * drops a peer that fails (with a note) but lets notiq's and C's failures end the bench.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { setImmediate } from "node:timers";
import { IN, Inotify, watch } from "../mod.ts";
import { note, PEERS_SCRIPT, runJson, RUNTIME, selfCommand } from "./common.ts";
import { loadPeer, type Peer, type Tally, WORKLOADS } from "./peers.js";

export type NotiqApi = "batches()" | "for await";

/** Reads `ino` into `tally` until it is closed; every event's name is touched (decoded). */
export async function readInto(ino: Inotify, api: NotiqApi, tally: Tally): Promise<void> {
  const see = (ev: { mask: number; name: string }) => {
    if (ev.mask & IN.Q_OVERFLOW) tally.loss("IN_Q_OVERFLOW");
    else tally.seen(ev.name);
  };
  if (api === "batches()") {
    for await (const batch of ino.batches()) {
      for (const ev of batch) see(ev);
      tally.arrived();
    }
  } else {
    for await (const ev of ino) {
      see(ev);
      tally.arrived();
    }
  }
}

/** notiq's Inotify as a peer: one IN_CREATE watch on `dir` (no recursion), read with `api`. */
export function notiqInotify(api: NotiqApi): Peer {
  return (dir, _recursive, tally) => {
    const ino = new Inotify();
    ino.addWatch(dir, IN.CREATE);
    const reading = readInto(ino, api, tally);
    return async () => {
      ino.close();
      await reading;
    };
  };
}

/**
 * notiq's watch() as a peer: watching once `ready` resolves (events are kept from then on). Its
 * iteration starts at the next turn of the event loop, as after `await watcher.ready` in a
 * program, so setup times end at `ready`; the reader thread starts when that iteration first
 * waits.
 */
export const notiqWatch: Peer = async (dir, recursive, tally) => {
  const watcher = watch(dir, { recursive });
  await watcher.ready;
  const reading = new Promise((next) => setImmediate(next)).then(async () => {
    for await (const ev of watcher) {
      if (ev.kind === "overflow" || ev.kind === "error") tally.loss(ev.kind);
      else tally.seen(ev.path);
      tally.arrived();
    }
  });
  return async () => {
    await watcher.close();
    await reading;
  };
};

export type Workload = keyof typeof WORKLOADS;

/** A peer subject: runs a workload of peers.js with the given options. */
export interface PeerRunner {
  name: string;
  run<T>(workload: Workload, options: object): Promise<T>;
}

let nodeFound: { path: string; version: string } | undefined | null = null;

/**
 * The first real Node on PATH and its version ("20.20.2"), or undefined (peerNotes() says so).
 * Real: Deno puts a `node` of its own on its children's PATH (node_compat_bin), and runs itself
 * for a bare "node" that is not on PATH.
 */
function findNode(): { path: string; version: string } | undefined {
  if (nodeFound !== null) return nodeFound;
  nodeFound = undefined;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const path = join(dir, "node");
    const r = spawnSync(path, ["-p", "globalThis.Deno || globalThis.Bun ? '' : process.versions.node"], {
      encoding: "utf8",
    });
    const version = r.status === 0 ? r.stdout.trim() : "";
    if (version) {
      nodeFound = { path, version };
      break;
    }
  }
  return nodeFound;
}

const OWN_PEERS = RUNTIME === "deno"
  ? ["Deno.watchFs", "node:fs.watch", "chokidar", "@parcel/watcher"]
  : ["node:fs.watch", "chokidar", "@parcel/watcher"];

/**
 * This runtime's peers, then node:fs.watch under Node in a child. In this process, a peer whose
 * module fails to load is left out with a note; in a process of its own, it fails when run.
 */
export async function peers(where: "this process" | "own process"): Promise<PeerRunner[]> {
  const runners: PeerRunner[] = [];
  for (const peer of OWN_PEERS) {
    const name = peer === "Deno.watchFs" ? peer : `${peer} (${RUNTIME === "deno" ? "Deno" : "Bun"})`;
    if (where === "own process") {
      const [cmd, args] = selfCommand(PEERS_SCRIPT);
      runners.push({
        name,
        run: (workload, options) => runJson(cmd, [...args, workload, peer, JSON.stringify(options)]),
      });
      continue;
    }
    try {
      const loaded = await loadPeer(peer);
      // deno-lint-ignore no-explicit-any
      runners.push({ name, run: (workload, options) => WORKLOADS[workload](loaded, options as any) as any });
    } catch (err) {
      note(`${name} skipped: ${(err as Error).message}`);
    }
  }
  const node = findNode();
  if (node) {
    runners.push({
      name: `node:fs.watch (Node ${node.version})`,
      run: (workload, options) =>
        runJson(node.path, [PEERS_SCRIPT, workload, "node:fs.watch", JSON.stringify(options)]),
    });
  }
  return runners;
}

function installed(pkg: string): string {
  try {
    return JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), "utf8")).version;
  } catch {
    return "(not installed)";
  }
}

/** What each peer is, for the header. */
export function peerNotes(): string[] {
  const node = findNode();
  return [
    `peers run the same workload code (bench/peers.js); chokidar ${
      installed("chokidar")
    } over the runtime's fs.watch;` +
    " it stats each path before emitting (followSymlinks: false, or it stat()s a new symlink's missing target and drops it)",
    `@parcel/watcher ${
      installed("@parcel/watcher")
    }: its own thread reads inotify and lstat()s each created path; it hands` +
    " out batches, and waits 50 ms for quiet when the last batch was under 0.5 s ago; it skips IN_Q_OVERFLOW silently",
    RUNTIME === "deno"
      ? "node:fs.watch (Deno) is built on Deno.watchFs: its loss flag (rescan) reaches the listener as a plain change of the directory"
      : "node:fs.watch (Bun): Bun's own implementation",
    node
      ? `node:fs.watch (Node ${node.version}): ${node.path}, running the workload in a child process (libuv reads inotify on the event loop)`
      : "node:fs.watch under Node: skipped, no Node on PATH",
  ];
}

/** One row of a bench: notiq, a peer or C. */
export interface Subject<T> {
  name: string;
  /** What the time covers (drain: kernel->JS, buffer->JS). */
  measured?: string;
  run: () => Promise<T> | T;
  /** A peer: if it throws, it is dropped with a note. notiq's and C's errors end the bench. */
  peer?: boolean;
  /** Runs fewer than the bench's (a slow peer): it sits out the later rounds. */
  runs?: number;
}

/**
 * Runs every subject `runs` times, round-robin (with `concurrent`, each round's subjects all at
 * once: for subjects in processes of their own that mostly wait); returns the subjects that did
 * not fail, with their results.
 */
export async function roundRobin<T>(
  subjects: Subject<T>[],
  runs: number,
  { concurrent = false } = {},
): Promise<[Subject<T>, T[]][]> {
  const rows = subjects.map((s): [Subject<T>, T[]] => [s, []]);
  const failed = new Set<Subject<T>>();
  const attempt = async ([subject, results]: [Subject<T>, T[]]) => {
    try {
      results.push(await subject.run());
    } catch (err) {
      if (!subject.peer) throw err;
      failed.add(subject);
      note(`${subject.name} dropped: ${(err as Error).message}`);
    }
  };
  for (let run = 0; run < runs; run++) {
    const round = rows.filter(([s]) => !failed.has(s) && run < (s.runs ?? runs));
    if (concurrent) await Promise.all(round.map(attempt));
    else for (const row of round) await attempt(row);
  }
  return rows.filter(([s]) => !failed.has(s));
}
