/** Runs an example as a child process under Deno, Bun or Node and reads its stdout by lines. @module */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { here, repo, runFile, type Runtime } from "../fixtures/runtime.ts";
import { deadline } from "../helpers.ts";

export { here, repo, type Runtime };

/** `examples/<name>` running under `runtime`, with its stdout as lines. */
export class Example {
  readonly lines: string[] = [];
  stderr = "";
  /** The exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;
  #waiters: (() => void)[] = [];

  constructor(name: string, args: string[], runtime: Runtime = here) {
    const [command, ...rest] = runFile(repo(`examples/${name}`), runtime);
    this.#child = spawn(command!, [...rest, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let partial = "";
    this.#child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop()!;
      this.lines.push(...parts);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.#child.stderr!.setEncoding("utf8").on("data", (chunk: string) => this.stderr += chunk);
    this.exited = new Promise((resolve) => {
      this.#child.on("close", (code) => { // after stdout has ended
        if (partial) this.lines.push(partial);
        for (const wake of this.#waiters.splice(0)) wake();
        resolve(code);
      });
    });
  }

  /** What it printed, for failure messages. */
  get output(): string {
    return `stdout: ${JSON.stringify(this.lines)}, stderr: ${JSON.stringify(this.stderr)}`;
  }

  /** The first stdout line that matches `pattern`, waiting up to `ms`; fails if it ends without one. */
  async line(pattern: RegExp, ms = 10_000): Promise<string> {
    const find = () => this.lines.find((l) => pattern.test(l));
    const found = (async () => {
      let line;
      while ((line = find()) === undefined) {
        if (this.#child.exitCode !== null || this.#child.signalCode !== null) {
          await this.exited;
          return find() ?? assert.fail(`ended without a line matching ${pattern}; ${this.output}`);
        }
        await new Promise<void>((wake) => this.#waiters.push(wake));
      }
      return line;
    })();
    return await deadline(found, ms, () => `a line matching ${pattern}; ${this.output}`);
  }

  /** Waits for the exit code, up to `ms`. */
  async end(ms = 20_000): Promise<number | null> {
    return await deadline(this.exited, ms, () => `the example to end; ${this.output}`);
  }

  /** SIGTERM, then the exit code (SIGKILL if it does not end within 5 s). Does nothing once ended. */
  async stop(): Promise<number | null> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return await this.exited;
    // Not this.#child.kill(): in Deno a child killed that way reports the signal even when it
    // caught it and exited 0.
    process.kill(this.#child.pid!, "SIGTERM");
    try {
      return await deadline(this.exited, 5000, () => `the example to end on SIGTERM; ${this.output}`);
    } catch (err) {
      this.#child.kill("SIGKILL");
      throw err;
    }
  }
}
