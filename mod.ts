/**
 * notiq: the Linux kernel's notification queues — inotify and the general notification queue —
 * for Deno and Bun, through the runtime's own FFI and libc. No native addon, no build step.
 *
 * @example Watching a directory
 * ```ts
 * import { IN, Inotify } from "@notiq/notiq";
 * import assert from "node:assert/strict";
 * import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
 *
 * const dir = mkdtempSync("/tmp/notiq-");
 * using ino = new Inotify();
 * ino.addWatch(dir, IN.CREATE);
 * writeFileSync(`${dir}/hello.txt`, "hi");
 * for await (const ev of ino) {
 *   assert.equal(ev.name, "hello.txt");
 *   break;
 * }
 * rmSync(dir, { recursive: true });
 * ```
 *
 * @module
 */
import { loadSys } from "./ffi/load.ts";
import { spawnReader } from "./ffi/reader_thread.ts";
import { InotifyCore, type InotifyOptions } from "./queue/inotify.ts";
import type { Host } from "./queue/ring.ts";

const host: Host = { sys: await loadSys(), spawnReader };

/**
 * One kernel inotify queue: add watches by path, then read their events with `for await` (plain
 * objects) or `batches()` (zero-copy views). A reader thread drains the kernel queue into a ring
 * from the first iteration on, so events are not lost while the JavaScript thread is busy.
 *
 * @example Reading events
 * ```ts
 * import { IN, Inotify } from "@notiq/notiq";
 * import assert from "node:assert/strict";
 * import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
 *
 * const dir = mkdtempSync("/tmp/notiq-");
 * using ino = new Inotify();
 * const wd = ino.addWatch(dir, IN.CREATE | IN.DELETE);
 * mkdirSync(`${dir}/sub`);
 * for await (const ev of ino) {
 *   assert.equal(ev.wd, wd);
 *   assert.ok(ev.mask & IN.CREATE && ev.mask & IN.ISDIR);
 *   break;
 * }
 * rmSync(dir, { recursive: true });
 * ```
 */
export class Inotify extends InotifyCore {
  /**
   * Opens an inotify instance.
   *
   * @throws {SyscallError} `EMFILE` when `fs.inotify.max_user_instances` is reached.
   */
  constructor(options?: InotifyOptions) {
    super(host, options);
  }
}

export { abortError, SyscallError } from "./queue/errors.ts";
export { describeMask, IN } from "./queue/inotify_mask.ts";
export { MIN_READ_SIZE, NAME_MAX } from "./queue/inotify_records.ts";
export type { InotifyEvent } from "./queue/inotify_records.ts";
export { DEFAULT_BUFFER_SIZE, DEFAULT_RING_SIZE, InotifyBatch } from "./queue/inotify.ts";
export type { InotifyEventView, InotifyOptions, WatchInfo } from "./queue/inotify.ts";
