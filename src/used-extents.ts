// A drive's used extents for a --used-only job: its partition table, each partition's file
// system (src/usedmap), clipped to the job's range, aligned for O_DIRECT and made coarse
// enough for the engine and the manifest. Everything outside a recognised file system is used.
import { open } from 'node:fs/promises';
import { CloneStationError, IoError, openError } from './errors.js';
import type { Extent } from './extent.js';
import { readTableOf, type TableSource } from './partition/open.js';
import { driveUsedMap, fileReader, type PartitionSpan } from './usedmap/index.js';
import type { FsType } from './usedmap/types.js';

import { MAX_USED_EXTENTS } from './usedmap/types.js';

export { MAX_USED_EXTENTS };
/** Free gaps shorter than this are read too (one read instead of two): they count as used. */
export const DEFAULT_MIN_GAP = 64 * 1024;

export interface UsedExtents {
  /** sorted, non-overlapping, coalesced, relative to the range's start */
  extents: Extent[];
  usedBytes: number;
  /** the range's length */
  length: number;
  /** what each partition holds: for notes and reports */
  partitions: { start: number; size: number; fsType: FsType; usedBytes: number; note?: string }[];
  /** "the partition table could not be read: mapped as one unpartitioned drive", ... */
  notes: string[];
}

/**
 * The used extents of `src` inside `range` (source offsets), relative to range.offset.
 * Throws FsDirtyError / FsInconsistentError (FS_DIRTY, FS_INCONSISTENT: exit 4, nothing written)
 * for a file system that cannot be trusted. `align`: extents are widened to multiples of it
 * (relative to the drive's start; the range's start must be a multiple of it).
 */
export async function usedExtentsOf(src: TableSource, range: Extent, opts: { align: number; minGap?: number }): Promise<UsedExtents> {
  const notes: string[] = [];
  let spans: PartitionSpan[] = [{ start: 0, size: src.size }];
  try {
    const table = await readTableOf(src);
    if (table.scheme !== 'none') spans = table.partitions.filter((p) => p.kind !== 'extended').map((p) => ({ start: p.start, size: p.size }));
  } catch (e) {
    notes.push(`the partition table of ${src.path} could not be read (${(e as Error).message}): it is mapped as one unpartitioned drive`);
  }
  let handle;
  try {
    handle = await open(src.path, 'r');
  } catch (e) {
    throw openError(e, 'source', src.path);
  }
  let map;
  try {
    map = await driveUsedMap(fileReader(handle), src.size, spans, { where: src.path });
  } catch (e) {
    if (e instanceof CloneStationError) throw e;
    // a failing drive that cannot give up its file systems' own maps
    const code = (e as { code?: string }).code;
    throw new IoError('USED_MAP_READ_FAILED', `reading the file systems' maps on ${src.path} failed (${code ?? (e as Error).message}): copy it whole (without --used-only)${code === 'EIO' ? ', or rescue it whole' : ''}`, { path: src.path, errno: code });
  } finally {
    await handle.close();
  }
  const extents = shapeExtents(map.flat, range, opts.align, opts.minGap ?? DEFAULT_MIN_GAP);
  return {
    extents,
    usedBytes: extents.reduce((n, e) => n + e.length, 0),
    length: range.length,
    partitions: map.partitions.map((p) => ({ start: p.start, size: p.size, fsType: p.map.fsType, usedBytes: p.map.usedBytes, ...(p.map.note ? { note: p.map.note } : {}) })),
    notes,
  };
}

/**
 * Drive-relative flat extents → range-relative extents: clipped to the range, widened to
 * `align` (as the drive sees it), gaps below `minGap` closed, at most MAX_USED_EXTENTS.
 */
export function shapeExtents(flat: Float64Array | readonly number[], range: Extent, align: number, minGap: number): Extent[] {
  const end = range.offset + range.length;
  let out: Extent[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    let s = flat[i]!;
    let e = s + flat[i + 1]!;
    s = Math.max(range.offset, Math.floor(s / align) * align);
    e = Math.min(end, Math.ceil(e / align) * align);
    if (e <= s) continue;
    const last = out[out.length - 1];
    if (last && s - (last.offset + last.length) < Math.max(minGap, 1)) last.length = Math.max(last.length, e - last.offset);
    else out.push({ offset: s, length: e - s });
  }
  // too many: close ever larger gaps
  for (let gap = Math.max(minGap, 4096) * 2; out.length > MAX_USED_EXTENTS; gap *= 2) out = closeGaps(out, gap);
  return out.map((x) => ({ offset: x.offset - range.offset, length: x.length }));
}

/** Sorted extents with every gap shorter than `gap` closed. */
export function closeGaps(list: readonly Extent[], gap: number): Extent[] {
  const out: Extent[] = [];
  for (const x of list) {
    const last = out[out.length - 1];
    if (last && x.offset - (last.offset + last.length) < gap) last.length = Math.max(last.length, x.offset + x.length - last.offset);
    else out.push({ ...x });
  }
  return out;
}

