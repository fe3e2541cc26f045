// The job model: what a kind of job (clone, rescue, backup, restore, verify, ...) declares,
// and what the station, the worker and the dashboard give it. A kind is one module that
// default-exports a JobKind; the station, the worker task, the dashboard adapter and the
// job-file reader call these members and never a kind by name.
import type { DriveInfo } from '../drive.js';
import type { JobView } from '../../dashboard/source.js';
import type { Backend } from '../native.js';
import type { HashAlgorithm } from '../image/hash.js';
import type { MapSnapshot } from '../rescue/snapshot.js';
import type { EventSink, TaskState } from '../contract.js';


/** A field of a job-file entry, declared with its type and help (the reader checks it). */
export interface FieldDecl {
  type: 'path' | 'paths' | 'size' | 'boolean' | 'count' | 'string' | 'strings' | 'enum' | 'hashes';
  /** enum: the values taken */
  values?: readonly string[];
  help: string;
  required?: boolean;
  /** count: the bounds */
  min?: number;
  max?: number;
  /** paths: exactly this many */
  exactly?: number;
  /** a path the job writes (a target, an image): the run's report and log may not be one */
  writes?: boolean;
  /** for the program's own use (the demo's test mode): refused in job files */
  internal?: boolean;
}
export type Fields = Readonly<Record<string, FieldDecl>>;

/** One job as asked: `kind` and that kind's fields, checked against its declaration. */
export interface JobEntry {
  kind: string;
  [field: string]: unknown;
}

/** What every job of a station shares unless its entry says otherwise (the command's options). */
export interface StationDefaults {
  blockSize?: number;
  depth?: number;
  backend?: Backend;
  direct?: boolean;
  /** read back what was written; default: the kind's own (on for one master to many) */
  verify?: boolean;
  lagMs?: number;
  retries?: number;
  hash?: HashAlgorithm[];
  maxRate?: number;
  version: string;
  commandLine: string;
}

/** A drive or file a planned job reads or writes: the station refuses two jobs sharing one. */
export interface Touch {
  path: string;
  /** a drive (or an existing file) as inspected; undefined: a file not made yet */
  drive?: DriveInfo;
  /** e.g. 'the source', 'a target', 'the map', 'the image' */
  what: string;
  writes: boolean;
  /** a file of the job's own (map, image): compared by path and inode, not as a drive */
  file?: boolean;
  /** the file's name family (NAME.lock, NAME.partial, NAME.001 ...) is the job's too */
  ownsFamily?: boolean;
}

/** A job as planned on the main thread: every refusal done, the payload its run() gets. */
export interface PlannedJob<P = unknown, R extends JobResult = JobResult> {
  /** structured-cloneable: crosses to the worker */
  payload: P;
  /** for rows and reports: the drive or image read, and the drives or files written */
  source: { path: string; drive?: DriveInfo };
  targets: { path: string; drive?: DriveInfo }[];
  touches: Touch[];
  /** drives this job overwrites, for the run's one confirmation */
  overwrites: { drive: DriveInfo; what: string }[];
  /** bytes the job moves (the progress bar's whole) */
  length: number;
  /** shared memory its run publishes progress in (also in the payload's reach: see JobIo) */
  counters: Record<string, SharedArrayBuffer>;
  /** JS work of its own (hash taps, a rescue's policy, deflate): the pool gives a worker per core */
  jsWork: boolean;
  /** its ring cut to `share` bytes of the station's budget (RING_BUDGET_BYTES, jobs/ring.ts, by default); returns the bytes it will hold */
  fitRing(share: number): number;
  /** checks that need every job planned (a map that must load); after conflicts are known */
  check?(): void;
  /** on the main thread, after the confirmation, before the run (new files as .partial) */
  prepare?(): void;
  /** on the main thread, after the run (publish .partial files); may turn a result failed */
  settle?(result: R): void;
}

