// Node's entry (package.json "exports", condition "node"): Node does not strip types under
// node_modules, so strip_types.js registers a hook that does it for this package first, and mod.ts
// is imported after it (a static import would be loaded before any hook runs). The names are
// mod.ts's; tests/kernel/node_entry_test.ts checks that none is missing.
import "./strip_types.js";

export const {
  Inotify,
  WatchQueue,
  keys,
  Watcher,
  watch,
  abortError,
  SyscallError,
  describeMask,
  IN,
  MIN_READ_SIZE,
  NAME_MAX,
  DEFAULT_BUFFER_SIZE,
  DEFAULT_RING_SIZE,
  KEY_SPEC,
  describeNotification,
  KEY_NOTIFY,
  WATCH_META,
  WATCH_TYPE,
  DEFAULT_QUEUE_SIZE,
  MAX_QUEUE_SIZE,
  RENAME_WAIT_MS,
  DEFAULT_WATCH_EVENT_KINDS,
  WATCH_EVENT_KINDS,
  WatchLimitError,
  writeSnapshot,
  changesSince,
  SNAPSHOT_VERSION,
  SnapshotError,
  readerStatus,
} = await import("./mod.ts");
