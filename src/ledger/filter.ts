// Which ledger records a listing shows (serial, kind, outcome, a time window), and several stations' ledgers joined in time order.
import type { LedgerRecord } from './record.js';

export interface LedgerFilter {
  /** a drive's serial, any role (exact, case-insensitive) */
  serial?: string;
  kind?: string;
  outcome?: string;
  /** ended at or after (ms since the epoch) */
  since?: number;
  /** ended before */
  until?: number;
}

export function matches(r: LedgerRecord, f: LedgerFilter): boolean {
  if (f.kind !== undefined && r.kind !== f.kind) return false;
  if (f.outcome !== undefined && r.outcome !== f.outcome) return false;
  const ended = Date.parse(r.endedAt);
  if (f.since !== undefined && ended < f.since) return false;
  if (f.until !== undefined && ended >= f.until) return false;
  if (f.serial !== undefined) {
    const want = f.serial.toLowerCase();
    if (!r.drives.some((d) => typeof d.serial === 'string' && d.serial.toLowerCase() === want)) return false;
  }
  return true;
}

/**
 * Several ledgers as one, oldest first; a record in two of them (a ledger copied into
 * another) is listed once: station, run and job name it.
 */
export function joinLedgers(lists: readonly LedgerRecord[][], f: LedgerFilter = {}): LedgerRecord[] {
  const seen = new Set<string>();
  const out: LedgerRecord[] = [];
  for (const list of lists) {
    for (const r of list) {
      const key = `${r.station}\0${r.run}\0${r.job}`;
      if (seen.has(key) || !matches(r, f)) continue;
      seen.add(key);
      out.push(r);
    }
  }
  return out.sort((a, b) => Date.parse(a.endedAt) - Date.parse(b.endedAt));
}
