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
  // Where the user turned Node's compile cache on, stripped files are kept there (see stripped()):
  // its directory is per Node version. node:crypto is loaded for that only (a few ms).
  const cacheDir = getCompileCacheDir?.();
  const cache = cacheDir ? { dir: `${cacheDir}/notiq-stripped`, hash: (await import("node:crypto")).hash } : undefined;
  try {
    if (cache) mkdirSync(cache.dir, { recursive: true });
  } catch {
    // Then nothing is kept; the sources are right all the same.
  }
  registerHooks({
    load(url, context, nextLoad) {
      if (!url.startsWith(root) || !url.endsWith(".ts")) return nextLoad(url, context);
      return { format: "module", source: stripped(readFileSync(new URL(url), "utf8"), cache), shortCircuit: true };
    },
  });
}

/**
 * `typescript` without its types. Stripping every file takes most of a start, so with a `cache`
 * the result is kept in `cache.dir`, named by a hash of the source, and read from there next time.
 */
function stripped(typescript, cache) {
  if (!cache) return stripTypeScriptTypes(typescript, { mode: "strip" });
  const file = `${cache.dir}/${cache.hash("sha256", typescript)}.js`;
  try {
    return readFileSync(file, "utf8");
  } catch {
    // not kept yet
  }
  const source = stripTypeScriptTypes(typescript, { mode: "strip" });
  try {
    const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`; // whole or absent: rename
    writeFileSync(temp, source);
    renameSync(temp, file);
  } catch {
    // A cache that cannot be written is no cache; the source is right all the same.
  }
  return source;
}
