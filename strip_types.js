// Lets Node load this package's TypeScript from node_modules, where Node refuses to strip types
// itself (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING): a module hook strips the .ts files of this
// package, and only those, with Node's own stripTypeScriptTypes. Plain JavaScript, loaded before
// any .ts file (mod.node.js, ffi/reader_worker.js); does nothing in Deno and Bun, or where Node
// strips the files itself (outside node_modules).
import { readFileSync } from "node:fs";
import * as nodeModule from "node:module";
import process from "node:process";

const root = new URL("./", import.meta.url).href;
const { registerHooks, stripTypeScriptTypes } = nodeModule;

if (!("Deno" in globalThis) && !("Bun" in globalThis) && root.includes("/node_modules/")) {
  if (!registerHooks || !stripTypeScriptTypes) {
    throw new Error(`notiq is TypeScript, which Node strips from 22.18 on; this is Node ${process.versions.node}`);
  }
  registerHooks({
    load(url, context, nextLoad) {
      if (!url.startsWith(root) || !url.endsWith(".ts")) return nextLoad(url, context);
      const source = stripTypeScriptTypes(readFileSync(new URL(url), "utf8"), { mode: "strip" });
      return { format: "module", source, shortCircuit: true };
    },
  });
}
