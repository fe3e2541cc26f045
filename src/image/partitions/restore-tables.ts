// A whole-image restore's partition-table plan: the image's table read without restoring it,
// fitted to the target drive's size (the backup GPT moved, --grow-last, --grow-fs, --fit).
import type { DriveInfo } from '../../drive.js';
import { RefusedError } from '../../errors.js';
import type { ResolvedImage } from '../open.js';
import { openImageReader, readImageTable } from './image-reader.js';
import { checkWholeDiskOptions, partitionOptionsGiven, planWholeDisk, type WholeDiskOptions, type WholeDiskPlan } from '../../partition/whole-disk.js';

/** undefined: a plain restore (a range, a file target, a drive of the image's size, no partition option). */
export async function planRestoreTables(
  o: WholeDiskOptions & { offset?: string; length?: string; targetOffset?: string },
  image: ResolvedImage,
  target: DriveInfo | undefined,
): Promise<WholeDiskPlan | undefined> {
  const ranged = Boolean(o.offset || o.length || o.targetOffset) || (image.manifest !== undefined && image.manifest.range.offset !== 0);
  checkWholeDiskOptions(o, ranged);
  const asked = partitionOptionsGiven(o);
  if (ranged) return undefined;
  if (target?.kind !== 'block') {
    if (asked) throw new RefusedError('PARTITION_OPTION_FILE', '--grow-last, --grow-fs and --fit adjust a drive of another size, and the target is an image file: leave them out', {});
    return undefined;
  }
  if (!asked && target.size === image.size) return undefined;
  if (image.format !== 'raw' && image.format !== 'zip' && image.format !== 'zstd') {
    if (asked || target.size < image.size) throw new RefusedError('PARTITION_IMAGE_FORMAT', `the partition table inside a ${image.format} image cannot be read yet: restore it to a drive of its size, without --grow-last or --fit`, {});
    return undefined;
  }
  const r = await openImageReader(image);
  try {
    const table = await readImageTable(image, r.reader);
    return await planWholeDisk(table, r.reader, target.size, target.logicalSectorSize, o, target.path, r.far);
  } finally {
    r.close();
  }
}
