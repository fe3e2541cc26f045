// One engine job as the station sees it: typed options in, counters readable from any
// thread (they live in a SharedArrayBuffer), a typed outcome out.
import { engine, type CounterSlots, type NativeChunkError, type NativeEndpoint, type NativeEndpointSpec, type NativeJob, type NativeJobSpec, type NativeOutcome } from './native.js';
import { openError } from './errors.js';
import { toFlat, totalLength, type Extent } from './extent.js';

/** Measured on this kind of machine (bench/clone.ts): see docs/ARCHITECTURE.md. */
export const DEFAULT_BLOCK_SIZE = 4 << 20;
export const DEFAULT_DEPTH = 4;

/** Where source offset 0 lands on a target: target offset = source offset + delta. */
export type EndpointRequest = NativeEndpointSpec;

/** A job as policy states it: the native spec with extents as objects and defaults filled in. */
export type JobRequest = Pick<NativeJobSpec, 'mode' | 'source' | 'targets'> &
  Partial<Pick<NativeJobSpec, 'blockSize' | 'depth' | 'backend' | 'stopOnReadError' | 'sync' | 'reportDone' | 'journalPath' | 'lagMs'>> & {
    extents: Extent[];
    /** test mode: source reads overlapping these fail with EIO (like ddrescue's -H) */
    simulateBad?: Extent[];
  };

export type JobState = 'init' | 'running' | 'done' | 'failed' | 'cancelled';
const states: JobState[] = ['init', 'running', 'done', 'failed', 'cancelled'];

/** One value per counter slot the engine writes (the slot names are the field names). */
export type ProgressSnapshot = { [K in Exclude<keyof CounterSlots, 'state' | 'header'>]: number } & {
  state: JobState;
  total: number;
  targets: { bytes: number; errors: number }[];
};

export interface JobOutcome extends NativeOutcome {
  errors: NativeChunkError[];
  progress: ProgressSnapshot;
}

/** The counters a job needs, in shared memory so another thread can read them. */
export function allocateCounters(targets: number): SharedArrayBuffer {
  return new SharedArrayBuffer(8 * (engine.counterSlots.header + 2 * targets));
}

/** Reads a job's counters from its shared memory; safe from any thread at any time. */
export function readCounters(counters: SharedArrayBuffer, total: number): ProgressSnapshot {
  const a = new BigUint64Array(counters);
  const s = engine.counterSlots;
  const get = (i: number): number => Number(Atomics.load(a, i));
  const targets: ProgressSnapshot['targets'] = [];
  for (let i = s.header; i + 1 < a.length; i += 2) targets.push({ bytes: get(i), errors: get(i + 1) });
  return {
    state: states[get(s.state)] ?? 'failed',
    total,
    bytesRead: get(s.bytesRead),
    bytesBad: get(s.bytesBad),
    readErrors: get(s.readErrors),
    position: get(s.position),
    bytesCompared: get(s.bytesCompared),
    inFlight: get(s.inFlight),
    targets,
  };
}

export class EngineJob {
  readonly counters: SharedArrayBuffer;
  readonly total: number;
  private readonly job: NativeJob;
  private readonly collected: NativeChunkError[] = [];

  /** Opens every endpoint now, so open errors (busy, missing, read-only) surface here. */
  constructor(readonly request: JobRequest, counters?: SharedArrayBuffer) {
    this.counters = counters ?? allocateCounters(request.targets.length);
    this.total = totalLength(request.extents);
    try {
      this.job = new engine.Job(
        {
          mode: request.mode,
          source: request.source,
          targets: request.targets,
          extents: toFlat(request.extents),
          blockSize: request.blockSize ?? DEFAULT_BLOCK_SIZE,
          depth: request.depth ?? DEFAULT_DEPTH,
          backend: request.backend ?? 'auto',
          stopOnReadError: request.stopOnReadError ?? true,
          sync: request.sync ?? true,
          reportDone: request.reportDone ?? false,
          lagMs: request.lagMs ?? 0,
          journalPath: request.journalPath,
          simulateBad: request.simulateBad ? toFlat(request.simulateBad) : undefined,
        },
        new BigUint64Array(this.counters),
      );
    } catch (e) {
      // Which endpoint failed is in the error's path; name its role for the message.
      const path = (e as { path?: string }).path ?? request.source.path;
      const role = path === request.source.path ? 'source' : 'target';
      throw openError(e, role, path);
    }
  }

  endpoints(): { source: NativeEndpoint; targets: NativeEndpoint[] } {
    return this.job.endpoints();
  }

  async run(): Promise<JobOutcome> {
    const outcome = await this.job.start();
    return { ...outcome, errors: this.takeErrors(), progress: this.snapshot() };
  }

  snapshot(): ProgressSnapshot {
    return readCounters(this.counters, this.total);
  }

  /** Every chunk failure so far, for live display; run() returns the same list at the end. */
  takeErrors(): NativeChunkError[] {
    this.collected.push(...this.job.takeErrors());
    return [...this.collected];
  }

  /** Chunks that reached every live target since the last call (contiguous ones merged). */
  takeDone(): Extent[] {
    const flat = this.job.takeDone();
    const out: Extent[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ offset: flat[i], length: flat[i + 1] });
    return out;
  }

  rotateJournal(path: string): void {
    this.job.rotateJournal(path);
  }

  cancel(): void {
    this.job.cancel();
  }
  pause(): void {
    this.job.pause();
  }
  resume(): void {
    this.job.resume();
  }
}
