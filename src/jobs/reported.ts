// A job whose policy reports through a Reporter and stops on an AbortSignal (rescue, backup,
// restore, verify): its run in a station, with progress and notes as port events, cancel as
// an abort, pause as a flag its policy polls, and its end as a result instead of a throw.
import { CloneStationError, ExitStatus } from '../errors.js';
import type { ProgressView, Reporter } from '../progress.js';
import { Phase, cancelRequested, enterPhase, pauseRequested, postEvent } from '../contract.js';
import { allocateControl } from '../contract.js';
import type { JobIo, JobKind, JobResult, PlannedJob, StationJob } from './kind.js';
import type { JobView } from '../../dashboard/source.js';
import { ENDED, elapsedSeconds } from './kind.js';
import { driveView } from './view-parts.js';

/** The end of a reported job: its policy's value when it finished, else why not. */
export interface ReportedResult<T> extends JobResult {
  value?: T;
  /** an error's details (e.g. a rescue's summary so far) */
  details?: Record<string, unknown>;
}

/** Main thread hears of progress at most this often (a trim pass reports after every sector). */
const PROGRESS_EVERY_MS = 250;

export interface ReportedHooks {
  /** a reporter whose progress and notes go to the station */
  reporter: Reporter;
  signal: AbortSignal;
  /** true while the operator holds the job paused */
  paused: () => boolean;
}

/**
 * Runs `work` under the control word: a cancel aborts its signal, progress goes over the port
 * (its pass named by the view's `pass`, or its phase), and a CloneStationError becomes a
 * failed (or cancelled) result with its code and one-line message.
 */
export async function runReported<T>(io: JobIo, work: (h: ReportedHooks) => Promise<T>): Promise<ReportedResult<T>> {
  const { control, port } = io;
  const ac = new AbortController();
  const timer = setInterval(() => {
    if (cancelRequested(control)) ac.abort();
  }, 50);
  let pass = '';
  let last = 0;
  const progress = (v: ProgressView & { pass?: string }, force = false): void => {
    const next = v.pass ?? v.phase;
    const now = Date.now();
    if (!force && next === pass && now - last < PROGRESS_EVERY_MS) return;
    pass = next;
    last = now;
    postEvent(port, { type: 'progress', done: v.done, total: v.total, pass, bytesBad: v.bytesBad });
  };
  const reporter: Reporter = {
    note: (message) => postEvent(port, { type: 'note', message }),
    progress: (v) => progress(v),
    phaseEnd: (v) => progress(v, true),
    done: () => {},
    error: () => {},
  };
  enterPhase(control, port, Phase.copying);
  try {
    const value = await work({ reporter, signal: ac.signal, paused: () => pauseRequested(control) });
    return { state: 'done', value };
  } catch (e) {
    return reportedFailure(e);
  } finally {
    clearInterval(timer);
    enterPhase(control, port, Phase.finished);
  }
}

/** A policy's throw as a job's end: cancelled or failed, with its code and one-line message. */
export function reportedFailure<T>(e: unknown): ReportedResult<T> {
  const err = e instanceof CloneStationError ? e : undefined;
  return {
    state: err?.code === 'CANCELLED' ? 'cancelled' : 'failed',
    code: err?.code ?? 'INTERNAL',
    reason: e instanceof Error ? e.message : String(e),
    details: err?.details,
  };
}

/** What watches a job run on this thread (src/metrics/job-outputs.ts: the metrics and the ledger). */
export interface JobWatch {
  /** the job is about to run: its series show from now on */
  started(job: StationJob): void;
  /** the job ran and ended (not called for a run refused before it wrote anything) */
  ended(job: StationJob): void;
  /** instead of ended(): the policy refused the job before it wrote anything (bad input, exit 2; for safety, exit 4) */
  refused?(job: StationJob): void;
}

/** What a reported job run here is seen as: its kind's plan-like facts (no rings, no touches). */
export type HerePlan<P> = Pick<PlannedJob<P>, 'payload' | 'source' | 'targets' | 'length'>;

