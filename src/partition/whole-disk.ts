// Decides what a whole-disk copy (clone, restore) does about the partition table on a target of
// another size: how much to copy, the sector writes after it, a file system to grow, the notes.
import { CloneStationError, InternalError, PartitionTableError, RefusedError, UsageError } from '../errors.js';
import { planAdjust } from './adjust.js';
import { toWire, type TargetAdjust } from './apply.js';
import { overlayReader } from './io.js';
import type { PartitionTable, Reader } from './model.js';
import { readPartitionTable } from './read.js';

/** The partition options of a whole-disk clone or restore. */
export interface WholeDiskOptions {
  /** grow the last partition to fill a larger target */
  growLast?: boolean;
  /** then grow the ext2/3/4 file system in it (e2fsck -fy, resize2fs) */
  growFs?: boolean;
  /** allow a smaller target when every partition ends inside it */
  fit?: boolean;
}

export function partitionOptionsGiven(o: WholeDiskOptions): boolean {
  return Boolean(o.growLast || o.growFs || o.fit);
}

/** --grow-last, --grow-fs and --fit act on a whole disk: refused with a range. */
export function checkWholeDiskOptions(o: WholeDiskOptions, ranged: boolean): void {
  if (o.growFs && !o.growLast) throw new UsageError('--grow-fs grows the file system of the partition --grow-last grows: give --grow-last too', 'GROW_FS_NEEDS_GROW_LAST');
  if (ranged && partitionOptionsGiven(o)) throw new UsageError('--grow-last, --grow-fs and --fit adjust the partition table of a whole-disk copy: leave out --offset, --length and --target-offset', 'PARTITION_OPTION_RANGE');
}

export interface WholeDiskPlan {
  /** bytes of the source to copy (from offset 0) */
  copyLength: number;
  /** the target's adjustment; null when it needs none */
  adjust: TargetAdjust | null;
}

/** Is this ext2/3/4? (the superblock magic 0xEF53 at byte 1024 + 56) */
function isExt(head: Buffer): boolean {
  return head.length >= 1024 + 58 && head.readUInt16LE(1024 + 56) === 0xef53;
}

/**
 * What a copy of the disk whose table is `table` (read through `source`) needs on a target of
 * `targetSize` bytes. A larger target gets its GPT moved to the end by default; a smaller one
 * needs `fit` (else TARGET_TOO_SMALL naming the partition). Without any partition option, a
 * table that cannot be rewritten on a larger target is copied unchanged and said so. The plan is
 * parsed back through an overlay before it is accepted: what we would write must read clean.
 * `far` reads the grown partition's superblock when `source` has only the image's head (a ZIP).
 */
export async function planWholeDisk(table: PartitionTable, source: Reader, targetSize: number, targetSectorSize: number | undefined, o: WholeDiskOptions, targetName: string, far: Reader = source): Promise<WholeDiskPlan> {
  const asked = partitionOptionsGiven(o);
  if (!asked && targetSize === table.diskSize) return { copyLength: table.diskSize, adjust: null };
  let plan;
  try {
    plan = planAdjust(table, { targetSize, targetSectorSize, growLast: o.growLast, fit: o.fit });
  } catch (e) {
    const keep = !asked && targetSize > table.diskSize && e instanceof CloneStationError && (e instanceof PartitionTableError || e.code === 'SECTOR_SIZE_MISMATCH');
    if (!keep) throw e;
    return { copyLength: table.diskSize, adjust: { writes: [], notes: [`the partition table was copied unchanged to ${targetName}: ${e.message}`] } };
  }
  if (plan.writes.length > 0) {
    const after = await readPartitionTable(overlayReader(source, plan.copyLength, plan.writes, targetSize), { sectorSize: table.sectorSize, diskSize: targetSize });
    if (after.problems.length > 0 || after.partitions.length !== table.partitions.length) {
      throw new InternalError(`partition plan for ${targetName} would leave problems: ${after.problems.map((p) => p.message).join('; ') || 'partitions lost'}`);
    }
  }
  const adjust: TargetAdjust = { writes: toWire(plan.writes), notes: [...plan.notes] };
  if (o.growFs && plan.grown) {
    const ss = table.sectorSize;
    const offset = plan.grown.firstLba * ss;
    const head = await far(offset, 2048);
    if (!isExt(head)) throw new RefusedError('FS_NOT_GROWABLE', `--grow-fs grows ext2/3/4 only, and partition ${plan.grown.number} holds another file system (or none): leave out --grow-fs and grow it with its own tool`, { partition: plan.grown.number });
    adjust.growFs = { number: plan.grown.number, offset, length: (plan.grown.newLastLba - plan.grown.firstLba + 1) * ss };
  }
  if (adjust.writes.length === 0 && adjust.notes.length === 0 && !adjust.growFs) return { copyLength: plan.copyLength, adjust: null };
  return { copyLength: plan.copyLength, adjust };
}
