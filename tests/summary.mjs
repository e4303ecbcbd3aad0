// Sums JUnit reports of `deno test`, `bun test` and `node --test` into one line: "N passed, M failed, K skipped".
// Counts leaf tests only: Deno also reports each describe() as a test case of its own (Node and Bun
// report a describe() as a testsuite; Node, a skipped describe() as one skipped testcase).
// Runs under Node (CI has nothing else before `npm install`), so plain JavaScript.
import { existsSync, readFileSync } from "node:fs";

let passed = 0, failed = 0, skipped = 0;
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) { // that runtime's run ended before it wrote its report
    console.log(`${file}: missing, counted as 1 failed`);
    failed++;
    continue;
  }
  const xml = readFileSync(file, "utf8");
  const cases = [...xml.matchAll(/<testcase\b[^>]*?name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)]
    .map(([, name, , body = ""]) => ({ name, body }));
  const names = cases.map((c) => c.name);
  let p = 0, f = 0, s = 0;
  for (const { name, body } of cases) {
    if (names.some((other) => other.startsWith(`${name} &gt; `))) continue; // a describe(), not a test
    if (/<skipped/.test(body)) s++;
    else if (/<(failure|error)\b/.test(body)) f++;
    else p++;
  }
  console.log(`${file}: ${p} passed, ${f} failed, ${s} skipped`);
  passed += p, failed += f, skipped += s;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
