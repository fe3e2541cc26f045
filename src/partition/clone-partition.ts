// `clone SRC TARGET --partition N`: partition N of the source as a ranged clone, landing in the
// target's own partition N (a drive or image with a table), or at the start of a partition node or file.
import { existsSync } from 'node:fs';
import { inspectDrive } from '../drive.js';
import type { RangeText } from '../engine.js';
import { readTableOf } from './open.js';
import { findPartition, partitionDestination } from './select.js';

export async function clonePartitionRange(sourcePath: string, targetPath: string, n: number): Promise<{ range: RangeText; note: string }> {
  const source = inspectDrive(sourcePath, 'source');
  const p = findPartition(await readTableOf(source), n, `source ${sourcePath}`);
  const target = existsSync(targetPath) ? inspectDrive(targetPath, 'target') : undefined;
  const dest = await partitionDestination(target, targetPath, n, p.size, false);
  return { range: { offset: String(p.start), length: String(p.size), targetOffset: String(dest.offset) }, note: `${dest.note}; nothing else on it is written` };
}
