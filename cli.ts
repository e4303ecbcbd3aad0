#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/**
 * The notiq command line: `watch` prints events as they happen (like `inotifywait -m -r`),
 * `stats` counts them per path and kind (like `inotifywatch`), `keys` prints keyring notifications
 * from the general notification queue (like `keyctl watch`; needs a kernel with `CONFIG_WATCH_QUEUE`),
 * `snapshot` records trees in a file and `since` prints what changed in them since.
 *
 * ```sh
 * deno run --allow-ffi --allow-read cli.ts watch [options] PATH...
 * bun cli.ts watch [options] PATH...
 * node --experimental-ffi cli.ts watch [options] PATH...   # or ./cli.ts; npm's `notiq` command
 * ```
 *
 * The shebang runs Node without `--experimental-ffi`, which Node 24 (koffi) refuses and Node 26.12
 * no longer needs; the first Node 26 releases need it given on the command line. Node's
 * ExperimentalWarning about node:ffi would be a line on stderr that is not ours: it is turned off.
 *
 * Only events go to stdout; messages go to stderr as one line. Exit status: 0 on Ctrl-C or when
 * done, 1 on an error (a missing path, the watch limit), 2 when `--timeout` passed without an event.
 *
 * @module
 */
import { basename } from "node:path";
import process from "node:process";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import {
  changesSince,
  DEFAULT_WATCH_EVENT_KINDS,
  watch,
  WATCH_EVENT_KINDS,
  type Watcher,
  type WatchEvent,
  type WatchEventKind,
  writeSnapshot,
} from "./mod.ts";
import { describeNotification, KEY_NOTIFY, KEY_SPEC, keys, WATCH_META, WATCH_TYPE, WatchQueue } from "./mod.ts";
import { benchCommand } from "./bench/machine.ts";

/** One command: its flags (each with a help line), and what it does. Add new ones to COMMANDS. */
interface Command {
  summary: string;
  usage: string;
  options: ParseArgsOptionsConfig;
  help: Record<string, string>;
  run(values: Record<string, unknown>, paths: string[]): Promise<number>;
}

const EXIT_OK = 0, EXIT_ERROR = 1, EXIT_TIMEOUT = 2; // inotifywait's exit codes

/** inotifywait's event names, as the kinds they mean here. */
const ALIASES: Record<string, WatchEventKind[]> = {
  close: ["close_write", "close_nowrite"],
  move: ["rename"],
  moved_to: ["rename", "create"],
  moved_from: ["rename", "delete"],
  delete_self: ["delete"],
  all: WATCH_EVENT_KINDS.filter((k) => k !== "overflow" && k !== "error"),
};

const WATCH_FLAGS: ParseArgsOptionsConfig = {
  recursive: { type: "boolean", short: "r", default: true },
  events: { type: "string", short: "e", multiple: true },
  exclude: { type: "string", multiple: true },
  "follow-symlinks": { type: "boolean", default: false },
  settle: { type: "string" },
  timeout: { type: "string", short: "t" },
  quiet: { type: "boolean", short: "q", default: false },
  help: { type: "boolean", short: "h", default: false },
};

const WATCH_HELP: Record<string, string> = {
  recursive: "watch subdirectories too, and new ones as they appear (default; --no-recursive: only PATH)",
  events:
    `kinds to report, comma-separated or repeated: ${
      WATCH_EVENT_KINDS.filter((k) => k !== "overflow" && k !== "error").join(", ")
    } ` +
    `(inotifywait names also work: close, move, moved_to, moved_from, delete_self, all); default ${
      DEFAULT_WATCH_EVENT_KINDS.filter((k) => k !== "overflow" && k !== "error").join(",")
    }`,
  exclude:
    "skip paths matching GLOB, and place no watch under them; a GLOB without / matches the name (node_modules, *.tmp), else the whole path; repeatable",
  "follow-symlinks": "descend into symbolic links to directories (each directory once)",
  settle:
    "hold events until MS pass without one (at most 10 x MS), then fold each path's: create+writes -> create, an editor's save -> modify, a->b->c -> one rename",
  timeout: "exit with status 2 when SECONDS pass without an event",
  quiet: "print nothing but events (no 'Watching ...' line on stderr)",
  help: "show this help",
};

