/**
 * The reader thread's entry: binds libc for this thread and runs the reader loop, which blocks in
 * poll() here so the main thread never has to.
 *
 * @module
 */
import { workerData } from "node:worker_threads";
import { loadSys } from "./load.ts";
import { type ReaderJob, runReader } from "../queue/ring.ts";

runReader(await loadSys(), workerData as ReaderJob);
