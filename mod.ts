/**
 * notiq: the Linux kernel's notification queues — inotify and the general notification queue —
 * for Deno, Bun and Node, through the runtime's own FFI (koffi on Node 22/24) and libc. No native
 * addon, no build step.
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
import { spawnReaderThread } from "./ffi/reader_thread.ts";
import { Inotify as InotifyWith, type InotifyOptions } from "./queue/inotify.ts";
import { readEnv } from "./ffi/env.ts";
import { type ReaderStatus, runtimeHost } from "./queue/host.ts";
import * as watcher from "./queue/watcher.ts";
import type { WatchOptions } from "./queue/watch_options.ts";
import { bindKeys, type Keys } from "./queue/keys.ts";
import { probeWatchQueue, WatchQueue as WatchQueueWith, type WatchQueueOptions } from "./queue/watch_queue.ts";
import {
  changesSince as changesSinceWith,
  type ChangesSinceOptions,
  type SnapshotInfo,
  type SnapshotOptions,
  writeSnapshot as writeSnapshotWith,
} from "./queue/snapshot.ts";
import type { WatchEvent } from "./queue/watch_options.ts";

const sys = await loadSys();
const host = runtimeHost(sys, spawnReaderThread, readEnv("NOTIQ_READER"));

/**
 * One kernel inotify queue: add watches by path, then read their events with `for await` (plain
 * objects) or `batches()` (zero-copy views). Reading starts with the first iteration; from the
 * first time it waits (or the next turn of the event loop) a reader thread also drains the kernel
 * queue into a ring, so events are not lost while the JavaScript thread is busy.
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
export class Inotify extends InotifyWith {
  /**
   * Opens an inotify instance.
   *
   * @throws {SyscallError} `EMFILE` when `fs.inotify.max_user_instances` is reached.
   */
  constructor(options?: InotifyOptions) {
    super(options, host);
  }
}

/**
 * One general notification queue (Linux >= 5.8 with `CONFIG_WATCH_QUEUE`): a pipe opened with
 * `O_NOTIFICATION_PIPE` that the kernel writes notification records into — today, changes to
 * keys and keyrings watched with {@linkcode WatchQueue.watchKey}. Read them with `for await`
 * (plain objects) or `batches()` (zero-copy views); as for `Inotify`, a reader thread drains the
 * kernel queue into a ring once the iteration has started.
 *
 * Kernel facts worth knowing: the queue holds `size` notes (rounded up to pages of 32); when it is
 * full, the kernel drops notifications and the next read carries a `LOSS` notification, which this
 * class passes on like any other. `REMOVAL` says a watch ended (unwatched, or the key destroyed).
 * Both pass every filter.
 *
 * @example Watching a keyring
 * ```ts ignore
 * // ignore: needs a kernel with CONFIG_WATCH_QUEUE and key management allowed
 * import { KEY_NOTIFY, KEY_SPEC, keys, WatchQueue, WATCH_TYPE } from "@notiq/notiq";
 * import assert from "node:assert/strict";
 *
 * const ring = keys.addKey("keyring", "notiq-example", "", KEY_SPEC.PROCESS_KEYRING);
 * using q = new WatchQueue({ size: 32 });
 * q.watchKey(ring, 7);
 * const key = keys.addKey("user", "greeting", "hello", ring);
 * for await (const n of q) {
 *   assert.equal(n.type, WATCH_TYPE.KEY_NOTIFY);
 *   assert.equal(n.subtype, KEY_NOTIFY.LINKED);
 *   assert.deepEqual([n.keyId, n.aux, n.watchId], [ring, key, 7]);
 *   break;
 * }
 * keys.unlinkKey(ring, KEY_SPEC.PROCESS_KEYRING);
 * ```
 */
export class WatchQueue extends WatchQueueWith {
  /**
   * Opens a notification pipe and sizes its queue.
   *
   * @throws {SyscallError} `pipe2` `ENOPKG` when the kernel was built without
   *   `CONFIG_WATCH_QUEUE`, `EINVAL` before Linux 5.8; `ioctl` `EPERM` over `fs.pipe-user-pages-soft`.
   */
  constructor(options?: WatchQueueOptions) {
    super(options, host);
  }

  /**
   * Whether key notifications work here: the kernel has `CONFIG_WATCH_QUEUE` and
   * `CONFIG_KEY_NOTIFICATIONS` and no seccomp filter blocks `keyctl`. Opens and closes a pipe.
   *
   * @example Checking first
   * ```ts
   * import { WatchQueue } from "@notiq/notiq";
   * import assert from "node:assert/strict";
   *
   * assert.equal(typeof WatchQueue.supported(), "boolean");
   * ```
   */
  static supported(): boolean {
    return probeWatchQueue(host.sys) === undefined;
  }

