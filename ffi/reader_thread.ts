/**
 * Starts the thread that waits for a readable fd and drains it into a ring. node:worker_threads
 * behaves the same in Deno and Bun and, unlike Deno's web Worker, can be unref'd, so an idle
 * reader never keeps the process alive.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import type { ReaderJob } from "../queue/ring.ts";

/** A running reader thread. It exits by itself once its reader loop returns. */
export interface ReaderThread {
  /** Resolves when the thread has exited; keeps the process alive until then. */
  exited(): Promise<void>;
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
  // No terminate(): Deno leaks a worker's event-loop fds when it is terminated while starting.
  const exit = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  return { exited: () => (worker.ref(), exit) }; // unref'd, the wait would not keep Deno's loop alive
}
