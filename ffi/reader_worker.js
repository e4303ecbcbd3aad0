// The reader thread's entry: binds libc for this thread and runs the reader loop, which blocks in
// poll() here so the main thread never has to. Plain JavaScript with computed import specifiers:
// under `deno test` a worker's TypeScript graph is type-checked at every spawn (~0.6 s of CPU
// each); mod.ts's graph has already checked these modules.
import process from "node:process";
import { receiveMessageOnPort, workerData } from "node:worker_threads";

const [LOADING, RUNNING, STOPPED] = [1, 2, 3];
const here = (path) => new URL(path, import.meta.url).href;
await import(here("../strip_types.js")); // Node under node_modules: hooks registered on the main thread stay there
const { loadSys } = await import(here("./load.ts"));
const { runReaders } = await import(here("../queue/reader_thread.ts"));
const { init, port, stop } = workerData;
// Node only (see ffi/reader_thread.ts): the main thread may ask this thread to stop at exit. It
// must then never be inside an FFI call, binding libc included: it leaves between calls.
const words = stop && new Int32Array(stop);
if (words) enter(words, LOADING);
const sys = await loadSys();
if (words) leaveWhenAsked(sys, words);
runReaders(sys, init, () => receiveMessageOnPort(port)?.message);

/**
 * Publishes the thread's STATE (word 1), then looks at STOP (word 0): the main thread stores STOP,
 * then looks at STATE. Both sequentially consistent, so one of them sees the other: the main thread
 * waits for this one, or this one leaves before it makes an FFI call.
 */
function enter(words, state) {
  Atomics.store(words, 1, state);
  Atomics.notify(words, 1);
  if (Atomics.load(words, 0)) leave(words);
}

function leave(words) {
  Atomics.store(words, 1, STOPPED);
  Atomics.notify(words, 1);
  process.exit(); // in a worker: ends this thread only
}

/** Once STOP is set, the next call, or the one in flight (poll(), woken) as it returns, leaves. */
function leaveWhenAsked(sys, words) {
  for (const [name, call] of Object.entries(sys)) {
    sys[name] = (...args) => {
      if (Atomics.load(words, 0)) leave(words);
      const result = call(...args);
      if (Atomics.load(words, 0)) leave(words);
      return result;
    };
  }
  enter(words, RUNNING);
}
