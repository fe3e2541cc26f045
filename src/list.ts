// `clonestation list`: the drives the station sees, with what an operator must know before
// choosing a target: identity, size, sectors, transport, and whether it is in use.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { inspectDrive, systemReasons, type DriveInfo } from './drive.js';
import { formatBytes } from './units.js';
import type { DescribedTable } from './partition/describe.js';

export interface ListedDrive extends DriveInfo {
  system: boolean;
  systemReasons: string[];
  /** mounted, swapped on, or held by dm/md/LVM */
  inUse: boolean;
  kernelName: string;
  /** its partition table, with each partition's file system (issue 15) */
  table?: DescribedTable;
  /** why the table could not be read (a damaged GPT, a read error) */
  tableError?: string;
}

export interface ListOptions {
  /** include attached loop devices */
  loops?: boolean;
  /** include empty devices (size 0) and RAM disks */
  all?: boolean;
}

function sysText(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whole disks from /sys/block, each inspected as a would-be target. */
export function listDrives(o: ListOptions = {}): ListedDrive[] {
  const out: ListedDrive[] = [];
  for (const name of readdirSync('/sys/block').sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
    const isLoop = name.startsWith('loop');
    if (isLoop && !o.loops) continue;
    if (isLoop && !existsSync(`/sys/block/${name}/loop/backing_file`)) continue; // not attached
    if (!o.all && (/^(ram|zram)\d+$/.test(name) || Number(sysText(`/sys/block/${name}/size`) ?? 0) === 0)) continue;
    const path = `/dev/${name}`;
    if (!existsSync(path)) continue;
    let info: DriveInfo;
    try {
      info = inspectDrive(path, 'target');
    } catch {
      continue; // vanished between the listing and the look
    }
    const reasons = systemReasons(info);
    out.push({
      ...info,
      kernelName: name,
      system: reasons.length > 0,
      systemReasons: reasons,
      inUse: info.mounts.length > 0 || info.swaps.length > 0 || info.holders.length > 0,
    });
  }
  return out;
}

function state(d: ListedDrive): string {
  if (d.system) return 'SYSTEM';
  if (d.inUse) return 'in use';
  if (d.readOnly) return 'read-only';
  return 'free';
}

/** A table for people: one row a drive, the state first thing an operator checks. */
export function driveTable(drives: ListedDrive[]): string[] {
  const rows = [['PATH', 'SIZE', 'STATE', 'MODEL', 'SERIAL', 'TRAN', 'SECTOR', 'ROTA', 'RM', 'PARTS', 'MOUNTED AT / NOTES']];
  for (const d of drives) {
    const notes = [
      ...d.mounts.map((m) => m.mountPoint),
      ...d.swaps.map((s) => `swap ${s}`),
      ...d.holders.map((h) => `held by ${h}`),
      ...(d.loopBackingFile ? [`loop over ${d.loopBackingFile}`] : []),
    ];
    rows.push([
      d.path,
      formatBytes(d.size),
      state(d),
      d.model ?? '-',
      d.serial ?? '-',
      d.transport ?? '-',
      d.logicalSectorSize === d.physicalSectorSize ? String(d.logicalSectorSize) : `${d.logicalSectorSize}/${d.physicalSectorSize}`,
      d.rotational ? 'yes' : 'no',
      d.removable ? 'yes' : 'no',
      String(d.partitions.length),
      notes.join(', ') || '-',
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 1 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd());
}

/** Reads each drive's partition table (read-only); a table that cannot be read is said, not fatal. */
export async function addTables(drives: ListedDrive[]): Promise<void> {
  const { describeDrive } = await import('./partition/describe.js');
  for (const d of drives) {
    try {
      d.table = await describeDrive(d);
    } catch (e) {
      d.tableError = e instanceof Error ? e.message : String(e);
    }
  }
}

/** Each drive's table under its path, for people. */
export async function tableSections(drives: ListedDrive[]): Promise<string[]> {
  const { tableLines } = await import('./partition/describe.js');
  const out: string[] = [];
  for (const d of drives) {
    if (d.table?.scheme === 'none' && d.partitions.length === 0) continue;
    out.push('', `${d.path}:`);
    if (d.table) out.push(...tableLines(d.table, '  '));
    else out.push(`  partition table unreadable: ${d.tableError ?? 'unknown'}`);
  }
  return out;
}
