/**
 * Keeps a mirror directory equal to a source directory, from the event stream alone: copies the
 * tree once, then applies each `create`, `close_write`, `attrib`, `delete` and `rename` to the
 * mirror. When it ends it compares the two trees and says whether they are equal (exit 0) or
 * not (exit 1).
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write examples/sync_mirror.ts SRC DST [--idle MS] [--timeout S]
 * bun examples/sync_mirror.ts SRC DST --burst 20000 --idle 1000
 * bun examples/sync_mirror.ts SRC DST --burst 20000 --idle 1000 --on-overflow report   # ends unequal
 * ```
 *
 * Why the overflow repair matters: when the kernel queue overflows (`fs.inotify.max_queued_events`,
 * 16384 by default), events are lost for good, and a mirror built from events alone silently
 * drifts. `--burst N` shows it: the program makes and then deletes files in SRC while its own
 * thread is busy (a stand-in for a consumer that falls behind), with a small ring so the kernel
 * queue overflows. With `onOverflow: "rescan"` (the default) the watcher reports `overflow`, re-reads
 * the tree and reports what changed as ordinary events, so applying every event still ends equal;
 * with `--on-overflow report` it only reports the overflow, and the mirror ends wrong.
 *
 * Ends after `--idle` ms without events, after `--timeout` seconds, or on Ctrl-C.
 *
 * @module
 */
import { watch, type WatchEvent } from "@notiq/notiq";
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import process from "node:process";
import { isDeepStrictEqual, parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    idle: { type: "string" },
    timeout: { type: "string" },
    burst: { type: "string", default: "0" },
    "on-overflow": { type: "string", default: "rescan" },
  },
});
if (positionals.length !== 2) {
  throw new TypeError("usage: sync_mirror.ts SRC DST [--idle MS] [--timeout S] [--burst N]");
}
const [src, dst] = positionals.map((p) => resolve(p));
if (!relative(src, dst).startsWith("..")) throw new RangeError(`the mirror ${dst} must not be inside ${src}`);
const onOverflow = values["on-overflow"] === "report" ? "report" : "rescan";
const burst = Number(values.burst);

const watcher = watch(src, {
  events: ["create", "close_write", "attrib", "delete", "rename"], // a file is copied once written and closed
  onOverflow,
  ringSize: burst ? 64 * 1024 : undefined, // the demo's small ring, so that the burst overflows
});
await watcher.ready; // watch first, then copy: a change during the copy still comes as an event
rmSync(dst, { recursive: true, force: true });
cpSync(src, dst, { recursive: true });
console.log(`mirroring ${src} -> ${dst}`);

const mirrorOf = (path: string) => join(dst, relative(src, path));

function copyIn(from: string, to: string, isDirectory: boolean): void {
  try {
    if (isDirectory) cpSync(from, to, { recursive: true }); // with what is already inside
    else {
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(from, to);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err; // else gone again: a delete follows
  }
}

/** Makes the mirror follow one change. Idempotent, so events about what was copied already do no harm. */
function apply(ev: WatchEvent): void {
  const to = mirrorOf(ev.path);
  switch (ev.kind) {
    case "delete": // of a directory: stands for its whole subtree
      rmSync(to, { recursive: true, force: true });
      break;
    case "rename":
      rmSync(to, { recursive: true, force: true });
      try {
        renameSync(mirrorOf(ev.oldPath!), to);
      } catch {
        copyIn(ev.path, to, ev.isDirectory);
      }
      break;
    case "overflow":
      console.log(`overflow: the kernel dropped events for ${ev.path}${onOverflow === "rescan" ? "; rescanning" : ""}`);
      break;
    case "error":
      console.error(`cannot watch ${ev.path}: ${ev.error?.message}`);
      break;
    default: // create, close_write, attrib
      copyIn(ev.path, to, ev.isDirectory);
  }
}

/** Relative path -> file content (or "dir") of every entry under `dir`. */
function snapshot(dir: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    entries.set(relative(dir, path), entry.isDirectory() ? "dir" : readFileSync(path, "latin1"));
  }
  return entries;
}

const stop = () => void watcher.close(); // ends the loop below
process.once("SIGINT", stop);
let idle: ReturnType<typeof setTimeout> | undefined;
const idleMs = values.idle === undefined ? undefined : Number(values.idle);
const rearm = () => {
  clearTimeout(idle);
  if (idleMs !== undefined) idle = setTimeout(stop, idleMs);
};
const timer = values.timeout === undefined ? undefined : setTimeout(stop, Number(values.timeout) * 1000);

if (burst) {
  // Synchronous on purpose: while it runs nothing reads the events here, as in a busy consumer.
  for (let i = 0; i < burst; i++) writeFileSync(join(src, `burst-${i}.txt`), `file ${i}\n`);
  for (let i = 0; i < burst; i += 2) rmSync(join(src, `burst-${i}.txt`));
  console.log(`burst: made ${burst} files in ${src} and deleted half of them`);
}

let applied = 0;
rearm();
try {
  for await (const ev of watcher) {
    apply(ev);
    applied++;
    rearm();
  }
} finally {
  clearTimeout(idle);
  clearTimeout(timer);
  process.off("SIGINT", stop);
}

const [want, got] = [snapshot(src), snapshot(dst)];
const stats = watcher.stats();
console.log(`applied ${applied} events (${stats.overflows} overflows, ${stats.rescans} rescans)`);
if (isDeepStrictEqual(want, got)) {
  console.log(`mirror equal: ${want.size} entries`);
} else {
  const differ = [...new Set([...want.keys(), ...got.keys()])].filter((k) => want.get(k) !== got.get(k));
  console.log(`mirror differs: ${differ.length} entries, e.g. ${differ.slice(0, 3).join(", ")}`);
  process.exitCode = 1;
}
