// The 1:N copy policy shared by a station clone (src/jobs/clone.ts) and a restore to many
// drives (src/image/restore-many.ts): pieces of one or more sources go to N targets in one
// shared stream per piece; a target that leaves it (slow: the engine's lagMs rule, or a failed
// write) is caught up on its own from where it left, failed writes retried with backoff.
import { EngineJob, type JobOutcome } from './engine.js';
import type { Backend, NativeChunkError } from './native.js';
import type { Extent } from './extent.js';
import type { Tap } from './tap.js';

/** A piece of a source: `extent` of `source` lands at target offset extent.offset + delta. */
export interface CopyPiece {
  source: string;
  extent: Extent;
  delta: number;
  /** only these extents of `extent` are copied (--used-only), sorted; default the whole extent */
  extents?: Extent[];
}

/** The extents of a piece from source offset `from` on. */
function pieceExtents(pc: CopyPiece, from: number): Extent[] {
  const end = pc.extent.offset + pc.extent.length;
  const all = pc.extents ?? [pc.extent];
  const out: Extent[] = [];
  for (const e of all) {
    const s = Math.max(e.offset, from);
    const t = Math.min(e.offset + e.length, end);
    if (t > s) out.push({ offset: s, length: t - s });
  }
  return out;
}

export interface CopyManySpec {
  pieces: CopyPiece[];
  targets: string[];
  blockSize: number;
  depth: number;
  backend: Backend;
  direct: boolean;
  /** ms a target may pace the shared stream before it leaves it (0: never) */
  lagMs: number;
  /** write retries per target, with backoff, before it is failed */
  retries: number;
  /** consumers of the shared stream's bytes (every byte only if no target failed all along) */
  taps?: Tap[];
  /** each engine job syncs its targets at its end (default true) */
  sync?: boolean;
}

export interface CopyManyHooks {
  /** runs one engine job (under the caller's control word, progress, cancel) */
  run(job: EngineJob, kind: 'shared' | 'catch-up'): Promise<JobOutcome>;
  cancelled(): boolean;
  /** counters for the first shared job (every target in it) and for every catch-up */
  sharedCounters?: SharedArrayBuffer;
  catchUpCounters?: SharedArrayBuffer;
  /** the shared stream is over and some targets owe bytes */
  catchingUp?(): void;
  /** target t holds every byte (synced if spec.sync) */
  written(t: number): void;
  /** target t is failed; `offset` is the source offset, `targetOffset` where it is on the target; `error` the chunk that failed */
  failed(t: number, code: string, reason: string, offset: number, targetOffset: number, error: NativeChunkError): void;
  /** the first shared job, before it runs (its endpoints say which are O_DIRECT) */
  opened?(job: EngineJob): void;
  /** target t left the shared stream at source offset `offset` of piece `piece` */
  detached?(t: number, offset: number, piece: number): void;
  retried?(t: number, attempt: number): void;
}