/** keyctl watch's word for each key notification subtype. */
const KEY_SUBTYPE_WORDS: Record<string, string> = {
  INSTANTIATED: "inst",
  UPDATED: "upd",
  LINKED: "link",
  UNLINKED: "unlk",
  CLEARED: "clr",
  REVOKED: "rev",
  INVALIDATED: "inv",
  SETATTR: "attr",
};

const COMMANDS: Record<string, Command> = {
  watch: {
    summary: "print events as they happen, one a line (like inotifywait -m -r)",
    usage: "watch [-r|--no-recursive] [-e KINDS] [--exclude GLOB] [--settle MS] [--json] [-t SECONDS] [-q] PATH...",
    options: { ...WATCH_FLAGS, json: { type: "boolean", default: false } },
    help: {
      ...WATCH_HELP,
      json: 'one JSON object a line: {"time","kind","path","isDirectory","oldPath"?}',
    },
    run: runWatch,
  },
  stats: {
    summary: "count events per path and kind, then print a table (like inotifywatch)",
    usage: "stats [-r|--no-recursive] [-e KINDS] [--exclude GLOB] [--settle MS] [-t SECONDS] [-q] PATH...",
    options: WATCH_FLAGS,
    help: { ...WATCH_HELP, timeout: "count for SECONDS, then print the table (default: until Ctrl-C)" },
    run: runStats,
  },
  keys: {
    summary: "print keyring notifications from the general notification queue (like keyctl watch)",
    usage: "keys [-s SUBTYPES] [--json] [-t SECONDS] [--size N] [-q] [KEY...]",
    options: {
      subtypes: { type: "string", short: "s", multiple: true },
      json: { type: "boolean", default: false },
      timeout: { type: "string", short: "t" },
      size: { type: "string" },
      quiet: { type: "boolean", short: "q", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    help: {
      subtypes: `report only these, comma-separated or repeated: ${
        Object.keys(KEY_SUBTYPE_WORDS).join(", ")
      } or keyctl's words (${Object.values(KEY_SUBTYPE_WORDS).join(", ")}); REMOVAL and LOSS always`,
      json: 'one JSON object a line: {"time","type","subtype","watchId","keyId"?,"aux"?}',
      timeout: "exit with status 2 when SECONDS pass without a notification",
      size: "notification slots in the kernel queue, 1 to 512 (default 256); when full, a LOSS line says so",
      quiet: "print nothing but notifications (no 'Watching ...' line on stderr)",
      help: "show this help. KEY: a serial number (decimal or 0x hex) or @s @u @us @p @t @g; default @s",
    },
    run: runKeys,
  },
  snapshot: {
    summary: "record the state of trees in FILE, for `since` to compare with later",
    usage: "snapshot [--exclude GLOB] [--follow-symlinks] [-q] FILE PATH...",
    options: {
      exclude: WATCH_FLAGS.exclude,
      "follow-symlinks": WATCH_FLAGS["follow-symlinks"],
      quiet: WATCH_FLAGS.quiet,
      help: WATCH_FLAGS.help,
    },
    help: {
      exclude: WATCH_HELP.exclude.replace("place no watch under them", "do not walk into them"),
      "follow-symlinks": "record what symbolic links lead to, and walk into linked directories (each once)",
      quiet: "print nothing (no 'Wrote ...' line on stderr)",
      help: "show this help. FILE is replaced atomically; PATH... are the trees (directories or files)",
    },
    run: runSnapshot,
  },
  since: {
    summary: "print what changed in a snapshot's trees since it was written, one event a line",
    usage: "since [--exclude GLOB] [--json] FILE",
    options: { exclude: WATCH_FLAGS.exclude, json: { type: "boolean", default: false }, help: WATCH_FLAGS.help },
    help: {
      exclude: "as given to snapshot: paths it excludes are neither walked nor reported; repeatable",
      json: 'one JSON object a line, as watch --json: {"time","kind","path","isDirectory","oldPath"?}',
      help: "show this help. Events come in an order that turns the recorded trees into today's",
    },
    run: runSince,
  },
  bench: benchCommand,
};

class UsageError extends Error {}

function kinds(values: Record<string, unknown>): WatchEventKind[] | undefined {
  const given = values.events as string[] | undefined;
  if (!given) return undefined;
  const out = new Set<WatchEventKind>();
  for (const name of given.flatMap((e) => e.split(",")).map((e) => e.trim().toLowerCase()).filter(Boolean)) {
    if (ALIASES[name]) { for (const k of ALIASES[name]) out.add(k); }
    else if ((WATCH_EVENT_KINDS as string[]).includes(name)) out.add(name as WatchEventKind);
    else throw new UsageError(`unknown event kind "${name}" (see --help)`);
  }
  return [...out];
}

function excluder(values: Record<string, unknown>): ((path: string) => boolean) | undefined {
  const globs = values.exclude as string[] | undefined;
  if (!globs?.length) return undefined;
  const patterns = globs.map((g) => ({ whole: g.includes("/"), regex: globToRegExp(g) }));
  return (path) => patterns.some(({ whole, regex }) => regex.test(whole ? path : basename(path)));
}

/**
 * A shell glob as a RegExp: `*` and `?` within a name, `**` across names, `[...]` a class.
 * (node:path's matchesGlob reads an environment variable in Deno, so it needs --allow-env.)
 */
function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      out += glob[i + 2] === "/" ? "(?:.*/)?" : ".*";
      i += glob[i + 2] === "/" ? 2 : 1;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[" && glob.indexOf("]", i + 2) !== -1) {
      const end = glob.indexOf("]", i + 2);
      const body = glob.slice(i + 1, end);
      out += `[${body.startsWith("!") ? "^" + body.slice(1) : body}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

function seconds(values: Record<string, unknown>): number | undefined {
  if (values.timeout === undefined) return undefined;
  const s = Number(values.timeout);
  if (!Number.isFinite(s) || s <= 0) {
    throw new UsageError(`--timeout needs a number of seconds above 0, got "${values.timeout}"`);
  }
  return s;
}

function settleMs(values: Record<string, unknown>): number | undefined {
  if (values.settle === undefined) return undefined;
  const ms = Number(values.settle);
  if (values.settle === "" || !Number.isFinite(ms) || ms < 0) {
    throw new UsageError(`--settle needs a number of milliseconds, 0 or more, got "${values.settle}"`);
  }
  return ms;
}

/** Starts the watcher; Ctrl-C and SIGTERM close it, so the loop ends and we exit 0. */
async function start(values: Record<string, unknown>, paths: string[]): Promise<Watcher> {
  if (paths.length === 0) throw new UsageError("no PATH given (see --help)");
  const watcher = watch(paths, {
    recursive: values.recursive as boolean,
    events: kinds(values),
    exclude: excluder(values),
    followSymlinks: values["follow-symlinks"] as boolean,
    settle: settleMs(values),
  });
  const stop = () => void watcher.close();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  await watcher.ready;
  if (!values.quiet) {
    const { watches } = watcher.stats();
    process.stderr.write(
      `Watching ${paths.join(" ")} (${watches} ${watches === 1 ? "watch" : "watches"}); Ctrl-C to stop\n`,
    );
  }
  return watcher;
}

/** Iterates, calling `each`; resolves "timeout" when `ms` pass without an event. */
async function pump(watcher: Watcher, ms: number | undefined, idle: boolean, each: (ev: WatchEvent) => void) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const arm = () => {
    if (ms === undefined) return;
    clearTimeout(timer);
    timer = setTimeout(() => (timedOut = true, void watcher.close()), ms);
  };
  arm();
  try {
    for await (const ev of watcher) {
      if (ev.kind === "error") {
        process.stderr.write(`notiq: ${ev.error?.message ?? "error"}\n`);
        continue;
      }
      each(ev);
      if (idle) arm();
    }
  } finally {
    clearTimeout(timer);
  }
  return timedOut;
}

/** An event as `watch` and `since` print it: `kind [old -> ]path[/]`, or one JSON object. */
function eventLine(ev: WatchEvent, json: boolean): string {
  return json
    ? JSON.stringify({
      time: new Date().toISOString(),
      kind: ev.kind,
      path: ev.path,
      isDirectory: ev.isDirectory,
      ...(ev.oldPath === undefined ? {} : { oldPath: ev.oldPath }),
    })
    : `${ev.kind} ${ev.oldPath === undefined ? "" : `${ev.oldPath} -> `}${ev.path}${
      ev.isDirectory && !ev.path.endsWith("/") ? "/" : ""
    }`;
}

async function runWatch(values: Record<string, unknown>, paths: string[]): Promise<number> {
  const ms = seconds(values);
  const watcher = await start(values, paths);
  const json = values.json as boolean;
  const timedOut = await pump(watcher, ms === undefined ? undefined : ms * 1000, true, (ev) => {
    process.stdout.write(eventLine(ev, json) + "\n");
  });
  return timedOut ? EXIT_TIMEOUT : EXIT_OK;
}

async function runSnapshot(values: Record<string, unknown>, args: string[]): Promise<number> {
  const [file, ...paths] = args;
  if (file === undefined) throw new UsageError("no FILE given (see --help)");
  if (paths.length === 0) throw new UsageError("no PATH given (see --help)");
  const start = performance.now();
  const { entries, bytes } = await writeSnapshot(paths, file, {
    exclude: excluder(values),
    followSymlinks: values["follow-symlinks"] as boolean,
  });
  if (!values.quiet) {
    const ms = Math.round(performance.now() - start);
    process.stderr.write(`Wrote ${file}: ${entries} entries of ${paths.join(" ")}, ${bytes} bytes, in ${ms} ms\n`);
  }
  return EXIT_OK;
}

async function runSince(values: Record<string, unknown>, args: string[]): Promise<number> {
  if (args.length !== 1) {
    throw new UsageError(args.length ? "one FILE only (see --help)" : "no FILE given (see --help)");
  }
  const events = await changesSince(args[0], { exclude: excluder(values) });
  const json = values.json as boolean;
  process.stdout.write(events.map((ev) => eventLine(ev, json) + "\n").join(""));
  return EXIT_OK;
}

async function runStats(values: Record<string, unknown>, paths: string[]): Promise<number> {
  const ms = seconds(values);
  const watcher = await start(values, paths);
  const counts = new Map<string, Map<WatchEventKind, number>>();
  await pump(watcher, ms === undefined ? undefined : ms * 1000, false, (ev) => {
    const row = counts.get(ev.path) ?? counts.set(ev.path, new Map()).get(ev.path)!;
    row.set(ev.kind, (row.get(ev.kind) ?? 0) + 1);
  });
  const columns = WATCH_EVENT_KINDS.filter((k) => [...counts.values()].some((row) => row.has(k)));
  const rows = [...counts].map(([path, row]) => ({ path, row, total: [...row.values()].reduce((a, b) => a + b, 0) }))
    .sort((a, b) => b.total - a.total || (a.path < b.path ? -1 : 1));
  const table = [
    ["total", ...columns, "path"],
    ...rows.map((r) => [String(r.total), ...columns.map((k) => String(r.row.get(k) ?? 0)), r.path]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((line) => line[i].length)));
  for (const line of table) {
    process.stdout.write(
      line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ") + "\n",
    );
  }
  return EXIT_OK;
}

/** keyctl's names of the special keyrings. */
const KEY_SPEC_NAMES: Record<string, number> = {
  "@t": KEY_SPEC.THREAD_KEYRING,
  "@p": KEY_SPEC.PROCESS_KEYRING,
  "@s": KEY_SPEC.SESSION_KEYRING,
  "@u": KEY_SPEC.USER_KEYRING,
  "@us": KEY_SPEC.USER_SESSION_KEYRING,
  "@g": KEY_SPEC.GROUP_KEYRING,
};

function keyArg(text: string): number {
  if (text in KEY_SPEC_NAMES) return KEY_SPEC_NAMES[text];
  const id = /^(0x[0-9a-f]+|[0-9]+)$/i.test(text) ? Number(text) : NaN;
  if (!(id > 0 && id < 2 ** 31)) {
    throw new UsageError(`"${text}" is not a key serial number or one of @s @u @us @p @t @g`);
  }
  return id;
}

function keySubtypes(values: Record<string, unknown>): number[] | undefined {
  const given = values.subtypes as string[] | undefined;
  if (!given) return undefined;
  const byWord = Object.fromEntries(Object.entries(KEY_SUBTYPE_WORDS).map(([name, word]) => [word, name]));
  return given.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean).map((s) => {
    const name = byWord[s.toLowerCase()] ?? s.toUpperCase();
    if (!(name in KEY_NOTIFY)) throw new UsageError(`unknown key notification "${s}" (see --help)`);
    return KEY_NOTIFY[name as keyof typeof KEY_NOTIFY];
  });
}

/** Watches keys (watch ids 1, 2, ... in order); exits 0 on Ctrl-C or once every watch is removed. */
async function runKeys(values: Record<string, unknown>, args: string[]): Promise<number> {
  const ms = seconds(values);
  const subtypes = keySubtypes(values);
  const size = values.size === undefined ? undefined : Number(values.size);
  if (size !== undefined && !(Number.isInteger(size) && size >= 1 && size <= 512)) {
    throw new UsageError(`--size needs a number of notes from 1 to 512, got "${values.size}"`);
  }
  const ids = (args.length ? args : ["@s"]).map(keyArg);
  if (ids.length > 255) throw new UsageError("at most 255 keys can be watched at once");
  const json = values.json as boolean;
  const queue = new WatchQueue({ size }); // closed by hand: Node 22 does not parse `using`
  const live = new Set<number>();
  try {
    if (subtypes) queue.setFilter([{ type: WATCH_TYPE.KEY_NOTIFY, subtypes }]);
    ids.forEach((id, i) => (queue.watchKey(id, i + 1), live.add(i + 1)));
  } catch (err) {
    queue.close();
    throw err;
  }
  const stop = () => queue.close();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  if (!values.quiet) {
    const shown = ids.map((id, i) => (id < 0 ? `${args[i] ?? "@s"} (${keys.keyringId(id)})` : String(id)));
    process.stderr.write(`Watching ${shown.join(" ")}; Ctrl-C to stop\n`);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const arm = () => {
    if (ms === undefined) return;
    clearTimeout(timer);
    timer = setTimeout(() => (timedOut = true, queue.close()), ms * 1000);
  };
  arm();
  try {
    for await (const n of queue) {
      arm();
      const [type, subtype] = describeNotification(n);
      const isMeta = n.type === WATCH_TYPE.META;
      let line: string;
      if (json) {
        line = JSON.stringify({
          time: new Date().toISOString(),
          type,
          subtype,
          watchId: n.watchId,
          ...(n.keyId === undefined ? {} : { keyId: n.keyId }),
          ...(n.aux === undefined ? {} : { aux: n.aux }),
        });
      } else if (isMeta && n.subtype === WATCH_META.LOSS) {
        line = "-- LOSS --";
      } else if (isMeta && n.subtype === WATCH_META.REMOVAL) {
        line = `${n.keyId ?? 0} gc`;
      } else if (n.type === WATCH_TYPE.KEY_NOTIFY) {
        const word = KEY_SUBTYPE_WORDS[subtype] ?? subtype;
        line = `${n.keyId} ${word}${
          n.subtype === KEY_NOTIFY.LINKED || n.subtype === KEY_NOTIFY.UNLINKED ? ` ${n.aux}` : ""
        }`;
      } else {
        line = `-- ${type} ${subtype} --`;
      }
      process.stdout.write(line + "\n");
      if (isMeta && n.subtype === WATCH_META.REMOVAL && live.delete(n.watchId) && live.size === 0) break;
    }
  } finally {
    clearTimeout(timer);
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    queue.close();
  }
  return timedOut ? EXIT_TIMEOUT : EXIT_OK;
}

function help(name?: string): string {
  if (name === undefined || !COMMANDS[name]) {
    return [
      "notiq: Linux inotify for Deno, Bun and Node",
      "",
      "usage: cli.ts COMMAND [options] ARGS...",
      "",
      ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)}${c.summary}`),
      "",
      "cli.ts COMMAND --help explains each flag.",
    ].join("\n") + "\n";
  }
  const command = COMMANDS[name];
  const flags = Object.entries(command.options).map(([flag, o]) => {
    const left = `${o.short ? `-${o.short}, ` : "    "}--${flag}${o.type === "string" ? " VALUE" : ""}`;
    return `  ${left.padEnd(26)}${command.help[flag] ?? ""}`;
  });
  return [`usage: cli.ts ${command.usage}`, "", command.summary, "", ...flags].join("\n") + "\n";
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(help(rest[0]));
    return name === undefined ? EXIT_ERROR : EXIT_OK;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command "${name}" (one of ${Object.keys(COMMANDS).join(", ")})`);
  const { values, positionals } = parseArgs({
    args: rest,
    options: command.options,
    allowPositionals: true,
    allowNegative: true,
  });
  if (values.help) {
    process.stdout.write(help(name));
    return EXIT_OK;
  }
  return await command.run(values, positionals);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`notiq: ${message.split("\n")[0]}\n`);
  process.exitCode = EXIT_ERROR;
}
process.exit(process.exitCode);
