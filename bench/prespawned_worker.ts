/** The thread of prespawned_host.ts: binds libc, says so, then runs the reader on the job it is sent. @module */
import { parentPort } from "node:worker_threads";
import { loadSys } from "../ffi/load.ts";
import { type ReaderJob, runReader } from "../queue/ring.ts";

const sys = await loadSys();
parentPort!.once("message", (job: ReaderJob) => runReader(sys, job));
parentPort!.postMessage("ready");
