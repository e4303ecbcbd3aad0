/**
 * The event generator of blocked_bench.ts and overflow_bench.ts when there is no C compiler
 * (bench/c/gen.c is the usual one): `make_events.ts DIR N [PREFIX]` makes N symlinks named
 * PREFIX%07d in DIR, one IN_CREATE each, and prints {"ms", "created"} like gen.c.
 *
 * @module
 */
import { symlinkSync } from "node:fs";
import process from "node:process";

const [dir, count, prefix = "f"] = process.argv.slice(2);
const t0 = performance.now();
let created = 0;
for (let i = 0; i < Number(count); i++) {
  try {
    symlinkSync("x", `${dir}/${prefix}${String(i).padStart(7, "0")}`);
    created++;
  } catch { /* counted as not created */ }
}
console.log(JSON.stringify({ ms: performance.now() - t0, created }));
