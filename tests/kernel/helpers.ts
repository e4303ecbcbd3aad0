/** Helpers for tests against the real kernel: temp dirs, sysctls, fd counts, bounded waits. @module */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import type { InotifyEvent } from "../../mod.ts";

/** A fresh directory on tmpfs; remove it with {@linkcode removeDir}. */
export function tempDir(): string {
  return mkdtempSync("/dev/shm/notiq-test-");
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
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
 * Waits up to 3 s for the fd count to come back to `before`, then asserts it did: a finished
 * worker's runtime fds (epoll, eventfd) close a moment after the worker exits.
 */
export async function assertFdCount(before: number): Promise<void> {
  for (let i = 0; i < 150 && fdCount() > before; i++) await new Promise((r) => setTimeout(r, 20));
  if (fdCount() !== before) throw new Error(`fds leaked: ${fdCount()} open, ${before} before`);
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

/** Whether this process may change inotify sysctls (root on a writable /proc/sys). */
export function canSetSysctl(): boolean {
  try {
    writeFileSync(SYSCTL + "max_queued_events", readFileSync(SYSCTL + "max_queued_events", "utf8"));
    return true;
  } catch {
    return false;
  }
}

/** Rejects with `what` after `ms`, so no test hangs. */
export function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Reads events from `iterator` until `done(events)` holds; fails after `ms` with what was seen.
 */
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
  return await deadline(reading, ms, `events; got ${JSON.stringify(events.map((e) => [e.wd, e.mask, e.name]))}`);
}
