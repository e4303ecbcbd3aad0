/**
 * Starts the thread that waits for a readable fd and drains it into a ring. node:worker_threads
 * behaves the same in Deno and Bun and, unlike Deno's web Worker, can be unref'd, so an idle
 * reader never keeps the process alive.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import type { ReaderJob } from "../queue/ring.ts";

/** A running reader thread. */
export interface ReaderThread {
  /** Ends the thread; call after the ring's reader has stopped. Resolves once it has exited. */
  terminate(): Promise<unknown>;
}

const entry = new URL("./reader_worker.js", import.meta.url);
// Deno's node:worker_threads takes only file: and data: URLs; loaded from JSR we are https:, so
// a data: module imports the entry from there.
const workerUrl = entry.protocol === "file:"
  ? entry
  : new URL(`data:text/javascript,import ${JSON.stringify(entry.href)};`);

/** Spawns a reader thread for `job`; `onError` receives what the thread throws. */
export function spawnReader(job: ReaderJob, onError: (err: Error) => void): ReaderThread {
  const worker = new Worker(workerUrl, { workerData: job });
  worker.unref();
  worker.on("error", onError);
  return { terminate: () => worker.terminate() };
}
