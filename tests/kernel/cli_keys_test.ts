/**
 * `cli.ts keys` end to end: the notification tests need CONFIG_WATCH_QUEUE (run them in the VM,
 * see tests/vm/README.md); on other kernels the one-line error is checked.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { KEY_SPEC, keys, SyscallError, WatchQueue } from "../../mod.ts";
import { deadline } from "../helpers.ts";
import { runFile } from "../fixtures/runtime.ts";

const cli = fileURLToPath(new URL("../../cli.ts", import.meta.url));
// The runtime running this test runs the CLI: deno run -A cli.ts ... / bun cli.ts ... / node cli.ts ...
const runtime = runFile(cli);
const WAIT_MS = process.env.NOTIQ_VM ? 120_000 : 20_000;
const why = WatchQueue.probe();

function run(args: string[]) {
  return spawnSync(runtime[0], [...runtime.slice(1), ...args], { encoding: "utf8", timeout: WAIT_MS });
}

/** Starts `cli.ts keys ARGS`, waits for its "Watching" line, acts, and returns what it printed once it exits. */
async function session(args: string[], act: () => void) {
  const child = spawn(runtime[0], [...runtime.slice(1), "keys", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stdout.setEncoding("utf8").on("data", (d) => out += d);
  child.stderr.setEncoding("utf8").on("data", (d) => err += d);
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  // On a timeout the child goes too, and the message says what it printed.
  const bounded = <T>(what: string, p: Promise<T>): Promise<T> =>
    deadline(p, WAIT_MS, () => (child.kill("SIGKILL"), `${what}; stdout:\n${out}\nstderr:\n${err}`));
  await bounded(
    "the CLI to start",
    new Promise<void>((resolve) => {
      child.stderr.on("data", () => err.includes("Watching") && resolve());
      child.on("exit", () => resolve());
    }),
  );
  act();
  const code = await bounded("the CLI to exit", exited);
  return { lines: out.split("\n").filter(Boolean), stderr: err, code };
}

describe("cli.ts keys", () => {
  it("refuses an unknown subtype with a one-line message and exit 1", () => {
    const r = run(["keys", "-s", "nope"]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'notiq: unknown key notification "nope" (see --help)\n');
    assert.equal(r.stdout, "");
  });

  it("refuses a key that is not a serial number or @-name", () => {
    const r = run(["keys", "@x"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^notiq: "@x" is not a key serial number/);
  });

  it("--help explains each flag", () => {
    const r = run(["keys", "--help"]);
    assert.equal(r.status, 0);
    for (const flag of ["--subtypes", "--json", "--timeout", "--size", "--quiet"]) {
      assert.ok(r.stdout.includes(flag), flag);
    }
  });

  it("names CONFIG_WATCH_QUEUE in one line and exits 1 on a kernel without it", {
    skip: why instanceof SyscallError && why.code === "ENOPKG" ? false : "this kernel has CONFIG_WATCH_QUEUE",
  }, () => {
    const r = run(["keys"]);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      "notiq: ENOPKG: package not installed, pipe2 (this kernel was built without CONFIG_WATCH_QUEUE)\n",
    );
  });
});

describe("cli.ts keys (real kernel)", { skip: why ? `key notifications unavailable: ${why.message}` : false }, () => {
  it("prints keyctl watch's lines and exits 0 once the watched keyring is gone", async () => {
    // in the session keyring, which the CLI inherits and so may watch
    const ring = keys.addKey("keyring", `notiq-cli-${process.pid}-1`, "", KEY_SPEC.SESSION_KEYRING);
    let key = 0;
    const { lines, code, stderr } = await session([String(ring)], () => {
      key = keys.addKey("user", "a", "1", ring);
      keys.updateKey(key, "2"); // the key is not watched: no line
      keys.unlinkKey(key, ring);
      keys.clearKeyring(ring);
      keys.unlinkKey(ring, KEY_SPEC.SESSION_KEYRING); // destroyed: REMOVAL ends the last watch
    });
    assert.equal(code, 0, stderr);
    assert.deepEqual(lines, [`${ring} link ${key}`, `${ring} unlk ${key}`, `${ring} clr`, `${ring} gc`]);
  });

  it("--json -s filters subtypes and prints one object a line", async () => {
    const ring = keys.addKey("keyring", `notiq-cli-${process.pid}-2`, "", KEY_SPEC.SESSION_KEYRING);
    let key = 0;
    const { lines, code, stderr } = await session(["--json", "-s", "unlk,CLEARED", `0x${ring.toString(16)}`], () => {
      key = keys.addKey("user", "a", "1", ring);
      keys.unlinkKey(key, ring);
      keys.clearKeyring(ring);
      keys.unlinkKey(ring, KEY_SPEC.SESSION_KEYRING);
    });
    assert.equal(code, 0, stderr);
    const objects = lines.map((l) => JSON.parse(l));
    for (const o of objects) assert.match(o.time, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(objects.map(({ time: _, ...rest }) => rest), [
      { type: "KEY_NOTIFY", subtype: "UNLINKED", watchId: 1, keyId: ring, aux: key },
      { type: "KEY_NOTIFY", subtype: "CLEARED", watchId: 1, keyId: ring, aux: 0 },
      { type: "META", subtype: "REMOVAL", watchId: 1, keyId: ring },
    ]);
  });
});
