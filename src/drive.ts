// A drive as the station sees it: what it is (block device or image file), its identity
// from sysfs, its partitions, and what holds it (mounts, swap, device-mapper/md holders).
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { engine } from './native.js';
import { openError } from './errors.js';
import { formatBytes } from './units.js';

export interface DevNumber {
  major: number;
  minor: number;
}

export interface PartitionInfo {
  name: string;
  path: string;
  dev: DevNumber;
  /** bytes */
  start: number;
  size: number;
}

export interface Mount {
  dev: DevNumber;
  mountPoint: string;
  fsType: string;
  source: string;
}

export interface DriveInfo {
  /** the path the user gave */
  path: string;
  realPath: string;
  kind: 'block' | 'file';
  size: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  readOnly: boolean;
  /** block devices: the device number; files: the device holding the file */
  dev: DevNumber;
  ino: number;
  /** kernel name (sda, sda1, loop3, nvme0n1p2) for block devices */
  name?: string;
  /** the whole disk this block device belongs to (itself when it is a whole disk) */
  disk?: { name: string; dev: DevNumber; path: string };
  isPartition: boolean;
  model?: string;
  serial?: string;
  wwn?: string;
  byId: string[];
  removable?: boolean;
  rotational?: boolean;
  transport?: string;
  /** partitions of the whole disk */
  partitions: PartitionInfo[];
  /** block devices stacked on the disk or its partitions (dm-0, md0) */
  holders: string[];
  /** mounts of the disk, its partitions and anything stacked on them */
  mounts: Mount[];
  /** swap areas on the disk */
  swaps: string[];
  /** loop devices: the file behind it */
  loopBackingFile?: string;
}

const sysBlock = '/sys/class/block';

export function readText(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function devKey(d: DevNumber): string {
  return `${d.major}:${d.minor}`;
}

export function parseDev(text: string | undefined): DevNumber | undefined {
  const m = text ? /^(\d+):(\d+)$/.exec(text) : null;
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/** The sysfs folder of a block device number, e.g. /sys/devices/.../block/sda/sda1. */
function sysDir(dev: DevNumber): string | undefined {
  const link = `/sys/dev/block/${devKey(dev)}`;
  try {
    return realpathSync(link);
  } catch {
    return undefined;
  }
}

/** Parses /proc/self/mountinfo. */
export function readMounts(text = readText('/proc/self/mountinfo') ?? ''): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 10) continue;
    const dev = parseDev(f[2]);
    const sep = f.indexOf('-', 6);
    if (!dev || sep < 0) continue;
    out.push({ dev, mountPoint: unescapeMount(f[4]), fsType: f[sep + 1], source: unescapeMount(f[sep + 2] ?? '') });
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Device numbers of active swap areas that are block devices. */
function readSwapDevs(): { dev: DevNumber; path: string }[] {
  const text = readText('/proc/swaps') ?? '';
  const out: { dev: DevNumber; path: string }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const path = line.split(/\s+/)[0];
    if (!path) continue;
    try {
      const st = statSync(path);
      if (st.isBlockDevice()) out.push({ dev: splitDev(st.rdev), path });
    } catch {
      // a swap file on a file system is held through that file system's mount
    }
  }
  return out;
}

/** Block devices below `dev` in the stack (slaves), recursively, including itself. */
export function lowerDevices(dev: DevNumber, seen = new Set<string>()): DevNumber[] {
  const key = devKey(dev);
  if (seen.has(key)) return [];
  seen.add(key);
  const out: DevNumber[] = [dev];
  const dir = sysDir(dev);
  if (!dir) return out;
  for (const s of safeList(join(dir, 'slaves'))) {
    const d = parseDev(readText(join(sysBlock, s, 'dev')));
    if (d) out.push(...lowerDevices(d, seen));
  }
  return out;
}