  /**
   * Why key notifications do not work here, or undefined when they do: a {@linkcode SyscallError}
   * such as `pipe2` `ENOPKG` (no `CONFIG_WATCH_QUEUE`), `pipe2` `EINVAL` (Linux < 5.8), `keyctl`
   * `EPERM`/`ENOSYS` (a seccomp filter), `keyctl` `ENOTSUP` (no `CONFIG_KEY_NOTIFICATIONS`).
   */
  static probe(): Error | undefined {
    return probeWatchQueue(host.sys);
  }
}

/**
 * The key-management calls that produce key notifications, through `add_key(2)`/`keyctl(2)`:
 * `addKey`, `updateKey`, `revokeKey`, `unlinkKey`, `invalidateKey`, `joinSessionKeyring`, and
 * `linkKey`, `clearKeyring`, `setKeyTimeout`, `readKey`, `keyringId`. Keys and keyrings are
 * serial numbers or {@linkcode KEY_SPEC} values. Each failure is a {@linkcode SyscallError} with
 * `syscall` `"add_key"` or `"keyctl"` (`EPERM`/`ENOSYS` where a seccomp filter blocks them, as
 * Docker's default profile does).
 *
 * @example Adding and revoking a key
 * ```ts ignore
 * // ignore: container runtimes commonly block add_key/keyctl
 * import { KEY_SPEC, keys, SyscallError } from "@notiq/notiq";
 * import assert from "node:assert/strict";
 *
 * const key = keys.addKey("user", "notiq-doc", "secret", KEY_SPEC.PROCESS_KEYRING);
 * assert.equal(new TextDecoder().decode(keys.readKey(key)), "secret");
 * keys.revokeKey(key);
 * assert.throws(() => keys.readKey(key), (err) => err instanceof SyscallError && err.code === "EKEYREVOKED");
 * ```
 */
export const keys: Keys = bindKeys(host.sys);

/**
 * A running {@linkcode watch}: `for await` its {@linkcode WatchEvent}s, `await ready`, `close()`.
 * Leaving a `for await` loop early closes it, as with `node:fs/promises` `watch()`.
 */
export class Watcher extends watcher.Watcher {
  /** Use {@linkcode watch}. */
  constructor(paths: string | URL | readonly (string | URL)[], options?: WatchOptions) {
    super(paths, options, host);
  }
}

/**
 * Watches files and directory trees: one {@linkcode Inotify} for all paths, events with absolute
 * paths. New subdirectories are watched as they appear, and what was created inside before their
 * watch was in place is reported as `create` (once). A move inside the watched trees is one
 * `rename` with `oldPath`; a move in is a `create`, a move out a `delete`. On kernel queue overflow
 * (`fs.inotify.max_queued_events`) it reports `overflow`, then rescans and reports the difference
 * from the last known tree as ordinary events. Symbolic links are not followed unless
 * `followSymlinks`. Watches go on directories only, so a tree needs one watch per directory out
 * of `fs.inotify.max_user_watches` (per user); hitting it is a {@linkcode WatchLimitError} with the
 * numbers. Files moved out of the trees are reported when their `MOVED_FROM` is known to have no
 * partner: at once in most cases, else after {@linkcode RENAME_WAIT_MS}. `await watcher.sync()`
 * resolves once the events of every change made before it have reached the consumer (it needs one
 * that iterates); it writes nothing in the watched trees. With `settle: ms`, events are held until
 * `ms` pass without one (at most `10 * ms`) and each path's are folded: an editor's save (a
 * temporary file renamed over the real one, or vim's `f -> f~`, new `f`, `rm f~`) is one `modify`;
 * `sync()`, `close()` and an overflow flush what is held first.
 *
 * Some file systems give no inotify events for changes made elsewhere (9p, virtiofs and other FUSE,
 * NFS, SMB/CIFS, vboxsf: WSL's `/mnt/c`, Docker Desktop bind mounts, network shares), or none at all
 * (/proc, /sys). `stats().filesystems` lists each tree's file systems (mountinfo and statfs(2)),
 * mounts inside it included; a tree or mount on such a file system gets one `warning` event, whose
 * `message` names it and the fix: `poll: true` (or `poll: ms`) walks those places, and only those,
 * every second (or `ms`) and reports their changes as ordinary events (as after an overflow:
 * renames made elsewhere are a `delete` and a `create`). `sync()` then walks them before it
 * resolves. `watcher.writeSnapshot(file)` writes what the watcher knows, for `changesSince()`.
 *
 * @param paths Directories or files; relative paths are resolved against the working directory.
 * @param options Recursion, kinds, `exclude`, `followSymlinks`, `signal`, `onOverflow`, `settle`,
 *   `poll`.
 * @returns The watcher; `ready` resolves once the initial watches are placed.
 * @throws {TypeError} On bad arguments; `AbortError` when `signal` is already aborted. Setup
 *   failures (`ENOENT`, `EACCES`, `ENOSPC` as a {@linkcode WatchLimitError}) reject `ready` and the
 *   iteration instead.
 * @example Watching a tree
 * ```ts
 * import { watch } from "@notiq/notiq";
 * import assert from "node:assert/strict";
 * import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
 *
 * const dir = mkdtempSync("/tmp/notiq-");
 * await using watcher = watch(dir);
 * await watcher.ready;
 * mkdirSync(`${dir}/sub`);
 * writeFileSync(`${dir}/sub/a.txt`, "hi");
 * renameSync(`${dir}/sub`, `${dir}/moved`);
 * const seen: string[] = [];
 * for await (const ev of watcher) {
 *   seen.push(`${ev.kind} ${ev.path.slice(dir.length)}`);
 *   if (ev.kind === "rename") break;
 * }
 * assert.equal(seen[0], "create /sub");
 * assert.equal(seen.at(-1), "rename /moved");
 * rmSync(dir, { recursive: true });
 * ```
 */
