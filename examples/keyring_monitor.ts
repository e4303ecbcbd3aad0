/**
 * Prints the changes to a keyring and its keys as the kernel reports them through the general
 * notification queue (`WatchQueue`): keys linked and unlinked, updated, revoked, invalidated.
 *
 * ```sh
 * deno run --allow-ffi --allow-read examples/keyring_monitor.ts [--keyring session] [--count N] [--timeout S]
 * bun examples/keyring_monitor.ts --demo     # makes its own keyring and changes it, then ends
 * ```
 *
 * `--keyring` is `session` (default), `user`, `process` or a key serial number. With the session
 * keyring, try `keyctl add user hello world @s` in the same login session. `--demo` watches a new
 * keyring in the process keyring, changes it itself and ends after the last of those changes. It
 * ends after `--count` notifications, after `--timeout` seconds (10 with `--demo`), or on Ctrl-C.
 *
 * Key notifications need Linux >= 5.8 built with `CONFIG_WATCH_QUEUE` and
 * `CONFIG_KEY_NOTIFICATIONS`, and no seccomp filter that blocks `keyctl` (Docker's default profile
 * does). Where they are missing, this program says why and exits 0.
 *
 * @module
 */
import { describeNotification, KEY_NOTIFY, KEY_SPEC, keys, WATCH_META, WATCH_TYPE, WatchQueue } from "@notiq/notiq";
import process from "node:process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    keyring: { type: "string", default: "session" },
    count: { type: "string" },
    timeout: { type: "string" },
    demo: { type: "boolean", default: false },
  },
});

const why = WatchQueue.probe();
if (why) {
  console.log(`key notifications are not available here: ${why.message}`);
  process.exit(0);
}

const SPECS: Record<string, number> = {
  session: KEY_SPEC.SESSION_KEYRING,
  user: KEY_SPEC.USER_KEYRING,
  process: KEY_SPEC.PROCESS_KEYRING,
};
const count = values.count === undefined ? Infinity : Number(values.count);
const timeoutS = values.timeout ?? (values.demo ? "10" : undefined);

using queue = new WatchQueue();
queue.setFilter([{ type: WATCH_TYPE.KEY_NOTIFY }]); // REMOVAL and LOSS pass every filter
const ring = values.demo
  ? keys.addKey("keyring", "notiq-keyring-monitor", "", KEY_SPEC.PROCESS_KEYRING)
  : keys.keyringId(SPECS[values.keyring] ?? Number(values.keyring)); // the serial number, for printing
queue.watchKey(ring, 1);
console.log(`watching keyring ${ring}`);

const timer = timeoutS === undefined ? undefined : setTimeout(() => queue.close(), Number(timeoutS) * 1000);
if (values.demo) {
  // Each call below makes the kernel queue one notification, read by the loop that follows.
  const key = keys.addKey("user", "greeting", "hello", ring); // LINKED, on the keyring
  queue.watchKey(key, 2);
  keys.updateKey(key, "hello again"); // UPDATED, on the key
  keys.revokeKey(key); // REVOKED, on the key
  keys.unlinkKey(key, ring); // UNLINKED, on the keyring; the key is destroyed: REMOVAL of watch 2
}

let seen = 0;
for await (const n of queue) {
  seen++;
  const [, subtype] = describeNotification(n);
  if (n.type === WATCH_TYPE.META && n.subtype === WATCH_META.LOSS) {
    console.log("LOSS: the queue was full and notifications were dropped");
  } else if (n.type === WATCH_TYPE.META) {
    console.log(`${subtype} of watch ${n.watchId}${n.keyId === undefined ? "" : ` (key ${n.keyId})`}`);
  } else if (n.subtype === KEY_NOTIFY.LINKED || n.subtype === KEY_NOTIFY.UNLINKED) {
    const where = n.subtype === KEY_NOTIFY.LINKED ? "into" : "from";
    console.log(`${subtype} key ${n.aux} ${where} keyring ${n.keyId} (watch ${n.watchId})`);
  } else {
    console.log(`${subtype} key ${n.keyId} (watch ${n.watchId})`);
  }
  if (seen >= count) break;
  if (values.demo && n.type === WATCH_TYPE.KEY_NOTIFY && n.subtype === KEY_NOTIFY.UNLINKED) break; // its last change
}
clearTimeout(timer);
if (values.demo) keys.unlinkKey(ring, KEY_SPEC.PROCESS_KEYRING);
console.log(`${seen} notifications`);
