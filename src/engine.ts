// One engine job as the station sees it: typed options in, counters readable from any
// thread (they live in a SharedArrayBuffer), a typed outcome out.
import { engine, type Backend, type NativeChunkError, type NativeEndpoint, type NativeEndpointSpec, type NativeJob, type NativeJobSpec, type NativeOutcome } from './native.js';
import { openError } from './errors.js';
import { toFlat, totalLength, type Extent } from './extent.js';
import { TapSequencer, type Tap, type TapError } from './tap.js';
import { isClaimed } from './claim.js';
import { allocateCounters, checkCounterLayout, readCounters, type ProgressSnapshot } from './counters.js';

// The counters' layout is the thread contract's; an engine built with another is a bug.
checkCounterLayout({ ...engine.counterSlots });

/** (declared in the thread contract, src/contract.ts; here for the engine's callers) */
export { allocateCounters, readCounters, type ProgressSnapshot };

/** Measured on this kind of machine (bench/clone.ts): see docs/ARCHITECTURE.md. */
export const DEFAULT_BLOCK_SIZE = 4 << 20;
export const DEFAULT_DEPTH = 4;

/** How a command runs its engine jobs: --block-size, --depth, --backend, --no-direct. */
export interface EngineTuning {
  blockSize?: number;
  depth?: number;
  backend?: Backend;
  direct?: boolean;
}

/** The bytes a command works on, sizes as typed (sectors resolve against their drive). */
export interface RangeText {
  offset?: string;
  length?: string;
  targetOffset?: string;
}

/** Where source offset 0 lands on a target: target offset = source offset + delta. */
export type EndpointRequest = NativeEndpointSpec;

/** A job as policy states it: the native spec with extents as objects and defaults filled in. */
export type JobRequest = Pick<NativeJobSpec, 'mode' | 'source' | 'targets'> &
  Partial<Pick<NativeJobSpec, 'blockSize' | 'depth' | 'backend' | 'stopOnReadError' | 'sync' | 'reportDone' | 'journalPath' | 'lagMs'>> & {
    extents: Extent[];
    /** test mode: source reads overlapping these fail with EIO (like ddrescue's -H) */
    simulateBad?: Extent[];
    /** JS consumers of every good source chunk, in source order (copy mode only) */
    taps?: Tap[];
  };

export interface JobOutcome extends NativeOutcome {
  /** a tap threw or rejected: the job was cancelled because of it */
  tapError?: TapError;
  errors: NativeChunkError[];
  progress: ProgressSnapshot;
}

export class EngineJob {
  readonly counters: SharedArrayBuffer;
  readonly total: number;
  private readonly job: NativeJob;
  private readonly collected: NativeChunkError[] = [];
  private readonly sequencer: TapSequencer | undefined;

  /** Opens every endpoint now, so open errors (busy, missing, read-only) surface here. */
  constructor(readonly request: JobRequest, counters?: SharedArrayBuffer) {
    this.counters = counters ?? allocateCounters(request.targets.length);
    this.total = totalLength(request.extents);
    const blockSize = request.blockSize ?? DEFAULT_BLOCK_SIZE;
    const depth = request.depth ?? DEFAULT_DEPTH;
    let tap: NativeJobSpec['tap'];
    let memory: Uint8Array | undefined;
    let base = 0;
    if (request.taps?.length) {
      // Room for the slots, the spares a 1:N detach may take, and alignment to 4 KiB.
      const buffers = depth * (request.targets.length > 1 && (request.lagMs ?? 0) > 0 ? 2 : 1);
      memory = new Uint8Array(new SharedArrayBuffer(4096 + buffers * blockSize));
      const mem = memory;
      this.sequencer = new TapSequencer(
        request.taps,
        request.extents,
        blockSize,
        (buf, length) => new Uint8Array(mem.buffer, base + buf * blockSize, length),
        (buf) => this.job.release(buf),
        () => this.job.cancel(),
      );
      // (the sequencer's own sink, not a closure of this scope: that would reach `this`)
      tap = { memory, onTap: this.sequencer.onTap };
    }
    try {
      this.job = new engine.Job(
        {
          mode: request.mode,
          source: request.source,
          // Inside an operation's claim (claim.ts) the job opens the device without O_EXCL:
          // the claim is the exclusive holder, and the ring's delayed teardown must not be.
          targets: request.targets.map((t) => (t.exclusive && isClaimed(t.path) ? { ...t, exclusive: false } : t)),
          extents: toFlat(request.extents),
          blockSize,
          depth,
          backend: request.backend ?? 'auto',
          stopOnReadError: request.stopOnReadError ?? true,
          sync: request.sync ?? true,
          reportDone: request.reportDone ?? false,
          lagMs: request.lagMs ?? 0,
          journalPath: request.journalPath,
          simulateBad: request.simulateBad ? toFlat(request.simulateBad) : undefined,
          tap,
        },
        new BigUint64Array(this.counters),
      );
    } catch (e) {
      // Which endpoint failed is in the error's path; name its role for the message.
      const path = (e as { path?: string }).path ?? request.source.path;
      const role = path === request.source.path ? 'source' : 'target';
      throw openError(e, role, path);
    }
    if (memory) base = this.job.tapLayout().offset;
  }

  endpoints(): { source: NativeEndpoint; targets: NativeEndpoint[] } {
    return this.job.endpoints();
  }

  async run(): Promise<JobOutcome> {
    const outcome = await this.job.start();
    // Every tap call came before the outcome (same queue); let the taps finish with them.
    await this.sequencer?.settle();
    // No target left the shared stream: no write still reads the ring, so the sequencer may
    // let go of it and of this job (else a cycle through the native wrapper keeps both).
    if (outcome.detached.length === 0) this.sequencer?.close();
    const tapError = this.sequencer?.error;
    if (tapError) return { ...outcome, state: 'failed', tapError, errors: this.takeErrors(), progress: this.snapshot() };
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