export function watch(paths: string | URL | readonly (string | URL)[], options?: WatchOptions): Watcher {
  return new Watcher(paths, options);
}

/**
 * Records the state of directory trees in `file`, so that {@linkcode changesSince} can later say
 * what changed while nothing was watching (a build tool between two runs). The file holds each
 * entry's path, type, device and inode, size and mtime in nanoseconds — 6 to 10 bytes beside the
 * name per entry — with a magic number, a format version and a CRC-32, and is replaced atomically
 * (a temporary file in the same directory, then rename(2)): a crash leaves the old snapshot, never
 * half of a new one. The trees are read with getdents64(2) and statx(2) through FFI. The snapshot
 * file itself is never recorded, should it be inside the trees.
 *
 * @param paths Directories or files; relative paths are resolved, a path inside another is covered by it.
 * @param file Where to write the snapshot.
 * @param options `exclude(path)`: paths not recorded nor walked into; `followSymlinks`: record what
 *   links lead to and walk into linked directories (each once). Both default to off.
 * @returns `{ entries, bytes }`: how many entries were recorded, and the file's size.
 * @throws {SyscallError} `ENOENT` for a missing path; `EACCES` for a directory that cannot be
 *   listed (exclude it); the error of writing `file` (`EACCES`, `EROFS`, `ENOSPC`...), the old file intact.
 * @example Recording a tree
 * ```ts
 * import { changesSince, writeSnapshot } from "@notiq/notiq";
 * import assert from "node:assert/strict";
 * import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
 *
 * const dir = mkdtempSync("/tmp/notiq-");
 * mkdirSync(`${dir}/src`);
 * await writeSnapshot(dir, `${dir}.snapshot`);
 * renameSync(`${dir}/src`, `${dir}/lib`);
 * writeFileSync(`${dir}/lib/new.txt`, "hi");
 * const events = await changesSince(`${dir}.snapshot`);
 * assert.deepEqual(events.map((e) => `${e.kind} ${e.path.slice(dir.length)}`), ["rename /lib", "create /lib/new.txt"]);
 * rmSync(dir, { recursive: true });
 * rmSync(`${dir}.snapshot`);
 * ```
 */
export function writeSnapshot(
  paths: string | URL | readonly (string | URL)[],
  file: string | URL,
  options?: SnapshotOptions,
): Promise<SnapshotInfo> {
  return writeSnapshotWith(paths, file, options, host);
}

