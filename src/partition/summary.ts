// A JSON-safe summary of a partition table, for manifests, `list --json` and `image info`.

import type { MbrKind, Partition, PartitionTable, Problem, Scheme } from './model.js';

export interface TableSummary {
  scheme: Scheme;
  sectorSize: number;
  diskSize: number;
  /** protective, hybrid or plain; absent without an MBR */
  mbr?: MbrKind;
  diskGuid?: string;
  diskSignature?: string;
  firstUsableLba?: number;
  lastUsableLba?: number;
  /** GPT: the copy the partitions were read from when it was not the primary */
  readFromBackup?: true;
  partitions: Partition[];
  warnings: string[];
  problems: Problem[];
}

/** The table without its raw sectors: plain data that JSON.stringify keeps exactly. */
export function summarizeTable(t: PartitionTable): TableSummary {
  const s: TableSummary = { scheme: t.scheme, sectorSize: t.sectorSize, diskSize: t.diskSize, partitions: t.partitions.map((p) => ({ ...p })), warnings: [...t.warnings], problems: t.problems.map((p) => ({ ...p })) };
  if (t.mbr) s.mbr = t.mbr.kind;
  if (t.diskGuid !== undefined) s.diskGuid = t.diskGuid;
  if (t.diskSignature !== undefined) s.diskSignature = t.diskSignature;
  if (t.firstUsableLba !== undefined) s.firstUsableLba = t.firstUsableLba;
  if (t.lastUsableLba !== undefined) s.lastUsableLba = t.lastUsableLba;
  if (t.gpt?.usedFrom === 'backup') s.readFromBackup = true;
  return s;
}
