// The partition options clone and restore share: a whole-disk copy's table on a target of another size.
import { defineOptions } from '../command.js';

/** --grow-last, --grow-fs, --fit: a whole-disk copy's partition table on a target of another size (clone, restore). */
export const wholeDiskOptions = defineOptions({
  'grow-last': { type: 'boolean', group: 'Partitions', help: 'whole-disk copy to a larger drive: grow the last partition (GPT or MBR) to its end, keeping type, GUID, name and attributes (by default only the backup GPT moves to the end)' },
  'grow-fs': { type: 'boolean', group: 'Partitions', help: 'with --grow-last: then grow the ext2/3/4 file system in it (e2fsck -fy, resize2fs)' },
  fit: { type: 'boolean', group: 'Partitions', help: 'whole-disk copy to a smaller drive: copy up to the end of the last partition and write the table for the smaller size (refused when a partition does not fit)' },
});

export function readWholeDisk(v: { 'grow-last'?: boolean; 'grow-fs'?: boolean; fit?: boolean }): { growLast?: boolean; growFs?: boolean; fit?: boolean } {
  return { ...(v['grow-last'] ? { growLast: true } : {}), ...(v['grow-fs'] ? { growFs: true } : {}), ...(v.fit ? { fit: true } : {}) };
}
