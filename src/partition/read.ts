// Reads a drive's or an image's partition table (MBR, EBR chain, GPT with its backup) into the model.

import { PartitionTableError } from '../errors.js';
import { arraySectors, decodeEntries, decodeHeader } from './gpt.js';
import { crc32, isExtendedType, mbrTypeName } from './guid.js';
import { decodeMbr, readEbrChain } from './mbr.js';
import type { Ebr, Gpt, GptHeader, Mbr, Partition, PartitionTable, Problem, Reader } from './model.js';

export interface ReadOptions {
  /** the logical sector size of the drive (for an image: of the drive it was taken from) */
  sectorSize: number;
  /** bytes of the drive or image */
  diskSize: number;
}

export const SECTOR_SIZES = [512, 1024, 2048, 4096] as const;

/** Reads exactly `length` bytes or says the source is shorter than its size. */
function exactReader(read: Reader): Reader {
  return async (offset, length) => {
    const b = await read(offset, length);
    if (b.length < length) throw new PartitionTableError('PARTITION_TABLE_CORRUPT', `reading the partition table: ${length} bytes at byte ${offset} gave only ${b.length}: the drive or image is shorter than its size says`, { offset, length });
    return b.length === length ? b : b.subarray(0, length);
  };
}

/** Reads and checks the partition table. Throws PartitionTableError when no coherent table can be read. */
export async function readPartitionTable(source: Reader, opts: ReadOptions): Promise<PartitionTable> {
  const { sectorSize, diskSize } = opts;
  if (!(SECTOR_SIZES as readonly number[]).includes(sectorSize)) throw new RangeError(`sector size ${sectorSize} is not one of ${SECTOR_SIZES.join(', ')}`);
  const read = exactReader(source);
  const diskSectors = Math.floor(diskSize / sectorSize);
  const table: PartitionTable = { scheme: 'none', sectorSize, diskSize, diskSectors, mbr: null, gpt: null, partitions: [], warnings: [], problems: [] };
  if (diskSectors < 1) return table;
  const sector0 = await read(0, sectorSize);
  const m = decodeMbr(sector0);
  const mbr: Mbr | null = m.kind === null ? null : { kind: m.kind, diskSignature: m.diskSignature, entries: m.entries, ebrs: [], raw: sector0 };
  if (mbr) table.diskSignature = mbr.diskSignature.toString(16).padStart(8, '0');
  table.mbr = mbr;

  const wantsGpt = mbr === null || mbr.kind !== 'plain';
  const gpt = diskSectors >= 3 && wantsGpt ? await readGpt(read, sectorSize, diskSectors, mbr !== null) : null;
  if (gpt && 'failed' in gpt) {
    throw new PartitionTableError('PARTITION_TABLE_CORRUPT', `the GPT is damaged in both copies (primary: ${gpt.primaryWhy}; backup: ${gpt.backupWhy}); repair it (gdisk's recovery menu) or copy the drive whole without adjusting`, { primary: gpt.primaryWhy, backup: gpt.backupWhy });
  }
  if (gpt) {
    fillGpt(table, gpt.gpt, gpt.primaryWhy, gpt.backupWhy);
    if (mbr === null) table.warnings.push('the GPT has no protective MBR in sector 0 (partitioning tools add one when they rewrite the table)');
    return table;
  }
  if (mbr && mbr.kind === 'plain') {
    await fillMbr(table, mbr, read);
    if (diskSectors >= 2 && (await read(sectorSize, sectorSize)).toString('latin1', 0, 8) === 'EFI PART') {
      table.warnings.push('a stale GPT header is also present at sector 1, but the MBR is not protective: the MBR is used, as sfdisk and the kernel do');
    }
  }
  return table;
}

type GptRead = { gpt: Gpt; primaryWhy: string | null; backupWhy: string | null } | { failed: true; primaryWhy: string; backupWhy: string };

