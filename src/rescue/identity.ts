// Recognising a drive that came back: by serial, WWN or by-id name (never by /dev/sdX,
// which the kernel hands out again in any order), by the file behind a loop device, and
// then by content: a sector already rescued must read back the same.
import { readdirSync, existsSync } from 'node:fs';
import { inspectDrive, type DriveInfo } from '../drive.js';

export interface DriveIdentity {
  serial?: string;
  wwn?: string;
  byId: string[];
  loopBackingFile?: string;
  size: number;
}

export function identityOf(d: DriveInfo): DriveIdentity {
  return { serial: d.serial, wwn: d.wwn, byId: d.byId, loopBackingFile: d.loopBackingFile, size: d.size };
}

export function describeIdentity(id: DriveIdentity): string {
  if (id.serial) return `serial ${id.serial}`;
  if (id.wwn) return `WWN ${id.wwn}`;
  if (id.byId[0]) return id.byId[0];
  if (id.loopBackingFile) return `loop over ${id.loopBackingFile}`;
  return 'no identity (no serial, WWN or by-id name)';
}

export function hasIdentity(id: DriveIdentity): boolean {
  return Boolean(id.serial || id.wwn || id.byId.length > 0 || id.loopBackingFile);
}

function matches(want: DriveIdentity, got: DriveInfo): boolean {
  if (got.size !== want.size) return false;
  if (want.serial && got.serial === want.serial) return true;
  if (want.wwn && got.wwn === want.wwn) return true;
  if (want.byId.some((l) => got.byId.includes(l))) return true;
  return Boolean(want.loopBackingFile && got.loopBackingFile?.replace(/ \(deleted\)$/, '') === want.loopBackingFile);
}

/** Whole-disk block devices that carry this identity, as /dev paths. */
export function findByIdentity(want: DriveIdentity): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/sys/class/block')) {
    if (existsSync(`/sys/class/block/${name}/partition`)) continue;
    const path = `/dev/${name}`;
    if (!existsSync(path)) continue;
    try {
      if (matches(want, inspectDrive(path, 'source'))) out.push(path);
    } catch {
      // a node we cannot inspect is not the one we want
    }
  }
  return out;
}
