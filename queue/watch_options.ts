/**
 * What `watch()` can be asked for and what it reports — the event kinds, {@linkcode WatchEvent},
 * {@linkcode WatchOptions} — and {@linkcode watchConfig}, which checks the arguments before any
 * system call.
 *
 * @module
 */
import { resolve } from "node:path";
import { abortError } from "./errors.ts";
import { describe, toPath } from "./args.ts";
import type { InotifyOptions } from "./inotify.ts";
import { IN } from "./inotify_mask.ts";

/** What a {@linkcode WatchEvent} reports. */
export type WatchEventKind =
  | "create"
  | "modify"
  | "attrib"
  | "close_write"
  | "close_nowrite"
  | "open"
  | "access"
  | "delete"
  | "rename"
  | "overflow"
  | "error"
  | "warning";

/** Every kind, in the order the CLI lists them. */
export const WATCH_EVENT_KINDS: readonly WatchEventKind[] = [
  "create",
  "modify",
  "attrib",
  "close_write",
  "close_nowrite",
  "open",
  "access",
  "delete",
  "rename",
  "overflow",
  "error",
  "warning",
];

/** The kinds reported whatever `events` asks for. */
export const ALWAYS_REPORTED: readonly WatchEventKind[] = ["overflow", "error", "warning"];

/** The kinds reported when `events` is not given: all but `open`, `access`, `close_nowrite`. */
export const DEFAULT_WATCH_EVENT_KINDS: readonly WatchEventKind[] = WATCH_EVENT_KINDS.filter((k) =>
  k !== "open" && k !== "access" && k !== "close_nowrite"
);

/** One change, with absolute paths. */
export interface WatchEvent {
  /** What happened. `overflow`, `error` and `warning` are always reported. */
  readonly kind: WatchEventKind;
  /**
   * The absolute path of what changed (for `overflow`, the watched root it concerns; for `warning`,
   * the watched root or the mount point inside it that the warning is about).
   */
  readonly path: string;
  /** `rename` only: where it was before. */
  readonly oldPath?: string;
  /** True when the subject is a directory. */
  readonly isDirectory: boolean;
  /** `error` only: why a directory could not be watched (e.g. a `WatchLimitError`). */
  readonly error?: Error;
  /** `warning` only: what is wrong, in words, with the fix (a file system that gives no events: `poll`). */
  readonly message?: string;
}

/** Options of `watch()`. */
export interface WatchOptions extends InotifyOptions {
  /** Watch new subdirectories as they appear, and the existing ones. Default true. */
  recursive?: boolean;
  /** The kinds to report; default {@linkcode DEFAULT_WATCH_EVENT_KINDS}. */
  events?: readonly WatchEventKind[];
  /** Paths for which this returns true are not reported, and excluded directories get no watch. */
  exclude?: (path: string) => boolean;
  /** Descend into symbolic links to directories (each directory once: no loops). Default false. */
  followSymlinks?: boolean;
  /** Abort closes the watcher; a pending iteration rejects with an `AbortError`. */
  signal?: AbortSignal;
  /** On kernel queue overflow: `"rescan"` (default) repairs the tree, `"report"` only reports. */
  onOverflow?: "rescan" | "report";
  /**
   * Milliseconds of quiet before held events are folded (each path's events into the fewest that
   * mean the same) and yielded; never held longer than `10 * settle`. Default 0: nothing is held.
   * The kinds in `events` are picked from the folded events: an editor's atomic save is a `modify`
   * of the file saved, also for a watcher that asked for `modify` only.
   */
  settle?: number;
  /**
   * Trees (and mounts inside them) on file systems that give no inotify events for some changes —
   * 9p, virtiofs and other FUSE, NFS, SMB/CIFS, vboxsf (WSL's `/mnt/c`, Docker Desktop bind mounts,
   * network shares), or /proc and /sys — are walked every `poll` ms (`true`: 1000) and their changes
   * reported as ordinary events, diffed as after an overflow. The other trees stay on inotify alone.
   * Without it, each such tree gets one `warning` event. Default false.
   */
  poll?: boolean | number;
}

/** `poll: true`: a walk every second. */
export const DEFAULT_POLL_MS = 1000;

/** The checked arguments of `watch()`. */
export interface WatchConfig {
  /** Absolute paths, as given (duplicates and nesting are the tree's to sort out). */
  readonly roots: readonly string[];
  /** The kinds to hand to the consumer: those asked for, plus {@linkcode ALWAYS_REPORTED}. */
  readonly wanted: ReadonlySet<WatchEventKind>;
  /** The inotify events every watch asks for, with `IN.EXCL_UNLINK`. */
  readonly mask: number;
  readonly recursive: boolean;
  readonly followSymlinks: boolean;
  readonly exclude?: (path: string) => boolean;
  /** `onOverflow: "rescan"`. */
  readonly rescan: boolean;
  readonly signal?: AbortSignal;
  /** `settle` in ms; 0 when off. */
  readonly settle: number;
  /** `poll` in ms; 0 when off. */
  readonly poll: number;
  /** For the inotify instance (checked by it, also before any system call). */
  readonly inotify: InotifyOptions;
}

