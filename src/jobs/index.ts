// Every job kind the station knows, by name: registered here (a line each), never switched on.
// A kind's module is loaded only when a job of that kind is asked for: a station of clones
// does not pay for loading backup's, restore's or bench's policy.
import { InternalError, UsageError } from '../errors.js';
import type { JobEntry, JobKind, JobResult } from './kind.js';

// (the registry holds kinds of every payload and result type: their members are only
// ever called with what the same kind planned)
type AnyKind = JobKind<never, JobResult>;

/**
 * The built-in kinds: each one's module, and whether its jobs have JS work of their own (so
 * the pool can be sized before any kind is loaded; a unit test checks it against the kind's).
 */
export const BUILT_IN_KINDS: Readonly<Record<string, { jsWork: boolean; load: () => Promise<{ default: JobKind }> }>> = {
  clone: { jsWork: false, load: () => import('./clone.js') as Promise<{ default: JobKind }> },
  rescue: { jsWork: true, load: () => import('./rescue.js') as Promise<{ default: JobKind }> },
  backup: { jsWork: true, load: () => import('./backup.js') as Promise<{ default: JobKind }> },
  restore: { jsWork: true, load: () => import('./restore.js') as Promise<{ default: JobKind }> },
  verify: { jsWork: true, load: () => import('./verify.js') as Promise<{ default: JobKind }> },
  bench: { jsWork: false, load: () => import('./bench.js') as Promise<{ default: JobKind }> },
  erase: { jsWork: false, load: () => import('./erase.js') as Promise<{ default: JobKind }> },
};

/**
 * The file of a built-in kind (beside this one, in its language: a worker needs the compiled
 * one, src/worker-file.ts compiledFile), known without loading it: a station's workers start
 * importing their kinds while the main thread plans.
 */
export function builtInModule(name: string): string | undefined {
  if (!Object.hasOwn(BUILT_IN_KINDS, name)) return undefined;
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, import.meta.url).href;
}

const loaded = new Map<string, AnyKind>();

/** Makes a kind known to the station, the job-file reader and the worker (tests add their own). */
export function registerKind<P, R extends JobResult>(kind: JobKind<P, R>): void {
  if (loaded.has(kind.name) && loaded.get(kind.name) !== (kind as unknown as AnyKind)) throw new InternalError(`a job kind named ${kind.name} is registered already`);
  loaded.set(kind.name, kind as unknown as AnyKind);
}

/** Every kind's name, the built-in ones first. */
export function kindNames(): string[] {
  return [...new Set([...Object.keys(BUILT_IN_KINDS), ...loaded.keys()])];
}

/** A kind already loaded (loadKinds) or registered. */
export function kindNamed(name: string): JobKind | undefined {
  return loaded.get(name) as JobKind | undefined;
}

/** Loads the built-in kinds named (unknown names are left for the caller to refuse). */
export async function loadKinds(names: Iterable<string>): Promise<void> {
  await Promise.all(
    [...new Set(names)].map(async (n) => {
      const b = Object.hasOwn(BUILT_IN_KINDS, n) ? BUILT_IN_KINDS[n] : undefined;
      if (b && !loaded.has(n)) registerKind((await b.load()).default);
    }),
  );
}

/** Every built-in kind, loaded (the README's table of fields, help). */
export async function loadAllKinds(): Promise<JobKind[]> {
  await loadKinds(Object.keys(BUILT_IN_KINDS));
  return kindNames().map((n) => loaded.get(n) as JobKind);
}

/** The kind of a job that names none: job files from before kinds had clones, and rescues (with a map). */
export function defaultKind(input: { [field: string]: unknown }): string {
  return input.map !== undefined ? 'rescue' : 'clone';
}

/** The kind names jobs as asked use. */
export function kindsAsked(inputs: readonly { kind?: unknown; [field: string]: unknown }[]): string[] {
  return inputs.map((i) => (typeof i.kind === 'string' ? i.kind : defaultKind(i)));
}

/**
 * The kind of a job as asked (loaded: loadKinds first), and its entry without unset fields.
 * Without `kind`, a job with a map is a rescue and any other a clone (job files and --pair from
 * before kinds).
 */
export function entryKind(input: { kind?: string; [field: string]: unknown }): { kind: JobKind; entry: JobEntry } {
  const name = input.kind ?? defaultKind(input);
  const kind = kindNamed(name);
  if (!kind) {
    if (kindNames().includes(name)) throw new InternalError(`job kind ${name} was not loaded before its job was planned`);
    throw new UsageError(`no job kind is named ${JSON.stringify(name).slice(0, 80)} (known: ${kindNames().join(', ')})`, 'USAGE');
  }
  const entry: JobEntry = { kind: name };
  for (const [k, v] of Object.entries(input)) if (v !== undefined && k !== 'kind') entry[k] = v;
  return { kind, entry };
}

/** Whether jobs as asked have JS work of their own (a worker per core), or only copies (one worker); loads nothing. */
export function needsJsWork(inputs: readonly { kind?: string; [field: string]: unknown }[], hash: readonly string[] | undefined): boolean {
  return Boolean(hash?.length) || kindsAsked(inputs).some((n) => (Object.hasOwn(BUILT_IN_KINDS, n) ? BUILT_IN_KINDS[n].jsWork : (kindNamed(n)?.jsWork ?? true)));
}

/** The paths a job as asked names (its kind's path fields), with what each is, for messages (its kind loaded). */
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
