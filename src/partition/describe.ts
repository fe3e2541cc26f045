// A partition table as `list` and `image info` show it: the summary, each partition's file
// system from its superblock, and the lines a person reads.
import { closeSync, openSync } from 'node:fs';
import { formatBytes } from '../units.js';
import { fdReader } from './io.js';
import { readTableOf, type TableSource } from './open.js';
import { FS_HEAD, probeFs } from './fs-probe.js';
import type { PartitionTable, Reader } from './model.js';
import { summarizeTable, type TableSummary } from './summary.js';

export interface DescribedTable extends TableSummary {
  /** by partition number: the file system found at its start */
  fs: Record<number, { type: string; label?: string }>;
}

/** The table with each data partition's file system (read through `reader`; a read that fails leaves it out). */
export async function describeTable(table: PartitionTable, reader: Reader): Promise<DescribedTable> {
  const fs: DescribedTable['fs'] = {};
  for (const p of table.partitions) {
    if (p.kind === 'extended') continue;
    try {
      const found = probeFs(await reader(p.start, Math.min(FS_HEAD, p.size)));
      if (found) fs[p.number] = found;
    } catch {
      // unreadable: shown without a file system
    }
  }
  return { ...summarizeTable(table), fs };
}

/** Lines for people: the scheme, then one row a partition (NR START SIZE TYPE LABEL FS). */
export function tableLines(t: DescribedTable, indent = ''): string[] {
  if (t.scheme === 'none') return [`${indent}no partition table`];
  const head = `${indent}${t.scheme === 'gpt' ? `GPT${t.mbr === 'hybrid' ? ' (hybrid MBR)' : ''}, disk GUID ${t.diskGuid}` : `MBR, disk signature ${t.diskSignature}`}, ${t.sectorSize}-byte sectors${t.readFromBackup ? ', read from the backup GPT (the primary is damaged)' : ''}`;
  const rows = [['NR', 'START', 'END', 'SIZE', 'TYPE', 'LABEL', 'FS']];
  for (const p of t.partitions) {
    const f = t.fs[p.number];
    rows.push([String(p.number), `${p.firstLba}s`, `${p.lastLba}s`, formatBytes(p.size), p.kind === 'extended' ? `${p.typeName} (extended)` : p.typeName, p.name || '-', f ? `${f.type}${f.label ? ` "${f.label}"` : ''}` : '-']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => `${indent}  ${r.map((c, i) => (i === 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd()}`);
  const problems = t.problems.map((p) => `${indent}  problem: ${p.message}`);
  const warnings = t.warnings.map((w) => `${indent}  note: ${w}`);
  return [head, ...lines, ...warnings, ...problems];
}

/** The described table of a drive (at its logical sector size) or a raw image file. */
export async function describeDrive(src: TableSource): Promise<DescribedTable> {
  const table = await readTableOf(src);
  const fd = openSync(src.path, 'r');
  try {
    return await describeTable(table, fdReader(fd));
  } finally {
    closeSync(fd);
  }
}
