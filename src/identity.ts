// What a drive is underneath all its names: one base object (a regular file's inode, or a
// block device that is no view of another) and the byte range of it the drive covers.
// Partitions and loop devices (over files, over devices, over other loops, at offsets) are
// resolved down to that base, by device and inode numbers, never by path strings.
import { closeSync, constants, existsSync, openSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { engine } from './native.js';
import { RefusedError, isSystemCallError } from './errors.js';
import { devKey, parseDev, readMounts, readText, splitDev, type DevNumber, type DriveInfo } from './drive.js';

/** A byte range [start, end); end may be Infinity ("to the end, however far it grows"). */
export interface ByteRange {
  start: number;
  end: number;
}

export interface Identity extends ByteRange {
  /** the base object: `file <st_dev> <st_ino>` or `block <major:minor>` */
  base: string;
  /** the names on the way down, for messages: /dev/loop4, /dev/loop3, file 0:27 inode 33 */
  chain: string[];
}

/** Whether two ranges share at least one byte (an empty range shares none). */
export function rangesOverlap(a: ByteRange, b: ByteRange): boolean {
  return a.start < a.end && b.start < b.end && a.start < b.end && b.start < a.end;
}

/** The same drive: one base object, and byte ranges of it that overlap. */
export function sameDrive(a: Identity, b: Identity): boolean {
  return sameBase(a.base, b.base) && rangesOverlap(a, b);
}

/**
 * Identities with a value each, found again by any identity that is the same drive. Looked
 * up by base object, so a station of many file jobs on one file system stays linear; a file
 * of unknown inode is compared with every file of its file system.
 */
export class IdentityIndex<T> {
  private readonly byBase = new Map<string, { id: Identity; value: T }[]>();
  /** every file entry of a file system, for lookups of a file of unknown inode */
  private readonly byGroup = new Map<string, { id: Identity; value: T }[]>();
  /** file entries of unknown inode, for lookups of any file of their file system */
  private readonly unknownByGroup = new Map<string, { id: Identity; value: T }[]>();
  add(id: Identity, value: T): void {
    const e = { id, value };
    push(this.byBase, id.base, e);
    if (!id.base.startsWith('file ')) return;
    push(this.byGroup, baseGroup(id.base), e);
    if (id.base.endsWith(' ?')) push(this.unknownByGroup, baseGroup(id.base), e);
  }
  /** the value of an identity added that is the same drive as `id` (and passes `filter`) */
  find(id: Identity, filter: (value: T) => boolean = () => true): T | undefined {
    const hit = (list: { id: Identity; value: T }[] | undefined): T | undefined => list?.find((e) => sameDrive(e.id, id) && filter(e.value))?.value;
    if (id.base.startsWith('file ') && id.base.endsWith(' ?')) return hit(this.byGroup.get(baseGroup(id.base)));
    return hit(this.byBase.get(id.base)) ?? (id.base.startsWith('file ') ? hit(this.unknownByGroup.get(baseGroup(id.base))) : undefined);
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** A window of `length` bytes (Infinity: to the end) at `offset` into `lower`, clipped to it. */
export function subRange<T extends ByteRange>(lower: T, offset: number, length: number): T {
  const start = lower.start + offset;
  return { ...lower, start, end: Math.min(lower.end, start + length) };
}

/** A regular file by device and inode; inode undefined: some file of that file system, unknown which. */
export function fileIdentity(dev: DevNumber, ino: number | undefined, name?: string): Identity {
  const what = ino === undefined ? `a file of unknown inode on ${devKey(dev)}` : `file ${devKey(dev)} inode ${ino}`;
  return { base: `file ${devKey(dev)} ${ino ?? '?'}`, start: 0, end: Infinity, chain: [name ? `${name} (${what})` : what] };
}

/**
 * The group a base belongs to: its file system for files (a file of unknown inode may be
 * any of them), the base itself for devices. Equal bases are always in one group.
 */
export function baseGroup(base: string): string {
  return base.startsWith('file ') ? base.slice(0, base.lastIndexOf(' ')) : base;
}

/** One base object, or a file of unknown inode and any file of the same file system. */
export function sameBase(a: string, b: string): boolean {
  if (a === b) return true;
  return (a.endsWith(' ?') || b.endsWith(' ?')) && a.startsWith('file ') && baseGroup(a) === baseGroup(b);
}

/** Nested loops deeper than this are refused as unknowable (the kernel forbids cycles). */
const maxDepth = 16;

function sysDirOf(dev: DevNumber): string | undefined {
  try {
    return realpathSync.native(`/sys/dev/block/${devKey(dev)}`);
  } catch {
    return undefined;
  }
}

/** A device node that is this device: /dev/NAME, else /dev/block/MAJ:MIN. */
export function deviceNode(name: string, dev: DevNumber): string | undefined {
  for (const p of [`/dev/${name}`, `/dev/block/${devKey(dev)}`]) {
    try {
      const st = statSync(p);
      if (st.isBlockDevice() && devKey(splitDev(st.rdev)) === devKey(dev)) return p;
    } catch {
      // not there
    }
  }
  return undefined;
}

function unknowable(name: string, why: string): RefusedError {
  return new RefusedError('IDENTITY_UNKNOWN', `cannot tell what block device ${name} is a view of (${why}): detach or restore it, or choose other drives`, { device: name });
}

/** The identity of a block device by its number: partitions and loops resolved down to the base. */
export function blockIdentity(dev: DevNumber, depth = 0): Identity {
  if (depth > maxDepth) throw unknowable(devKey(dev), `more than ${maxDepth} loop devices stacked`);
  const dir = sysDirOf(dev);
  const name = dir ? basename(dir) : devKey(dev);
  const node = `/dev/${name}`;
  const own: Identity = { base: `block ${devKey(dev)}`, start: 0, end: Infinity, chain: [node] };
  if (!dir) return own;
  if (existsSync(join(dir, 'partition'))) {
    // sysfs counts partitions in 512-byte units, whatever the sector size.
    const disk = parseDev(readText(join(dirname(dir), 'dev')));
    const start = Number(readText(join(dir, 'start')));
    const size = Number(readText(join(dir, 'size')));
    if (!disk || !Number.isFinite(start) || !Number.isFinite(size)) throw unknowable(node, 'its partition has no start or size in sysfs');
    const lower = blockIdentity(disk, depth + 1);
    return { ...subRange(lower, start * 512, size * 512), chain: [node, ...lower.chain] };
  }
  if (!existsSync(join(dir, 'loop'))) return own; // a disk of its own, or a detached loop
  const st = loopStatusOf(name, dev, dir);
  if (!st) return own; // detached since sysfs was read
  const lower = st.backingBlock ? blockIdentity(st.backingBlock, depth + 1) : fileIdentity(st.backingFile.dev, st.backingFile.ino, st.fileName);
  return { ...subRange(lower, st.offset, st.sizeLimit > 0 ? st.sizeLimit : Infinity), chain: [node, ...lower.chain] };
}

interface LoopBacking {
  backingBlock?: DevNumber;
  /** ino undefined: a file on that file system whose inode cannot be learnt */
  backingFile: { dev: DevNumber; ino?: number };
  offset: number;
  sizeLimit: number;
  fileName?: string;
}

/**
 * What a bound loop device is a view of: from LOOP_GET_STATUS64 (device and inode numbers).
 * Where that fails (not root; a backing file on a FUSE file system whose daemon is gone
 * answers ENOTCONN), from sysfs: the backing file's current path (the kernel prints it with
 * d_path, so renames are followed) and stat; where even stat fails, the loop is taken to be
 * over any file of the file system that path is on, which can only refuse more.
 */
function loopStatusOf(name: string, dev: DevNumber, dir: string): LoopBacking | undefined {
  const node = `/dev/${name}`;
  const path = deviceNode(name, dev);
  let why = 'it has no device node in /dev';
  // A backing file on a FUSE file system is never asked about: LOOP_GET_STATUS64 and stat
  // both make the kernel ask the FUSE daemon for its attributes, and a daemon that is
  // stalled (a paused nbdkit, a hung network file system) would hang every run on this
  // machine in planning, whatever drives it names. Such a loop is taken to be over any
  // file of that file system, which can only refuse more (sysfs gives the path without
  // asking the daemon).
  const backing = readText(join(dir, 'loop', 'backing_file'));
  if (backing) {
    const file = backing.endsWith(' (deleted)') ? backing.slice(0, -' (deleted)'.length) : backing;
    const fs = mountOf(file);
    if (fs?.fsType.startsWith('fuse')) return { backingFile: { dev: fs.dev }, offset: 0, sizeLimit: 0, fileName: backing };
  }
  if (path) {
    try {
      const st = engine.loopStatus(path);
      if (!st) return undefined;
      if (st.selfMajor !== dev.major || st.selfMinor !== dev.minor) throw unknowable(node, `${path} turned into another device while it was read`);
      const rdev = { major: st.rdevMajor, minor: st.rdevMinor };
      return {
        backingBlock: rdev.major !== 0 || rdev.minor !== 0 ? rdev : undefined,
        backingFile: { dev: { major: st.devMajor, minor: st.devMinor }, ino: st.ino },
        offset: st.offset,
        sizeLimit: st.sizeLimit,
        fileName: st.fileName || undefined,
      };
    } catch (e) {
      if (e instanceof RefusedError) throw e;
      why = `LOOP_GET_STATUS64: ${isSystemCallError(e) ? e.code : String(e)}`;
    }
  }
  const text = readText(join(dir, 'loop', 'backing_file'));
  const offset = Number(readText(join(dir, 'loop', 'offset')));
  const sizeLimit = Number(readText(join(dir, 'loop', 'sizelimit')));
  // No backing file any more: the loop is being detached and is a view of nothing.
  if (!text || !existsSync(join(dir, 'loop'))) return undefined;
  if (!Number.isFinite(offset) || !Number.isFinite(sizeLimit)) throw unknowable(node, `${why}; sysfs gives no offset or size limit`);
  const deleted = text.endsWith(' (deleted)');
  const file = deleted ? text.slice(0, -' (deleted)'.length) : text;
  let st;
  try {
    if (!deleted) st = statSync(file);
  } catch (e) {
    // Another user may not stat a file in a folder closed to them: such a loop is left out
    // for them (boundLoops), rather than refusing everything they write on that file system.
    if (isSystemCallError(e) && (e.code === 'EACCES' || e.code === 'EPERM') && process.getuid?.() !== 0) throw unknowable(node, `${why}; its backing file ${file}: ${e.code}`);
  }
  if (st)
    return {
      backingBlock: st.isBlockDevice() ? splitDev(st.rdev) : undefined,
      backingFile: { dev: splitDev(st.dev), ino: st.ino },
      offset,
      sizeLimit,
      fileName: file,
    };
  const fs = mountOf(file);
  if (!fs) throw unknowable(node, `${why}; no mounted file system holds ${file}`);
  // a file of unknown inode on that file system: any byte of any file there
  return { backingFile: { dev: fs.dev }, offset: 0, sizeLimit: 0, fileName: `${file}${deleted ? ' (deleted)' : ''}` };
}

/** The file system a path is on, from the mount table (the path is never touched: it may be unreadable, or on a stalled FUSE mount). */
function mountOf(path: string): { dev: DevNumber; fsType: string } | undefined {
  let best: { dev: DevNumber; fsType: string; len: number } | undefined;
  for (const m of readMounts()) {
    const mp = m.mountPoint;
    const under = mp === '/' || path === mp || path.startsWith(`${mp}/`);
    // later lines of mountinfo are mounted over earlier ones at the same point
    if (under && (!best || mp.length >= best.len)) best = { dev: m.dev, fsType: m.fsType, len: mp.length };
  }
  return best;
}

/**
 * The identity of an inspected drive, resolved once per DriveInfo (which is itself a
 * snapshot taken at planning time): a station comparing each new job with every planned
 * one does not ask the kernel again.
 */
export function identityOf(d: DriveInfo): Identity {
  let id = resolved.get(d);
  if (!id) {
    id = d.kind === 'file' ? fileIdentity(d.dev, d.ino, d.realPath) : blockIdentity(d.dev);
    resolved.set(d, id);
  }
  return id;
}

const resolved = new WeakMap<DriveInfo, Identity>();

function bytes(r: ByteRange): string {
  return r.end === Infinity ? `bytes ${r.start} to the end` : `bytes ${r.start} to ${r.end - 1}`;
}

/** "/dev/loop4 over /dev/loop3 over /dev/shm/a.img (file 0:27 inode 33), bytes 0 to 1048575" */
export function describeIdentity(id: Identity): string {
  const whole = id.start === 0 && id.end === Infinity;
  return `${id.chain.join(' over ')}${whole ? '' : `, ${bytes(id)}`}`;
}

/** A bound loop device on this system, resolved. */
export interface LoopView {
  name: string;
  dev: DevNumber;
  /** a device node for it, when there is one */
  node?: string;
  identity: Identity;
}

/**
 * Every bound loop device on the system, with what it is a view of (detached ones skipped):
 * read now, or the table read once for the whole of withLoopTable(). What holds a loop
 * (mounts, claims) is never kept: the checks read it live.
 */
export function boundLoops(): LoopView[] {
  return table ?? scanLoops();
}

let table: LoopView[] | undefined;

/**
 * Runs `fn` with one reading of the loop table (about 2 ms for 34 loops here) for all the
 * checks inside it: a station planning a 10,000-job file reads it once, not per target.
 */
export function withLoopTable<T>(fn: () => T): T {
  if (table) return fn();
  table = scanLoops();
  let async = false;
  try {
    const out = fn();
    if (out instanceof Promise) {
      // kept until the work settles (a station plans its jobs one after another)
      async = true;
      return out.finally(() => (table = undefined)) as T;
    }
    return out;
  } finally {
    if (!async) table = undefined;
  }
}

function scanLoops(): LoopView[] {
  const out: LoopView[] = [];
  let names: string[];
  try {
    names = readdirSync('/sys/block').filter((n) => n.startsWith('loop'));
  } catch {
    return out;
  }
  for (const name of names) {
    if (!existsSync(join('/sys/block', name, 'loop'))) continue;
    const dev = parseDev(readText(join('/sys/block', name, 'dev')));
    if (!dev) continue;
    let identity: Identity;
    try {
      identity = blockIdentity(dev);
    } catch (e) {
      // Root always learns what a loop is over (LOOP_GET_STATUS64). Another user may not be
      // allowed to open the loop nor stat its backing file; such a loop is left out rather
      // than refusing every write that user makes (the limit is documented).
      if (e instanceof RefusedError && e.code === 'IDENTITY_UNKNOWN' && process.getuid?.() !== 0) continue;
      throw e;
    }
    if (identity.base === `block ${devKey(dev)}`) continue; // detached meanwhile
    out.push({ name, dev, node: deviceNode(name, dev), identity });
  }
  return out;
}

/** Loop devices whose bytes overlap the identity's (the drive itself excluded by `except`). */
export function loopsOver(id: Identity, except?: DevNumber): LoopView[] {
  return boundLoops().filter((l) => sameDrive(l.identity, id) && (!except || devKey(except) !== devKey(l.dev)));
}

/**
 * Whether another program holds this block device exclusively (a mount, a RAID/LVM member,
 * another clonestation): an O_EXCL open fails with EBUSY. Opened read-only and closed at once.
 */
export function claimedExclusively(node: string): boolean {
  let fd: number;
  try {
    fd = openSync(node, constants.O_RDONLY | constants.O_EXCL | constants.O_NONBLOCK);
  } catch (e) {
    if (isSystemCallError(e) && e.code === 'EBUSY') return true;
    throw e;
  }
  closeSync(fd);
  return false;
}
