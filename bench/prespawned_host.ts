/**
 * An experiment for drain_bench.ts, not part of notiq: a {@linkcode Host} whose reader thread is
 * spawned (and has bound libc) before the first iteration, and only starts reading when the job
 * arrives. It measures what notiq's kernel->JS drain would be if ring.ts spawned its worker
 * eagerly and gated reading on the first iteration, as API.md's "reading starts with the first
 * iteration" requires.
 *
 * @module
 */
import { once } from "node:events";
import { Worker } from "node:worker_threads";
import { loadSys } from "../ffi/load.ts";
import type { Host, ReaderJob } from "../queue/ring.ts";

const sys = await loadSys();

/** Spawns the thread now; the Host hands it its job on the first iteration. */
export async function prespawnedHost(): Promise<Host> {
  const worker = new Worker(new URL("./prespawned_worker.ts", import.meta.url));
  worker.unref();
  await once(worker, "message"); // libc is bound, the thread waits for its job
  return {
    sys,
    spawnReader(job: ReaderJob, onError: (err: Error) => void) {
      worker.on("error", onError);
      worker.postMessage(job);
      return { terminate: () => void worker.terminate() };
    },
  };
}
