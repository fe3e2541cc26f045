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

/** A job file: {"jobs": [{"source": "...", "targets": ["..."], "offset"?, "length"?, "targetOffset"?, "map"?}], "maxParallel"?, "verify"?}. */
export function parseJobFile(path: string): { jobs: StationJobInput[]; maxParallel?: number; verify?: boolean } {
  // a regular file of sane size: a FIFO or device is refused, never waited on (src/outpath.ts)
  const text = readInputFile(path, 'job file', 64 << 20, { code: 'BAD_JOBFILE' });
  if (text === undefined) throw new UsageError(`job file ${path} does not exist`, 'NOT_FOUND');
  let doc: unknown;
  try {
    doc = JSON.parse(text.toString('utf8'));
  } catch (e) {
    throw new UsageError(`job file ${path} is not JSON (${(e as Error).message}): fix it`, 'BAD_JOBFILE');
  }
  const bad = (what: string): UsageError => new UsageError(`job file ${path}: ${what}`, 'BAD_JOBFILE');
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { jobs?: unknown }).jobs)) throw bad('needs a "jobs" array');
  const d = doc as { jobs: unknown[]; maxParallel?: unknown; verify?: unknown };
  if (d.jobs.length === 0) throw bad('"jobs" is empty');
  if (d.maxParallel !== undefined && (!Number.isInteger(d.maxParallel) || (d.maxParallel as number) < 1)) throw bad('"maxParallel" must be a whole number >= 1');
  if (d.verify !== undefined && typeof d.verify !== 'boolean') throw bad('"verify" must be true or false');
  const jobs = d.jobs.map((j, i) => {
    if (typeof j !== 'object' || j === null) throw bad(`job ${i + 1} is not an object`);
    const o = j as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!jobKeys.has(k)) throw bad(`job ${i + 1} has an unknown field "${k}" (known: ${[...jobKeys].join(', ')})`);
    if (typeof o.source !== 'string' || !o.source) throw bad(`job ${i + 1} needs a "source" path`);
    if (!Array.isArray(o.targets) || o.targets.length === 0 || !o.targets.every((t) => typeof t === 'string' && t)) throw bad(`job ${i + 1} needs "targets": a list of paths`);
    for (const k of ['offset', 'length', 'targetOffset'] as const)
      if (o[k] !== undefined && typeof o[k] !== 'string' && typeof o[k] !== 'number') throw bad(`job ${i + 1}: "${k}" must be a size like "4MiB" or a number of bytes`);
    if (o.map !== undefined && (typeof o.map !== 'string' || !o.map)) throw bad(`job ${i + 1}: "map" must be the path of a ddrescue mapfile`);
    if (o.map !== undefined && (o.targets as string[]).length !== 1) throw bad(`job ${i + 1}: a job with a "map" rescues to exactly one target`);
    const size = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));
    return { source: o.source, targets: o.targets as string[], offset: size(o.offset), length: size(o.length), targetOffset: size(o.targetOffset), map: o.map as string | undefined };
  });
  return { jobs, maxParallel: d.maxParallel as number | undefined, verify: d.verify as boolean | undefined };
}
