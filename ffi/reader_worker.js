// The reader thread's entry: binds libc for this thread and runs the reader loop, which blocks in
// poll() here so the main thread never has to. Plain JavaScript with computed import specifiers:
// under `deno test` a worker's TypeScript graph is type-checked at every spawn (~0.6 s of CPU
// each); mod.ts's graph has already checked these modules.
import process from "node:process";
import { receiveMessageOnPort, workerData } from "node:worker_threads";

const here = (path) => new URL(path, import.meta.url).href;
await import(here("../strip_types.js")); // Node under node_modules: hooks registered on the main thread stay there
const { loadSys } = await import(here("./load.ts"));
const { runReaders } = await import(here("../queue/reader.ts"));
const { init, port, stop } = workerData;
const sys = await loadSys();
if (stop) leaveWhenAsked(sys, new Int32Array(stop));
runReaders(sys, init, () => receiveMessageOnPort(port)?.message);

/**
 * Node only (see ffi/reader_thread.ts): once the main thread sets STOP, the next call, or the one
 * in flight (poll(), woken) as it returns, ends this thread instead: never inside an FFI call.
 */
function leaveWhenAsked(sys, words) {
  const [STOP, ACTIVE, STOPPED] = [0, 1, 2];
  const leave = () => {
    Atomics.store(words, STOPPED, 1);
    Atomics.notify(words, STOPPED);
    process.exit(); // in a worker: ends this thread only
  };
  for (const [name, call] of Object.entries(sys)) {
    sys[name] = (...args) => {
      if (Atomics.load(words, STOP)) leave();
      const result = call(...args);
      if (Atomics.load(words, STOP)) leave();
      return result;
    };
  }
  Atomics.store(words, ACTIVE, 1);
}
