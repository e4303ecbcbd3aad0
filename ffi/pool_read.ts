/**
 * `read(2)` on the thread pool of node:fs (libuv's in Node, Bun's own in Bun), for the bindings
 * that have no FFI call of their own that runs off the JavaScript thread.
 *
 * @module
 */
import { read } from "node:fs";

/** Resolves with the count, or -1 (the errno is that pool thread's: not readable here). */
export function readOnPool(fd: number, into: Uint8Array): Promise<number> {
  return new Promise((resolve) => read(fd, into, 0, into.byteLength, null, (err, n) => resolve(err ? -1 : n)));
}
