/**
 * Starts the reader thread (queue/reader.ts). node:worker_threads behaves the same in Deno and Bun
 * and, unlike Deno's web Worker, can be unref'd, so the parked thread never keeps the process
 * alive.
 *
 * @module
 */
import { writeSync } from "node:fs";
import process from "node:process";
import { MessageChannel, Worker } from "node:worker_threads";
import type { ReaderInit, SpawnReaderThread } from "../queue/reader.ts";
import type { ReaderJob } from "../queue/ring.ts";

const entry = new URL("./reader_worker.js", import.meta.url);
// Deno's node:worker_threads takes only file: and data: URLs; loaded from JSR we are https:, so
// a data: module imports the entry from there.
const workerUrl = entry.protocol === "file:"
  ? entry
  : new URL(`data:text/javascript,import ${JSON.stringify(entry.href)};`);

// Node stops and joins every worker thread when the process exits (Deno and Bun do not): a thread
// parked in poll() inside an FFI call would hold the exit forever. node:fs takes a raw fd in Node.
const JOINS_AT_EXIT = !("Deno" in globalThis) && !("Bun" in globalThis);
const WAKE = new Uint8Array(new BigUint64Array([1n]).buffer);

/** Spawns the thread; `onError` receives what it throws. Returns how to post it a job. */
export const spawnReaderThread: SpawnReaderThread = (init: ReaderInit, onError: (err: Error) => void) => {
  // The thread takes jobs from its end of a channel with receiveMessageOnPort (Deno's parentPort
  // is not a MessagePort to that function).
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(workerUrl, { workerData: { init, port: port2 }, transferList: [port2] });
  worker.unref();
  port1.unref();
  worker.on("error", onError);
  if (JOINS_AT_EXIT) {
    process.once("exit", () => {
      worker.terminate(); // asks the thread to stop at its next JavaScript instruction...
      writeSync(init.wakeFd, WAKE); // ...which it reaches once poll() returns
    });
  }
  return (job: ReaderJob) => port1.postMessage(job);
};
