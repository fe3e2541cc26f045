// Writes new MBR and GPT tables from a description (pure: sector writes), the inverse of read.ts.

import { arraySectors, GPT_SIGNATURE } from './gpt.js';
import { crc32, writeGuid } from './guid.js';
import { lbaToChs, MBR_ENTRIES_OFFSET, MBR_ENTRY_SIZE } from './mbr.js';
import type { SectorWrite } from './model.js';

export interface NewGptPartition {
  /** 1-based slot in the entry array */
  number: number;
  firstLba: number;
  lastLba: number;
  typeGuid: string;
  guid: string;
  name?: string;
  /** 64 attribute bits */
  attributes?: bigint;
}

export interface NewGpt {
  sectorSize: number;
  diskSize: number;
  diskGuid: string;
  partitions: NewGptPartition[];
  entryCount?: number;
  entrySize?: number;
  /** partitions (by number, at most 3) copied into a hybrid MBR after its 0xEE entry */
  hybrid?: number[];
}

const MAX_U32 = 0xffffffff;

function mbrEntry(sector: Buffer, slot: number, status: number, type: number, firstLba: number, sectors: number, relTo = 0): void {
  const o = MBR_ENTRIES_OFFSET + slot * MBR_ENTRY_SIZE;
  sector[o] = status;
  const s = lbaToChs(firstLba + relTo);
  const e = lbaToChs(firstLba + relTo + sectors - 1);
  sector.set(s, o + 1);
  sector[o + 4] = type;
  sector.set(e, o + 5);
  sector.writeUInt32LE(firstLba, o + 8);
  sector.writeUInt32LE(sectors, o + 12);
}

function bootSector(sectorSize: number, diskSignature = 0): Buffer {
  const s = Buffer.alloc(sectorSize);
  s.writeUInt32LE(diskSignature >>> 0, 440);
  s[510] = 0x55;
  s[511] = 0xaa;
  return s;
}

/** A GPT with its protective (or hybrid) MBR, both headers and both arrays, laid out as sgdisk does. */
export function buildGpt(g: NewGpt): SectorWrite[] {
  const ss = g.sectorSize;
  const n = Math.floor(g.diskSize / ss);
  const entryCount = g.entryCount ?? 128;
  const entrySize = g.entrySize ?? 128;
  const aSec = arraySectors(entryCount, entrySize, ss);
  const firstUsable = 2 + aSec;
  const lastUsable = n - 2 - aSec;
  const entries = Buffer.alloc(entryCount * entrySize);
  for (const p of g.partitions) {
    const o = (p.number - 1) * entrySize;
    writeGuid(entries, o, p.typeGuid);
    writeGuid(entries, o + 16, p.guid);
    entries.writeBigUInt64LE(BigInt(p.firstLba), o + 32);
    entries.writeBigUInt64LE(BigInt(p.lastLba), o + 40);
    entries.writeBigUInt64LE(p.attributes ?? 0n, o + 48);
    if (p.name) entries.write(p.name.slice(0, 36), o + 56, 72, 'utf16le');
  }
  const entriesCrc = crc32(entries);
  const header = (myLba: number, alternateLba: number, entriesLba: number): Buffer => {
    const h = Buffer.alloc(ss);
    h.write(GPT_SIGNATURE, 0, 'latin1');
    h.writeUInt32LE(0x00010000, 8);
    h.writeUInt32LE(92, 12);
    h.writeBigUInt64LE(BigInt(myLba), 24);
    h.writeBigUInt64LE(BigInt(alternateLba), 32);
    h.writeBigUInt64LE(BigInt(firstUsable), 40);
    h.writeBigUInt64LE(BigInt(lastUsable), 48);
    writeGuid(h, 56, g.diskGuid);
    h.writeBigUInt64LE(BigInt(entriesLba), 72);
    h.writeUInt32LE(entryCount, 80);
    h.writeUInt32LE(entrySize, 84);
    h.writeUInt32LE(entriesCrc, 88);
    h.writeUInt32LE(crc32(h.subarray(0, 92)), 16);
    return h;
  };
  const array = Buffer.alloc(aSec * ss);
  entries.copy(array);
  const mbr = bootSector(ss);
  const hybrid = (g.hybrid ?? []).map((num) => g.partitions.find((p) => p.number === num));
  if (hybrid.length === 0) mbrEntry(mbr, 0, 0, 0xee, 1, Math.min(n - 1, MAX_U32));
  else {
    const firstHybrid = Math.min(...hybrid.map((p) => p?.firstLba ?? n));
    mbrEntry(mbr, 0, 0, 0xee, 1, firstHybrid - 1);
    hybrid.forEach((p, i) => {
      if (p) mbrEntry(mbr, i + 1, 0, 0x83, p.firstLba, Math.min(p.lastLba - p.firstLba + 1, MAX_U32));
    });
  }
  return [
    { offset: 0, bytes: mbr, what: hybrid.length ? 'hybrid MBR' : 'protective MBR' },
    { offset: ss, bytes: header(1, n - 1, 2), what: 'primary GPT header' },
    { offset: 2 * ss, bytes: array, what: 'primary GPT partition array' },
    { offset: (lastUsable + 1) * ss, bytes: array, what: 'backup GPT partition array' },
    { offset: (n - 1) * ss, bytes: header(n - 1, 1, lastUsable + 1), what: 'backup GPT header' },
  ];
}

export interface NewMbrPartition {
  /** slot 0..3 of a primary */
  slot: number;
  firstLba: number;
  sectors: number;
  type: number;
  bootable?: boolean;
}

export interface NewLogical {
  /** where its EBR goes: inside the extended partition, before the partition */
  ebrLba: number;
  firstLba: number;
  sectors: number;
  type: number;
}

/** A DOS partition table: primaries in sector 0 and, for an extended one, the EBR chain of its logicals. */
export function buildMbr(m: { sectorSize: number; diskSignature: number; primaries: NewMbrPartition[]; logicals?: NewLogical[] }): SectorWrite[] {
  const ss = m.sectorSize;
  const mbr = bootSector(ss, m.diskSignature);
  for (const p of m.primaries) mbrEntry(mbr, p.slot, p.bootable ? 0x80 : 0, p.type, p.firstLba, p.sectors);
  const writes: SectorWrite[] = [{ offset: 0, bytes: mbr, what: 'MBR' }];
  const ext = m.primaries.find((p) => p.type === 0x05 || p.type === 0x0f || p.type === 0x85);
  const logicals = m.logicals ?? [];
  if (ext) {
    logicals.forEach((l, i) => {
      const ebr = bootSector(ss);
      mbrEntry(ebr, 0, 0, l.type, l.firstLba - l.ebrLba, l.sectors, l.ebrLba);
      const next = logicals[i + 1];
      if (next) mbrEntry(ebr, 1, 0, 0x05, next.ebrLba - ext.firstLba, next.firstLba + next.sectors - next.ebrLba, ext.firstLba);
      writes.push({ offset: l.ebrLba * ss, bytes: ebr, what: `EBR at sector ${l.ebrLba}` });
    });
  }
  return writes;
}

/** Applies writes to an image in memory (tests, previews). */
export function applyWrites(image: Buffer, writes: readonly SectorWrite[]): Buffer {
  for (const w of writes) w.bytes.copy(image, w.offset);
  return image;
}