export interface CopyManyOutcome {
  /** the first shared job's outcome (its backend, its taps' bytes) */
  first: JobOutcome | undefined;
  /** the source failed: no target is a copy (the caller says so, every target is failed) */
  readError?: { offset: number; code: string; piece: number; error?: NativeChunkError };
  fatal?: NonNullable<JobOutcome['fatal']>;
  cancelled: boolean;
  /** bytes of the range the shared stream carried to the end for at least one target */
  sharedBytes: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Where a target that left the stream resumes, and the write failure it is retrying, if any. */
interface Owed {
  piece: number;
  from: number;
  failure?: NativeChunkError;
}

export async function copyToMany(spec: CopyManySpec, hooks: CopyManyHooks): Promise<CopyManyOutcome> {
  const result: CopyManyOutcome = { first: undefined, cancelled: false, sharedBytes: 0 };
  const owed = new Map<number, Owed>();
  let live = spec.targets.map((_, i) => i);
  for (const [p, piece] of spec.pieces.entries()) {
    if (live.length === 0) break;
    const shared = new EngineJob(
      {
        mode: 'copy',
        source: { path: piece.source, direct: spec.direct },
        targets: live.map((t) => ({ path: spec.targets[t], direct: spec.direct, exclusive: true, delta: piece.delta })),
        extents: pieceExtents(piece, piece.extent.offset),
        blockSize: spec.blockSize,
        depth: spec.depth,
        backend: spec.backend,
        stopOnReadError: true,
        sync: spec.sync ?? true,
        lagMs: live.length > 1 ? spec.lagMs : 0,
        taps: spec.taps,
      },
      p === 0 ? hooks.sharedCounters : undefined,
    );
    if (p === 0) hooks.opened?.(shared);
    const out = await hooks.run(shared, 'shared');
    result.first ??= out;
    const readErr = out.errors.find((e) => e.target < 0 && e.op === 'read');
    if (readErr || out.fatal) {
      result.readError = readErr ? { offset: readErr.offset, code: readErr.code, piece: p, error: readErr } : { offset: 0, code: out.fatal?.code ?? 'EIO', piece: p };
      result.fatal = out.fatal;
      return result;
    }
    if (out.state === 'cancelled' || hooks.cancelled()) {
      result.cancelled = true;
      return result;
    }
    // targets that left this piece's stream owe the rest of it and every later piece
    const left = new Set<number>();
    for (const d of out.detached) {
      const t = live[d.target];
      owed.set(t, { piece: p, from: d.offset });
      left.add(t);
      hooks.detached?.(t, d.offset, p);
    }
    for (const e of out.errors.filter((x) => x.target >= 0)) {
      const t = live[e.target];
      const cur = owed.get(t);
      if (!cur || cur.piece < p || e.offset < cur.from) owed.set(t, { piece: p, from: e.offset, failure: e });
      left.add(t);
    }
    live = live.filter((t) => !left.has(t));
    result.sharedBytes += piece.extent.length;
  }
  // Targets still in the stream at its end are written now: an operator can take them while
  // a slow one catches up.
  for (const t of live) hooks.written(t);

  if (owed.size > 0) hooks.catchingUp?.();
  for (const [t, o] of owed) {
    let piece = o.piece;
    let from = o.from;
    let failure = o.failure;
    let attempt = 0;
    while (piece < spec.pieces.length) {
      if (hooks.cancelled()) break;
      const pc = spec.pieces[piece];
      if (failure) {
        if (attempt > spec.retries) {
          hooks.failed(
            t,
            failure.code === 'ENOSPC' ? 'TARGET_FULL' : 'WRITE_FAILED',
            `write failed at target offset ${failure.offset + pc.delta} (${failure.code}) after ${spec.retries} retries`,
            failure.offset,
            failure.offset + pc.delta,
            failure,
          );
          break;
        }
        if (attempt > 0) {
          hooks.retried?.(t, attempt);
          await sleep(250 * 2 ** (attempt - 1));
        }
      }
      const end = pc.extent.offset + pc.extent.length;
      const catchUp = new EngineJob(
        {
          mode: 'copy',
          source: { path: pc.source, direct: spec.direct },
          // inside the caller's claim; a detached target's orphaned writes may still be in flight
          targets: [{ path: spec.targets[t], direct: spec.direct, exclusive: true, delta: pc.delta }],
          extents: end > from ? pieceExtents(pc, from) : [],
          blockSize: spec.blockSize,
          depth: spec.depth,
          backend: spec.backend,
          sync: spec.sync ?? true,
        },
        hooks.catchUpCounters,
      );
      const r = await hooks.run(catchUp, 'catch-up');
      // the lowest failed chunk (writes complete out of order)
      const w = r.errors.filter((x) => x.target >= 0).reduce<NativeChunkError | undefined>((a, x) => (a && a.offset <= x.offset ? a : x), undefined);
      const rd = r.errors.find((x) => x.target < 0 && x.op === 'read');
      if (rd) {
        hooks.failed(t, 'READ_FAILED', `source read failed at offset ${rd.offset} (${rd.code}) while catching up`, rd.offset, rd.offset + pc.delta, rd);
        break;
      }
      if (r.state === 'cancelled') break;
      if (w) {
        attempt++;
        failure = w;
        from = w.offset;
        continue;
      }
      // this piece is done: on to the next one, from its start, with a fresh retry budget
      piece++;
      attempt = 0;
      failure = undefined;
      from = spec.pieces[piece]?.extent.offset ?? 0;
      if (piece === spec.pieces.length) hooks.written(t);
    }
  }
  result.cancelled = hooks.cancelled();
  return result;
}
