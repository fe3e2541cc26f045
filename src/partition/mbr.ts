// The MBR and its EBR chain: decoding sector 0 and EBRs, encoding entries and CHS values.

import { PartitionTableError } from '../errors.js';
import { isExtendedType } from './guid.js';
import type { Ebr, MbrEntry, MbrKind, Reader } from './model.js';

export const MBR_ENTRIES_OFFSET = 446;
export const MBR_ENTRY_SIZE = 16;
/** The most logical partitions we follow; Linux stops far earlier (its minor numbers). */
export const MAX_LOGICAL = 256;

export function hasBootSignature(sector: Buffer): boolean {
  return sector.length >= 512 && sector[510] === 0x55 && sector[511] === 0xaa;
}

/** The four entries of an MBR or EBR sector, LBAs as stored (relative for EBRs). */
export function rawEntries(sector: Buffer): MbrEntry[] {
  const out: MbrEntry[] = [];
  for (let slot = 0; slot < 4; slot++) {
    const o = MBR_ENTRIES_OFFSET + slot * MBR_ENTRY_SIZE;
    out.push({ slot, status: sector[o], type: sector[o + 4], firstLba: sector.readUInt32LE(o + 8), sectors: sector.readUInt32LE(o + 12) });
  }
  return out;
}

export function isEmptyEntry(e: MbrEntry): boolean {
  return e.type === 0 || e.sectors === 0;
}

/**
 * Whether sector 0 is a volume boot record (FAT or NTFS written to the whole drive) rather
 * than a partition table: libblkid decides the same way, and sfdisk then sees no table.
 */
function looksLikeVbr(sector: Buffer): boolean {
  const jump = (sector[0] === 0xeb && sector[2] === 0x90) || sector[0] === 0xe9;
  const text = (o: number, n: number): string => sector.toString('latin1', o, o + n);
  return jump && (text(0x36, 3) === 'FAT' || text(0x52, 3) === 'FAT' || text(3, 4) === 'NTFS' || text(3, 5) === 'EXFAT');
}

export interface MbrSector {
  /** null: no MBR here (no 55AA, or a boot record of a file system, or invalid status bytes) */
  kind: MbrKind | null;
  entries: MbrEntry[];
  diskSignature: number;
}

/** Decodes sector 0: which kind of MBR it is and its non-empty entries. */
export function decodeMbr(sector: Buffer): MbrSector {
  const diskSignature = sector.length >= 444 ? sector.readUInt32LE(440) : 0;
  if (!hasBootSignature(sector)) return { kind: null, entries: [], diskSignature };
  const all = rawEntries(sector);
  const entries = all.filter((e) => !isEmptyEntry(e));
  const statusOk = all.every((e) => e.status === 0 || e.status === 0x80);
  if (!statusOk || (looksLikeVbr(sector) && entries.length === 0)) return { kind: null, entries: [], diskSignature };
  if (looksLikeVbr(sector) && entries.some((e) => e.firstLba === 0)) return { kind: null, entries: [], diskSignature };
  const ee = entries.filter((e) => e.type === 0xee);
  const kind: MbrKind = ee.length === 0 ? 'plain' : entries.length === ee.length ? 'protective' : 'hybrid';
  return { kind, entries, diskSignature };
}

/**
 * Follows the EBR chain of the extended partition `ext` (absolute LBAs), guarded against
 * loops, links outside the container or the disk, and overlong chains: any of them is a
 * corrupt table.
 */
export async function readEbrChain(read: Reader, sectorSize: number, diskSectors: number, ext: MbrEntry): Promise<Ebr[]> {
  const extFirst = ext.firstLba;
  const extLast = ext.firstLba + ext.sectors - 1;
  const out: Ebr[] = [];
  const seen = new Set<number>();
  const corrupt = (why: string, lba: number): PartitionTableError =>
    new PartitionTableError('PARTITION_TABLE_CORRUPT', `the MBR's chain of logical partitions is damaged: ${why} (EBR at sector ${lba}); repair the table (fdisk, testdisk) or copy the drive whole without adjusting`, { ebrLba: lba });
  let lba: number | null = extFirst;
  while (lba !== null) {
    if (seen.has(lba)) throw corrupt('it loops back to an EBR already read', lba);
    if (lba < extFirst || lba > extLast || lba >= diskSectors) throw corrupt('a link points outside the extended partition or the disk', lba);
    if (out.length >= MAX_LOGICAL) throw corrupt(`more than ${MAX_LOGICAL} logical partitions`, lba);
    seen.add(lba);
    const sector = await read(lba * sectorSize, sectorSize);
    if (!hasBootSignature(sector)) {
      if (lba === extFirst) return out; // an extended partition with no logical partitions yet (fdisk leaves it so)
      throw corrupt('an EBR has no 55AA signature', lba);
    }
    const [first, second] = rawEntries(sector);
    const logical = isEmptyEntry(first) ? null : { ...first, firstLba: lba + first.firstLba };
    const next = isEmptyEntry(second) || !isExtendedType(second.type) ? null : extFirst + second.firstLba;
    out.push({ lba, logical, next, raw: Buffer.from(sector) });
    lba = next;
  }
  return out;
}

/** CHS of an LBA as gdisk and fdisk compute it (255 heads, 63 sectors), 0xFFFFFF past cylinder 1023. */
export function lbaToChs(lba: number): [number, number, number] {
  const perCylinder = 255 * 63;
  const cylinder = Math.floor(lba / perCylinder);
  if (cylinder > 1023) return [0xff, 0xff, 0xff];
  const head = Math.floor((lba % perCylinder) / 63);
  const sector = (lba % 63) + 1;
  return [head, ((cylinder >> 2) & 0xc0) | sector, cylinder & 0xff];
}

/**
 * Rewrites the size (and end CHS) of the entry in `slot` of an MBR or EBR sector, in place.
 * An end CHS that held the "past cylinder 1023" marker keeps it, as partitioning tools write it.
 */
export function setEntrySize(sector: Buffer, slot: number, firstLbaAbs: number, sectors: number): void {
  const o = MBR_ENTRIES_OFFSET + slot * MBR_ENTRY_SIZE;
  sector.writeUInt32LE(sectors, o + 12);
  const wasMax = sector[o + 5] === 0xff && sector[o + 6] === 0xff && sector[o + 7] === 0xff;
  const wasFeMax = sector[o + 5] === 0xfe && sector[o + 6] === 0xff && sector[o + 7] === 0xff;
  if (wasMax || wasFeMax) return;
  const chs = lbaToChs(firstLbaAbs + sectors - 1);
  sector[o + 5] = chs[0];
  sector[o + 6] = chs[1];
  sector[o + 7] = chs[2];
}