/** Reads both GPT copies. null when there is no sign of a GPT at all. */
async function readGpt(read: Reader, sectorSize: number, diskSectors: number, hasMbr: boolean): Promise<GptRead | null> {
  const lastLba = diskSectors - 1;
  const tryCopy = async (lba: number, role: 'primary' | 'backup'): Promise<{ header: GptHeader; entries: Buffer } | string> => {
    const sector = await read(lba * sectorSize, sectorSize);
    const check = decodeHeader(sector, lba, role, sectorSize, diskSectors);
    if (!check.ok) return check.why;
    const h = check.header;
    const entries = await read(h.entriesLba * sectorSize, arraySectors(h.entryCount, h.entrySize, sectorSize) * sectorSize);
    const array = entries.subarray(0, h.entryCount * h.entrySize);
    if (crc32(array) !== h.entriesCrc) return 'entry array CRC mismatch';
    return { header: h, entries: Buffer.from(array) };
  };
  const primary = await tryCopy(1, 'primary');
  const candidates = (typeof primary === 'string' ? [lastLba] : [primary.header.alternateLba, lastLba]).filter((lba) => lba > 1 && lba <= lastLba);
  let backup: { header: GptHeader; entries: Buffer } | string = 'not found';
  for (const lba of [...new Set(candidates)]) {
    const got = await tryCopy(lba, 'backup');
    if (typeof got !== 'string' || lba === candidates[0]) backup = got;
    if (typeof got !== 'string') break;
  }
  const primaryWhy = typeof primary === 'string' ? primary : null;
  const backupWhy = typeof backup === 'string' ? backup : null;
  if (typeof primary === 'string' && typeof backup === 'string') {
    const signature = primary !== 'no "EFI PART" signature' || backup !== 'no "EFI PART" signature';
    // A protective MBR with no GPT behind it is a damaged GPT; no MBR and no signature is no table.
    return signature || hasMbr ? { failed: true, primaryWhy: primary, backupWhy: backup } : null;
  }
  const used = typeof primary !== 'string' ? primary : (backup as { header: GptHeader; entries: Buffer });
  return {
    gpt: {
      primary: typeof primary === 'string' ? null : primary.header,
      backup: typeof backup === 'string' ? null : backup.header,
      usedFrom: typeof primary === 'string' ? 'backup' : 'primary',
      entries: used.entries,
    },
    primaryWhy,
    backupWhy,
  };
}

function fillGpt(table: PartitionTable, gpt: Gpt, primaryWhy: string | null, backupWhy: string | null): void {
  const { sectorSize, diskSectors } = table;
  const h = (gpt.primary ?? gpt.backup) as GptHeader;
  table.scheme = 'gpt';
  table.gpt = gpt;
  table.diskGuid = h.diskGuid;
  table.firstUsableLba = h.firstUsableLba;
  table.lastUsableLba = h.lastUsableLba;
  table.partitions = decodeEntries(gpt.entries, h, sectorSize);
  const problem = (p: Problem): void => {
    table.problems.push(p);
  };
  if (primaryWhy !== null) {
    table.warnings.push(`the primary GPT is damaged (${primaryWhy}); the partitions were read from the backup GPT at sector ${h.myLba}`);
    problem({ code: 'PRIMARY_GPT_CORRUPT', message: `primary GPT: ${primaryWhy}` });
  }
  if (backupWhy !== null) {
    table.warnings.push(`the backup GPT is damaged or missing (${backupWhy})`);
    problem({ code: 'BACKUP_GPT_CORRUPT', message: `backup GPT: ${backupWhy}` });
  }
  const last = diskSectors - 1;
  const backupAt = gpt.backup?.myLba ?? gpt.primary?.alternateLba;
  if (backupAt !== undefined && backupAt !== last) {
    problem({ code: 'BACKUP_GPT_NOT_AT_END', message: `the backup GPT header is at sector ${backupAt}, not at the last sector ${last}` });
  }
  if (h.lastUsableLba > last) problem({ code: 'GPT_LARGER_THAN_DISK', message: `the GPT describes a disk of at least ${h.lastUsableLba + 1} sectors, but this one has ${diskSectors}` });
  const p = gpt.primary;
  const b = gpt.backup;
  if (p && b) {
    const diffs: string[] = [];
    if (p.alternateLba !== b.myLba) diffs.push(`the primary points to sector ${p.alternateLba} for its backup`);
    if (b.alternateLba !== p.myLba) diffs.push(`the backup points to sector ${b.alternateLba} for its primary`);
    for (const k of ['diskGuid', 'firstUsableLba', 'lastUsableLba', 'entryCount', 'entrySize', 'entriesCrc'] as const) {
      if (p[k] !== b[k]) diffs.push(`${k} ${String(p[k])} vs ${String(b[k])}`);
    }
    if (diffs.length > 0) problem({ code: 'GPT_HEADERS_DISAGREE', message: `the primary and backup GPT headers disagree: ${diffs.join('; ')}` });
  }
  for (const part of table.partitions) {
    if (part.firstLba > part.lastLba) problem({ code: 'PARTITION_BAD_RANGE', message: `partition ${part.number} ends (sector ${part.lastLba}) before it starts (${part.firstLba})`, partitions: [part.number] });
    else if (part.lastLba > last) problem({ code: 'PARTITION_BEYOND_DISK', message: `partition ${part.number} ends at sector ${part.lastLba}, past the end of the disk (${last})`, partitions: [part.number] });
    else if (part.firstLba < h.firstUsableLba || part.lastLba > h.lastUsableLba) problem({ code: 'PARTITION_OUTSIDE_USABLE', message: `partition ${part.number} (sectors ${part.firstLba}..${part.lastLba}) is outside the usable sectors ${h.firstUsableLba}..${h.lastUsableLba}`, partitions: [part.number] });
  }
  overlaps(table.partitions).forEach(problem);
}