/**
 * A reported policy run on this thread by a single-drive command (`rescue`, `backup SRC OUT`,
 * `verify`, `restore`), seen as a job of `kind`: the command's reporter gets every progress and
 * note unchanged, the job's live facts follow the same progress (as runReported's port events
 * do in a station), its end is the kind's result from `toResult` (the same mapping the kind's
 * run() makes; it may name what only the run knew, e.g. the image a backup's OUT became), and `watch` hears of its start and end. The policy's value is returned and its
 * throw rethrown: the command's output and exit status are its own.
 */
export async function runReportedHere<T, P, R extends JobResult>(
  kind: JobKind<P, R>,
  plan: HerePlan<P>,
  reporter: Reporter,
  signal: AbortSignal,
  work: (reporter: Reporter, signal: AbortSignal) => Promise<T>,
  toResult: (r: ReportedResult<T>, planned: PlannedJob<P, R>) => R,
  watch?: JobWatch,
): Promise<T> {
  const planned: PlannedJob<P, R> = { ...plan, touches: [], overwrites: [], counters: {}, jsWork: true, fitRing: () => 0 };
  const job: StationJob<P, R> = { id: 1, kind, planned, state: 'running', control: allocateControl(), live: { notes: [] }, ringBytes: 0, startedAt: Date.now() };
  const seen = (v: ProgressView & { pass?: string }): void => void Object.assign(job.live, { done: v.done, total: v.total, pass: v.pass ?? v.phase, bytesBad: v.bytesBad });
  // the command's own reporter stays what it is (a prototype of the tee), only these pass through here
  const tee: Reporter = Object.assign(Object.create(reporter) as Reporter, {
    note: (m: string, f?: Record<string, unknown>) => reporter.note(m, f),
    progress: (v: ProgressView) => (seen(v), reporter.progress(v)),
    phaseEnd: (v: ProgressView) => (seen(v), reporter.phaseEnd(v)),
    done: (d: Record<string, unknown>) => reporter.done(d),
    error: (c: string, m: string, f?: Record<string, unknown>) => reporter.error(c, m, f),
  } satisfies Reporter);
  watch?.started(job as unknown as StationJob);
  let r: ReportedResult<T>;
  try {
    r = { state: 'done', value: await work(tee, signal) };
  } catch (e) {
    r = reportedFailure(e);
    // refused (bad input, a refusal for safety): nothing was written, no job ran
    const status = e instanceof CloneStationError ? e.exitStatus : undefined;
    if (status === ExitStatus.usage || status === ExitStatus.refused) {
      watch?.refused?.(job as unknown as StationJob);
      watch = undefined;
    }
    finish(job, toResult(r, planned), watch);
    throw e;
  }
  finish(job, toResult(r, planned), watch);
  return r.value as T;
}

function finish<P, R extends JobResult>(job: StationJob<P, R>, result: R, watch: JobWatch | undefined): void {
  job.result = result;
  job.state = result.state;
  if (result.state !== 'done' && result.reason) job.error = result.reason;
  job.endedAt = Date.now();
  watch?.ended(job as unknown as StationJob);
}

/** The dashboard row of a reported job from what it last said (progress events). */
export function reportedView(j: StationJob, o: { role: string; canPause: boolean; bytesDone?: number; bytesTotal?: number }): JobView {
  const running = !ENDED.has(j.state) && j.state !== 'queued';
  const paused = running && o.canPause && pauseRequested(j.control);
  const bytesTotal = o.bytesTotal ?? j.live.total ?? j.planned.length;
  return {
    id: j.id,
    role: o.role,
    drives: [driveView('source', j.planned.source.path, j.planned.source.drive), ...j.planned.targets.map((t) => driveView('target', t.path, t.drive))],
    state: paused ? 'paused' : running ? 'running' : j.state,
    pass: ENDED.has(j.state) ? '-' : j.live.pass || (j.state === 'queued' ? '-' : 'start'),
    bytesDone: o.bytesDone ?? (j.state === 'done' ? bytesTotal : (j.live.done ?? 0)),
    bytesTotal,
    bytesBad: j.live.bytesBad ?? 0,
    errors: 0,
    elapsed: elapsedSeconds(j),
    badAreas: (j.live.bytesBad ?? 0) > 0,
    canPause: o.canPause,
    note: j.error ?? (j.result && j.result.state !== 'done' ? j.result.reason : undefined),
  };
}
