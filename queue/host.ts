/**
 * The runtime's {@linkcode Host}: libc, and the reader chosen at the first open — io_uring where it
 * works here (no thread), else the reader thread.
 *
 * @module
 */
import type { Sys } from "../ffi/types.ts";
import { ReaderThread, type SpawnReaderThread } from "./reader_thread.ts";
import type { Host, OpenSource } from "./source.ts";
import { threadSources } from "./thread_source.ts";
import { uringSources } from "./uring.ts";

/** The readers a host can use; `NOTIQ_READER` names one. */
export type ReaderKind = "uring" | "thread";

/** Which reader a host uses, and why not io_uring when it does not. */
export interface ReaderStatus {
  readonly reader: ReaderKind;
  /** Why io_uring is not used: it cannot be here, or `NOTIQ_READER=thread`. */
  readonly why?: Error;
}

/** A host that picks its reader when the first source is opened, or when asked. */
export interface RuntimeHost extends Host {
  /**
   * The reader this thread uses (picked now if no source was opened yet).
   * @throws {Error} With `NOTIQ_READER=uring` where io_uring cannot be used.
   */
  status(): ReaderStatus;
}

/**
 * A host for this thread. The reader is io_uring, unless io_uring cannot read here (a seccomp
 * profile such as Docker's default, `kernel.io_uring_disabled`, a kernel before 6.12) or `wanted`
 * is `"thread"`; then it is the reader thread.
 * @param wanted `NOTIQ_READER`: `"uring"` makes an io_uring that cannot be used an error.
 */
export function runtimeHost(sys: Sys, spawn: SpawnReaderThread, wanted?: string): RuntimeHost {
  if (wanted !== undefined && wanted !== "uring" && wanted !== "thread") {
    throw new RangeError(
      `Cannot pick a reader: NOTIQ_READER must be "uring" or "thread", got ${JSON.stringify(wanted)}`,
    );
  }
  let picked: { open: OpenSource; status: ReaderStatus } | undefined;
  const pick = () => {
    if (picked) return picked;
    const uring = wanted === "thread" ? new Error("NOTIQ_READER=thread asks for the reader thread") : uringSources(sys);
    if (!(uring instanceof Error)) return picked = { open: uring, status: { reader: "uring" } };
    if (wanted === "uring") throw uring;
    const open = threadSources(sys, new ReaderThread(sys, spawn));
    return picked = { open, status: { reader: "thread", why: uring } };
  };
  return {
    sys,
    openSource: (fd, options) => pick().open(fd, options),
    status: () => pick().status,
  };
}
