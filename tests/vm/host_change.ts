/**
 * Changes made on the HOST side of a 9p share, for tests in the VM guest that need a file system
 * whose changes give no inotify event (issue #13: WSL's /mnt/c, Docker Desktop bind mounts, NFS,
 * FUSE behave the same way). Changes the host makes give no event in the guest, yet a listing or a
 * stat in the guest sees them at once: the share is mounted with cache=none.
 *
 * What 9p with cache=none does to inotify (Linux 6.12, measured in tests/vm/ninep.vm.ts): every
 * lookup of a name that no one holds makes a NEW inode, so a watch added on a directory that
 * nothing keeps open stays silent even for the guest's own writes. Hold the directory open first
 * ({@linkcode holdOpen}, before `addWatch`) and guest-side writes give events as on any disk.
 * (cache=loose or cache=0x2 keep inodes, so guest writes give events without that, but then a
 * stat goes on showing what the guest last knew: a host-side append or delete is not seen.)
 *
 * @example A host-side change that no inotify event reports
 * ```ts ignore
 * // ignore: runs only in the guest of tests/vm/run.sh, which starts the host agent
 * const dir = hostTempDir();                                      // /run/vm-fs/t-XXXXXX, a 9p share
 * using _held = holdOpen(dir);                                    // so that the watch sees guest writes
 * using ino = new Inotify();
 * ino.addWatch(dir, IN.CREATE | IN.MODIFY | IN.MOVED_TO);
 * writeFileSync(`${dir}/a`, "from the guest");                    // IN_CREATE as usual
 * await hostChange({ op: "create", path: `${dir}/b` });           // done on the host: no event
 * await hostChange([{ op: "modify", path: `${dir}/a` }, { op: "rename", path: `${dir}/a`, to: `${dir}/c` }]);
 * assert.deepEqual(readdirSync(dir).sort(), ["b", "c"]);          // the guest sees both at once
 * ```
 *
 * run.sh starts tests/vm/host_agent.mjs on the host for the run, mounts the share at
 * {@linkcode hostFsRoot} and sets `NOTIQ_VM_HOST_FS` and `NOTIQ_VM_AGENT` (the request directory,
 * in the run's "out" share). A request is a JSON file written there (temporary name + rename); the
 * agent sees it with host inotify, makes the changes, and writes `<id>.done`. The guest cannot be
 * told by an event that the answer is there (that is the premise), so hostChange() polls for it
 * every {@linkcode POLL_MS} ms up to a deadline.
 *
 * @module
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";

/** One change made by the host, with guest paths under {@linkcode hostFsRoot}. */
export type HostOp =
  /** A new file (fails if the name exists), holding `data` (default empty). */
  | { op: "create"; path: string; data?: string }
  /** A new directory. */
  | { op: "mkdir"; path: string }
  /** Appends `data` (default `"modified\n"`) to an existing file: its size and mtime change. */
  | { op: "modify"; path: string; data?: string }
  /** Sets atime and mtime to `mtimeMs` (default now) and nothing else. */
  | { op: "touch"; path: string; mtimeMs?: number }
  /** rename(2) of a file, symlink or directory; `to` is under the share too. */
  | { op: "rename"; path: string; to: string }
  /** Removes a file or symlink, or a directory with all it holds. */
  | { op: "delete"; path: string }
  /** A new symlink at `path` pointing to `target` (stored as given). */
  | { op: "symlink"; path: string; target: string };

