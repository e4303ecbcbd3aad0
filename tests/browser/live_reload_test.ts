/**
 * examples/live_reload_server.ts in a real browser: headless Chromium (Debian's, at
 * /usr/bin/chromium; `tests/browser/setup.sh` installs it) driven by playwright-core. The server
 * runs as a child process under Deno and under Bun, whichever runtime runs this file.
 * @module
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import type { Browser, BrowserContext } from "playwright-core";
import { Example } from "../examples/child.ts";
import { here } from "../fixtures/runtime.ts";
import { deadline } from "../helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const page = (body: string) =>
  `<!doctype html><html><head><title>t</title><link rel="stylesheet" href="style.css"></head><body>${body}</body></html>`;

// playwright-core is loaded on demand, so that this file still loads (and skips) without it.
const playwright = await import("playwright-core").catch(() => undefined);
const skip = process.env.NOTIQ_BROWSER === "0"
  ? "NOTIQ_BROWSER=0: no browser wanted"
  : !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing: run tests/browser/setup.sh`
  : !playwright
  ? "playwright-core is not installed: npm install"
  : false;

describe("examples/live_reload_server.ts in Chromium", () => {
  let browser: Browser;
  before(async () => {
    if (skip) return;
    browser = await deadline(
      playwright!.chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
      30_000,
      "Chromium to start",
    );
  }, { timeout: 40_000 }); // Bun's default is 5 s
  after(async () => {
    await browser?.close();
  });

  for (const runtime of ["deno", "bun", "node"] as const) {
    it(`reloads an open page once per burst of changes (server on ${runtime}, browser driven from ${here})`, {
      skip,
      timeout: 60_000,
    }, async () => {
      const dir = mkdtempSync("/dev/shm/notiq-browser-");
      let server: Example | undefined;
      let context: BrowserContext | undefined;
      try {
        context = await browser.newContext();
        writeFileSync(`${dir}/index.html`, page("<h1>v1</h1>"));
        writeFileSync(`${dir}/style.css`, "h1 { color: red }");
        server = new Example("live_reload_server.ts", [dir, "--port", "0"], runtime);
        const url = await server.line(/^http:\/\//);
        const tab = await context.newPage();
        await tab.goto(url);
        assert.equal(await tab.textContent("h1"), "v1");
        await server.line(/^page connected/); // its EventSource is open
        await tab.evaluate(() => Object.assign(globalThis, { marker: "set before the change" }));

        writeFileSync(`${dir}/index.html`, page("<h1>v2</h1>"));
        writeFileSync(`${dir}/style.css`, "h1 { color: green }");
        await tab.waitForFunction(() => document.querySelector("h1")?.textContent === "v2", null, { timeout: 10_000 });
        assert.equal(await tab.evaluate(() => (globalThis as { marker?: string }).marker), undefined, "a new page");
        assert.equal(await tab.evaluate(() => getComputedStyle(document.querySelector("h1")!).color), "rgb(0, 128, 0)");
        const reloads = server.lines.filter((l) => l.startsWith("reload:"));
        assert.deepEqual(reloads, ["reload: index.html, style.css (1 page)"], "one reload for the burst");

        // SIGTERM ends it while the page still holds its event stream open.
        assert.equal(await server.stop(), 0);
        assert.equal(server.lines.at(-1), "stopped");
      } finally {
        await context?.close();
        if (server) await server.stop().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
