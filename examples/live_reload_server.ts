/**
 * A development server with live reload: serves a folder over HTTP and, when something in it
 * changes, tells every open page to reload, over Server-Sent Events. HTML pages get a small script
 * that listens for that; a burst of changes (an editor's save, a build writing many files) is one
 * reload: the watcher's `settle` holds events until the folder has been quiet for `--settle`
 * milliseconds (at most 10 times that), then hands them over folded, all at once.
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-net --allow-env=PORT examples/live_reload_server.ts [DIR]
 * bun examples/live_reload_server.ts [DIR] [--port 8000] [--host 127.0.0.1] [--settle 100] [--timeout S]
 * node --experimental-ffi examples/live_reload_server.ts [DIR]
 * ```
 *
 * The first line on stdout is the URL to open. `--port 0` (or `PORT=0`) takes any free port.
 * Ctrl-C, SIGTERM or `--timeout` seconds end it. The same file runs on `Deno.serve`, `Bun.serve`
 * and Node's `node:http`: each calls one `(Request) => Response` handler.
 *
 * @module
 */
import { watch } from "@notiq/notiq";
import { readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, relative, resolve, sep } from "node:path";
import process from "node:process";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    port: { type: "string", default: process.env.PORT ?? "8000" },
    host: { type: "string", default: "127.0.0.1" },
    settle: { type: "string", default: "100" },
    timeout: { type: "string" },
  },
});
const root = resolve(positionals[0] ?? ".");
const settleMs = Number(values.settle);

// ---- the page side: injected before </body> of every HTML page served ----
const EVENTS_PATH = "/__live_reload";
const CLIENT =
  `<script>new EventSource("${EVENTS_PATH}").addEventListener("reload", () => location.reload());</script>`;

// ---- the server side: one SSE stream per open page ----
const pages = new Set<ReadableStreamDefaultController<Uint8Array>>();
const encoder = new TextEncoder();

function send(text: string): void {
  const bytes = encoder.encode(text);
  for (const page of pages) {
    try {
      page.enqueue(bytes);
    } catch { // the page went away without its stream being cancelled
      pages.delete(page);
    }
  }
}

function eventStream(): Response {
  let page: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      page = controller;
      pages.add(page);
      controller.enqueue(encoder.encode("retry: 500\n\n")); // reconnect fast after a server restart
      console.log(`page connected (${pages.size} open)`);
    },
    cancel() {
      pages.delete(page);
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-store" } });
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".gif": "image/gif",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
};

function status(code: number, text: string): Response {
  return new Response(`${code} ${text}\n`, { status: code, headers: { "content-type": "text/plain" } });
}

/** The whole server: static files from `root`, HTML with the client script, and the SSE stream. */
function handle(req: Request): Response {
  const url = new URL(req.url);
  if (url.pathname === EVENTS_PATH) return eventStream();
  if (req.method !== "GET" && req.method !== "HEAD") return status(405, "Method Not Allowed");
  let path: string;
  try {
    path = resolve(root, "." + decodeURIComponent(url.pathname));
  } catch {
    return status(400, "Bad Request");
  }
  if (path !== root && !path.startsWith(root + sep)) return status(403, "Forbidden");
  let body: Uint8Array<ArrayBuffer>;
  try {
    if (statSync(path).isDirectory()) {
      if (!url.pathname.endsWith("/")) return Response.redirect(new URL(`${url.pathname}/${url.search}`, url), 302);
      path = join(path, "index.html");
    }
    body = new Uint8Array(readFileSync(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR" ? status(404, "Not Found") : status(500, String(err));
  }
  const type = TYPES[extname(path)] ?? "application/octet-stream";
  const headers = { "content-type": type, "cache-control": "no-store" };
  if (!type.startsWith("text/html")) return new Response(body, { headers });
  const html = new TextDecoder().decode(body);
  const at = html.search(/<\/body>/i);
  return new Response(at === -1 ? html + CLIENT : html.slice(0, at) + CLIENT + html.slice(at), { headers });
}

// ---- the one runtime-specific part: start the same handler on Bun.serve, Deno.serve or node:http ----
interface Server {
  port: number;
  stop(): Promise<void>;
}
declare const Bun: {
  serve(o: { port: number; hostname: string; idleTimeout: number; fetch: typeof handle }): {
    port: number;
    stop(closeActiveConnections: boolean): Promise<void>;
  };
};
async function serve(port: number, hostname: string): Promise<Server> {
  if ("Bun" in globalThis) {
    const server = Bun.serve({ port, hostname, idleTimeout: 0, fetch: handle }); // 0: SSE streams idle for long
    return { port: server.port, stop: () => server.stop(true) };
  }
  if ("Deno" in globalThis) {
    const server = Deno.serve({ port, hostname, onListen() {} }, handle); // onListen: no banner of its own
    return { port: server.addr.port, stop: () => server.shutdown() };
  }
  // Node's http speaks IncomingMessage/ServerResponse: a Request in, the Response's body piped out.
  const server = createServer((req, res) => {
    const response = handle(new Request(new URL(req.url ?? "/", `http://${hostname}`), { method: req.method }));
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (!response.body || req.method === "HEAD") return void res.end();
    // A page that goes away ends the pipeline, which cancels the stream (eventStream's cancel()).
    pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), res).catch(() => {});
  });
  server.requestTimeout = 0; // SSE streams stay open
  await new Promise<void>((listening, failed) => server.once("error", failed).listen(port, hostname, listening));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    stop: () => new Promise<void>((closed) => (server.close(() => closed()), server.closeAllConnections())),
  };
}

// ---- watch the folder; a burst of changes is one reload ----
const watcher = watch(root, {
  settle: settleMs, // an editor's save by rename is one modify of the page, nothing about its temporary file
  // Serving a file opens and reads it: the default kinds leave out open/access/close_nowrite, so
  // that does not count as a change. Dotfiles (.git, editor swap files) do not count either.
  exclude: (path) => /(^|[/])\.|~$/.test(relative(root, path)),
});
await watcher.ready;
const server = await serve(Number(values.port), values.host);
console.log(`http://${values.host}:${server.port}/`);

const changed = new Set<string>();
let pending: ReturnType<typeof setTimeout> | undefined;
function reload(): void {
  pending = undefined;
  const paths = [...changed];
  changed.clear();
  send(`event: reload\ndata: ${JSON.stringify(paths)}\n\n`);
  console.log(`reload: ${paths.join(", ")} (${pages.size} ${pages.size === 1 ? "page" : "pages"})`);
}

const keepAlive = setInterval(() => send(": keep-alive\n\n"), 15_000); // proxies drop silent streams
const stop = () => void watcher.close(); // ends the loop below
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
const timer = values.timeout === undefined ? undefined : setTimeout(stop, Number(values.timeout) * 1000);
try {
  for await (const ev of watcher) {
    if (ev.kind === "error") console.error(`cannot watch ${ev.path}: ${ev.error?.message}`);
    changed.add(relative(root, ev.path) || "."); // "overflow": the root; a rescan reports the rest
    // A settled burst is handed over in one turn of the event loop: reload once it has all come.
    pending ??= setTimeout(reload, 0);
  }
} finally {
  clearTimeout(timer);
  clearTimeout(pending);
  clearInterval(keepAlive);
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  for (const page of pages) page.close();
  await server.stop();
  console.log("stopped");
}
