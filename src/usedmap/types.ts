// The shapes of used-block maps: the reader they read through, the map they return, and their errors.

/**
 * Reads `length` bytes at `offset` of one partition or drive. It returns exactly `length`
 * bytes or throws (a short read is an error). Offsets are relative to what it reads.
 */
export type Reader = (offset: number, length: number) => Promise<Buffer>;

/** The file systems we map. Anything else is `unknown`: every byte of it counts as used. */
export type FsType = 'ext2' | 'ext3' | 'ext4' | 'fat12' | 'fat16' | 'fat32' | 'ntfs' | 'swap' | 'unknown';

/**
 * The bytes a file system uses, relative to its start. `flat` holds sorted, non-overlapping,
 * coalesced extents as [offset0, length0, offset1, length1, ...] (the engine's flat form).
 * Everything in [0, size) not listed is free; bytes beyond the file system's own end (the
 * rest of its partition) are listed as used.
 */
export interface UsedMap {
  fsType: FsType;
  /** The allocation unit the map is made of (ext block or cluster, FAT/NTFS cluster, swap page); 512 for unknown. */
  blockSize: number;
  /** The bytes mapped: the size of the partition or drive given (not the file system's own size). */
  size: number;
  /** The file system's own size in bytes (<= size); equal to size for unknown. */
  fsSize: number;
  usedBytes: number;
  extentCount: number;
  flat: Float64Array;
  label?: string;
  uuid?: string;
  /** Why a whole range counts as used (an unknown file system, an unsupported feature). */
  note?: string;
}

/** What the caller calls the thing being mapped, for error messages (e.g. "/dev/sdb2"). */
export interface MapOptions {
  where?: string;
}

export { FsDirtyError, FsInconsistentError } from '../errors.js';

/** "the ext4 file system on /dev/sdb2" or "the ext4 file system". */
export function fsName(type: string, where: string | undefined): string {
  return where ? `the ${type} file system on ${where}` : `the ${type} file system`;
}

/** A map that counts every byte of `size` as used, saying why. */
export function wholeMap(size: number, note: string, fsType: FsType = 'unknown'): UsedMap {
  return { fsType, blockSize: 512, size, fsSize: size, usedBytes: size, extentCount: size > 0 ? 1 : 0, flat: size > 0 ? Float64Array.of(0, size) : new Float64Array(0), note };
}

/** The most extents a used-only image's manifest lists (src/used-extents.ts merges gaps beyond it). */
export const MAX_USED_EXTENTS = 1_000_000;
