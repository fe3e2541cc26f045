// Every job kind the station knows, by name: registered here (a line each), never switched on.
import { InternalError, UsageError } from '../errors.js';
import type { JobEntry, JobKind, JobResult } from './kind.js';
import cloneKind from './clone.js';
import rescueKind from './rescue.js';
import backupKind from './backup.js';
import restoreKind from './restore.js';
import verifyKind from './verify.js';
import benchKind from './bench.js';
import eraseKind from './erase.js';

// (the registry holds kinds of every payload and result type: their members are only
// ever called with what the same kind planned)
type AnyKind = JobKind<never, JobResult>;
const kinds = new Map<string, AnyKind>();

/** Makes a kind known to the station, the job-file reader and the worker (tests add their own). */
export function registerKind<P, R extends JobResult>(kind: JobKind<P, R>): void {
  if (kinds.has(kind.name) && kinds.get(kind.name) !== (kind as unknown as AnyKind)) throw new InternalError(`a job kind named ${kind.name} is registered already`);
  kinds.set(kind.name, kind as unknown as AnyKind);
}

export function kindNamed(name: string): JobKind | undefined {
  return kinds.get(name) as JobKind | undefined;
}

export function kindNames(): string[] {
  return [...kinds.keys()];
}

registerKind(cloneKind);
registerKind(rescueKind);
registerKind(backupKind);
registerKind(restoreKind);
registerKind(verifyKind);
registerKind(benchKind);
registerKind(eraseKind);

/** The kind of a job that names none: job files from before kinds had clones, and rescues (with a map). */
export function defaultKind(input: { [field: string]: unknown }): string {
  return input.map !== undefined ? 'rescue' : 'clone';
}

/**
 * The kind of a job as asked, and its entry without unset fields. Without `kind`, a job with
 * a map is a rescue and any other a clone (job files and --pair from before kinds).
 */
export function entryKind(input: { kind?: string; [field: string]: unknown }): { kind: JobKind; entry: JobEntry } {
  const name = input.kind ?? defaultKind(input);
  const kind = kindNamed(name);
  if (!kind) throw new UsageError(`no job kind is named ${JSON.stringify(name).slice(0, 80)} (known: ${kindNames().join(', ')})`, 'USAGE');
  const entry: JobEntry = { kind: name };
  for (const [k, v] of Object.entries(input)) if (v !== undefined && k !== 'kind') entry[k] = v;
  return { kind, entry };
}

/** Whether jobs as asked have JS work of their own (a worker per core), or only copies (one worker). */
export function needsJsWork(inputs: readonly { kind?: string; [field: string]: unknown }[], hash: readonly string[] | undefined): boolean {
  return Boolean(hash?.length) || inputs.some((i) => entryKind(i).kind.jsWork);
}

/** The paths a job as asked names (its kind's path fields), with what each is, for messages. */
export function entryPaths(input: { kind?: string; [field: string]: unknown }, id: number): { path: string; role: string }[] {
  const { kind, entry } = entryKind(input);
  const out: { path: string; role: string }[] = [];
  for (const [name, f] of Object.entries(kind.fields)) {
    const v = entry[name];
    if (f.type === 'path' && typeof v === 'string') out.push({ path: v, role: `the ${name} of job ${id}` });
    if (f.type === 'paths' && Array.isArray(v)) for (const p of v) if (typeof p === 'string') out.push({ path: p, role: `a ${name.replace(/s$/, '')} of job ${id}` });
  }
  return out;
}
