// The ledger as a table for people: one row per job.
import { fitTable } from '../../dashboard/format.js';
import { formatBytes } from '../units.js';
import type { LedgerRecord } from './record.js';

/** Control characters of an untrusted ledger never reach the terminal. */
const clean = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');

export function ledgerTable(records: readonly LedgerRecord[], width = process.stdout.isTTY && process.stdout.columns > 0 ? process.stdout.columns : Number.POSITIVE_INFINITY): string[] {
  const rows = [['ENDED', 'STATION', 'JOB', 'KIND', 'OUTCOME', 'SOURCE', 'TARGETS', 'SERIALS', 'BYTES', 'BAD', 'HASHES']];
  for (const r of records) {
    const src = r.drives.filter((d) => d.role === 'source');
    const tgt = r.drives.filter((d) => d.role === 'target');
    const serials = r.drives.map((d) => d.serial).filter((s): s is string => typeof s === 'string');
    rows.push([
      String(r.endedAt).replace(/\.\d+Z$/, 'Z'),
      String(r.station),
      String(r.job),
      String(r.kind),
      String(r.outcome),
      src.map((d) => String(d.path)).join(' '),
      tgt.map((d) => `${d.path}${d.state && d.state !== r.outcome ? ` (${d.state})` : ''}`).join(' '),
      serials.join(' '),
      formatBytes(Number(r.bytes) || 0),
      formatBytes(Number(r.bytesBad) || 0),
      Object.entries(r.hashes ?? {}).map(([a, h]) => `${a}:${String(h).slice(0, 16)}`).join(' '),
    ].map(clean));
  }
  return fitTable(rows, width, { paths: [5, 6], wrap: [10], min: 8 });
}