/** Events every watch needs, whatever the kinds asked for: the tree's names depend on them. */
const ALWAYS = IN.CREATE | IN.DELETE | IN.MOVED_FROM | IN.MOVED_TO | IN.DELETE_SELF | IN.MOVE_SELF;

/** The kinds that are one inotify bit each, and that bit. */
export const KIND_BITS: readonly (readonly [number, WatchEventKind])[] = [
  [IN.MODIFY, "modify"],
  [IN.ATTRIB, "attrib"],
  [IN.CLOSE_WRITE, "close_write"],
  [IN.CLOSE_NOWRITE, "close_nowrite"],
  [IN.OPEN, "open"],
  [IN.ACCESS, "access"],
];

/**
 * Checks the arguments of `watch()`.
 *
 * @throws {TypeError} On a bad path or an option of the wrong type.
 * @throws {RangeError} On an unknown event kind or `onOverflow` value, a `settle` that is not a
 *   finite number of milliseconds >= 0, or a `poll` that is not a finite number of milliseconds > 0.
 * @throws {Error} An `AbortError` if `signal` is already aborted.
 */
export function watchConfig(paths: unknown, options: WatchOptions | undefined = {}): WatchConfig {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot watch: options must be an object, got ${describe(options)}`);
  }
  const list = (Array.isArray(paths) ? paths : [paths]) as unknown[];
  if (list.length === 0) throw new TypeError("Cannot watch: no path given");
  const roots = list.map((p) => resolve(toPath(p, "watch")));
  const events = options.events ?? DEFAULT_WATCH_EVENT_KINDS;
  if (!Array.isArray(events)) throw new TypeError(`Cannot watch: events must be an array, got ${describe(events)}`);
  for (const kind of events) {
    if (!WATCH_EVENT_KINDS.includes(kind)) {
      throw new RangeError(
        `Cannot watch: unknown event kind ${JSON.stringify(kind)} (one of ${WATCH_EVENT_KINDS.join(", ")})`,
      );
    }
  }
  const exclude = options.exclude;
  if (exclude !== undefined && typeof exclude !== "function") {
    throw new TypeError(`Cannot watch: exclude must be a function, got ${describe(exclude)}`);
  }
  const recursive = flag(options.recursive, "recursive", true);
  const followSymlinks = flag(options.followSymlinks, "followSymlinks", false);
  const onOverflow = options.onOverflow ?? "rescan";
  if (onOverflow !== "rescan" && onOverflow !== "report") {
    throw new RangeError(`Cannot watch: onOverflow must be "rescan" or "report", got ${JSON.stringify(onOverflow)}`);
  }
  const settle = options.settle ?? 0;
  if (typeof settle !== "number") {
    throw new TypeError(`Cannot watch: settle must be a number of milliseconds, got ${describe(settle)}`);
  }
  if (!(settle >= 0 && Number.isFinite(settle))) {
    throw new RangeError(`Cannot watch: settle must be a finite number of milliseconds >= 0, got ${settle}`);
  }
  const poll = pollMs(options.poll);
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`Cannot watch: signal must be an AbortSignal, got ${describe(signal)}`);
  }
  if (signal?.aborted) throw abortError(signal);
  const wanted = new Set<WatchEventKind>([...events, ...ALWAYS_REPORTED]);
  let mask = ALWAYS | IN.EXCL_UNLINK;
  for (const [bit, kind] of KIND_BITS) if (wanted.has(kind)) mask |= bit;
  return {
    roots,
    wanted,
    mask,
    recursive,
    followSymlinks,
    exclude,
    rescan: onOverflow === "rescan",
    signal,
    settle,
    poll,
    inotify: { bufferSize: options.bufferSize, ringSize: options.ringSize },
  };
}

function pollMs(poll: unknown): number {
  if (poll === undefined || poll === false) return 0;
  if (poll === true) return DEFAULT_POLL_MS;
  if (typeof poll !== "number") {
    throw new TypeError(`Cannot watch: poll must be a boolean or a number of milliseconds, got ${describe(poll)}`);
  }
  if (!(poll > 0 && Number.isFinite(poll))) {
    throw new RangeError(`Cannot watch: poll must be a finite number of milliseconds > 0, got ${poll}`);
  }
  return poll;
}

function flag(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(`Cannot watch: ${name} must be a boolean, got ${describe(value)}`);
  }
  return value;
}
