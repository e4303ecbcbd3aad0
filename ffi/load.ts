/**
 * Picks the {@linkcode Sys} binding of the runtime we run in. The import is dynamic: a static
 * `import "bun:ffi"` fails to load in Deno.
 *
 * @module
 */
import type { Sys } from "./types.ts";

/** Binds libc for the calling thread with `Deno.dlopen` or `bun:ffi`. */
export async function loadSys(): Promise<Sys> {
  const binding = "Deno" in globalThis ? await import("./deno.ts") : await import("./bun.ts");
  return binding.open();
}
