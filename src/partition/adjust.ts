// Plans what a partition table needs on a target of another size: the backup GPT moved to the
// end, the protective MBR refreshed, the last partition grown, the fit on a smaller target. Pure:
// it returns sector writes and notes, and writes nothing.

import { InternalError, PartitionTableError, RefusedError } from '../errors.js';
import { arraySectors, encodeHeader } from './gpt.js';
import { crc32 } from './guid.js';
import { setEntrySize } from './mbr.js';
import type { Gpt, GptHeader, Mbr, Partition, PartitionTable, ProblemCode, SectorWrite } from './model.js';

export interface AdjustOptions {
  /** bytes of the target */
  targetSize: number;
  /** the target's logical sector size; a table made for another sector size is refused */
  targetSectorSize?: number;
  /** grow the last partition to the end of the target (GPT: the last usable sector) */
  growLast?: boolean;
  /** allow a target smaller than the source when every partition ends inside it (--fit) */
  fit?: boolean;
}

export interface AdjustPlan {
  /**
   * Sector writes to do after the copy, none overlapping, in the order to do them: at every
   * step one copy of the table stays valid (GPT: the new backup first, then the primary, then
   * the MBR; MBR: a container grown before the logical partition in it).
   */
  writes: SectorWrite[];
  /** what was adjusted, one sentence each, for the report and the dashboard */
  notes: string[];
  /** bytes of the source to copy: all of it, or on a smaller target up to the end of the last partition or structure */
  copyLength: number;
  /** the partition grown by growLast, if it grew */
  grown?: { number: number; firstLba: number; oldLastLba: number; newLastLba: number };
}

/** Problems that make a table unsafe to rewrite: the caller can still copy it whole, unchanged. */
const BLOCKING: readonly ProblemCode[] = ['PARTITION_OVERLAP', 'PARTITION_BAD_RANGE', 'PARTITION_OUTSIDE_USABLE', 'PARTITION_BEYOND_DISK', 'LOGICAL_OUTSIDE_EXTENDED'];

const MAX_U32 = 0xffffffff;

function label(p: Partition): string {
  return p.name ? `partition ${p.number} ("${p.name}")` : `partition ${p.number}`;
}

function tooSmall(p: Partition, lastUsable: number, table: PartitionTable, targetSize: number, neededSectors: number): RefusedError {
  const ss = table.sectorSize;
  return new RefusedError(
    'TARGET_TOO_SMALL',
    `the target (${targetSize} bytes) is too small: ${label(p)} ends at byte ${(p.lastLba + 1) * ss}, past the target's last usable byte ${(lastUsable + 1) * ss}; choose a target of at least ${neededSectors * ss} bytes or shrink the partition first`,
    { partition: p.number, partitionEnd: (p.lastLba + 1) * ss, targetSize, neededSize: neededSectors * ss },
  );
}

/**
 * The writes and notes that make `table` (read from the source) right on a target of
 * `opts.targetSize` bytes, after the source's first `copyLength` bytes are copied to it. A
 * smaller target needs `fit` (and every partition inside it).
 * Throws RefusedError TARGET_TOO_SMALL naming the partition that does not fit, RefusedError
 * SECTOR_SIZE_MISMATCH, or PartitionTableError for a table that must not be rewritten.
 */
export function planAdjust(table: PartitionTable, opts: AdjustOptions): AdjustPlan {
  const ss = table.sectorSize;
  if (opts.targetSectorSize !== undefined && opts.targetSectorSize !== ss && table.scheme !== 'none') {
    throw new RefusedError('SECTOR_SIZE_MISMATCH', `the partition table is made for ${ss}-byte sectors but the target has ${opts.targetSectorSize}-byte sectors: its partitions would be at the wrong places; choose a target with ${ss}-byte sectors`, { tableSectorSize: ss, targetSectorSize: opts.targetSectorSize });
  }
  const blocking = table.problems.filter((p) => BLOCKING.includes(p.code));
  if (blocking.length > 0 && table.scheme !== 'none') {
    throw new PartitionTableError('PARTITION_TABLE_CORRUPT', `the source's partition table has problems (${blocking.map((p) => p.message).join('; ')}); repair it first, or copy the drive whole without adjusting`, { problems: blocking.map((p) => p.code) });
  }
  const plan =
    table.scheme === 'gpt' ? planGpt(table, opts) : table.scheme === 'mbr' ? planMbr(table, opts) : planNone(table, opts);
  // Every partition fits (else the planner named the one that does not): a smaller target still needs --fit.
  if (opts.targetSize < table.diskSize && !opts.fit) {
    throw new RefusedError('TARGET_TOO_SMALL', `the target (${opts.targetSize} bytes) is smaller than the source (${table.diskSize} bytes); every partition ends by byte ${plan.copyLength}, so --fit can copy them and write the table for the smaller size`, { targetSize: opts.targetSize, neededSize: table.diskSize, fitSize: plan.copyLength });
  }
  const sorted = [...plan.writes].sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < sorted.length; i++) {
    const w = sorted[i];
    if (w.offset % ss !== 0 || w.bytes.length % ss !== 0 || w.offset + w.bytes.length > opts.targetSize) throw new InternalError(`partition plan: write "${w.what}" at ${w.offset} is not whole sectors inside the target`);
    const next = sorted[i + 1];
    if (next && next.offset < w.offset + w.bytes.length) throw new InternalError(`partition plan: writes "${w.what}" and "${next.what}" overlap`);
  }
  return plan;
}

