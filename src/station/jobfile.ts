// What a station is asked to do, from the command line (--pair) or a job file: each job's
// fields checked against its kind's declaration (src/jobs/<kind>.ts) before anything starts.
import { readInputFile } from '../outpath.js';
import { UsageError } from '../errors.js';
import type { StationJobInput } from './station.js';
import { defaultKind, kindNamed, kindNames, kindsAsked, loadKinds } from '../jobs/index.js';
import type { FieldDecl } from '../jobs/kind.js';
import { HASH_ALGORITHMS } from '../image/hash.js';
import { nearest } from '../command.js';

/**
 * `A:B` for --pair (SRC:DST, SRC:OUT, IMAGE:DRIVE); a colon in a path can be escaped as
 * `\:`. `job` makes the job of the two paths (default: a clone of A to B).
 */
export function parsePair(text: string, job: (a: string, b: string) => StationJobInput = (a, b) => ({ source: a, targets: [b] }), shape = 'SOURCE:TARGET'): StationJobInput {
  const parts = text.split(/(?<!\\):/).map((p) => p.replace(/\\:/g, ':'));
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UsageError(`--pair ${JSON.stringify(text)} is not ${shape}`, 'USAGE');
  return job(parts[0], parts[1]);
}

const topKeys = new Set(['jobs', 'maxParallel', 'verify', 'metrics']);
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

/** A job file: {"jobs": [{"kind"?: a registered kind's name, ...its fields}], "maxParallel"?, "verify"?}. */
export async function parseJobFile(path: string): Promise<{ jobs: StationJobInput[]; maxParallel?: number; verify?: boolean; metrics?: string }> {
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
  return await parseJobDocument(doc, path);
}

const isPath = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && !v.includes('\0');

/** What is wrong with one field's value by its declaration, or undefined. */
function fieldProblem(name: string, f: FieldDecl, v: unknown): string | undefined {
  switch (f.type) {
    case 'path':
      return isPath(v) ? undefined : f.required ? `needs a "${name}" path` : `"${name}" must be a path (${f.help})`;
    case 'paths':
      if (!Array.isArray(v) || v.length === 0 || !v.every(isPath)) return `needs "${name}": a list of paths`;
      return f.exactly !== undefined && v.length !== f.exactly ? `"${name}" must hold exactly ${f.exactly} path${f.exactly === 1 ? '' : 's'}, not ${v.length}` : undefined;
    case 'size':
      return (typeof v === 'number' ? Number.isSafeInteger(v) && v >= 0 : typeof v === 'string' && v.trim() !== '') ? undefined : `"${name}" must be a size like "4MiB" or a whole number of bytes`;
    case 'boolean':
      return typeof v === 'boolean' ? undefined : `"${name}" must be true or false`;
    case 'count':
      return Number.isInteger(v) && (v as number) >= (f.min ?? 0) && (v as number) <= (f.max ?? Number.MAX_SAFE_INTEGER) ? undefined : `"${name}" must be a whole number from ${f.min ?? 0} to ${f.max ?? Number.MAX_SAFE_INTEGER}`;
    case 'string':
      return typeof v === 'string' && v.length > 0 && !v.includes('\0') ? undefined : `"${name}" must be a text (${f.help})`;
    case 'strings':
      return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0 && !x.includes('\0')) ? undefined : `"${name}" must be a list of texts (${f.help})`;
    case 'enum':
      return typeof v === 'string' && (f.values ?? []).includes(v) ? undefined : `"${name}" must be one of ${(f.values ?? []).join(', ')}`;
    case 'hashes':
      return Array.isArray(v) && v.every((a) => (HASH_ALGORITHMS as readonly unknown[]).includes(a)) ? undefined : `"${name}" must be a list of hash names (${HASH_ALGORITHMS.join(', ')})`;
  }
}

/**
 * Checks a parsed job file: every field is known and of its type, by the declaration of the
 * job's kind (`kind`; without it, a job with a "map" is a rescue, any other a clone), or
 * BAD_JOBFILE names the job and the field.
 */
export async function parseJobDocument(doc: unknown, path: string): Promise<{ jobs: StationJobInput[]; maxParallel?: number; verify?: boolean; metrics?: string }> {
  const bad = (what: string): UsageError => new UsageError(`job file ${path}: ${what}`, 'BAD_JOBFILE');
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('must be a JSON object with a "jobs" array');
  for (const k of Object.keys(doc)) if (!topKeys.has(k)) throw bad(`unknown field ${JSON.stringify(k).slice(0, 80)} (known: ${[...topKeys].join(', ')})`);
  const d = doc as { jobs?: unknown; maxParallel?: unknown; verify?: unknown; metrics?: unknown };
  if (!Array.isArray(d.jobs)) throw bad('needs a "jobs" array');
  if (d.jobs.length === 0) throw bad('"jobs" is empty');
  if (d.maxParallel !== undefined && (!Number.isInteger(d.maxParallel) || (d.maxParallel as number) < 1 || (d.maxParallel as number) > 64)) throw bad('"maxParallel" must be a whole number from 1 to 64');
  if (d.verify !== undefined && typeof d.verify !== 'boolean') throw bad('"verify" must be true or false');
  if (d.metrics !== undefined && (typeof d.metrics !== 'string' || !/^\S{1,300}:\d{1,5}$/.test(d.metrics))) throw bad('"metrics" must be "ADDRESS:PORT" (e.g. "127.0.0.1:9464"), where Prometheus scrapes the run');
  // the kinds the jobs name, loaded (only those): their declarations check the jobs' fields
  await loadKinds(kindsAsked(d.jobs.filter((j): j is Record<string, unknown> => typeof j === 'object' && j !== null && !Array.isArray(j))));
  const jobs = d.jobs.map((j, i): StationJobInput => {
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad(`job ${i + 1} is not an object`);
    const o = j as Record<string, unknown>;
    if (o.kind !== undefined && (typeof o.kind !== 'string' || !kindNamed(o.kind))) {
      const near = typeof o.kind === 'string' ? nearest(o.kind, kindNames()) : undefined;
      throw bad(`job ${i + 1}: "kind" must be one of ${kindNames().join(', ')}${near ? ` (did you mean "${near}"?)` : ''}`);
    }
    const name = (o.kind as string | undefined) ?? defaultKind(o);
    const kind = kindNamed(name)!;
    const job = o.kind !== undefined ? `job ${i + 1} (${name})` : `job ${i + 1}`;
    const fields = Object.entries(kind.fields).filter(([, f]) => !f.internal);
    const known = new Set(['kind', ...fields.map(([k]) => k)]);
    for (const k of Object.keys(o)) {
      if (known.has(k)) continue;
      const near = nearest(k, [...known]);
      throw bad(`${job} has an unknown field ${JSON.stringify(k).slice(0, 80)}${near ? ` (did you mean "${near}"?)` : ''} (known: ${[...known].join(', ')})`);
    }
    const entry: StationJobInput = { kind: name };
    for (const [k, f] of fields) {
      const v = o[k];
      if (v === undefined && !f.required) continue;
      const problem = fieldProblem(k, f, v);
      if (problem) throw bad(problem.startsWith('needs') ? `${job} ${problem}` : `${job}: ${problem}`);
      entry[k] = f.type === 'size' ? String(v) : v;
    }
    return entry;
  });
  return { jobs, maxParallel: d.maxParallel as number | undefined, verify: d.verify as boolean | undefined, ...(d.metrics !== undefined ? { metrics: d.metrics as string } : {}) };
}
