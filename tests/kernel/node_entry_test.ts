/**
 * The package as npm installs it: Node refuses to strip types under node_modules, so its entry
 * (mod.node.js) and the reader thread's register a hook first (strip_types.js).
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import * as mod from "../../mod.ts";
import { evalModule, here, repo } from "../fixtures/runtime.ts";
import { removeDir, tempDir } from "../helpers.ts";

// Imported once mod.ts has loaded: Deno hands a dynamic import of a module that is still running
// its top-level await a namespace whose bindings are not initialized yet.
const nodeEntry = await import("../../mod.node.js");

describe("mod.node.js (Node's entry)", () => {
  it("exports every value mod.ts exports", () => {
    assert.deepEqual(Object.keys(nodeEntry).sort(), Object.keys(mod).sort());
  });

  it("loads from node_modules, reader thread included", {
    skip: here === "node" ? false : "Deno and Bun strip types under node_modules themselves: the hook is Node's",
    timeout: 60_000,
  }, () => {
    const dir = tempDir();
    try {
      // What `npm install @notiq/notiq` lays out: package.json "files", and koffi beside it.
      const pkg = `${dir}/node_modules/@notiq/notiq`;
      const files: string[] = JSON.parse(readFileSync(repo("package.json"), "utf8")).files;
      for (const file of ["package.json", ...files]) cpSync(repo(file), `${pkg}/${file}`, { recursive: true });
      mkdirSync(`${dir}/node_modules/@koromix`);
      symlinkSync(repo("node_modules/koffi"), `${dir}/node_modules/koffi`);
      symlinkSync(repo("node_modules/@koromix/koffi-linux-x64"), `${dir}/node_modules/@koromix/koffi-linux-x64`);
      mkdirSync(`${dir}/watched`);
      // The consumer waits, so the reader thread starts and reads the event (its failure would
      // reject the iteration); the thread loads ffi/ and queue/ .ts from node_modules.
      const script = `
        import { IN, Inotify } from "@notiq/notiq";
        import { writeFileSync } from "node:fs";
        const ino = new Inotify();
        ino.addWatch(${JSON.stringify(`${dir}/watched`)}, IN.CREATE);
        const it = ino[Symbol.asyncIterator]();
        const next = it.next();
        setTimeout(() => writeFileSync(${JSON.stringify(`${dir}/watched/made`)}, ""), 200);
        console.log((await next).value.name);
        ino.close();`;
      const [command, ...args] = evalModule(script);
      const child = spawnSync(command!, args, { cwd: dir, encoding: "utf8", timeout: 30_000 });
      assert.equal(child.stdout.trim(), "made", `status ${child.status}: ${child.stderr}`);
    } finally {
      removeDir(dir);
    }
  });
});
