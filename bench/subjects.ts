/**
 * Who runs the workloads of measure.js: notiq through peers of its own (machine.ts), the peers of
 * this runtime (peers.js), in this process or each in a process of its own, and node:fs.watch
 * under the real Node in a child process; and the round-robin runner, which drops a peer that
 * fails (with a note) but lets notiq's and C's failures end the bench.
 *
 * @module
 */
import { findNode, installed, note, PEERS_SCRIPT, runJson, RUNTIME, RUNTIME_LABEL, selfCommand } from "./common.ts";
import { WORKLOADS } from "./measure.js";
import { loadPeer } from "./peers.js";

// notiq's subjects live beside the measures of cli.ts bench, which runs them too.
export { type NotiqApi, notiqInotify, notiqWatch, readInto } from "./machine.ts";

export type Workload = keyof typeof WORKLOADS;

/** A peer subject: runs a workload of measure.js with the given options. */
export interface PeerRunner {
  name: string;
  run<T>(workload: Workload, options: object): Promise<T>;
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
    const name = peer === "Deno.watchFs" ? peer : `${peer} (${RUNTIME_LABEL})`;
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

/** What each peer is, for the header. */
export function peerNotes(): string[] {
  const node = findNode();
  return [
    `peers run the same workload code (bench/measure.js); chokidar ${
      installed("chokidar")
    } over the runtime's fs.watch;` +
    " it stats each path before emitting (followSymlinks: false, or it stat()s a new symlink's missing target and drops it)",
    `@parcel/watcher ${
      installed("@parcel/watcher")
    }: its own thread reads inotify and lstat()s each created path; it hands` +
    " out batches, and waits 50 ms for quiet when the last batch was under 0.5 s ago; it skips IN_Q_OVERFLOW silently",
    RUNTIME === "deno"
      ? "node:fs.watch (Deno) is built on Deno.watchFs: its loss flag (rescan) reaches the listener as a plain change of the directory"
      : RUNTIME === "bun"
      ? "node:fs.watch (Bun): Bun's own implementation"
      : `node:fs.watch (${RUNTIME_LABEL}): Node's own, in this process: libuv reads inotify on the event loop (no thread)`,
    ...(RUNTIME === "deno" ? [] : [`no Deno.watchFs row: it is Deno's own API, and this runs under ${RUNTIME_LABEL}`]),
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
