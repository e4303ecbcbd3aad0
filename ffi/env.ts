/**
 * Environment variables notiq reads, without a permission prompt: Deno asks the user on a terminal
 * for an `--allow-env` it was not given, so there a variable is read only when access is granted.
 *
 * @module
 */
import process from "node:process";

/** The value of `name`, or undefined when unset or not readable here. */
export function readEnv(name: string): string | undefined {
  // deno-lint-ignore no-explicit-any
  const deno = (globalThis as any).Deno;
  if (deno?.permissions?.querySync?.({ name: "env", variable: name }).state !== undefined) {
    if (deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") return undefined;
  }
  return process.env[name];
}
