/**
 * Shows what queue/uring.ts counts on when it cancels a running multishot read and starts another
 * in one `io_uring_enter` while events arrive: the cancelled read reads nothing once the
 * cancellation is submitted, so every record of the old region comes before every record of the
 * new one, whatever order their completions come in. Not a test:
 *   deno run -A tests/measure/uring_order.ts [switches]      bun tests/measure/uring_order.ts [switches]
 * Prints the last completions around a few switches where the new read had read already (its
 * completions may come before the old read's -ECANCELED), then counts switches and order violations.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import process from "node:process";
import { loadSys } from "../../ffi/load.ts";
import { bufReg, IORING_CQE_F, IORING_REGISTER, IOU_PBUF_RING, IoUring } from "../../queue/io_uring.ts";
import { InotifyCursor } from "../../queue/inotify_records.ts";
import { MMAP } from "../../queue/linux.ts";

const SWITCHES = Number(process.argv[2] ?? 200);
const SIZE = 1 << 20;
const sys = await loadSys();
const ring = new IoUring(sys, { sqEntries: 8, cqEntries: 4096 });
const dir = mkdtempSync("/dev/shm/notiq-order-");
const fd = sys.inotifyInit1(0o4000 | 0o2000000);
sys.inotifyAddWatch(fd, new TextEncoder().encode(`${dir}\0`), 0x100);

/** Two groups of one buffer, each over a region of its own. */
const groups = [0, 1].map((bgid) => {
  const page = sys.mmap(4096, MMAP.PROT_READ | MMAP.PROT_WRITE, MMAP.PRIVATE | MMAP.ANONYMOUS, -1, 0);
  const address = sys.mmap(SIZE, MMAP.PROT_READ | MMAP.PROT_WRITE, MMAP.PRIVATE | MMAP.ANONYMOUS, -1, 0);
  const reg = bufReg(page, 100 + bgid, IOU_PBUF_RING.INC);
  if (sys.syscall(ring.syscalls.ioUringRegister, ring.fd, IORING_REGISTER.PBUF_RING, reg, 1) === -1) {
    throw new Error(`register: errno ${sys.errno()}`);
  }
  return {
    bgid: 100 + bgid,
    entry: new DataView(sys.view(page, 16)),
    bytes: new Uint8Array(sys.view(address, SIZE)),
    address,
    tail: 0,
  };
});

/** Points a group's buffer at its whole region (it is idle) and returns a read on it. */
function arm(g: typeof groups[number], log: string[]): number {
  const publish = g.entry.getUint32(8, true) === 0;
  g.entry.setUint32(0, g.address % 2 ** 32, true);
  g.entry.setUint32(4, Math.floor(g.address / 2 ** 32), true);
  g.entry.setUint32(8, SIZE, true);
  if (publish) g.entry.setUint16(14, g.tail = (g.tail + 1) & 0xffff, true);
  const serial = ring.readMultishot(fd, g.bgid, false, (res, flags) => {
    log.push(`${serial}:${res}${flags & IORING_CQE_F.MORE ? "+" : ""}`);
    if (!(flags & IORING_CQE_F.MORE)) ended.add(serial);
  });
  return serial;
}

const ended = new Set<number>();
const numbers = (g: typeof groups[number]) => {
  const out: number[] = [];
  const cursor = new InotifyCursor(g.bytes);
  cursor.reset(SIZE - g.entry.getUint32(8, true));
  while (cursor.next()) out.push(Number(cursor.name.slice(1)));
  return out;
};

const writer = spawn("sh", ["-c", "i=0; while :; do i=$((i+1)); : > f$i; done"], { cwd: dir });
let violations = 0, records = 0;
const shown: string[] = [];
try {
  let current = 0;
  const log: string[] = [];
  let serial = arm(groups[current], log);
  ring.submit();
  for (let s = 0; s < SWITCHES; s++) {
    await new Promise((r) => setTimeout(r, 2)); // records arrive meanwhile
    ring.reap();
    const old = groups[current], oldSerial = serial;
    current ^= 1;
    ring.cancel(oldSerial);
    serial = arm(groups[current], log); // the other group is idle: its last read ended
    ring.submit();
    for (let i = 0; i < 100 && !ended.has(oldSerial); i++) ring.reap();
    if (!ended.has(oldSerial)) throw new Error(`read ${oldSerial} did not end`);
    if (shown.length < 4 && log.some((c) => c.startsWith(`${serial}:`))) {
      shown.push(`cancel ${oldSerial}, start ${serial}: ... ${log.slice(-6).join(" ")}`);
    }
    // Every record of the old region comes before any the new read has taken so far.
    const before = numbers(old);
    ring.reap();
    const after = numbers(groups[current]);
    records += before.length;
    if (before.length && after.length && after[0] !== before[before.length - 1] + 1) violations++;
    for (let i = 1; i < before.length; i++) if (before[i] !== before[i - 1] + 1) violations++;
    log.length = 0;
  }
} finally {
  writer.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
console.log("completions as serial:res (+ = more to come):");
for (const line of shown) console.log(" ", line);
console.log(`${SWITCHES} switches, ${records} records, ${violations} out of order`);
process.exit(violations === 0 ? 0 : 1);
