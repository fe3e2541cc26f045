// Reads the partition table of a drive or a raw image file by path (read-only, no claim).

import { closeSync, openSync } from 'node:fs';
import { openError } from '../errors.js';
import { fdReader } from './io.js';
import type { PartitionTable } from './model.js';
import { probeGptSectorSize, readPartitionTable } from './read.js';

export interface TableSource {
  path: string;
  kind: 'block' | 'file';
  /** bytes (a block device's size comes from the drive probe, not stat) */
  size: number;
  /** the kernel's logical sector size of a block device */
  logicalSectorSize: number;
}

/**
 * The table of a drive (at its logical sector size) or of a raw image file: an image has no
 * sector size of its own, so a GPT decides it, else `imageSectorSize` (the manifest's record of
 * the source drive), else 512.
 */
export async function readTableOf(src: TableSource, imageSectorSize?: number): Promise<PartitionTable> {
  let fd: number;
  try {
    fd = openSync(src.path, 'r');
  } catch (e) {
    throw openError(e, 'source', src.path);
  }
  try {
    const read = fdReader(fd);
    const sectorSize = src.kind === 'block' ? src.logicalSectorSize : ((await probeGptSectorSize(read, src.size)) ?? imageSectorSize ?? 512);
    return await readPartitionTable(read, { sectorSize, diskSize: src.size });
  } finally {
    closeSync(fd);
  }
}