/**
 * What changed in the trees of a snapshot since {@linkcode writeSnapshot} wrote it: walks them
 * again and returns `create`, `delete`, `rename` and `modify` events in an order that can be
 * applied one by one to the recorded state to give today's (a rename replaces what is at its
 * target, as rename(2) does). A rename is found by device and inode, for a file or a whole
 * directory (one event for its subtree). `modify` is a file with the same inode whose size or mtime
 * changed — or, on a file system without fine-grained timestamps (other than tmpfs, ext4, xfs and
 * btrfs from Linux 6.13 on), whose recorded mtime was within 50 ms of the walk, as it may have been
 * written again within the same clock tick. A `delete` of a directory stands for its subtree. Where renames
 * form a cycle (a swap of two names), one side is reported as created anew.
 *
 * Names are compared by their exact bytes; paths in events are UTF-8, with U+FFFD for bytes that
 * are not (as watch() names are).
 *
 * @param file A snapshot written by {@linkcode writeSnapshot}.
 * @param options `exclude(path)`: give the one the snapshot was written with; recorded paths it
 *   excludes are neither compared nor reported. Symbolic links are followed as when written.
 * @returns The events, in order; empty when nothing changed.
 * @throws {SnapshotError} A file that is not a snapshot (`problem` `"foreign"`), was cut short
 *   (`"truncated"`), changed since written (`"corrupt"`: the checksum), or is of a newer format
 *   (`"version"`). {@linkcode SyscallError} `ENOENT` for a missing file, `EACCES` for a
 *   directory that cannot be listed.
 * @example Finding a rename
 * ```ts
 * import { changesSince, writeSnapshot } from "@notiq/notiq";
 * import assert from "node:assert/strict";
 * import { mkdtempSync, rmSync } from "node:fs";
 *
 * const dir = mkdtempSync("/tmp/notiq-");
 * await writeSnapshot(dir, `${dir}.snapshot`);
 * assert.deepEqual(await changesSince(`${dir}.snapshot`), []);
 * rmSync(dir, { recursive: true });
 * await assert.rejects(changesSince(`${dir}.missing`), { code: "ENOENT" });
 * rmSync(`${dir}.snapshot`);
 * ```
 */
export function changesSince(file: string | URL, options?: ChangesSinceOptions): Promise<WatchEvent[]> {
  return changesSinceWith(file, options, host);
}

/**
 * Which reader drains the kernel queues of this thread into memory: `"uring"` — the kernel reads
 * them itself, through io_uring, with no thread (Linux >= 6.12) — or `"thread"`, a reader thread
 * (a JavaScript worker), where io_uring cannot be used: `why` says why (a seccomp profile such as
 * Docker's default, `kernel.io_uring_disabled`, an older kernel, or `NOTIQ_READER=thread`).
 * Either keeps events flowing while JavaScript is busy. Set `NOTIQ_READER` to `uring` or `thread`
 * to choose (Deno reads it with `--allow-env`).
 *
 * @throws {Error} With `NOTIQ_READER=uring` where io_uring cannot be used.
 * @example Which reader runs here
 * ```ts
 * import { readerStatus } from "@notiq/notiq";
 * import assert from "node:assert/strict";
 *
 * const { reader, why } = readerStatus();
 * assert.ok(reader === "uring" || why instanceof Error);
 * ```
 */
export function readerStatus(): ReaderStatus {
  return host.status();
}

export { abortError, SyscallError } from "./queue/errors.ts";
export type { ReaderKind, ReaderStatus } from "./queue/host.ts";
export { describeMask, IN } from "./queue/inotify_mask.ts";
export { MIN_READ_SIZE, NAME_MAX } from "./queue/inotify_records.ts";
export type { InotifyEvent } from "./queue/inotify_records.ts";
export type { RecordBatch } from "./queue/record_queue.ts";
export { DEFAULT_BUFFER_SIZE, DEFAULT_RING_SIZE } from "./queue/inotify.ts";
export type { InotifyBatch, InotifyEventView, InotifyOptions, WatchInfo } from "./queue/inotify.ts";
export { KEY_SPEC } from "./queue/keys.ts";
export type { Keys } from "./queue/keys.ts";
export { describeNotification, KEY_NOTIFY, WATCH_META, WATCH_TYPE } from "./queue/watch_queue_records.ts";
export type { WatchNotification } from "./queue/watch_queue_records.ts";
export { DEFAULT_QUEUE_SIZE, MAX_QUEUE_SIZE } from "./queue/watch_queue.ts";
export type { WatchFilter, WatchNotificationView, WatchQueueBatch, WatchQueueOptions } from "./queue/watch_queue.ts";
export { RENAME_WAIT_MS } from "./queue/rename_pairing.ts";
export { DEFAULT_POLL_MS, DEFAULT_WATCH_EVENT_KINDS, WATCH_EVENT_KINDS } from "./queue/watch_options.ts";
export type { EventSupport, TreeFilesystem } from "./queue/filesystems.ts";
export type { WatchEvent, WatchEventKind, WatchOptions } from "./queue/watch_options.ts";
export { WatchLimitError } from "./queue/watch_limit.ts";
export type { WatchStats } from "./queue/watcher.ts";
export { SNAPSHOT_VERSION, SnapshotError } from "./queue/snapshot_format.ts";
export type { SnapshotProblem } from "./queue/snapshot_format.ts";
export type { ChangesSinceOptions, SnapshotInfo, SnapshotOptions } from "./queue/snapshot.ts";