function planNone(table: PartitionTable, opts: AdjustOptions): AdjustPlan {
  if (opts.growLast) throw new PartitionTableError('NO_PARTITION_TABLE', 'the source has no partition table (MBR or GPT), so there is no last partition to grow; leave out --grow-last');
  if (opts.targetSize < table.diskSize) {
    throw new RefusedError('TARGET_TOO_SMALL', `the target (${opts.targetSize} bytes) is smaller than the source (${table.diskSize} bytes), which has no partition table to show what may be left out; choose a target of at least ${table.diskSize} bytes`, { targetSize: opts.targetSize, neededSize: table.diskSize });
  }
  return { writes: [], notes: [], copyLength: table.diskSize };
}

/** The data partition that ends last, checked to be growable (nothing after it). */
function lastPartition(table: PartitionTable): Partition {
  const data = table.partitions.filter((p) => p.kind !== 'extended');
  if (data.length === 0) throw new PartitionTableError('PARTITION_NOT_GROWABLE', 'the partition table has no partitions, so there is none to grow; leave out --grow-last');
  return data.reduce((a, b) => (b.lastLba > a.lastLba ? b : a));
}

function planGpt(table: PartitionTable, opts: AdjustOptions): AdjustPlan {
  const ss = table.sectorSize;
  const gpt = table.gpt as Gpt;
  const h = (gpt.primary ?? gpt.backup) as GptHeader;
  const n = Math.floor(opts.targetSize / ss);
  const aSec = arraySectors(h.entryCount, h.entrySize, ss);
  const primaryEntriesLba = gpt.primary?.entriesLba ?? 2;
  const primaryEnd = Math.max(h.firstUsableLba, primaryEntriesLba + aSec);
  const newLastUsable = n - 2 - aSec;
  const maxLast = table.partitions.reduce((m, p) => Math.max(m, p.lastLba), primaryEnd - 1);
  const needed = maxLast + 1 + aSec + 1;
  for (const p of table.partitions) if (p.lastLba > newLastUsable) throw tooSmall(p, newLastUsable, table, opts.targetSize, needed);
  if (newLastUsable < h.firstUsableLba) {
    throw new RefusedError('TARGET_TOO_SMALL', `the target (${opts.targetSize} bytes) cannot even hold the GPT's two copies; choose a target of at least ${needed * ss} bytes`, { targetSize: opts.targetSize, neededSize: needed * ss });
  }
  const notes: string[] = [];
  const entries = Buffer.from(gpt.entries);
  let grown: AdjustPlan['grown'];
  if (opts.growLast) {
    const last = lastPartition(table);
    if (last.lastLba < newLastUsable) {
      entries.writeBigUInt64LE(BigInt(newLastUsable), (last.number - 1) * h.entrySize + 40);
      grown = { number: last.number, firstLba: last.firstLba, oldLastLba: last.lastLba, newLastLba: newLastUsable };
      notes.push(`${label(last)} grown from ${last.size} to ${(newLastUsable - last.firstLba + 1) * ss} bytes (sectors ${last.firstLba}..${newLastUsable}); its type, GUID, name and attributes are kept`);
    } else {
      notes.push(`${label(last)} already ends at the last usable sector; not grown`);
    }
  }
  const oldBackupLba = gpt.backup?.myLba ?? gpt.primary?.alternateLba ?? table.diskSectors - 1;
  const lastLba = n - 1;
  const mbrSector = table.mbr ? refreshMbrForGpt(table.mbr, table, n, grown) : null;
  const inPlace =
    gpt.primary !== null &&
    gpt.backup !== null &&
    gpt.backup.myLba === lastLba &&
    gpt.primary.alternateLba === lastLba &&
    gpt.primary.lastUsableLba === gpt.backup.lastUsableLba &&
    gpt.primary.entriesCrc === gpt.backup.entriesCrc &&
    !table.problems.some((p) => p.code === 'GPT_HEADERS_DISAGREE') &&
    grown === undefined &&
    mbrSector === null;
  const copyLength = Math.min(table.diskSize, opts.targetSize < table.diskSize ? (maxLast + 1) * ss : table.diskSize);
  if (inPlace) return { writes: [], notes, copyLength };

  // The backup array sits just before the backup header, and the usable sectors end before it.
  const lastUsable = newLastUsable;
  const entriesCrc = crc32(entries);
  const array = Buffer.alloc(aSec * ss);
  entries.copy(array);
  // The new backup first: until the primary header is rewritten, the old primary stays valid.
  const writes: SectorWrite[] = [
    { offset: (lastUsable + 1) * ss, bytes: array, what: 'backup GPT partition array' },
    { offset: lastLba * ss, bytes: encodeHeader(h, ss, { myLba: lastLba, alternateLba: 1, entriesLba: lastUsable + 1, lastUsableLba: lastUsable, entriesCrc }), what: 'backup GPT header' },
    { offset: primaryEntriesLba * ss, bytes: array, what: 'primary GPT partition array' },
    { offset: ss, bytes: encodeHeader(h, ss, { myLba: 1, alternateLba: lastLba, entriesLba: primaryEntriesLba, lastUsableLba: lastUsable, entriesCrc }), what: 'primary GPT header' },
  ];
  if (gpt.primary === null) notes.push('the damaged primary GPT was rebuilt from the backup');
  if (oldBackupLba !== lastLba) notes.push(`the backup GPT was moved from sector ${oldBackupLba} to the last sector ${lastLba} (last usable sector ${h.lastUsableLba} -> ${lastUsable})`);
  else if (gpt.backup === null) notes.push(`the missing backup GPT was written at the last sector ${lastLba}`);
  if (mbrSector) {
    writes.push({ offset: 0, bytes: mbrSector, what: table.mbr?.kind === 'hybrid' ? 'hybrid MBR' : 'protective MBR' });
    notes.push(`the ${table.mbr?.kind} MBR was refreshed for the new size`);
  }
  // The stale backup header is zeroed when the target has it and nothing new is written there.
  if (oldBackupLba !== lastLba && oldBackupLba < n && !(oldBackupLba >= lastUsable + 1 && oldBackupLba <= lastLba) && oldBackupLba > primaryEnd - 1) {
    writes.push({ offset: oldBackupLba * ss, bytes: Buffer.alloc(ss), what: 'stale backup GPT header (zeroed)' });
    notes.push(`the stale backup GPT header at sector ${oldBackupLba} was zeroed`);
  }
  return { writes, notes, copyLength, grown };
}

