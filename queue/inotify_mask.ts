/**
 * The mask bits of `<linux/inotify.h>` and their names.
 *
 * @module
 */

/**
 * Every inotify mask bit by its short name (`IN_CREATE` is `IN.CREATE`). Masks are unsigned:
 * `IN.ONESHOT` is `0x80000000`, so combine with `|` and compare with `&`, never `===`.
 */
export const IN = {
  ACCESS: 0x00000001, // read, execute
  MODIFY: 0x00000002, // write, truncate
  ATTRIB: 0x00000004, // permissions, timestamps, xattrs, link count
  CLOSE_WRITE: 0x00000008, // a file opened for writing was closed
  CLOSE_NOWRITE: 0x00000010,
  OPEN: 0x00000020,
  MOVED_FROM: 0x00000040, // paired with MOVED_TO by `cookie`
  MOVED_TO: 0x00000080,
  CREATE: 0x00000100,
  DELETE: 0x00000200,
  DELETE_SELF: 0x00000400,
  MOVE_SELF: 0x00000800,
  UNMOUNT: 0x00002000, // the filesystem was unmounted; IGNORED follows
  Q_OVERFLOW: 0x00004000, // the kernel queue was full and events were dropped (wd is -1)
  IGNORED: 0x00008000, // the watch is gone (rmWatch, deletion, unmount, ONESHOT)
  CLOSE: 0x00000018,
  MOVE: 0x000000c0,
  ONLYDIR: 0x01000000, // fail with ENOTDIR unless the path is a directory
  DONT_FOLLOW: 0x02000000, // watch a symlink itself
  EXCL_UNLINK: 0x04000000, // no events for children after they are unlinked
  MASK_CREATE: 0x10000000, // fail with EEXIST if the path is watched already
  MASK_ADD: 0x20000000, // OR into the existing mask instead of replacing it
  ISDIR: 0x40000000, // the subject of the event is a directory
  ONESHOT: 0x80000000, // remove the watch after its first event
  ALL_EVENTS: 0x00000fff,
} as const;

/** The bits `inotify_add_watch` accepts, events and flags together. */
export const ADD_WATCH_BITS = (IN.ALL_EVENTS | IN.ONLYDIR | IN.DONT_FOLLOW | IN.EXCL_UNLINK |
  IN.MASK_CREATE | IN.MASK_ADD | IN.ONESHOT) >>> 0;

// Single bits only, lowest first: CLOSE, MOVE and ALL_EVENTS are unions.
const BITS = Object.entries(IN).filter(([, bit]) => (bit & (bit - 1)) === 0) as [keyof typeof IN, number][];

/**
 * Names the bits set in an inotify mask.
 *
 * @param mask Bits from {@linkcode IN}.
 * @returns The short names, lowest bit first.
 * @example Usage
 * ```ts
 * import { describeMask, IN } from "@notiq/notiq";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(describeMask(IN.CREATE | IN.ISDIR), ["CREATE", "ISDIR"]);
 * ```
 */
export function describeMask(mask: number): (keyof typeof IN)[] {
  return BITS.filter(([, bit]) => (mask & bit) !== 0).map(([name]) => name);
}