/** Block devices stacked on `name` (holders), recursively. */
function upperDevices(name: string, seen = new Set<string>()): string[] {
  if (seen.has(name)) return [];
  seen.add(name);
  const out: string[] = [];
  for (const h of safeList(join(sysBlock, name, 'holders'))) out.push(h, ...upperDevices(h, seen));
  return out;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The whole disk a block device belongs to: the parent folder in sysfs for a partition. */
export function wholeDisk(dev: DevNumber): { name: string; dev: DevNumber; isPartition: boolean } | undefined {
  const dir = sysDir(dev);
  if (!dir) return undefined;
  const isPartition = existsSync(join(dir, 'partition'));
  const diskDir = isPartition ? dirname(dir) : dir;
  const d = parseDev(readText(join(diskDir, 'dev')));
  return d ? { name: basename(diskDir), dev: d, isPartition } : undefined;
}

function byIdLinks(realPath: string): string[] {
  const dir = '/dev/disk/by-id';
  const out: string[] = [];
  for (const n of safeList(dir)) {
    try {
      if (realpathSync(join(dir, n)) === realPath) out.push(join(dir, n));
    } catch {
      // dangling link
    }
  }
  return out.sort();
}

/** Linux dev_t as node's stat returns it, split the way the kernel's new_decode_dev does. */
export function splitDev(rdev: number): DevNumber {
  const lo = rdev % 2 ** 32;
  const hi = Math.floor(rdev / 2 ** 32);
  return { major: ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0), minor: (lo & 0xff) | ((lo >>> 12) & 0xfff00) };
}

/** Size and sector sizes from sysfs, for a block device we may not open (EPERM). */
function sysfsProbe(dev: DevNumber): Pick<DriveInfo, 'size' | 'logicalSectorSize' | 'physicalSectorSize' | 'readOnly'> | undefined {
  const dir = sysDir(dev);
  if (!dir) return undefined;
  const base = existsSync(join(dir, 'queue')) ? dir : dirname(dir);
  const sectors = Number(readText(join(dir, 'size')));
  if (!Number.isFinite(sectors)) return undefined;
  const lss = Number(readText(join(base, 'queue', 'logical_block_size')) ?? 512);
  return {
    size: sectors * 512,
    logicalSectorSize: lss,
    physicalSectorSize: Number(readText(join(base, 'queue', 'physical_block_size')) ?? lss),
    readOnly: readText(join(dir, 'ro')) === '1',
  };
}

/**
 * Everything we know about a path. Throws a typed error when it does not exist or is
 * neither a block device nor a regular file. Identity and safety facts come from stat and
 * sysfs, so they are known even for a drive we may not open (the system disk in a sandbox);
 * sizes come from the engine's ioctls when it can open the path.
 */
export function inspectDrive(path: string, role: 'source' | 'target'): DriveInfo {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw openError(e, role, path);
  }
  if (!st.isBlockDevice() && !st.isFile())
    throw openError(Object.assign(new Error('not a block device or regular file'), { code: 'EINVAL' }), role, path);
  const kind: 'block' | 'file' = st.isBlockDevice() ? 'block' : 'file';
  const dev = splitDev(kind === 'block' ? st.rdev : st.dev);
  let probe: Pick<DriveInfo, 'size' | 'logicalSectorSize' | 'physicalSectorSize' | 'readOnly'> | undefined;
  let probeError: unknown;
  try {
    probe = engine.probe(path);
  } catch (e) {
    probeError = e;
    if (kind === 'block') probe = sysfsProbe(dev);
  }
  if (!probe) throw openError(probeError, role, path);
  const realPath = realpathSync(path);
  const info: DriveInfo = {
    path,
    realPath,
    kind,
    size: probe.size,
    logicalSectorSize: probe.logicalSectorSize,
    physicalSectorSize: probe.physicalSectorSize,
    readOnly: probe.readOnly,
    dev,
    ino: st.ino,
    isPartition: false,
    byId: [],
    partitions: [],
    holders: [],
    mounts: [],
    swaps: [],
  };
  if (kind !== 'block') return info;

  const disk = wholeDisk(dev);
  info.name = basename(sysDir(dev) ?? realPath);
  if (disk) {
    info.disk = { name: disk.name, dev: disk.dev, path: `/dev/${disk.name}` };
    info.isPartition = disk.isPartition;
    describeDisk(info, disk.name);
  }
  return info;
}

