// What a station is asked to do, from the command line (--pair) or a job file; light on
// imports, so the CLI can read it before it loads the station.
import { readInputFile } from '../outpath.js';
import { UsageError } from '../errors.js';
import type { StationJobInput } from './station.js';

/** `SRC:DST` for --pair; a colon in a path can be escaped as `\:`. */
export function parsePair(text: string): StationJobInput {
  const parts = text.split(/(?<!\\):/).map((p) => p.replace(/\\:/g, ':'));
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UsageError(`--pair ${JSON.stringify(text)} is not SOURCE:TARGET`, 'USAGE');
  return { source: parts[0], targets: [parts[1]] };
}

const jobKeys = new Set(['source', 'targets', 'offset', 'length', 'targetOffset', 'map']);
const topKeys = new Set(['jobs', 'maxParallel', 'verify']);
/** A job file larger than this is refused unread (10,000 jobs take about 1 MiB). */
export const JOBFILE_MAX_BYTES = 16 << 20;


/**
 * Node 20 names no position for some errors ("Unexpected token 'x'"): a JSON syntax scan
 * (RFC 8259) finds the first byte that cannot continue the text, or undefined.
 */
export function firstBadByte(text: string): number | undefined {
  let i = 0;
  class Stop {
    constructor(readonly at: number) {}
  }
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const fail = (): never => {
    throw new Stop(i);
  };
  const lit = (word: string): void => {
    for (const c of word) {
      if (text[i] !== c) fail();
      i++;
    }
  };
  const str = (): void => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          i++;
          for (let k = 0; k < 4; k++, i++) if (!/[0-9a-fA-F]/.test(text[i] ?? '')) fail();
          continue;
        }
        if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const num = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '' || m[0] === '-') fail();
    i += m![0].length;
  };
  const value = (depth: number): void => {
    if (depth > 10000) fail();
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          ws();
          if (text[i] !== '"') fail();
          str();
          ws();
          if (text[i] !== ':') fail();
          i++;
        }
        value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          return;
        }
        fail();
      }
    }
    if (c === '"') return str();
    if (c === 't') return lit('true');
    if (c === 'f') return lit('false');
    if (c === 'n') return lit('null');
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return num();
    fail();
  };
  try {
    value(0);
    ws();
    return i < text.length ? i : undefined;
  } catch (e) {
    if (e instanceof Stop) return e.at;
    return undefined; // too deep for this scan: no position
  }
}

/** Where JSON.parse stopped, as line and column, with its reason on one line. */
export function jsonErrorText(text: string, e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const at = /at position (\d+)/.exec(message);
  const pos = at ? Number(at[1]) : /end of (JSON|data)/i.test(message) ? text.length : firstBadByte(text);
  // Node quotes part of the text in some messages: drop it (it may hold control characters)
  const reason = message.replace(/,\s*".*$/s, '').replace(/\s+(?:(?:in|after) JSON\s+)?at position \d+.*$/s, '').replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 120);
  if (pos === undefined) return reason;
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `${reason} at line ${line}, column ${column} (character ${pos + 1})`;
}

/** A job file: {"jobs": [{"source": "...", "targets": ["..."], "offset"?, "length"?, "targetOffset"?, "map"?}], "maxParallel"?, "verify"?}. */
export function parseJobFile(path: string): { jobs: StationJobInput[]; maxParallel?: number; verify?: boolean } {
  // a regular file of sane size: a FIFO or device is refused, never waited on (src/outpath.ts)
  const bytes = readInputFile(path, 'job file', JOBFILE_MAX_BYTES, { code: 'BAD_JOBFILE', tooLarge: `more than a job file may be (${JOBFILE_MAX_BYTES}): split it` });
  if (bytes === undefined) throw new UsageError(`job file ${path} does not exist`, 'NOT_FOUND');
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`job file ${path} is not JSON: ${jsonErrorText(text, e)}: fix it`, 'BAD_JOBFILE');
  }
  return parseJobDocument(doc, path);
}

/** Checks a parsed job file against its schema; every field is known and of its type, or BAD_JOBFILE names it. */
export function parseJobDocument(doc: unknown, path: string): { jobs: StationJobInput[]; maxParallel?: number; verify?: boolean } {
  const bad = (what: string): UsageError => new UsageError(`job file ${path}: ${what}`, 'BAD_JOBFILE');
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('must be a JSON object with a "jobs" array');
  for (const k of Object.keys(doc)) if (!topKeys.has(k)) throw bad(`unknown field ${JSON.stringify(k).slice(0, 80)} (known: ${[...topKeys].join(', ')})`);
  const d = doc as { jobs?: unknown; maxParallel?: unknown; verify?: unknown };
  if (!Array.isArray(d.jobs)) throw bad('needs a "jobs" array');
  if (d.jobs.length === 0) throw bad('"jobs" is empty');
  if (d.maxParallel !== undefined && (!Number.isInteger(d.maxParallel) || (d.maxParallel as number) < 1 || (d.maxParallel as number) > 64)) throw bad('"maxParallel" must be a whole number from 1 to 64');
  if (d.verify !== undefined && typeof d.verify !== 'boolean') throw bad('"verify" must be true or false');
  const path1 = (v: unknown): boolean => typeof v === 'string' && v.length > 0 && !v.includes('\0');
  const jobs = d.jobs.map((j, i) => {
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad(`job ${i + 1} is not an object`);
    const o = j as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!jobKeys.has(k)) throw bad(`job ${i + 1} has an unknown field ${JSON.stringify(k).slice(0, 80)} (known: ${[...jobKeys].join(', ')})`);
    if (!path1(o.source)) throw bad(`job ${i + 1} needs a "source" path`);
    if (!Array.isArray(o.targets) || o.targets.length === 0 || !o.targets.every(path1)) throw bad(`job ${i + 1} needs "targets": a list of paths`);
    for (const k of ['offset', 'length', 'targetOffset'] as const) {
      const v = o[k];
      if (v === undefined) continue;
      if (typeof v === 'number' ? !Number.isSafeInteger(v) || v < 0 : typeof v !== 'string' || v.trim() === '')
        throw bad(`job ${i + 1}: "${k}" must be a size like "4MiB" or a whole number of bytes`);
    }
    if (o.map !== undefined && !path1(o.map)) throw bad(`job ${i + 1}: "map" must be the path of a ddrescue mapfile`);
    if (o.map !== undefined && (o.targets as string[]).length !== 1) throw bad(`job ${i + 1}: a job with a "map" rescues to exactly one target`);
    const size = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));
    return { source: o.source as string, targets: o.targets as string[], offset: size(o.offset), length: size(o.length), targetOffset: size(o.targetOffset), map: o.map as string | undefined };
  });
  return { jobs, maxParallel: d.maxParallel as number | undefined, verify: d.verify as boolean | undefined };
}