/**
 * Sector 0 with the protective entry sized to the new disk (as sgdisk: sectors - 1, capped at
 * 0xFFFFFFFF), a hybrid MBR's 0xEE entry kept unless it ran to the old end, and a hybrid copy
 * of a grown partition grown with it. null when nothing changes.
 */
function refreshMbrForGpt(mbr: Mbr, table: PartitionTable, n: number, grown: AdjustPlan['grown']): Buffer | null {
  const sector = Buffer.from(mbr.raw);
  const oldLast = table.diskSectors - 1;
  let changed = false;
  for (const e of mbr.entries) {
    const end = e.firstLba + e.sectors - 1;
    let sectors = e.sectors;
    if (e.type === 0xee && mbr.kind === 'protective') sectors = Math.min(n - 1, MAX_U32);
    else if (e.type === 0xee && (end >= oldLast || end >= n - 1 || e.sectors === MAX_U32)) sectors = Math.min(n - e.firstLba, MAX_U32);
    else if (e.type !== 0xee && grown && e.firstLba === grown.firstLba && end === Math.min(grown.oldLastLba, e.firstLba + MAX_U32 - 1)) sectors = Math.min(grown.newLastLba - e.firstLba + 1, MAX_U32);
    if (sectors !== e.sectors) {
      setEntrySize(sector, e.slot, e.firstLba, sectors);
      changed = true;
    }
  }
  return changed ? sector : null;
}

