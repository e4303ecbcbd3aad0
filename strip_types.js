// Lets Node load this package's TypeScript from node_modules, where Node refuses to strip types
// itself (ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING): a module hook strips the .ts files of this
// package, and only those, with Node's own stripTypeScriptTypes. Plain JavaScript, loaded before
// any .ts file (mod.node.js, ffi/reader_worker.js); does nothing in Deno and Bun, or where Node
// strips the files itself (outside node_modules).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import * as nodeModule from "node:module";
import process from "node:process";

const root = new URL("./", import.meta.url).href;
const { getCompileCacheDir, registerHooks, stripTypeScriptTypes } = nodeModule;

if (!("Deno" in globalThis) && !("Bun" in globalThis) && root.includes("/node_modules/")) {
  if (!registerHooks || !stripTypeScriptTypes) {
    throw new Error(`notiq is TypeScript, which Node strips from 22.18 on; this is Node ${process.versions.node}`);
  }
  // node:crypto only for the compile cache (below); its load costs a few ms.
  const { hash } = getCompileCacheDir?.() ? await import("node:crypto") : {};
  registerHooks({
    load(url, context, nextLoad) {
      if (!url.startsWith(root) || !url.endsWith(".ts")) return nextLoad(url, context);
      return { format: "module", source: stripped(readFileSync(new URL(url), "utf8"), hash), shortCircuit: true };
    },
  });
}

/**
 * `typescript` without its types. Stripping every file takes ~90 ms of each start, so where the
 * user turned Node's compile cache on (NODE_COMPILE_CACHE, module.enableCompileCache(): its
 * directory is per Node version) the result is kept there, named by a hash of the source.
 */
function stripped(typescript, hash) {
  const dir = hash && getCompileCacheDir();
  if (!dir) return stripTypeScriptTypes(typescript, { mode: "strip" });
  const file = `${dir}/notiq-stripped/${hash("sha256", typescript)}.js`;
  try {
    return readFileSync(file, "utf8");
  } catch {
    // not cached yet
  }
  const source = stripTypeScriptTypes(typescript, { mode: "strip" });
  try {
    mkdirSync(`${dir}/notiq-stripped`, { recursive: true });
    const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`; // whole or absent: rename
    writeFileSync(temp, source);
    renameSync(temp, file);
  } catch {
    // A cache that cannot be written is no cache; the source is right all the same.
  }
  return source;
}
