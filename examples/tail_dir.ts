/**
 * Prints every change under a directory tree as it happens, like `inotifywait -mr`, and ends after
 * COUNT events (never, without one).
 *
 * ```sh
 * deno run --allow-ffi --allow-read examples/tail_dir.ts DIR [COUNT]
 * bun examples/tail_dir.ts DIR [COUNT]
 * ```
 *
 * @module
 */
import { watch } from "@notiq/notiq";
import process from "node:process";

const [dir = ".", count = "Infinity"] = process.argv.slice(2);
await using watcher = watch(dir); // recursive; closed when the program leaves this scope
await watcher.ready; // changes from here on are seen
console.log(`watching ${dir}`);
let seen = 0;
for await (const ev of watcher) {
  const slash = ev.isDirectory ? "/" : "";
  console.log(ev.kind, ev.oldPath ? `${ev.oldPath}${slash} -> ${ev.path}${slash}` : `${ev.path}${slash}`);
  if (++seen >= Number(count)) break;
}