/** Options of {@linkcode hostChange}. */
export interface HostChangeOptions {
  /** How long to wait for the host's answer; default {@linkcode DEFAULT_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** The default deadline: the agent answers in milliseconds; JavaScript under TCG is slow, not that slow. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** How often hostChange() looks for the answer file. */
export const POLL_MS = 5;

/** A request the host refused or failed (`code` is the errno name, as node:fs gives it), or no answer. */
export class HostChangeError extends Error {
  override name = "HostChangeError";
  declare readonly code?: string;
  constructor(message: string, code?: string) {
    super(message);
    if (code !== undefined) this.code = code;
  }
}

/** Whether this process runs in the guest of tests/vm/run.sh with the host agent (a test's `skip` condition). */
export function hasHostAgent(): boolean {
  return Boolean(process.env.NOTIQ_VM_HOST_FS && process.env.NOTIQ_VM_AGENT);
}

function env(name: "NOTIQ_VM_HOST_FS" | "NOTIQ_VM_AGENT"): string {
  const value = process.env[name];
  if (!value) {
    throw new HostChangeError(
      `${name} is not set: host changes need the VM guest of tests/vm/run.sh (with Node on the host)`,
    );
  }
  return value;
}

/** Where the host-changeable 9p share is mounted in the guest (`/run/vm-fs`). */
export function hostFsRoot(): string {
  return env("NOTIQ_VM_HOST_FS");
}

/**
 * A fresh directory under the share, made by the guest (so its own creation gives the usual event
 * to a watch on the share root, and none later from the host). The run's share is removed with
 * the run; remove it yourself to keep tests independent.
 */
export function hostTempDir(prefix = "t-"): string {
  return mkdtempSync(join(hostFsRoot(), prefix));
}

/**
 * Keeps `path` open (read-only) until disposed: on a 9p share mounted with cache=none, the dentry
 * of a directory that someone holds is found again by later lookups, so a watch added on it after
 * this sees the guest's own changes. Without it, every lookup makes a new inode and the watch
 * hears nothing.
 */
export function holdOpen(path: string): Disposable & { readonly fd: number } {
  const fd = openSync(path, "r");
  return { fd, [Symbol.dispose]: () => closeSync(fd) };
}

/** What the host agent says about itself (its `ready` file). */
export interface HostAgentInfo {
  pid: number;
  /** The host directory behind {@linkcode hostFsRoot}. */
  hostRoot: string;
  /**
   * statfs(2) `f_type` of `hostRoot` on the host (0xef53 ext4, 0x01021994 tmpfs, ...). 9P2000.L
   * hands it through: the guest's statfs of the share says the same, never V9FS_MAGIC.
   */
  fsType: number;
}

/**
 * The host agent's `ready` file, once it is there (written while qemu boots).
 * @throws {HostChangeError} When it does not appear within `timeoutMs`.
 */
export async function hostAgentInfo(options: HostChangeOptions = {}): Promise<HostAgentInfo> {
  const ready = join(env("NOTIQ_VM_AGENT"), "ready");
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = Date.now();
  while (!existsSync(ready)) {
    if (Date.now() - started > timeoutMs) {
      throw new HostChangeError(`The host agent did not start within ${timeoutMs} ms (no ${ready})`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return JSON.parse(readFileSync(ready, "utf8")) as HostAgentInfo;
}

let counter = 0;

/**
 * Has the host make `ops` (in order, stopping at the first failure) and resolves once they are all
 * done: a listing or stat in the guest sees them from then on. Relative paths are resolved against
 * the current directory; every path must be under {@linkcode hostFsRoot}.
 *
 * @throws {HostChangeError} When an op fails on the host (its message names the op and the errno,
 *   `code` holds the errno name), or no answer came within `timeoutMs`.
 */
export async function hostChange(ops: HostOp | readonly HostOp[], options: HostChangeOptions = {}): Promise<void> {
  const list = (Array.isArray(ops) ? ops : [ops]).map((op: HostOp) => ({
    ...op,
    path: resolve(op.path),
    ...("to" in op ? { to: resolve(op.to) } : {}),
  }));
  hostFsRoot(); // fails early outside the VM
  const dir = env("NOTIQ_VM_AGENT");
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const id = `${process.pid}-${++counter}`;
  const request = join(dir, `${id}.json`);
  const done = join(dir, `${id}.done`);
  writeFileSync(`${request}.tmp`, JSON.stringify({ ops: list }));
  renameSync(`${request}.tmp`, request); // the agent reads only whole *.json files
  const started = Date.now();
  while (!existsSync(done)) {
    if (Date.now() - started > timeoutMs) {
      const what = list.map((op) => `${op.op} ${op.path}`).join("; ");
      const why = existsSync(join(dir, "ready"))
        ? "the agent is running but did not answer (its log: agent.log in the run's dir on the host, VM_KEEP=1 keeps it)"
        : "the agent never started (run.sh starts it with the host's node)";
      rmSync(request, { force: true });
      throw new HostChangeError(`No answer from the host agent in ${timeoutMs} ms for ${what}: ${why}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const answer = JSON.parse(readFileSync(done, "utf8")) as { ok: boolean; error?: string; code?: string };
  rmSync(done, { force: true });
  if (!answer.ok) throw new HostChangeError(`The host could not make the change: ${answer.error}`, answer.code);
}
