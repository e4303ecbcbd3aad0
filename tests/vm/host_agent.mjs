/**
 * The host side of tests/vm/host_change.ts: makes file system changes on the HOST under the VM's
 * "hostfs" 9p share, where the guest gets no inotify event for them. run.sh starts it (Node, on the
 * host) for the duration of a VM run:
 *
 *   node tests/vm/host_agent.mjs REQUEST_DIR HOST_ROOT GUEST_ROOT
 *
 * The guest writes a request as REQUEST_DIR/<id>.json (through the "out" share, written to a
 * temporary name and renamed, so the file is whole when it appears): `{ "ops": [HostOp, ...] }`
 * with guest paths under GUEST_ROOT. The guest's writes reach the host through qemu's 9p server as
 * real system calls, so host inotify (fs.watch) sees them. Each request is carried out op by op on
 * the host, under HOST_ROOT, stopping at the first failure, and answered with REQUEST_DIR/<id>.done
 * (temporary name + rename): `{ "ok": true }` or `{ "ok": false, "error": "...", "code": "ENOENT" }`.
 * Once the watch is set up, REQUEST_DIR/ready holds `{ "pid", "hostRoot", "fsType" }`: fsType is
 * statfs(2) f_type of HOST_ROOT on the host, which is also what the guest's statfs of the share
 * returns (9P2000.L passes it through; the guest never sees V9FS_MAGIC). Log lines go to stderr.
 *
 * @module
 */
import {
  appendFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statfsSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  watch,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const [requestDir, hostRoot, guestRoot] = process.argv.slice(2);
if (!requestDir || !hostRoot || !guestRoot) {
  console.error("usage: node host_agent.mjs REQUEST_DIR HOST_ROOT GUEST_ROOT");
  process.exit(2);
}
const realHostRoot = realpathSync(hostRoot);

const log = (line) => console.error(`${new Date().toISOString()} ${line}`);

/** An error whose message the guest shows as is. */
class RequestError extends Error {}

/**
 * The host path of a guest path under GUEST_ROOT. The path itself may be a symlink (ops act on the
 * link, as rm and mv do), but its parent must resolve inside HOST_ROOT: nothing outside the share
 * is ever changed.
 */
function hostPath(guestPath) {
  if (typeof guestPath !== "string" || !guestPath.startsWith("/")) {
    throw new RequestError(`not an absolute path: ${JSON.stringify(guestPath)}`);
  }
  const rel = relative(guestRoot, resolve(guestPath));
  if (rel === "" || rel === ".." || rel.startsWith("../") || rel.startsWith("/")) {
    throw new RequestError(`${guestPath} is not inside the share ${guestRoot}`);
  }
  const path = join(realHostRoot, rel);
  let parent;
  try {
    parent = realpathSync(dirname(path));
  } catch {
    return path; // the op fails with ENOENT on the missing parent, reported with the guest's path
  }
  if (parent !== realHostRoot && !parent.startsWith(realHostRoot + "/")) {
    throw new RequestError(`${guestPath} resolves outside the share ${guestRoot}`);
  }
  return path;
}

/** Carries out one op; see HostOp in host_change.ts. */
function perform(op) {
  const path = hostPath(op.path);
  switch (op.op) {
    case "create": // a new file; fails if the name exists
      writeFileSync(path, op.data ?? "", { flag: "wx" });
      return;
    case "mkdir":
      mkdirSync(path);
      return;
    case "modify": // appends to an existing file: size and mtime change
      lstatSync(path); // appendFileSync would create a missing file
      appendFileSync(path, op.data ?? "modified\n");
      return;
    case "touch": { // mtime (and atime) only
      const t = (op.mtimeMs ?? Date.now()) / 1000;
      utimesSync(path, t, t);
      return;
    }
    case "rename":
      renameSync(path, hostPath(op.to));
      return;
    case "delete": // a file, a symlink, or a directory with all it holds
      if (lstatSync(path).isDirectory()) rmSync(path, { recursive: true });
      else unlinkSync(path);
      return;
    case "symlink":
      if (typeof op.target !== "string") throw new RequestError("symlink needs a string target");
      symlinkSync(op.target, path);
      return;
    default:
      throw new RequestError(`unknown op ${JSON.stringify(op.op)}`);
  }
}

/** Carries out the request in `name` (an <id>.json file) and answers it with <id>.done. */
function serve(name) {
  const id = name.slice(0, -".json".length);
  const file = join(requestDir, name);
  let answer;
  let ops = [];
  try {
    const request = JSON.parse(readFileSync(file, "utf8"));
    ops = Array.isArray(request.ops) ? request.ops : [];
    if (ops.length === 0) throw new RequestError("a request needs a non-empty ops array");
    for (const [i, op] of ops.entries()) {
      try {
        perform(op);
      } catch (e) {
        const where = `op ${i + 1} of ${ops.length} (${op.op} ${op.path}${op.to ? ` -> ${op.to}` : ""})`;
        // Host paths in node:fs messages become guest paths, which is what the test knows.
        const message = String(e?.message ?? e).replaceAll(realHostRoot, guestRoot);
        throw Object.assign(new RequestError(`${where}: ${message}`), { code: e?.code });
      }
    }
    answer = { ok: true };
  } catch (e) {
    answer = { ok: false, error: e instanceof RequestError ? e.message : `bad request: ${e?.message ?? e}` };
    if (e?.code) answer.code = e.code;
  }
  rmSync(file, { force: true });
  writeFileSync(join(requestDir, `${id}.done.tmp`), JSON.stringify(answer));
  renameSync(join(requestDir, `${id}.done.tmp`), join(requestDir, `${id}.done`));
  log(
    `${id}: ${ops.map((op) => `${op?.op} ${op?.path}${op?.to ? ` -> ${op.to}` : ""}`).join("; ")}: ${
      answer.ok ? "ok" : answer.error
    }`,
  );
}

/** Serves every request now in the directory, oldest name first (ids end in a counter). */
function scan() {
  const names = readdirSync(requestDir).filter((n) => n.endsWith(".json"));
  names.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  for (const name of names) serve(name);
}

mkdirSync(requestDir, { recursive: true });
// One scan per batch of inotify events: a rename from the guest's temporary name is one event,
// and scan() is synchronous, so scans never overlap.
let pending = false;
watch(requestDir, () => {
  if (pending) return;
  pending = true;
  setImmediate(() => {
    pending = false;
    scan();
  });
});
scan(); // requests written before the watch existed
const ready = { pid: process.pid, hostRoot: realHostRoot, fsType: statfsSync(realHostRoot).type };
writeFileSync(join(requestDir, "ready.tmp"), JSON.stringify(ready));
renameSync(join(requestDir, "ready.tmp"), join(requestDir, "ready"));
log(`ready: ${requestDir}, share ${guestRoot} -> ${realHostRoot}`);
process.on("SIGTERM", () => process.exit(0));