function describeDisk(info: DriveInfo, diskName: string): void {
  const base = join(sysBlock, diskName);
  const devDir = join(base, 'device');
  info.model = readText(join(devDir, 'model'));
  info.serial = readText(join(devDir, 'serial')) ?? readText(join(base, 'serial'));
  info.wwn = readText(join(base, 'wwid')) ?? readText(join(devDir, 'wwid'));
  info.removable = readText(join(base, 'removable')) === '1';
  info.rotational = readText(join(base, 'queue', 'rotational')) === '1';
  info.loopBackingFile = readText(join(base, 'loop', 'backing_file'));
  try {
    const sub = readlinkSync(base);
    info.transport = /\/usb\d*\//.test(sub) ? 'usb' : /\/nvme\//.test(sub) ? 'nvme' : /\/ata\d+\//.test(sub) ? 'sata' : /\/virtio/.test(sub) ? 'virtio' : /\/virtual\//.test(sub) ? 'virtual' : undefined;
  } catch {
    // no transport known
  }
  info.byId = byIdLinks(`/dev/${diskName}`);
  if (!info.serial) {
    // by-id names end with the serial for ATA/USB/NVMe drives: ata-MODEL_SERIAL
    const m = info.byId.map((l) => /\/(?:ata|nvme|usb|scsi)-.*_([^_/]+?)(?:-\d+:\d+)?$/.exec(l)).find(Boolean);
    if (m) info.serial = m[1];
  }

  for (const n of partitionNames(diskName)) {
    const d = parseDev(readText(join(base, n, 'dev')));
    if (!d) continue;
    const sectors = Number(readText(join(base, n, 'size')) ?? 0);
    const start = Number(readText(join(base, n, 'start')) ?? 0);
    // sysfs counts in 512-byte units whatever the logical sector size.
    info.partitions.push({ name: n, path: `/dev/${n}`, dev: d, start: start * 512, size: sectors * 512 });
  }
  info.partitions.sort((a, b) => a.start - b.start);
  Object.assign(info, diskUse(diskName));
}

/** The partitions of a whole disk, by kernel name. */
function partitionNames(diskName: string): string[] {
  const base = join(sysBlock, diskName);
  // A partition's folder is named after its disk (sda1, nvme0n1p1, loop0p1); testing only
  // those spares a stat of each of the disk's ~30 attribute files (bench:station planning).
  return safeList(base).filter((n) => n.startsWith(diskName) && existsSync(join(base, n, 'partition')));
}

/**
 * What holds a whole disk: devices stacked on it or its partitions (holders, recursively),
 * and the mounts and active swap areas of any of them.
 */
export function diskUse(diskName: string): Pick<DriveInfo, 'holders' | 'mounts' | 'swaps'> {
  const names = [diskName, ...partitionNames(diskName)];
  const stacked = new Set<string>();
  for (const n of names) for (const h of upperDevices(n)) stacked.add(h);
  const held = new Set<string>();
  for (const n of [...names, ...stacked]) {
    const d = parseDev(readText(join(sysBlock, n, 'dev')));
    if (d) held.add(devKey(d));
  }
  return {
    holders: [...stacked],
    mounts: readMounts().filter((m) => held.has(devKey(m.dev))),
    swaps: readSwapDevs()
      .filter((s) => held.has(devKey(s.dev)))
      .map((s) => s.path),
  };
}

/** Mount points whose loss would take the running system down with them. */
const systemMountPoints = ['/', '/boot', '/boot/efi', '/efi', '/usr', '/var', '/home'];

/**
 * Why this drive holds the running system, from several signals: a system mount point on
 * it (through any stack of dm/md devices), active swap on it. Empty when it does not.
 */
export function systemReasons(info: DriveInfo): string[] {
  if (info.kind !== 'block' || !info.disk) return [];
  const reasons: string[] = [];
  const diskKey = devKey(info.disk.dev);
  for (const m of readMounts()) {
    if (!systemMountPoints.includes(m.mountPoint)) continue;
    for (const low of lowerDevices(m.dev)) {
      const whole = wholeDisk(low);
      if (whole && devKey(whole.dev) === diskKey) {
        reasons.push(`it holds ${m.mountPoint}`);
        break;
      }
    }
  }
  if (info.swaps.length > 0) reasons.push(`it holds active swap (${info.swaps.join(', ')})`);
  return [...new Set(reasons)];
}

/** A one-line description for prompts and reports: "/dev/sdb (Samsung SSD, serial S3Z..., 465.76 GiB)", in the CLI's one unit of size. */
export function describe(info: DriveInfo): string {
  const parts = [info.model, info.serial ? `serial ${info.serial}` : undefined, formatBytes(info.size)].filter(Boolean);
  return `${info.path}${info.realPath !== resolve(info.path) ? ` -> ${info.realPath}` : ''} (${parts.join(', ')})`;
}