/** What every kind's run returns; a kind adds its own fields. */
export interface JobResult {
  state: TaskState;
  code?: string;
  reason?: string;
}

/** What a run gets besides its payload: the same on the main thread and in a worker. */
export interface JobIo {
  /** control and phase words (contract.ts) */
  control: Int32Array;
  /** where events go (contract.ts WorkerEvent): the task's MessagePort, or a sink on this thread */
  port?: EventSink;
  counters: Record<string, SharedArrayBuffer>;
}

/** What the main thread last heard of a running job (its events), for views. */
export interface JobLive {
  done?: number;
  total?: number;
  pass?: string;
  bytesBad?: number;
  map?: MapSnapshot;
  notes: string[];
}

export type JobState = 'queued' | 'running' | 'paused' | 'catching-up' | 'verifying' | 'done' | 'failed' | 'cancelled';

/** A job in a station: its plan, its state, what it last said, and its result. */
export interface StationJob<P = unknown, R extends JobResult = JobResult> {
  id: number;
  kind: JobKind<P, R>;
  planned: PlannedJob<P, R>;
  state: JobState;
  control: SharedArrayBuffer;
  live: JobLive;
  startedAt?: number;
  endedAt?: number;
  result?: R;
  /** why it ended as it did, when the run itself threw */
  error?: string;
  /** ring memory this job holds at most while it runs (set by the station's validate()) */
  ringBytes: number;
}

/** A job's row in the summary table: SOURCE, TARGET, STATE, BYTES, RATE, VERIFIED, NOTE. */
export type SummaryRow = [source: string, target: string, state: string, bytes: string, rate: string, verified: string, note: string];

export interface JobKind<P = unknown, R extends JobResult = JobResult> {
  name: string;
  summary: string;
  /** the file that default-exports this kind (import.meta.url): a worker imports it to run a job */
  module: string;
  /** its job-file fields (`kind` aside), with their help */
  fields: Fields;
  /** its jobs have JS work of their own (a policy, hashing, deflate): the pool gives a worker per core */
  jsWork: boolean;
  /** main thread: typed numbers and every refusal, before anything is written */
  plan(entry: JobEntry, defaults: StationDefaults, id: number): PlannedJob<P, R> | Promise<PlannedJob<P, R>>;
  /** the policy, the same in a worker and on the main thread */
  run(payload: P, io: JobIo): Promise<R>;
  /** its dashboard row (DashboardSource's JobView) */
  view(job: StationJob<P, R>): JobView;
  /** its section of the run's report */
  report(job: StationJob<P, R>): Record<string, unknown>;
  /** its rows in the summary table (one per target) */
  rows(job: StationJob<P, R>): SummaryRow[];
}

/** Declares a kind (the identity function, for the types). */
export function defineKind<P, R extends JobResult>(kind: JobKind<P, R>): JobKind<P, R> {
  return kind;
}

/** The job states in which a job is over. */
export const ENDED: ReadonlySet<JobState> = new Set<JobState>(['done', 'failed', 'cancelled']);

/** Seconds a job ran so far (or in all, once ended). */
export function elapsedSeconds(job: Pick<StationJob, 'startedAt' | 'endedAt'>, now = Date.now()): number {
  return job.startedAt ? ((job.endedAt ?? now) - job.startedAt) / 1000 : 0;
}

/** An ended job's report (station reports, the ledger): what every job has, then its kind's own section. */
export function jobReport(j: StationJob): Record<string, unknown> {
  return { id: j.id, kind: j.kind.name, state: j.state, seconds: elapsedSeconds(j), ...j.kind.report(j), ...(j.error ? { error: j.error } : {}) };
}

/** A drive's identity as reports give it. */
export function driveIdentity(path: string, d: DriveInfo | undefined): Record<string, unknown> {
  return { path, kind: d?.kind ?? 'file', model: d?.model, serial: d?.serial, wwn: d?.wwn, size: d?.size, logicalSectorSize: d?.logicalSectorSize };
}
