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
  /** Ends the thread; call after the ring's reader has stopped. */
  terminate(): void;
}

/** Spawns a reader thread for `job`; `onError` receives what the thread throws. */
export function spawnReader(job: ReaderJob, onError: (err: Error) => void): ReaderThread {
  const worker = new Worker(new URL("./reader_worker.js", import.meta.url), { workerData: job });
  worker.unref();
  worker.on("error", onError);
  return { terminate: () => void worker.terminate() };
}
