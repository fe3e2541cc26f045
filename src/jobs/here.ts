// A job run on this thread, not in a station's worker (`clone SRC DST`): the same plan and
// the same run() as in a station, its events turned into notes and progress lines.
import { allocateControl, dispatchEvent, Phase, requestCancel, type EventSink, type WorkerEvent } from '../contract.js';
import { startProgress, type Phase as ProgressPhase, type Reporter } from '../progress.js';
import type { JobKind, JobResult, PlannedJob, StationJob } from './kind.js';
import { RING_BUDGET_BYTES } from './ring.js';
import type { JobWatch } from './reported.js';

/**
 * Runs one planned job here: its checks, its preparation, its run, its settling; progress from
 * its own view. `watch` (the metrics and the ledger, src/metrics/job-outputs.ts) sees the job
 * once it is checked and prepared, and again once it has ended, as a station's would.
 */
export async function runHere<P, R extends JobResult>(kind: JobKind<P, R>, planned: PlannedJob<P, R>, reporter: Reporter, signal?: AbortSignal, watch?: JobWatch): Promise<{ job: StationJob<P, R>; result: R }> {
  const job: StationJob<P, R> = { id: 1, kind, planned, state: 'queued', control: allocateControl(), live: { notes: [] }, ringBytes: 0 };
  job.ringBytes = planned.fitRing(RING_BUDGET_BYTES);
  planned.check?.();
  planned.prepare?.();
  watch?.started(job as unknown as StationJob);
  let shown: { phase: ProgressPhase; end: () => number; stop: () => void } | undefined;
  const show = (phase: ProgressPhase | undefined): void => {
    if (shown?.phase === phase) return;
    shown?.end();
    shown = phase ? { phase, ...startProgress(phase, planned.length, reporter, () => kind.view(job).bytesDone, () => kind.view(job).bytesBad) } : undefined;
  };
  // events are handled as they are posted (no port between two threads here)
  const sink: EventSink = {
    postMessage: (m: WorkerEvent) =>
      dispatchEvent(m, {
        phase: (e) => {
          job.startedAt ??= Date.now();
          if (e.phase === Phase.copying) job.state = 'running';
          if (e.phase === Phase.verifying) job.state = 'verifying';
          show(e.phase === Phase.verifying ? 'verify' : e.phase === Phase.finished ? undefined : 'copy');
        },
        progress: (e) => Object.assign(job.live, { done: e.done, total: e.total, pass: e.pass, bytesBad: e.bytesBad }),
        map: (e) => Object.assign(job.live, { map: e.map }),
        note: (e) => reporter.note(e.message, e.fields),
        written: () => {},
        'target-failed': () => {},
      }),
  };
  const onAbort = (): void => requestCancel(job.control);
  signal?.addEventListener('abort', onAbort);
  if (signal?.aborted) onAbort();
  try {
    const result = await kind.run(planned.payload, { control: new Int32Array(job.control), port: sink, counters: planned.counters });
    planned.settle?.(result);
    job.result = result;
    job.state = result.state;
    return { job, result };
  } catch (e) {
    job.state = 'failed';
    job.error = e instanceof Error ? e.message : String(e);
    throw e;
  } finally {
    show(undefined);
    job.endedAt = Date.now();
    signal?.removeEventListener('abort', onAbort);
    watch?.ended(job as unknown as StationJob);
  }
}
