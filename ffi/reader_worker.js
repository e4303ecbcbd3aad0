// The reader thread's entry: binds libc for this thread and runs the reader loop, which blocks in
// poll() here so the main thread never has to. Plain JavaScript with computed import specifiers:
// under `deno test` a worker's TypeScript graph is type-checked at every spawn (~0.6 s of CPU
// each); mod.ts's graph has already checked these modules.
import { receiveMessageOnPort, workerData } from "node:worker_threads";

const here = (path) => new URL(path, import.meta.url).href;
await import(here("../strip_types.js")); // Node under node_modules: hooks registered on the main thread stay there
const { loadSys } = await import(here("./load.ts"));
const { runReaders } = await import(here("../queue/reader.ts"));
const { init, port } = workerData;
runReaders(await loadSys(), init, () => receiveMessageOnPort(port)?.message);