function planMbr(table: PartitionTable, opts: AdjustOptions): AdjustPlan {
  const ss = table.sectorSize;
  const mbr = table.mbr as Mbr;
  const n = Math.floor(opts.targetSize / ss);
  const lastLba = n - 1;
  const data = table.partitions.filter((p) => p.kind !== 'extended');
  const ebrEnd = mbr.ebrs.reduce((m, e) => Math.max(m, e.lba), 0);
  const maxLast = data.reduce((m, p) => Math.max(m, p.lastLba), ebrEnd);
  for (const p of data) if (p.lastLba > lastLba) throw tooSmall(p, lastLba, table, opts.targetSize, maxLast + 1);
  if (ebrEnd > lastLba) {
    throw new RefusedError('TARGET_TOO_SMALL', `the target (${opts.targetSize} bytes) is too small: the chain of logical partitions has a record at byte ${ebrEnd * ss}; choose a target of at least ${(maxLast + 1) * ss} bytes`, { targetSize: opts.targetSize, neededSize: (maxLast + 1) * ss });
  }
  const notes: string[] = [];
  const writes: SectorWrite[] = [];
  const sector0 = Buffer.from(mbr.raw);
  let sector0Changed = false;
  const container = table.partitions.find((p) => p.kind === 'extended');
  const containerEntry = container ? mbr.entries.find((e) => e.slot === container.number - 1) : undefined;
  let grown: AdjustPlan['grown'];
  if (opts.growLast) {
    const last = lastPartition(table);
    const after = table.partitions.filter((p) => p !== last && p.firstLba > last.lastLba && !(last.kind === 'logical' && p === container));
    const ebrAfter = mbr.ebrs.filter((e) => e.lba > last.lastLba);
    if (after.length > 0 || ebrAfter.length > 0 || (last.kind !== 'logical' && container && container.lastLba > last.lastLba)) {
      const what = after[0] ? label(after[0]) : 'an extended partition record';
      throw new PartitionTableError('PARTITION_NOT_GROWABLE', `${label(last)} cannot grow: ${what} lies after it; leave out --grow-last`, { partition: last.number });
    }
    const newSectors = Math.min(n - last.firstLba, MAX_U32);
    if (last.firstLba + newSectors - 1 > last.lastLba) {
      const newLast = last.firstLba + newSectors - 1;
      grown = { number: last.number, firstLba: last.firstLba, oldLastLba: last.lastLba, newLastLba: newLast };
      if (last.kind === 'logical') {
        const ebr = mbr.ebrs.find((e) => e.logical && e.logical.firstLba === last.firstLba);
        if (!ebr || !container || !containerEntry) throw new InternalError(`partition plan: logical partition ${last.number} has no EBR`);
        const raw = Buffer.from(ebr.raw);
        setEntrySize(raw, 0, last.firstLba, newSectors);
        writes.push({ offset: ebr.lba * ss, bytes: raw, what: `EBR of partition ${last.number}` });
        const containerSectors = Math.min(newLast - container.firstLba + 1, MAX_U32);
        if (containerSectors !== containerEntry.sectors) {
          setEntrySize(sector0, containerEntry.slot, container.firstLba, containerSectors);
          sector0Changed = true;
          notes.push(`extended partition ${container.number} grown to end at sector ${newLast}`);
        }
      } else {
        setEntrySize(sector0, last.number - 1, last.firstLba, newSectors);
        sector0Changed = true;
      }
      const capped = newSectors === MAX_U32 && newLast < lastLba ? ' (an MBR partition holds at most 2^32-1 sectors)' : '';
      notes.push(`${label(last)} grown from ${last.size} to ${newSectors * ss} bytes (sectors ${last.firstLba}..${newLast}); its type and flags are kept${capped}`);
    } else {
      notes.push(`${label(last)} already ends at the last sector; not grown`);
    }
  }
  if (container && containerEntry && container.lastLba > lastLba) {
    setEntrySize(sector0, containerEntry.slot, container.firstLba, lastLba - container.firstLba + 1);
    sector0Changed = true;
    notes.push(`extended partition ${container.number} shrunk to end at the target's last sector ${lastLba}`);
  }
  // A container grown before the logical partition in it, so the table is never inconsistent.
  if (sector0Changed) writes.unshift({ offset: 0, bytes: sector0, what: 'MBR' });
  const copyLength = opts.targetSize < table.diskSize ? (maxLast + 1) * ss : table.diskSize;
  return { writes, notes, copyLength, grown };
}
