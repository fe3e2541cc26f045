// The checks that stand between a typo and a wiped drive. Each refusal has its own code,
// and all of them run before anything is opened for writing.
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { RefusedError } from './errors.js';
import { devKey, systemReasons, type DriveInfo } from './drive.js';
import { formatBytes } from './units.js';

/** What the job will write on a target: `length` bytes from `offset`. */
export interface WritePlan {
  offset: number;
  length: number;
}

/** Refuses a source and target that are the same drive, through any path or partition. */
export function checkDistinct(source: DriveInfo, target: DriveInfo | undefined, targetPath: string): void {
  if (!target) return;
  const same = (why: string): RefusedError =>
    new RefusedError('SAME_DRIVE', `source ${source.path} and target ${targetPath} are the same drive (${why}): choose a different target`, {
      source: source.realPath,
      target: target.realPath,
    });
  if (source.kind === 'file' && target.kind === 'file') {
    if (devKey(source.dev) === devKey(target.dev) && source.ino === target.ino) throw same('the same file');
    return;
  }
  if (source.kind === 'block' && target.kind === 'block') {
    if (devKey(source.dev) === devKey(target.dev)) throw same('the same device');
    if (source.disk && target.disk && devKey(source.disk.dev) === devKey(target.disk.dev))
      throw same(`both on disk ${target.disk.path}`);
    return;
  }
  // A loop device and the file behind it are one drive under two names.
  const loop = source.kind === 'block' ? source : target;
  const file = source.kind === 'file' ? source : target;
  if (loop.loopBackingFile && loop.loopBackingFile.replace(/ \(deleted\)$/, '') === file.realPath)
    throw same(`${loop.path} is a loop device over ${file.realPath}`);
}

/** Refuses a target that holds the running system, or is mounted, swapped on or held. */
export function checkTargetFree(target: DriveInfo | undefined): void {
  if (!target || target.kind !== 'block') return;
  const sys = systemReasons(target);
  if (sys.length > 0)
    throw new RefusedError('SYSTEM_DRIVE', `target ${target.path} holds the running system (${sys.join('; ')}): choose another target`, {
      target: target.realPath,
      reasons: sys,
    });
  if (target.mounts.length > 0) {
    const where = target.mounts.map((m) => m.mountPoint).join(', ');
    throw new RefusedError('TARGET_MOUNTED', `target ${target.path} is mounted at ${where}: unmount it first (umount ${target.mounts[0].mountPoint})`, {
      target: target.realPath,
      mountPoints: target.mounts.map((m) => m.mountPoint),
    });
  }
  if (target.swaps.length > 0)
    throw new RefusedError('TARGET_MOUNTED', `target ${target.path} holds active swap: swapoff ${target.swaps[0]} first`, { target: target.realPath });
  if (target.holders.length > 0)
    throw new RefusedError('TARGET_MOUNTED', `target ${target.path} is in use by ${target.holders.join(', ')} (device-mapper, RAID or LVM): stop those first`, {
      target: target.realPath,
      holders: target.holders,
    });
}

/**
 * Refuses a target that cannot hold what must be written: a block device smaller than
 * offset + length, or a file system without room for a new or growing image file.
 */
export function checkTargetSize(target: DriveInfo | undefined, targetPath: string, plan: WritePlan): void {
  const end = plan.offset + plan.length;
  if (target?.kind === 'block') {
    if (end > target.size)
      throw new RefusedError(
        'TARGET_TOO_SMALL',
        `target ${targetPath} is ${formatBytes(target.size)} but ${formatBytes(end)} must fit (${plan.length} bytes at offset ${plan.offset}): choose a larger target or pass --length`,
        { targetSize: target.size, needed: end },
      );
    return;
  }
  const existing = target?.size ?? 0;
  const growth = Math.max(0, end - existing);
  if (growth === 0) return;
  const fs = statfsSync(target ? target.realPath : dirname(targetPath));
  const free = fs.bavail * fs.bsize;
  if (growth > free)
    throw new RefusedError(
      'TARGET_TOO_SMALL',
      `the file system holding ${targetPath} has ${formatBytes(free)} free but the image needs ${formatBytes(growth)} more: free space or choose another folder`,
      { free, needed: growth },
    );
}

/**
 * A source that is mounted can change while it is read: the copy is then of no single
 * moment. Not a refusal (backing up a running system is common), but worth saying.
 */
export function mountedSourceNote(source: DriveInfo): string | undefined {
  if (source.kind !== 'block' || source.mounts.length === 0) return undefined;
  const where = source.mounts.map((m) => m.mountPoint).join(', ');
  return `note: source ${source.path} is mounted (${where}): files that change while it is read make an inconsistent copy; unmount it or remount it read-only for a faithful one`;
}
