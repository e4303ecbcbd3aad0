/**
 * Argument checks shared by the queues: each throws a TypeError or RangeError that says what could
 * not be done and why, before any system call.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Names a value's type for an error message: `null`, `number`, `Array`, `Object`... */
export function describe(value: unknown): string {
  return value === null ? "null" : typeof value === "object" ? value.constructor?.name ?? "object" : typeof value;
}

/** `value` if it is an integer from `min` to `max`; else a TypeError or RangeError. */
export function integer(value: unknown, name: string, doing: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`Cannot ${doing}: ${name} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`Cannot ${doing}: ${name} must be from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** Turns a `string | URL` into a path, or throws a TypeError that says what went wrong. */
export function toPath(path: unknown, doing: string): string {
  const text = path instanceof URL ? fileURLToPath(path) : path;
  if (typeof text !== "string" || text === "") {
    throw new TypeError(`Cannot ${doing}: path must be a non-empty string or a file: URL, got ${describe(path)}`);
  }
  if (text.includes("\0")) throw new TypeError(`Cannot ${doing} for ${JSON.stringify(text)}: path contains a NUL byte`);
  return text;
}

const encoder = new TextEncoder();

/** `text` as a NUL-terminated UTF-8 C string. */
export function cString(text: string): Uint8Array {
  return encoder.encode(text + "\0");
}

/** PATH_MAX: a longer path goes as its own buffer, for the kernel's ENAMETOOLONG. */
const PATH_MAX = 4096;

/**
 * Paths as C strings in one buffer reused from call to call, for the calls made once per watched
 * directory (a new buffer each cost a tenth of watch()'s setup).
 */
export class CPath {
  readonly #bytes = new Uint8Array(PATH_MAX);

  /** `path` as a C string, valid until the next call. */
  of(path: string): Uint8Array {
    const { read, written } = encoder.encodeInto(path, this.#bytes);
    if (read < path.length || written === PATH_MAX) return cString(path);
    this.#bytes[written] = 0;
    return this.#bytes;
  }
}
