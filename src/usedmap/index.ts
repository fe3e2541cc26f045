// Used-block maps: which file system a partition holds, the bytes it uses, and a whole drive's
// used bytes given its partitions (everything outside a recognised file system counts as used).
import { ExtentBuilder } from './bits.js';
import { extUsedMap, isExtSuperblock } from './ext.js';
import { fatUsedMap, isFatBootSector } from './fat.js';
import { isNtfsBootSector, ntfsUsedMap } from './ntfs.js';
import { OutsideError, defaultShape, readExact, subReader, type ReadShape } from './read.js';
import { probeSwap, swapUsedMap } from './swap.js';
import { CloneStationError } from '../errors.js';
import { FsInconsistentError, fsName, wholeMap, type MapOptions, type Reader, type UsedMap } from './types.js';

export type { FsType, MapOptions, Reader, UsedMap } from './types.js';
export { FsDirtyError, FsInconsistentError } from './types.js';
export { fileReader, subReader, type ReadShape } from './read.js';

/** The bytes read first: every superblock we know lies in them. */
const HEAD = 65536;

export type Detected = 'ext' | 'fat' | 'ntfs' | 'swap' | 'unknown' | 'ambiguous';

/** Which file system the first bytes of a partition announce. Two at once is ambiguous (as blkid says). */
export function detect(head: Buffer): Detected {
  const found: Detected[] = [];
  if (head.length >= 2048 && isExtSuperblock(head.subarray(1024, 2048))) found.push('ext');
  if (isNtfsBootSector(head)) found.push('ntfs');
  else if (isFatBootSector(head)) found.push('fat');
  if (probeSwap(head)) found.push('swap');
  if (found.length > 1) return 'ambiguous';
  return found[0] ?? 'unknown';
}

/**
 * The used map of one partition or unpartitioned drive of `size` bytes read through
 * `reader`. Throws FsDirtyError / FsInconsistentError (RefusedError, exit 4) when its file
 * system cannot be trusted; an unknown file system maps whole.
 */
export async function usedMap(reader: Reader, size: number, opts: MapOptions = {}, shape: ReadShape = defaultShape): Promise<UsedMap> {
  if (size <= 0) return wholeMap(0, 'empty');
  const head = await readExact(reader, size, 0, Math.min(HEAD, size));
  const kind = detect(head);
  try {
    return await mapKind(kind, reader, size, head, opts, shape);
  } catch (e) {
    if (e instanceof OutsideError) {
      throw new FsInconsistentError(`${fsName(kind, opts.where)} is damaged (it points outside itself: ${e.message})`, 'check it with its fsck', { fsType: kind });
    }
    throw e;
  }
}

function mapKind(kind: Detected, reader: Reader, size: number, head: Buffer, opts: MapOptions, shape: ReadShape): Promise<UsedMap> | UsedMap {
  switch (kind) {
    case 'ext':
      return extUsedMap(reader, size, head.subarray(1024, 2048), opts, shape);
    case 'fat':
      return fatUsedMap(reader, size, head, opts, shape);
    case 'ntfs':
      return ntfsUsedMap(reader, size, head, opts, shape);
    case 'swap':
      return swapUsedMap(size, head, probeSwap(head)!, opts);
    case 'ambiguous':
      return wholeMap(size, 'signatures of more than one file system: mapped whole');
    default:
      return wholeMap(size, 'no file system we map: mapped whole');
  }
}

/** A partition of a drive, in bytes (from the partition table). */
export interface PartitionSpan {
  start: number;
  size: number;
}

export interface DriveUsedMap {
  size: number;
  usedBytes: number;
  extentCount: number;
  /** Sorted, coalesced [offset, length, ...] relative to the drive's start. */
  flat: Float64Array;
  /** Each partition's own map (relative to the partition), in the order given; clipped to the drive. */
  partitions: { start: number; size: number; map: UsedMap }[];
}

/**
 * The used bytes of a whole drive: each partition mapped by its file system; the partition
 * table, the gaps between partitions, and whatever lies in no recognised file system count
 * as used. An unpartitioned drive is one partition [{ start: 0, size }]. A refusal names the
 * partition (opts.where is the drive's name).
 */
export async function driveUsedMap(reader: Reader, driveSize: number, partitions: readonly PartitionSpan[], opts: MapOptions = {}, shape: ReadShape = defaultShape): Promise<DriveUsedMap> {
  const maps: DriveUsedMap['partitions'] = [];
  for (const [i, p] of partitions.entries()) {
    if (!Number.isSafeInteger(p.start) || !Number.isSafeInteger(p.size) || p.start < 0 || p.size < 0) throw new RangeError(`partition ${i + 1}: bad span ${p.start}+${p.size}`);
    if (p.start >= driveSize || p.size === 0) continue;
    const size = Math.min(p.size, driveSize - p.start);
    const where = `${opts.where ?? 'the drive'} partition ${i + 1} (at byte ${p.start})`;
    try {
      maps.push({ start: p.start, size, map: await usedMap(subReader(reader, p.start), size, { where }, shape) });
    } catch (e) {
      if (e instanceof CloneStationError) Object.assign(e.details, { partition: i + 1, partitionStart: p.start });
      throw e;
    }
  }
  // Used = the bytes no partition covers, plus each partition's used bytes.
  const lists: Float64Array[] = [];
  const covered = [...maps].sort((a, b) => a.start - b.start);
  const gaps: number[] = [];
  let pos = 0;
  for (const m of covered) {
    if (m.start > pos) gaps.push(pos, m.start - pos);
    pos = Math.max(pos, m.start + m.size);
  }
  if (pos < driveSize) gaps.push(pos, driveSize - pos);
  lists.push(Float64Array.from(gaps));
  for (const m of maps) lists.push(m.map.flat.map((v, k) => (k % 2 === 0 ? v + m.start : v)));
  const out = union(lists);
  return { size: driveSize, usedBytes: out.usedBytes, extentCount: out.count, flat: out.flat(), partitions: maps };
}

/** The union of sorted flat extent lists. */
function union(lists: Float64Array[]): ExtentBuilder {
  const heads = lists.map(() => 0);
  const out = new ExtentBuilder();
  for (;;) {
    let best = -1;
    for (let i = 0; i < lists.length; i++) {
      if (heads[i]! < lists[i]!.length && (best < 0 || lists[i]![heads[i]!]! < lists[best]![heads[best]!]!)) best = i;
    }
    if (best < 0) return out;
    const h = heads[best]!;
    out.add(lists[best]![h]!, lists[best]![h + 1]!);
    heads[best] = h + 2;
  }
}

/** The used extents of a map as objects (small maps, tests, reports). */
export function extentsOf(map: { flat: Float64Array }): { offset: number; length: number }[] {
  const out: { offset: number; length: number }[] = [];
  for (let i = 0; i < map.flat.length; i += 2) out.push({ offset: map.flat[i]!, length: map.flat[i + 1]! });
  return out;
}

