#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
// The `notiq` command for npm users (package.json "bin"): Node runs cli.ts once strip_types.js
// lets it strip types under node_modules. Node >= 26.1 uses node:ffi (give --experimental-ffi
// where that Node still wants it: `node --experimental-ffi node_modules/.bin/notiq`); older Node,
// the koffi package.
import "./strip_types.js";

await import("./cli.ts");
