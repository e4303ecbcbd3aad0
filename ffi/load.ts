/**
 * Picks the {@linkcode Sys} binding of the runtime we run in: Deno, Bun, Node >= 26.1 through
 * `node:ffi`, older Node through the `koffi` package. Every import is dynamic: a static
 * `import "bun:ffi"` (or `"node:ffi"`, or `"koffi"`) fails to load in the other runtimes.
 *
 * @module
 */
import process from "node:process";
import type { Sys } from "./types.ts";

/** What works, for the one error a runtime without FFI gets. */
const RUNTIMES = "Node >= 26.1 with --experimental-ffi, or install koffi (npm install koffi) for Node 22/24; " +
  "Deno >= 2 with --allow-ffi; Bun >= 1.1";

/** Binds libc for the calling thread with `Deno.dlopen`, `bun:ffi`, `node:ffi` or koffi. */
export async function loadSys(): Promise<Sys> {
  if ("Deno" in globalThis) return (await import("./deno.ts")).open();
  if ("Bun" in globalThis) return (await import("./bun.ts")).open();
  const node = process.versions?.node;
  if (!node) throw new Error(`notiq needs a runtime with FFI: ${RUNTIMES}`);
  // node:ffi came with 26.1 behind --experimental-ffi; later 26.x give it unless --no-experimental-ffi.
  if (process.getBuiltinModule?.("node:ffi")) return (await import("./node.ts")).open();
  const [major = 0, minor = 0] = node.split(".").map(Number);
  if (major > 26 || (major === 26 && minor >= 1)) {
    throw new Error(`notiq needs node:ffi, and this Node (${node}) runs without it: ${RUNTIMES}`);
  }
  let binding;
  try {
    binding = await import("./koffi.ts");
  } catch (err) {
    if ((err as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw err;
    throw new Error(`notiq needs an FFI, and Node ${node} has no node:ffi and koffi is not installed: ${RUNTIMES}`, {
      cause: err,
    });
  }
  return binding.open();
}
