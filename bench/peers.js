// @ts-check
/**
 * The watchers people would otherwise use, as bench subjects beside notiq — node:fs.watch,
 * Deno.watchFs, chokidar, @parcel/watcher — and the command line that runs a workload of
 * measure.js with one of them in a process of its own (under Deno, Bun, or Node 20):
 *
 *   node bench/peers.js <workload> <peer> '<options as JSON>'   prints the result as one JSON line
 *   node bench/peers.js make-events DIR N [PREFIX]              the event generator without a C compiler
 *
 * The result carries `loadMs`: the time to load the peer's module, apart from the workload's.
 *
 * @module
 */
import { watch as fsWatch } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { makeEvents, nowNs, WORKLOADS } from "./measure.js";

/** @typedef {import("./measure.js").Peer} Peer */

/** @type {Peer} */
function nodeFsWatch(dir, recursive, tally) {
  const watcher = fsWatch(dir, { recursive }, (_kind, name) => {
    tally.seen(name);
    tally.arrived();
  });
  watcher.on("error", (err) => tally.loss(`error: ${err.message}`));
  return () => watcher.close();
}

/** @type {Peer} */
function denoWatchFs(dir, recursive, tally) {
  const watcher = Deno.watchFs(dir, { recursive });
  const reading = (async () => {
    for await (const ev of watcher) {
      if (ev.flag === "rescan") tally.loss("rescan flag"); // events were dropped; paths name the dir
      else for (const path of ev.paths) tally.seen(path); // a new dangling symlink is kind "remove": count any kind
      tally.arrived();
    }
  })();
  return async () => {
    watcher.close();
    await reading;
  };
}

/**
 * Each peer's loader: a module that is missing or fails to load rejects here, not in the middle
 * of a workload.
 * @type {Record<string, () => Promise<Peer>>}
 */
export const PEERS = {
  "node:fs.watch": () => Promise.resolve(nodeFsWatch),
  "Deno.watchFs": () =>
    "Deno" in globalThis ? Promise.resolve(denoWatchFs) : Promise.reject(new Error("Deno.watchFs needs Deno")),
  chokidar: async () => {
    const { watch } = await import("chokidar");
    return async (dir, recursive, tally) => {
      // followSymlinks: false, or chokidar stat()s each new symlink's (missing) target and drops it.
      const watcher = watch(dir, { ignoreInitial: true, followSymlinks: false, depth: recursive ? undefined : 0 });
      watcher.on("all", (_kind, path) => {
        tally.seen(path);
        tally.arrived();
      });
      watcher.on("error", (err) => tally.loss(`error: ${err}`));
      await new Promise((resolve) => watcher.once("ready", () => resolve(undefined)));
      return () => watcher.close();
    };
  },
  "@parcel/watcher": async () => {
    const { subscribe } = (await import("@parcel/watcher")).default;
    return async (dir, _recursive, tally) => { // always recursive: it has no other mode
      const subscription = await subscribe(dir, (err, events) => {
        if (err) tally.loss(`error: ${err.message}`);
        else for (const ev of events) tally.seen(ev.path);
        tally.arrived();
      });
      return () => subscription.unsubscribe();
    };
  },
};

/**
 * @param {string} name a key of PEERS
 * @returns {Promise<Peer>}
 */
export function loadPeer(name) {
  const load = PEERS[name];
  if (!load) throw new Error(`unknown peer ${JSON.stringify(name)} (one of ${Object.keys(PEERS).join(", ")})`);
  return load();
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [command, ...args] = process.argv.slice(2);
  if (command === "make-events") {
    const [dir, count, prefix] = args;
    const t0 = performance.now();
    makeEvents(dir, Number(count), prefix);
    console.log(JSON.stringify({ ms: performance.now() - t0, created: Number(count) }));
  } else if (command in WORKLOADS) {
    /** @type {(peer: Peer, options: any) => Promise<object>} */
    const workload = WORKLOADS[/** @type {keyof WORKLOADS} */ (command)];
    const t0 = nowNs();
    const peer = await loadPeer(args[0]);
    const loadMs = (nowNs() - t0) / 1e6;
    console.log(JSON.stringify({ ...(await workload(peer, JSON.parse(args[1] ?? "{}"))), loadMs }));
  } else {
    console.error(`usage: peers.js <${Object.keys(WORKLOADS).join("|")}> <peer> '<options JSON>'`);
    console.error("       peers.js make-events DIR N [PREFIX]");
    process.exit(2);
  }
  process.exit(0); // a peer's leftover handle (a timer, a native thread) must not keep the child alive
}
