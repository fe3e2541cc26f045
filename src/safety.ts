// The checks that stand between a typo and a wiped drive. Each refusal has its own code,
// and all of them run before anything is opened for writing.
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { RefusedError } from './errors.js';
import { devKey, diskUse, systemReasons, type DriveInfo } from './drive.js';
import { claimedExclusively, describeIdentity, identityOf, loopsOver, sameDrive } from './identity.js';
import { formatBytes } from './units.js';

/** What the job will write on a target: `length` bytes from `offset`. */
export interface WritePlan {
  offset: number;
  length: number;
}

/**
 * Refuses a source and target that are the same drive under any names: their identities
 * (base object and byte range, see identity.ts) share a byte. Two windows of one file or
 * disk that do not overlap (two partitions, two offset loops) are distinct drives.
 */
export function checkDistinct(source: DriveInfo, target: DriveInfo | undefined, targetPath: string): void {
  if (!target) return;
  const a = identityOf(source);
  const b = identityOf(target);
  if (!sameDrive(a, b)) return;
  const why =
    source.kind === 'file' && target.kind === 'file'
      ? 'the same file'
      : source.kind === 'block' && target.kind === 'block' && devKey(source.dev) === devKey(target.dev)
        ? 'the same device'
        : `${describeIdentity(a)}; ${describeIdentity(b)}`;
  throw new RefusedError('SAME_DRIVE', `source ${source.path} and target ${targetPath} are the same drive (${why}): choose a different target`, {
    source: source.realPath,
    target: target.realPath,
    sourceIdentity: { base: a.base, start: a.start, end: a.end === Infinity ? null : a.end },
    targetIdentity: { base: b.base, start: b.start, end: b.end === Infinity ? null : b.end },
  });
}

/**
 * Refuses a target that holds the running system, or is mounted, swapped on or held; and a
 * target (file or device) that shares bytes with a loop device that is: writing the file
 * behind a mounted loop destroys that file system just as writing the device would.
 */
export function checkTargetFree(target: DriveInfo | undefined): void {
  if (!target) return;
  if (target.kind === 'block') checkBlockFree(target);
  checkLoopsFree(target);
}

function checkBlockFree(target: DriveInfo): void {
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
 * Every loop device whose bytes overlap the target's (over the target file, over the same
 * file through a hard link, over the target device, stacked, at overlapping offsets) must be
 * free: not mounted, swapped on or held, and not claimed exclusively by another program. The
 * target device itself is left to the checks above and to the engine's exclusive open.
 */
function checkLoopsFree(target: DriveInfo): void {
  const id = identityOf(target);
  for (const loop of loopsOver(id, target.kind === 'block' ? target.dev : undefined)) {
    const dev = `/dev/${loop.name}`;
    const shares = `target ${target.path} shares its bytes with loop device ${dev} (${describeIdentity(loop.identity)})`;
    const details = { target: target.realPath, loop: dev };
    const use = diskUse(loop.name);
    if (use.mounts.length > 0) {
      const m = use.mounts[0];
      throw new RefusedError('TARGET_MOUNTED', `${shares}, which is mounted at ${use.mounts.map((x) => x.mountPoint).join(', ')}: unmount it and detach the loop first (umount ${m.mountPoint}; losetup -d ${dev})`, {
        ...details,
        mountPoints: use.mounts.map((x) => x.mountPoint),
      });
    }
    if (use.swaps.length > 0)
      throw new RefusedError('TARGET_MOUNTED', `${shares}, which holds active swap: swapoff ${use.swaps[0]} and losetup -d ${dev} first`, details);
    if (use.holders.length > 0)
      throw new RefusedError('TARGET_MOUNTED', `${shares}, which is in use by ${use.holders.join(', ')} (device-mapper, RAID or LVM): stop those and losetup -d ${dev} first`, {
        ...details,
        holders: use.holders,
      });
    if (loop.node && claimed(loop.node))
      throw new RefusedError('TARGET_MOUNTED', `${shares}, which another program holds open exclusively (fuser -v ${loop.node} shows which): stop it, then losetup -d ${dev}`, details);
  }
}

/** An exclusive claim we cannot test (no permission, the loop went away) does not refuse. */
function claimed(node: string): boolean {
  try {
    return claimedExclusively(node);
  } catch {
    return false;
  }
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
