/**
 * Starts the reader thread (queue/reader_thread.ts). node:worker_threads behaves the same in Deno and Bun
 * and, unlike Deno's web Worker, can be unref'd, so the parked thread never keeps the process
 * alive.
 *
 * @module
 */
import { writeSync } from "node:fs";
import process from "node:process";
import { MessageChannel, Worker } from "node:worker_threads";
import type { ReaderInit, SpawnReaderThread } from "../queue/reader_thread.ts";
import type { RingJob } from "../queue/ring.ts";

const entry = new URL("./reader_worker.js", import.meta.url);
// Deno's node:worker_threads takes only file: and data: URLs; loaded from JSR we are https:, so
// a data: module imports the entry from there.
const workerUrl = entry.protocol === "file:"
  ? entry
  : new URL(`data:text/javascript,import ${JSON.stringify(entry.href)};`);

// Node stops and joins every worker thread when the process exits (Deno and Bun do not). A thread
// parked in poll() inside an FFI call would hold the exit forever, and one stopped inside a koffi
// call aborts the process ("FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw": 2 and 6 in
// 300 runs of tests/measure/koffi_worker.ts, in poll() and while binding libc). So at exit the
// thread is asked to stop and woken, and the exit waits until it has left between two calls
// (ffi/reader_worker.js); one that has not started binding libc yet is stopped as it is.
const JOINS_AT_EXIT = !("Deno" in globalThis) && !("Bun" in globalThis);
const WAKE = new Uint8Array(new BigUint64Array([1n]).buffer);
/** Int32 words shared with the thread: [STOP] set here, [STATE] there (0 starting, then these). */
const STOP = 0, STATE = 1, LOADING = 1, RUNNING = 2;

/** At exit: ask the thread to stop, wake it, and wait (5 s at most) until it is out of FFI. */
function stopAtExit(words: Int32Array, wakeFd: number): void {
  Atomics.store(words, STOP, 1);
  writeSync(wakeFd, WAKE); // node:fs takes a raw fd in Node
  const deadline = Date.now() + 5000;
  for (let state; (state = Atomics.load(words, STATE)) === LOADING || state === RUNNING;) {
    if (Atomics.wait(words, STATE, state, Math.max(0, deadline - Date.now())) === "timed-out") break;
  }
}

/** Spawns the thread; `onError` receives what it throws. Returns how to post it a job. */
export const spawnReaderThread: SpawnReaderThread = (init: ReaderInit, onError: (err: Error) => void) => {
  // The thread takes jobs from its end of a channel with receiveMessageOnPort (Deno's parentPort
  // is not a MessagePort to that function).
  const { port1, port2 } = new MessageChannel();
  const stop = JOINS_AT_EXIT ? new Int32Array(new SharedArrayBuffer(8)) : undefined;
  const workerData = { init, port: port2, stop: stop?.buffer };
  const worker = new Worker(workerUrl, { workerData, transferList: [port2] });
  worker.unref();
  port1.unref();
  worker.on("error", onError);
  if (stop) process.once("exit", () => stopAtExit(stop, init.wakeFd));
  return (job: RingJob) => port1.postMessage(job);
};