async function fillMbr(table: PartitionTable, mbr: Mbr, read: Reader): Promise<void> {
  const { sectorSize, diskSectors } = table;
  table.scheme = 'mbr';
  const last = diskSectors - 1;
  const entry = (kind: Partition['kind'], number: number, firstLba: number, sectors: number, type: number, status: number): Partition => ({
    number,
    kind,
    firstLba,
    lastLba: firstLba + sectors - 1,
    start: firstLba * sectorSize,
    size: sectors * sectorSize,
    mbrType: type,
    typeName: mbrTypeName(type),
    bootable: status === 0x80,
  });
  const primaries = mbr.entries.map((e) => entry(isExtendedType(e.type) ? 'extended' : 'primary', e.slot + 1, e.firstLba, e.sectors, e.type, e.status));
  const ext = mbr.entries.find((e) => isExtendedType(e.type));
  let ebrs: Ebr[] = [];
  if (ext && ext.firstLba > 0) ebrs = await readEbrChain(read, sectorSize, diskSectors, ext);
  mbr.ebrs = ebrs;
  let n = 5;
  const logicals = ebrs.flatMap((r) => (r.logical ? [entry('logical', n++, r.logical.firstLba, r.logical.sectors, r.logical.type, r.logical.status)] : []));
  table.partitions = [...primaries, ...logicals];
  const problem = (p: Problem): void => {
    table.problems.push(p);
  };
  for (const p of table.partitions) {
    if (p.firstLba === 0) problem({ code: 'PARTITION_BAD_RANGE', message: `partition ${p.number} starts at sector 0, over the MBR`, partitions: [p.number] });
    else if (p.lastLba > last) problem({ code: 'PARTITION_BEYOND_DISK', message: `partition ${p.number} ends at sector ${p.lastLba}, past the end of the disk (${last})`, partitions: [p.number] });
  }
  const container = primaries.find((p) => p.kind === 'extended');
  for (const l of logicals) {
    if (container && (l.firstLba <= container.firstLba || l.lastLba > container.lastLba)) problem({ code: 'LOGICAL_OUTSIDE_EXTENDED', message: `logical partition ${l.number} (sectors ${l.firstLba}..${l.lastLba}) is not inside the extended partition ${container.number} (${container.firstLba}..${container.lastLba})`, partitions: [l.number] });
  }
  overlaps(primaries).forEach(problem);
  overlaps(logicals).forEach(problem);
}

/** Pairs of partitions sharing a sector. */
export function overlaps(parts: readonly Partition[]): Problem[] {
  const sorted = parts.filter((p) => p.firstLba <= p.lastLba).sort((a, b) => a.firstLba - b.firstLba || a.number - b.number);
  const out: Problem[] = [];
  let reach: Partition | null = null;
  for (const p of sorted) {
    if (reach && p.firstLba <= reach.lastLba) out.push({ code: 'PARTITION_OVERLAP', message: `partitions ${reach.number} and ${p.number} overlap (sectors ${p.firstLba}..${Math.min(p.lastLba, reach.lastLba)})`, partitions: [reach.number, p.number] });
    if (!reach || p.lastLba > reach.lastLba) reach = p;
  }
  return out;
}

/**
 * The sector size a GPT in an image (which has none of its own) was written for: 512 or 4096,
 * whichever places a valid primary or backup header; null when neither does (an MBR or no table:
 * the caller uses the source drive's sector size from the manifest, or 512).
 */
export async function probeGptSectorSize(source: Reader, diskSize: number): Promise<512 | 4096 | null> {
  for (const ss of [512, 4096] as const) {
    const sectors = Math.floor(diskSize / ss);
    if (sectors < 3) continue;
    const primary = await source(ss, ss);
    if (primary.length === ss && decodeHeader(primary, 1, 'primary', ss, sectors).ok) return ss;
  }
  for (const ss of [512, 4096] as const) {
    const sectors = Math.floor(diskSize / ss);
    if (sectors < 3) continue;
    const backup = await source((sectors - 1) * ss, ss);
    if (backup.length === ss && decodeHeader(backup, sectors - 1, 'backup', ss, sectors).ok) return ss;
  }
  return null;
}
