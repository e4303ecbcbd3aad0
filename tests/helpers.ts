/**
 * The one test harness: temp dirs, open-fd counts, sysctls, and bounded waits on conditions. Every
 * wait here ends when its condition holds; the deadline only turns a hang into a clear failure.
 *
 * @module
 */
import {
  accessSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import process from "node:process";
import type { InotifyEvent } from "../mod.ts";

/** A fresh directory on tmpfs; remove it with {@linkcode removeDir}. */
export function tempDir(): string {
  return mkdtempSync("/dev/shm/notiq-test-");
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Rejects with what it was waiting for after `ms`, so no test hangs.
 * @param what Words for the message, or a function that gives them then (e.g. the output so far).
 */
export function deadline<T>(promise: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === "string" ? what : what()}`));
    }, ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** How often {@linkcode waitFor} looks again at a condition that nothing announces. */
const LOOK_AGAIN_MS = 10;

/**
 * Resolves once `holds()` is true, looking again every few milliseconds (for conditions that
 * nothing announces: a child's output, an fd count); fails after `ms` with `what`.
 */
export async function waitFor(what: string | (() => string), holds: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!holds()) {
    if (Date.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, LOOK_AGAIN_MS));
  }
}

/**
 * Open fds of this process that notiq could have leaked: all but sockets, which Deno keeps for
 * its workers' messaging once a second worker has run.
 */
export function fdCount(): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return !readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:");
    } catch {
      return false; // the fd of the directory listing itself
    }
  }).length;
}

/**
 * Waits for the fd count to come back to `before` (a finished worker's runtime fds close a moment
 * after it exits), and fails with the count if it does not.
 */
export async function assertFdCount(before: number, ms = 3000): Promise<void> {
  await waitFor(() => `the fd count to return to ${before}: ${fdCount()} open`, () => fdCount() === before, ms);
}

const SYSCTL = "/proc/sys/fs/inotify/";

/** Sets `fs.inotify.<name>` for the duration of `fn` and restores it, even on failure. */
export async function withSysctl<T>(name: string, value: number, fn: () => T | Promise<T>): Promise<T> {
  const before = readFileSync(SYSCTL + name, "utf8");
  writeFileSync(SYSCTL + name, String(value));
  try {
    return await fn();
  } finally {
    writeFileSync(SYSCTL + name, before);
  }
}

/** Whether this process may change inotify sysctls (root, and /proc/sys writable); writes nothing. */
export function canSetSysctl(): boolean {
  try {
    accessSync(SYSCTL + "max_queued_events", constants.W_OK);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

/** The skip reason of a test that changes inotify sysctls, or false when it can run. */
export const NEEDS_ROOT: string | false = canSetSysctl() ? false : "needs root to change fs.inotify sysctls";

/** Reads events from `iterator` until `done(events)` holds; fails after `ms` with what was seen. */
export async function collect(
  iterator: AsyncIterator<InotifyEvent>,
  done: (events: InotifyEvent[]) => boolean,
  ms = 5000,
): Promise<InotifyEvent[]> {
  const events: InotifyEvent[] = [];
  const reading = (async () => {
    while (!done(events)) {
      const r = await iterator.next();
      if (r.done) break;
      events.push(r.value);
    }
    return events;
  })();
  return await deadline(reading, ms, () => `events; got ${JSON.stringify(events.map((e) => [e.wd, e.mask, e.name]))}`);
}
