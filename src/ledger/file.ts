// The ledger file: one JSON line per finished job, appended (O_APPEND) and fsynced, never rewritten; read back line by line, a bad line reported and skipped.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { LedgerRecord } from './record.js';

/** $CLONESTATION_LEDGER, else $XDG_STATE_HOME/clonestation/ledger.jsonl (~/.local/state). */
export function defaultLedgerPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLONESTATION_LEDGER) return env.CLONESTATION_LEDGER;
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'clonestation', 'ledger.jsonl');
}

/**
 * Appends one line and fsyncs it: the line is on the disk when this returns. O_APPEND puts
 * each line after every earlier one, even with two stations appending to one file; a new
 * file's folder is made and fsynced too, so the file survives a crash.
 */
export function appendLedger(path: string, record: LedgerRecord): void {
  const line = `${JSON.stringify(record)}\n`;
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(path, 'a', 0o644);
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
  try {
    const buf = Buffer.from(line);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface LedgerProblem {
  file: string;
  line: number;
  why: string;
}

/** The longest line read as a record: anything longer is not one of ours. */
const MAX_LINE = 1 << 20;

/** Checks an untrusted line's shape: the fields the filters and the listing read. */
function recordProblem(v: unknown): string | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  for (const k of ['station', 'kind', 'outcome', 'endedAt', 'run'] as const) if (typeof r[k] !== 'string') return `"${k}" is not a string`;
  if (!Number.isFinite(Date.parse(r.endedAt as string))) return '"endedAt" is not a date';
  if (typeof r.job !== 'number') return '"job" is not a number';
  if (!Array.isArray(r.drives) || !r.drives.every((d) => d && typeof d === 'object' && typeof (d as { path?: unknown }).path === 'string')) return '"drives" is not a list of drives';
  for (const k of ['bytes', 'bytesDone', 'bytesBad', 'seconds'] as const) if (r[k] !== undefined && typeof r[k] !== 'number') return `"${k}" is not a number`;
  return undefined;
}

/** Every record of `text` (a ledger's contents), and every line that is not one. */
export function parseLedger(text: string, file: string): { records: LedgerRecord[]; problems: LedgerProblem[] } {
  const records: LedgerRecord[] = [];
  const problems: LedgerProblem[] = [];
  const lines = text.split('\n');
  // a last line without its newline is a write cut short (a crash): reported like any other
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.trim() === '') continue;
    if (l.length > MAX_LINE) {
      problems.push({ file, line: i + 1, why: 'a line too long to be a record' });
      continue;
    }
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      problems.push({ file, line: i + 1, why: i === lines.length - 1 ? 'not JSON (cut short: no newline at the end)' : 'not JSON' });
      continue;
    }
    const why = recordProblem(v);
    if (why) problems.push({ file, line: i + 1, why });
    else records.push(v as LedgerRecord);
  }
  return { records, problems };
}

export function readLedger(file: string): { records: LedgerRecord[]; problems: LedgerProblem[] } {
  return parseLedger(readFileSync(file, 'utf8'), file);
}
