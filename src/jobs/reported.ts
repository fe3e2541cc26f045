// A job whose policy reports through a Reporter and stops on an AbortSignal (rescue, backup,
// restore, verify): its run in a station, with progress and notes as port events, cancel as
// an abort, pause as a flag its policy polls, and its end as a result instead of a throw.
import { CloneStationError } from '../errors.js';
import type { ProgressView, Reporter } from '../progress.js';
import { Phase, cancelRequested, enterPhase, pauseRequested, postEvent } from '../contract.js';
import type { JobIo, JobResult, StationJob } from './kind.js';
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
    const err = e instanceof CloneStationError ? e : undefined;
    return {
      state: err?.code === 'CANCELLED' ? 'cancelled' : 'failed',
      code: err?.code ?? 'INTERNAL',
      reason: e instanceof Error ? e.message : String(e),
      details: err?.details,
    };
  } finally {
    clearInterval(timer);
    enterPhase(control, port, Phase.finished);
  }
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
