// GPT headers and entry arrays: validation of untrusted bytes, decoding, and re-encoding with CRCs.

import { crc32, gptTypeName, readGuid, ZERO_GUID } from './guid.js';
import type { GptHeader, Partition } from './model.js';

export const GPT_SIGNATURE = 'EFI PART';
export const MIN_ENTRY_SIZE = 128;
export const MAX_ENTRY_SIZE = 4096;
export const MAX_ENTRIES = 16384;
/** The largest entry array we read: 16384 entries of 128 bytes is 2 MiB; a larger one is not a real table. */
export const MAX_ARRAY_BYTES = 4 << 20;

/** Sectors an array of `count` entries of `size` bytes takes. */
export function arraySectors(count: number, size: number, sectorSize: number): number {
  return Math.ceil((count * size) / sectorSize);
}

function u64(buf: Buffer, o: number): number | null {
  const v = buf.readBigUInt64LE(o);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
}

export type HeaderCheck = { ok: true; header: GptHeader } | { ok: false; why: string };

/**
 * Decodes and checks a GPT header (the primary or the backup) read at `lba` of a disk of `diskSectors` sectors: its
 * signature, size, CRC, its own LBA, usable range and array placement, and the entry size
 * and count limits. Every field is untrusted.
 */
export function decodeHeader(sector: Buffer, lba: number, role: 'primary' | 'backup', sectorSize: number, diskSectors: number): HeaderCheck {
  const bad = (why: string): HeaderCheck => ({ ok: false, why });
  if (sector.toString('latin1', 0, 8) !== GPT_SIGNATURE) return bad('no "EFI PART" signature');
  const headerSize = sector.readUInt32LE(12);
  if (headerSize < 92 || headerSize > sectorSize) return bad(`header size ${headerSize} is outside 92..${sectorSize}`);
  const stored = sector.readUInt32LE(16);
  const copy = Buffer.from(sector.subarray(0, headerSize));
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) !== stored) return bad('header CRC mismatch');
  const myLba = u64(sector, 24);
  const alternateLba = u64(sector, 32);
  const firstUsableLba = u64(sector, 40);
  const lastUsableLba = u64(sector, 48);
  const entriesLba = u64(sector, 72);
  if (myLba === null || alternateLba === null || firstUsableLba === null || lastUsableLba === null || entriesLba === null) return bad('an LBA is out of range');
  if (myLba !== lba) return bad(`it says it is at sector ${myLba} but was read at ${lba}`);
  const entryCount = sector.readUInt32LE(80);
  const entrySize = sector.readUInt32LE(84);
  if (entrySize < MIN_ENTRY_SIZE || entrySize > MAX_ENTRY_SIZE || entrySize % 8 !== 0) return bad(`entry size ${entrySize} is not a multiple of 8 in ${MIN_ENTRY_SIZE}..${MAX_ENTRY_SIZE}`);
  if (entryCount < 1 || entryCount > MAX_ENTRIES) return bad(`entry count ${entryCount} is outside 1..${MAX_ENTRIES}`);
  if (entryCount * entrySize > MAX_ARRAY_BYTES) return bad(`an entry array of ${entryCount * entrySize} bytes is larger than ${MAX_ARRAY_BYTES}`);
  const sectors = arraySectors(entryCount, entrySize, sectorSize);
  if (firstUsableLba > lastUsableLba + 1) return bad(`first usable sector ${firstUsableLba} is after last usable ${lastUsableLba}`);
  if (firstUsableLba < 2) return bad(`first usable sector ${firstUsableLba} is inside the GPT header`);
  if (alternateLba < 1) return bad(`the other header's sector ${alternateLba} is invalid`);
  // A primary copied from a larger disk still reads (its range past the end is a problem the
  // reader reports); a backup header lies inside the disk by construction (myLba === lba).
  if (role === 'backup' && lastUsableLba >= lba) return bad(`last usable sector ${lastUsableLba} is not before the header at ${lba}`);
  if (entriesLba + sectors > diskSectors) return bad(`the entry array at sector ${entriesLba} runs past the end of the disk`);
  if (role === 'primary') {
    if (entriesLba <= lba || entriesLba + sectors > firstUsableLba) return bad(`the entry array at ${entriesLba}..${entriesLba + sectors - 1} is not between the header and the first usable sector ${firstUsableLba}`);
  } else if (lba <= lastUsableLba || entriesLba <= lastUsableLba || entriesLba + sectors > lba) {
    return bad(`the entry array at ${entriesLba}..${entriesLba + sectors - 1} is not between the last usable sector ${lastUsableLba} and the header`);
  }
  return {
    ok: true,
    header: {
      revision: sector.readUInt32LE(8),
      headerSize,
      myLba,
      alternateLba,
      firstUsableLba,
      lastUsableLba,
      diskGuid: readGuid(sector, 56),
      entriesLba,
      entryCount,
      entrySize,
      entriesCrc: sector.readUInt32LE(88),
      raw: Buffer.from(sector.subarray(0, sectorSize)),
    },
  };
}

/** The partitions of an entry array (non-empty entries), numbered by their index + 1. */
export function decodeEntries(entries: Buffer, h: Pick<GptHeader, 'entryCount' | 'entrySize'>, sectorSize: number): Partition[] {
  const out: Partition[] = [];
  for (let i = 0; i < h.entryCount; i++) {
    const e = entries.subarray(i * h.entrySize, (i + 1) * h.entrySize);
    const typeGuid = readGuid(e, 0);
    if (typeGuid === ZERO_GUID) continue;
    const firstLba = Number(e.readBigUInt64LE(32));
    const lastLba = Number(e.readBigUInt64LE(40));
    const nameBytes = e.subarray(56, 128);
    let end = 0;
    while (end + 1 < nameBytes.length && (nameBytes[end] !== 0 || nameBytes[end + 1] !== 0)) end += 2;
    out.push({
      number: i + 1,
      kind: 'gpt',
      firstLba,
      lastLba,
      start: firstLba * sectorSize,
      size: Math.max(0, lastLba - firstLba + 1) * sectorSize,
      typeGuid,
      typeName: gptTypeName(typeGuid),
      guid: readGuid(e, 16),
      name: nameBytes.subarray(0, end).toString('utf16le'),
      attributes: e.readBigUInt64LE(48).toString(16).toUpperCase().padStart(16, '0'),
    });
  }
  return out;
}

/**
 * A header sector for `at` (primary or backup) built from `base` (either copy), with the
 * given fields changed and its CRC recomputed. Bytes past the header size are zeros.
 */
export function encodeHeader(
  base: GptHeader,
  sectorSize: number,
  f: { myLba: number; alternateLba: number; entriesLba: number; lastUsableLba: number; entriesCrc: number },
): Buffer {
  const out = Buffer.alloc(sectorSize);
  base.raw.copy(out, 0, 0, base.headerSize);
  out.writeBigUInt64LE(BigInt(f.myLba), 24);
  out.writeBigUInt64LE(BigInt(f.alternateLba), 32);
  out.writeBigUInt64LE(BigInt(f.lastUsableLba), 48);
  out.writeBigUInt64LE(BigInt(f.entriesLba), 72);
  out.writeUInt32LE(f.entriesCrc >>> 0, 88);
  out.writeUInt32LE(0, 16);
  out.writeUInt32LE(crc32(out.subarray(0, base.headerSize)), 16);
  return out;
}
