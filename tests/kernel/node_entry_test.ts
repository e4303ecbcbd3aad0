/**
 * The package as npm installs it: Node refuses to strip types under node_modules, so its entry
 * (mod.node.js) and the reader thread's register a hook first (strip_types.js), which keeps what
 * it strips in Node's compile cache when that is on.
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import process from "node:process";
import * as mod from "../../mod.ts";
import { evalModule, here, repo } from "../fixtures/runtime.ts";
import { removeDir, tempDir } from "../helpers.ts";

// Imported once mod.ts has loaded: Deno hands a dynamic import of a module that is still running
// its top-level await a namespace whose bindings are not initialized yet.
const nodeEntry = await import("../../mod.node.js");

const nodeOnly = here === "node" ? false : "Deno and Bun strip types under node_modules themselves: the hook is Node's";

describe("mod.node.js (Node's entry)", () => {
  it("exports every value mod.ts exports", () => {
    assert.deepEqual(Object.keys(nodeEntry).sort(), Object.keys(mod).sort());
  });

  it("loads from node_modules, reader thread included", { skip: nodeOnly, timeout: 60_000 }, () => {
    withInstall((dir) => {
      mkdirSync(`${dir}/watched`);
      // With the reader thread chosen, the consumer waits, so the thread starts and reads the event
      // (its failure would reject the iteration); the thread loads ffi/ and queue/ .ts from node_modules.
      const script = `
        import { IN, Inotify } from "@notiq/notiq";
        import { writeFileSync } from "node:fs";
        const ino = new Inotify();
        ino.addWatch(${JSON.stringify(`${dir}/watched`)}, IN.CREATE);
        const next = ino[Symbol.asyncIterator]().next();
        writeFileSync(${JSON.stringify(`${dir}/watched/made`)}, "");
        console.log((await next).value.name);
        ino.close();`;
      assert.equal(runIn(dir, script, { NOTIQ_READER: "thread" }), "made");
    });
  });

  it("keeps the stripped files in Node's compile cache when it is on, and reads them from there", {
    skip: nodeOnly,
    timeout: 60_000,
  }, () => {
    withInstall((dir) => {
      const cache = `${dir}/cache`;
      const script = `import { IN } from "@notiq/notiq"; console.log(IN.CREATE, globalThis.fromCache ?? false);`;
      assert.equal(runIn(dir, script, { NODE_COMPILE_CACHE: cache }), "256 false");
      const kept = readdirSync(cache, { recursive: true, encoding: "utf8" }).filter((f) =>
        /notiq-stripped\/[0-9a-f]{64}\.js$/.test(f)
      );
      assert.ok(kept.length >= 10, `stripped files kept: ${kept.join(", ")}`);
      // The cached file is what runs: one of them, marked, shows on the next start.
      const source = readFileSync(`${dir}/node_modules/@notiq/notiq/queue/inotify_mask.ts`, "utf8");
      const marked = kept.find((f) => f.endsWith(`${createHash("sha256").update(source).digest("hex")}.js`));
      assert.ok(marked, "queue/inotify_mask.ts is among the kept files");
      appendFileSync(`${cache}/${marked}`, "\nglobalThis.fromCache = true;\n");
      assert.equal(runIn(dir, script, { NODE_COMPILE_CACHE: cache }), "256 true");
    });
  });

  it("loads all the same when the compile cache cannot be written", { skip: nodeOnly, timeout: 60_000 }, () => {
    withInstall((dir) => {
      const cache = `${dir}/cache`;
      const script = `import { IN } from "@notiq/notiq"; console.log(IN.CREATE);`;
      assert.equal(runIn(dir, script, { NODE_COMPILE_CACHE: cache }), "256");
      // Where notiq keeps its files is a file now: nothing can be kept, nothing can be read.
      for (const version of readdirSync(cache)) {
        rmSync(`${cache}/${version}/notiq-stripped`, { recursive: true });
        writeFileSync(`${cache}/${version}/notiq-stripped`, "");
      }
      assert.equal(runIn(dir, script, { NODE_COMPILE_CACHE: cache }), "256");
    });
  });
});

/** Runs `body` with a temp dir laid out as `npm install @notiq/notiq` would: package.json "files", koffi beside it. */
function withInstall(body: (dir: string) => void): void {
  const dir = tempDir();
  try {
    const pkg = `${dir}/node_modules/@notiq/notiq`;
    const files: string[] = JSON.parse(readFileSync(repo("package.json"), "utf8")).files;
    for (const file of ["package.json", ...files]) cpSync(repo(file), `${pkg}/${file}`, { recursive: true });
    mkdirSync(`${dir}/node_modules/@koromix`);
    symlinkSync(repo("node_modules/koffi"), `${dir}/node_modules/koffi`);
    symlinkSync(repo("node_modules/@koromix/koffi-linux-x64"), `${dir}/node_modules/@koromix/koffi-linux-x64`);
    body(dir);
  } finally {
    removeDir(dir);
  }
}

/** Runs ES module `script` under this Node in `dir`; returns what it printed, failing on anything else. */
function runIn(dir: string, script: string, env: Record<string, string> = {}): string {
  const [command, ...args] = evalModule(script);
  const child = spawnSync(command!, args, {
    cwd: dir,
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  assert.equal(child.status, 0, `status ${child.status}, signal ${child.signal}: ${child.stderr}`);
  return child.stdout.trim();
}
