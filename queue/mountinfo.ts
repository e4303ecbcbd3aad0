/**
 * {@linkcode parseMountInfo}: the lines of `/proc/self/mountinfo` (proc(5)) as objects, with the
 * kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash) undone.
 *
 * ```text
 * 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 * (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
 * ```
 *
 * @module
 */

/** One mount, as a line of `/proc/self/mountinfo` describes it. */
export interface MountInfo {
  /** (1) A unique id for the mount. */
  readonly mountId: number;
  /** (2) The id of the parent mount (itself for the root of the mount tree). */
  readonly parentId: number;
  /** (3) The device: major * 2^20 + minor, as statx's `stx_dev_major`/`minor` ({@linkcode Statx.dev}). */
  readonly dev: number;
  /** (4) The directory of the file system mounted here (a bind mount of a subdirectory: not `/`). */
  readonly root: string;
  /** (5) Where it is mounted, relative to this process's root. */
  readonly mountPoint: string;
  /** (6) Per-mount options: `rw`, `ro`, `nosuid`, `relatime`... */
  readonly options: string;
  /** (7) Optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`. */
  readonly optionalFields: readonly string[];
  /** (9) The file system type: `ext4`, `tmpfs`, `9p`, `fuse.sshfs` (FUSE with a subtype)... */
  readonly fsType: string;
  /** (10) The source: a device, a share, or whatever the file system says (`none`). */
  readonly source: string;
  /** (11) Per-superblock options. */
  readonly superOptions: string;
}

/** Undoes the kernel's `\ooo` escapes of space, tab, newline and backslash. */
export function unescapeMountField(field: string): string {
  return field.includes("\\")
    ? field.replace(/\\([0-3][0-7]{2})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))
    : field;
}

/**
 * The mounts of a `/proc/<pid>/mountinfo` text, in its order (a mount comes after the one it is
 * mounted on, so the last of several on one mount point is the one on top).
 * @throws {RangeError} On a line that does not have the fields of proc(5), naming its number.
 */
export function parseMountInfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    const fields = line.split(" ");
    const dash = fields.indexOf("-", 6);
    const devMatch = /^(\d+):(\d+)$/.exec(fields[2] ?? "");
    if (dash < 0 || fields.length < dash + 4 || !devMatch || !/^\d+$/.test(fields[0]) || !/^\d+$/.test(fields[1])) {
      throw new RangeError(`Cannot parse mountinfo line ${i + 1}: ${JSON.stringify(line)}`);
    }
    mounts.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      dev: Number(devMatch[1]) * 2 ** 20 + Number(devMatch[2]),
      root: unescapeMountField(fields[3]),
      mountPoint: unescapeMountField(fields[4]),
      options: fields[5],
      optionalFields: fields.slice(6, dash),
      fsType: unescapeMountField(fields[dash + 1]),
      source: unescapeMountField(fields[dash + 2]),
      superOptions: fields.slice(dash + 3).join(" "),
    });
  }
  return mounts;
}
