// `image info IMAGE`: the partition table inside a backup image (raw, split, ZIP) and each
// partition's file system, read without restoring it.
import { arraySectors } from '../../partition/gpt.js';
import { describeTable, type DescribedTable } from '../../partition/describe.js';
import { FS_HEAD } from '../../partition/fs-probe.js';
import { gatherZip, openImageReader, readImageTable } from './image-reader.js';
import { resolveImage } from '../open.js';

export interface ImageInfo {
  image: string;
  format: string;
  parts: number;
  size: number;
  /** the manifest's record: complete, the source, partition (an image of one partition) */
  complete?: boolean;
  source?: string;
  partition?: number;
  table: DescribedTable;
  notes: string[];
}

export async function imageInfo(path: string, force?: boolean): Promise<ImageInfo> {
  const image = await resolveImage(path, { force: force ?? true });
  const r = await openImageReader(image);
  try {
    let table = await readImageTable(image, r.reader);
    let reader = r.reader;
    if (!r.whole) {
      // a ZIP: one inflate pass for every partition's superblock and the backup GPT at the end
      const ranges = table.partitions.map((p) => ({ offset: p.start, length: Math.min(FS_HEAD, p.size) }));
      const h = table.gpt?.primary;
      if (h) {
        const tail = (arraySectors(h.entryCount, h.entrySize, table.sectorSize) + 1) * table.sectorSize;
        ranges.push({ offset: Math.max(0, (h.alternateLba + 1) * table.sectorSize - tail), length: tail });
        ranges.push({ offset: image.size - tail, length: tail });
      }
      reader = await gatherZip(image, ranges, r.reader);
      table = await readImageTable(image, reader);
    }
    const notes = [...image.notes];
    if (image.manifest?.partition !== undefined) notes.push(`the image holds partition ${image.manifest.partition} of ${image.manifest.source.path}, not a whole disk`);
    return {
      image: image.name,
      format: image.format,
      parts: image.parts.length,
      size: image.size,
      complete: image.manifest?.complete,
      source: image.manifest ? `${image.manifest.source.path}${image.manifest.source.model ? ` (${image.manifest.source.model}${image.manifest.source.serial ? `, serial ${image.manifest.source.serial}` : ''})` : ''}` : undefined,
      partition: image.manifest?.partition,
      table: await describeTable(table, reader),
      notes,
    };
  } finally {
    r.close();
  }
}
