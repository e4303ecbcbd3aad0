/**
 * The least a watcher that keeps a tree does per new file, without I/O: look the name up, make a
 * node with WatchTree's fields, put it in its directory's Map, and hand out `{ kind, path,
 * isDirectory }`. 100,000 names, 8 runs; compare with bench/drain_bench.ts's watch() and for await
 * rows (what watch() adds over for await). Not a test:
 *   deno run -A tests/measure/tree_floor.ts      bun tests/measure/tree_floor.ts      node tests/measure/tree_floor.ts
 *
 * @module
 */

/** WatchTree's node (queue/watch_tree.ts), field for field. */
class Node {
  name: string;
  parent: Node | undefined;
  readonly children: Map<string, Node> | undefined;
  wd = -1;
  root: string | undefined;
  flags = 2;
  dev = 0;
  ino = -1;
  size = 0;
  mtimeSec = 0;
  mtimeNsec = 0;

  constructor(name: string, parent: Node | undefined, isDirectory: boolean) {
    this.name = name;
    this.parent = parent;
    this.children = isDirectory ? new Map() : undefined;
  }
}

const FILES = 100_000, RUNS = 8;
const names = Array.from({ length: FILES }, (_, i) => `f${String(i).padStart(7, "0")}`);
const events: { kind: string; path: string; isDirectory: boolean }[] = [];
const times: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const dir = new Node("", undefined, true);
  dir.root = "/dev/shm/notiq-drain";
  events.length = 0;
  const t0 = performance.now();
  for (const name of names) {
    const children = dir.children!;
    if (children.get(name)) continue;
    const path = `${dir.root}/${name}`;
    children.set(name, new Node(name, dir, false));
    events.push({ kind: "create", path, isDirectory: false });
  }
  times.push(performance.now() - t0);
}
const sorted = times.toSorted((a, b) => a - b);
console.log(
  `${FILES} new files: ${times.map((t) => t.toFixed(1)).join(", ")} ms; median ${sorted[RUNS / 2].toFixed(1)}`,
);
