// The clone kind: one source to one or many targets in one shared stream (1:1 and 1:N).
// Slow targets leave the stream and catch up on their own, failed writes are retried, then
// every target is read back and compared (src/copy-many.ts holds the 1:N policy).
import { truncateSync } from 'node:fs';
import { copyFailure, directNote, engineFailure, verifyFailure, type CopyPlace } from '../copy-failure.js';
import type { CloneOptions, CloneResult } from '../clone.js';
import type { Reporter } from '../progress.js';
import type { Extent } from '../extent.js';
import { DEFAULT_BLOCK_SIZE, DEFAULT_DEPTH, EngineJob } from '../engine.js';
import { CancelledError, CloneStationError, ExitStatus, IoError, RefusedError, UsageError, type ExitStatusValue } from '../errors.js';
import { checkPartial, partialPath, publishPartial } from '../partial.js';
import { copyToMany } from '../copy-many.js';
import { steer } from './steer.js';
import { Claims } from '../claim.js';
import { trace } from '../trace.js';
import { formatBytes, formatRate } from '../units.js';
import type { JobView } from '../../dashboard/source.js';
import { driveView } from './view-parts.js';
import {
  Phase,
  allocateCounters,
  cancelRequested,
  enterPhase,
  pauseRequested,
  postEvent,
  readCounters,
  readPhase,
  type CloneJobSpec,
  type CloneTaskResult,
  type PhaseValue,
  type ProgressSnapshot,
  type TargetOutcome,
} from '../contract.js';
import { defineKind, driveIdentity, elapsedSeconds, ENDED, type JobEntry, type JobIo, type StationJob } from './kind.js';

type CloneJob = StationJob<CloneJobSpec, CloneTaskResult>;

/** Bytes a verify pass has compared: equal on every target, or on any one of them. */
function verifyDone(v: ProgressSnapshot): number {
  return Math.max(v.bytesCompared, ...v.targets.map((t) => t.bytes));
}

function progressOf(j: CloneJob): { copy: ProgressSnapshot; verify: ProgressSnapshot; catchUp: ProgressSnapshot } {
  const c = j.planned.counters;
  const len = j.planned.payload.length;
  return { copy: readCounters(c.copy, len), verify: readCounters(c.verify, len), catchUp: readCounters(c.catchUp, len) };
}

/** A flat [offset, length, ...] list as extents. */
function usedList(flat: readonly number[]): Extent[] {
  const out: Extent[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ offset: flat[i]!, length: flat[i + 1]! });
  return out;
}

/** Runs an engine job under the control word; `paused.ms` grows by the time the operator held it paused. */
async function runJob(job: EngineJob, control: Int32Array, maxRate: number | undefined, paused: { ms: number }): ReturnType<EngineJob['run']> {
  const stop = steer(job, control, maxRate);
  try {
    return await job.run();
  } finally {
    paused.ms += stop();
  }
}

/** A clone job's dashboard row, from its counters and its control and phase words. */
function cloneView(j: CloneJob): JobView {
  const spec = j.planned.payload;
  const p = progressOf(j);
  const copied = p.copy.targets.length > 0 ? Math.min(...p.copy.targets.map((t) => t.bytes)) : 0;
  // The worker's control and phase words are the truth about a running job: paused or
  // not, and in which phase (a pause during verify or catch-up leaves j.state alone).
  const running = !ENDED.has(j.state) && j.state !== 'queued';
  const phase = readPhase(j.control);
  const state: JobView['state'] = !running ? j.state : pauseRequested(j.control) ? 'paused' : phase === Phase.catchingUp ? 'catching-up' : phase === Phase.verifying ? 'verifying' : 'running';
  let pass: string;
  let done: number;
  if (!running) {
    pass = '-';
    done = j.state === 'done' ? spec.length : copied;
  } else if (phase === Phase.verifying) {
    pass = 'verify';
    // how far the read-back has got: a chunk is compared on every target at once, and a
    // target that differs does not hold the others' progress back
    done = verifyDone(p.verify);
  } else if (phase === Phase.catchingUp) {
    pass = 'catch-up';
    // the laggard's own reads add to what the shared stream gave it
    done = Math.min(spec.length, copied + (p.catchUp.targets[0]?.bytes ?? 0));
  } else {
    pass = 'copy';
    done = copied;
  }
  const errors = p.copy.readErrors + p.copy.targets.reduce((n, t) => n + t.errors, 0) + p.verify.targets.reduce((n, t) => n + t.errors, 0);
  const outcomes = j.result?.targets;
  return {
    id: j.id,
    role: j.planned.targets.length > 1 ? `1:${j.planned.targets.length}` : 'pair',
    drives: [
      driveView('source', spec.source, j.planned.source.drive),
      ...j.planned.targets.map((t, i) => driveView('target', t.path, t.drive, outcomes?.[i]?.reason ?? (outcomes?.[i]?.detachedAt !== undefined ? 'slow: left the shared stream' : undefined))),
    ],
    state,
    pass,
    // --used-only: the used bytes are the work (the copy's counters count them alone)
    bytesDone: spec.used && !running && j.state === 'done' ? spec.used.usedBytes : done,
    bytesTotal: spec.used?.usedBytes ?? spec.length,
    bytesBad: p.copy.bytesBad,
    errors,
    position: p.copy.position,
    elapsed: elapsedSeconds(j),
    badAreas: false,
    canPause: true,
    note: j.error ?? outcomes?.find((o) => o.reason)?.reason ?? outcomes?.find((o) => o.adjusted?.length)?.adjusted?.join('; '),
  };
}

/** Where target t's chunk failures are (its path, and target offset = source offset + delta). */
function placeOf(spec: CloneJobSpec, t: number): CopyPlace {
  return { source: spec.source, target: spec.targets[t], delta: spec.targetDelta };
}

/**
 * Re-reads every live target (O_DIRECT, all in parallel with one read of the source) and
 * compares; returns each target's failure (VERIFY_MISMATCH at its first differing offset,
 * VERIFY_READ_FAILED) by its index in `live`, and whether it was cancelled.
 */
export async function verifyTargets(
  spec: CloneJobSpec,
  live: number[],
  counters: SharedArrayBuffer | undefined,
  run: (job: EngineJob) => ReturnType<EngineJob['run']>,
  extents: Extent[] = [{ offset: spec.offset, length: spec.length }],
): Promise<{ failures: Map<number, CloneStationError>; cancelled: boolean }> {
  const verify = new EngineJob(
    {
      mode: 'verify',
      source: { path: spec.source, direct: spec.direct },
      targets: live.map((i) => ({ path: spec.targets[i], direct: true, delta: spec.targetDelta })),
      extents,
      blockSize: spec.blockSize,
      depth: spec.verifyDepth ?? spec.depth,
      backend: spec.backend,
      stopOnReadError: true,
    },
    counters,
  );
  const v = await run(verify);
  const failures = new Map<number, CloneStationError>();
  for (const e of v.errors) {
    // a source read error fails every target's verify; a target's, only its own
    for (const k of e.target < 0 ? live.keys() : [e.target]) if (!failures.has(live[k])) failures.set(live[k], verifyFailure(e, placeOf(spec, live[k])));
  }
  if (v.fatal) for (const t of live) if (!failures.has(t)) failures.set(t, engineFailure(v.fatal, spec.targets[t]));
  return { failures, cancelled: v.state === 'cancelled' };
}

/** One clone job, 1:1 or 1:N, the same on the main thread (`clone SRC DST`) and in a station's worker. */
export async function runClone(spec: CloneJobSpec, io: JobIo): Promise<CloneTaskResult> {
  const { control, port } = io;
  const setPhase = (p: PhaseValue): void => enterPhase(control, port, p);
  const targets: TargetOutcome[] = spec.targets.map((path) => ({ path, state: 'done', writeRetries: 0, verified: false }));
  const cancelled = (): boolean => cancelRequested(control);
  const copyPaused = { ms: 0 };
  const verifyPaused = { ms: 0 };
  const fail = (t: number, err: CloneStationError, offset?: number): void => {
    if (targets[t].state === 'failed') return;
    targets[t] = { ...targets[t], state: 'failed', code: err.code, reason: err.message, status: err.exitStatus, offset };
    postEvent(port, { type: 'target-failed', index: t, code: err.code, reason: err.message, offset });
  };
  const note = (message: string, fields?: Record<string, unknown>): void => postEvent(port, { type: 'note', message, fields });

  trace(`clone: ${spec.source} starts`);
  // One claim per target for the job's whole life (shared copy, catch-ups, verify): its
  // engine jobs open the targets without O_EXCL, so none races another's ring teardown.
  using claims = new Claims();
  claims.targets(spec.targets);
  setPhase(Phase.copying);
  for (const n of spec.notes ?? []) note(n);
  const t0 = process.hrtime.bigint();
  // (the hash module loads only for a job that hashes)
  const hash = spec.hash?.length ? await (await import('../image/hash.js')).MultiHash.create(spec.hash) : undefined;
  // --used-only: only the used extents are read and written; the hash sees the free ones as zeros
  const used = spec.used ? usedList(spec.used.extents) : undefined;
  const fill = used && hash ? new (await import('../image/used.js')).GapFill([hash], spec.offset, spec.length) : undefined;
  const sinceStart = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
  let sourceDirect: boolean | undefined;
  const out = await copyToMany(
    {
      pieces: [{ source: spec.source, extent: { offset: spec.offset, length: spec.length }, delta: spec.targetDelta, ...(used ? { extents: used } : {}) }],
      targets: spec.targets,
      blockSize: spec.blockSize,
      depth: spec.depth,
      backend: spec.backend,
      direct: spec.direct,
      lagMs: spec.lagMs,
      retries: spec.retries,
      taps: fill ? [fill] : hash ? [hash] : undefined,
    },
    {
      run: (job) => runJob(job, control, spec.maxRate, copyPaused),
      cancelled,
      sharedCounters: io.counters.copy,
      catchUpCounters: io.counters.catchUp,
      opened: (job) => {
        const eps = job.endpoints();
        sourceDirect = eps.source.direct;
        eps.targets.forEach((ep, t) => (targets[t].direct = ep.direct));
        const one = spec.targets.length === 1;
        note(
          `cloning ${spec.length} bytes from ${spec.source} at ${spec.offset} to ${spec.targets.join(', ')} at ${spec.offset + spec.targetDelta}; ${directNote('source', eps.source)}, ${eps.targets.map((ep, t) => directNote(one ? 'target' : `target ${t + 1}`, ep)).join(', ')}`,
          { source: spec.source, targets: spec.targets, offset: spec.offset, length: spec.length, targetOffset: spec.offset + spec.targetDelta, sourceDirect: eps.source.direct, targetDirect: eps.targets.every((ep) => ep.direct) },
        );
      },
      catchingUp: () => setPhase(Phase.catchingUp),
      written: (t) => {
        const seconds = sinceStart();
        targets[t].writtenSeconds = seconds;
        postEvent(port, { type: 'written', index: t, seconds });
      },
      failed: (t, _code, _reason, offset, _targetOffset, error) => {
        const err = copyFailure(error, placeOf(spec, t));
        if (targets[t].writeRetries > 0) err.message += ` (after ${targets[t].writeRetries} retries)`;
        fail(t, err, offset);
      },
      detached: (t, offset) => (targets[t].detachedAt = offset),
      retried: (t, attempt) => (targets[t].writeRetries = attempt),
    },
  );
  trace(`clone: ${spec.source} shared copy over`);
  const first = out.first;
  const result: CloneTaskResult = {
    state: 'done',
    targets,
    copySeconds: 0,
    verifySeconds: 0,
    backend: first?.backend ?? spec.backend,
    backendNote: first?.backendNote,
    registeredBuffers: first?.registeredBuffers,
    sourceDirect,
  };
  if (first) note(`backend ${first.backend}${first.registeredBuffers ? ' (registered buffers)' : ''}${first.backendNote ? `: ${first.backendNote}` : ''}`, { backend: first.backend, backendNote: first.backendNote, registeredBuffers: first.registeredBuffers, registeredFiles: first.registeredFiles });
  // the shared stream carried every used byte: the hash takes the rest of the range as zeros
  if (fill && out.sharedBytes === spec.length && !out.readError && !out.cancelled) await fill.finish();
  if (hash) {
    // The shared stream read every byte unless every target left it by failing writes;
    // a hash over part of the range would be a wrong hash, so none is given then.
    if (hash.bytes === spec.length) result.hashes = hash.digest();
    else result.hashNote = `hashed ${hash.bytes} of ${spec.length} bytes: the shared copy stopped early`;
  }
  const finish = (): CloneTaskResult => {
    setPhase(Phase.finished);
    return result;
  };
  if (out.readError) {
    // The source failed: no target is a copy of it. (A map-based rescue handles this.)
    result.readError = { offset: out.readError.offset, code: out.readError.code };
    const err = out.readError.error
      ? copyFailure(out.readError.error, placeOf(spec, 0))
      : out.fatal
        ? engineFailure(out.fatal, spec.targets.join(', '))
        : new IoError('READ_FAILED', `reading source ${spec.source} failed (${out.readError.code}): the source may be failing; copy it with a rescue map instead`);
    spec.targets.forEach((_, t) => fail(t, err, out.readError?.offset));
    result.state = 'failed';
    return finish();
  }
  const cancel = (): CloneTaskResult => {
    for (const [t, o] of targets.entries()) {
      if (o.state === 'failed') continue;
      const written = readCounters(io.counters.copy, spec.length).targets[t]?.bytes ?? 0;
      Object.assign(o, { state: 'cancelled', code: 'CANCELLED', status: ExitStatus.cancelled, reason: `cancelled after ${written} bytes: target ${spec.targets[t]} is incomplete` });
    }
    result.state = 'cancelled';
    return finish();
  };
  if (out.cancelled && !targets.some((t) => t.writtenSeconds !== undefined || t.state === 'failed')) return cancel();
  // seconds the copy ran: time the operator held it paused is not the copy's
  result.copySeconds = Math.max(0, sinceStart() - copyPaused.ms / 1000);
  if (cancelled()) return cancel();
  // Whole-disk copies to a target of another size: the partition table is made right on it
  // (src/jobs/clone-tables.ts) before the verify, which then compares the bytes copied
  // unchanged with the source and the sectors written with what the plan wrote.
  // (the partition code loads only for a job that has a table to adjust)
  const tables = spec.adjust?.some(Boolean) ? await import('./clone-tables.js') : undefined;
  tables?.adjustTargets(spec, targets, fail, note);
  const free = used && spec.zeroFree ? (await import('../zero-free.js')).freeExtents(used.map((e) => ({ offset: e.offset - spec.offset, length: e.length })), spec.length).map((e) => ({ offset: e.offset + spec.offset, length: e.length })) : undefined;
  if (free) {
    // --zero-free: zeros over the free extents of every target still standing
    const { zeroExtents } = await import('../zero-free.js');
    for (const [t, o] of targets.entries()) {
      if (o.state !== 'done' || cancelled()) continue;
      try {
        const n = await zeroExtents(spec.targets[t], free, spec.targetDelta, cancelled);
        note(`${spec.targets[t]}: ${formatBytes(n)} of free blocks zeroed (--zero-free)`, { target: spec.targets[t], zeroed: n });
      } catch (e) {
        fail(t, e instanceof CloneStationError ? e : new IoError('WRITE_FAILED', String(e)));
      }
    }
    if (cancelled()) return cancel();
  }
  const live = targets.map((t, i) => (t.state === 'done' ? i : -1)).filter((i) => i >= 0);
  if (spec.verify && live.length > 0 && spec.length > 0) {
    setPhase(Phase.verifying);
    const v0 = process.hrtime.bigint();
    // --used-only: the used extents are compared with the source (the free ones, zeroed, with zeros below)
    const v = await verifyTargets(spec, live, io.counters.verify, (job) => runJob(job, control, spec.maxRate, verifyPaused), used ?? tables?.verifyExtents(spec));
    if (!v.cancelled && free) {
      const { checkZeros } = await import('../zero-free.js');
      for (const t of live) {
        if (v.failures.has(t)) continue;
        try {
          await checkZeros(spec.targets[t], free, spec.targetDelta);
        } catch (e) {
          v.failures.set(t, e instanceof CloneStationError ? e : new IoError('VERIFY_READ_FAILED', String(e)));
        }
      }
    }
    if (!v.cancelled && tables) for (const [t, err] of await tables.checkAdjusted(spec, live)) if (!v.failures.has(t)) v.failures.set(t, err);
    result.verifySeconds = Math.max(0, Number(process.hrtime.bigint() - v0) / 1e9 - verifyPaused.ms / 1000);
    for (const [t, err] of v.failures) fail(t, err, (err.details.sourceOffset as number | undefined) ?? (err.details.offset as number | undefined));
    for (const t of live) {
      if (targets[t].state !== 'done') continue;
      if (v.cancelled) Object.assign(targets[t], { state: 'cancelled', code: 'CANCELLED', status: ExitStatus.cancelled, reason: 'verification cancelled: the copy is complete but unverified' });
      else targets[t].verified = true;
    }
  }
  // --grow-fs changes the file system's bytes: after the verify of the copy
  if (!cancelled()) await tables?.growTargetFs(spec, targets, fail, note);
  result.state = targets.every((t) => t.state === 'done') ? 'done' : targets.some((t) => t.state === 'cancelled') ? 'cancelled' : 'failed';
  return finish();
}

const cloneKind = defineKind<CloneJobSpec, CloneTaskResult>({
  name: 'clone',
  summary: 'a drive or image to one target or many (one master to many: one shared read)',
  module: import.meta.url,
  jsWork: false,
  fields: {
    source: { type: 'path', required: true, help: 'the drive or image file read' },
    targets: { type: 'paths', required: true, writes: true, help: 'drives or new image files written (several: one master to many)' },
    offset: { type: 'size', help: 'start reading the source here' },
    length: { type: 'size', help: 'copy this many bytes' },
    targetOffset: { type: 'size', help: 'write at this offset of each target' },
    verify: { type: 'boolean', help: 'read every target back and compare (default: on for one master to many)' },
    growLast: { type: 'boolean', help: 'whole-disk copy to a larger drive: grow the last partition to its end' },
    growFs: { type: 'boolean', help: 'with growLast: grow the ext2/3/4 file system in it (e2fsck -fy, resize2fs)' },
    fit: { type: 'boolean', help: 'whole-disk copy to a smaller drive: allowed when every partition ends inside it' },
    usedOnly: { type: 'boolean', help: "copy only the blocks the source's file systems use; free blocks on the targets are left as they are" },
    zeroFree: { type: 'boolean', help: 'with usedOnly: zero the free blocks on every target' },
  },

  async plan(entry: JobEntry, d, id) {
    // planning's modules load here, on the main thread: a worker running the job never needs them
    const [{ planClone, prepareFileTarget }, { IdentityIndex, identityOf }, { ringShape }, { mountedSourceNote }, { planTargetTables }] = await Promise.all([
      import('../clone.js'),
      import('../identity.js'),
      import('./ring.js'),
      import('../safety.js'),
      import('./clone-tables.js'),
    ]);
    const targets = entry.targets as string[];
    const text = (k: string): string | undefined => (entry[k] === undefined ? undefined : String(entry[k]));
    // a whole-disk copy to a drive of another size: what its partition table needs, and how much to copy
    const tables = await planTargetTables(entry, targets);
    const plans = targets.map((target) =>
      planClone({ source: entry.source as string, target, offset: text('offset'), length: tables ? String(tables.copyLength) : text('length'), targetOffset: text('targetOffset'), blockSize: d.blockSize, depth: d.depth, backend: d.backend, direct: d.direct }),
    );
    const mine = new IdentityIndex<string>();
    for (const p of plans) {
      if (!p.target) continue;
      const twice = mine.find(identityOf(p.target));
      if (twice) throw new RefusedError('STATION_CONFLICT', `${p.targetPath} is named twice as a target (also ${twice})`);
      mine.add(identityOf(p.target), p.targetPath);
    }
    const plan = plans[0];
    const verify = (entry.verify as boolean | undefined) ?? d.verify ?? targets.length > 1;
    // The ring asked for; fitRing() cuts it to the job and to its share of the budget.
    // One master to many: the ring is the window targets may drift apart by. 16 slots
    // (64 MiB at the default block size) absorb a target's hiccups by themselves, so a
    // target that still fills the whole window alone is slow, and leaves after a short
    // grace (lagMs) instead of pacing everyone.
    const asked = {
      blockSize: d.blockSize ?? DEFAULT_BLOCK_SIZE,
      depth: d.depth ?? (targets.length > 1 ? Math.max(DEFAULT_DEPTH, 16) : DEFAULT_DEPTH),
      verifyDepth: d.depth ?? DEFAULT_DEPTH,
    };
    const spec: CloneJobSpec = {
      source: entry.source as string,
      targets: [...targets],
      offset: plan.range.offset,
      length: plan.range.length,
      targetDelta: plan.targetOffset - plan.range.offset,
      ...asked,
      backend: d.backend ?? 'auto',
      direct: d.direct ?? true,
      verify,
      lagMs: d.lagMs ?? 50,
      retries: d.retries ?? 2,
      hash: d.hash,
      maxRate: d.maxRate,
    };
    if (tables) spec.adjust = tables.adjust;
    if (entry.zeroFree && !entry.usedOnly) throw new UsageError('--zero-free goes with --used-only: a whole copy writes every byte already', 'USAGE');
    if (entry.usedOnly) {
      if (tables) throw new UsageError('--used-only copies to the same offsets: leave out --grow-last, --grow-fs and --fit (or copy whole)', 'USAGE');
      // the source's used extents, or FS_DIRTY / FS_INCONSISTENT now, before anything is written
      const { usedExtentsOf } = await import('../used-extents.js');
      const u = await usedExtentsOf(plan.source, plan.range, { align: Math.max(plan.source.logicalSectorSize, 4096) });
      const flat: number[] = [];
      for (const e of u.extents) flat.push(e.offset + plan.range.offset, e.length);
      spec.used = { extents: flat, usedBytes: u.usedBytes };
      if (entry.zeroFree) spec.zeroFree = true;
      spec.notes = [
        ...u.notes,
        `--used-only: copying the ${formatBytes(u.usedBytes)} the file systems use of ${formatBytes(plan.range.length)} (${u.extents.length} extents); free blocks on the target${targets.length > 1 ? 's' : ''} are ${entry.zeroFree ? 'zeroed' : 'left as they are (the target is not byte-equal to the source; --zero-free zeroes them)'}`,
      ];
    }
    const mounted = mountedSourceNote(plan.source);
    if (mounted) spec.notes = [...(spec.notes ?? []), mounted];
    // a new file is written as NAME.partial and renamed once written and verified (src/partial.ts)
    const partial: (string | undefined)[] = plans.map(() => undefined);
    return {
      payload: spec,
      source: { path: spec.source, drive: plan.source },
      targets: plans.map((p) => ({ path: p.targetPath, drive: p.target })),
      touches: [{ path: spec.source, drive: plan.source, what: 'the source', writes: false }, ...plans.map((p) => ({ path: p.targetPath, drive: p.target, what: 'a target', writes: true }))],
      overwrites: plans.filter((p) => p.target).map((p) => ({ drive: p.target!, what: spec.used ? `with the ${spec.used.usedBytes} used bytes of ${spec.length} from ${spec.source} (job ${id})` : `with ${spec.length} bytes from ${spec.source} (job ${id})` })),
      // --used-only: the work is the used bytes (progress counts them alone)
      length: spec.used?.usedBytes ?? spec.length,
      counters: { copy: allocateCounters(targets.length), catchUp: allocateCounters(1), verify: allocateCounters(targets.length) },
      jsWork: Boolean(d.hash?.length),
      fitRing(share) {
        // a 4 KiB job needs one 4 KiB slot, not 16 MiB of them
        const ring = ringShape({ length: spec.length, targets: targets.length, ...asked, blockSizeGiven: d.blockSize !== undefined, verify, hash: Boolean(spec.hash?.length), share });
        spec.blockSize = ring.blockSize;
        spec.depth = ring.depth;
        spec.verifyDepth = ring.verifyDepth;
        return ring.bytes;
      },
      prepare() {
        // An interrupted run leaves no complete-looking file under the name asked for. Each
        // file is locked while it is made ready: a copy running to it now is IN_USE, and
        // what it wrote is not cut (the job's run claims it again for its whole life).
        plans.forEach((p, i) => {
          if (p.target?.kind === 'block') return;
          using claims = new Claims();
          if (p.target) return prepareFileTarget(p, claims);
          const part = partialPath(p.targetPath);
          checkPartial(part);
          claims.target(part, { create: true });
          // a .partial left by an interrupted run is ours (checkPartial): started afresh
          truncateSync(part, 0);
          truncateSync(part, p.targetOffset + p.range.length);
          partial[i] = part;
          spec.targets[i] = part;
        });
      },
      settle(result) {
        // New files take their names once written (and verified, when asked); others keep `.partial` and say so.
        plans.forEach((p, i) => {
          const o = result.targets[i];
          const part = partial[i];
          if (!part || !o) return;
          if (o.state === 'done' && (!spec.verify || o.verified)) {
            try {
              publishPartial(part, p.targetPath);
              o.path = p.targetPath;
              spec.targets[i] = p.targetPath;
            } catch (e) {
              o.state = 'failed';
              o.code = (e as { code?: string }).code ?? 'WRITE_FAILED';
              o.reason = e instanceof Error ? e.message : String(e);
            }
          } else {
            o.reason = `${o.reason ?? o.state}; ${p.targetPath} was not created: the incomplete copy is ${part}`;
          }
        });
        if (result.state === 'done' && result.targets.some((o) => o.state !== 'done')) result.state = 'failed';
      },
    };
  },

  run: runClone,

  view: cloneView,

  report(j): Record<string, unknown> {
    const spec = j.planned.payload;
    const r = j.result;
    const copySeconds = r?.copySeconds ?? 0;
    const base = {
      source: driveIdentity(spec.source, j.planned.source.drive),
      range: { offset: spec.offset, length: spec.length, targetOffset: spec.offset + spec.targetDelta },
      bytes: spec.length,
      verify: spec.verify,
    };
    if (!ENDED.has(j.state)) {
      // under way: where it is now, from the same counters as its row
      const p = progressOf(j);
      const v = cloneView(j);
      return {
        ...base,
        targets: j.planned.targets.map((t, i) => ({
          ...driveIdentity(t.path, t.drive),
          bytesWritten: p.copy.targets[i]?.bytes ?? 0,
          writeErrors: p.copy.targets[i]?.errors ?? 0,
          ...(v.pass === 'catch-up' ? { bytesCaughtUp: p.catchUp.targets[0]?.bytes ?? 0 } : {}),
          ...(v.pass === 'verify' ? { bytesVerified: p.verify.targets[i]?.bytes ?? 0, verifyErrors: p.verify.targets[i]?.errors ?? 0 } : {}),
          ...(v.drives[1 + i]?.note ? { note: v.drives[1 + i].note } : {}),
        })),
      };
    }
    return {
      ...base,
      copySeconds,
      verifySeconds: r?.verifySeconds ?? 0,
      averageBytesPerSec: copySeconds > 0 ? spec.length / copySeconds : 0,
      backend: r?.backend,
      hashes: r?.hashes,
      hashNote: r?.hashNote,
      readError: r?.readError,
      targets: j.planned.targets.map((t, i) => ({ ...driveIdentity(t.path, t.drive), ...(r?.targets[i] ?? { state: j.state, ...(j.error ? { reason: j.error } : {}) }) })),
    };
  },

  rows(j) {
    const spec = j.planned.payload;
    const r = j.result;
    const rate = r && r.copySeconds > 0 ? formatRate(spec.length / r.copySeconds) : '-';
    return j.planned.targets.map((t, i) => {
      const o = r?.targets[i];
      const written = o?.writtenSeconds !== undefined ? `written at ${o.writtenSeconds.toFixed(2)} s` : '';
      const note = o?.reason ?? (o?.adjusted?.length ? o.adjusted.join('; ') : undefined) ?? (o?.detachedAt !== undefined ? `slow: left the stream at ${o.detachedAt}, caught up; ${written}` : written || (j.error ?? ''));
      return [spec.source, t.path, o?.state ?? j.state, formatBytes(spec.length), rate, o?.verified ? 'yes' : 'no', note];
    });
  },
});

export default cloneKind;

/**
 * `clone SRC DST` on a terminal: the clone kind's plan and run on this thread (the same code
 * a station runs in its worker), one question for a drive, and the target's failure thrown
 * as the error the user sees.
 */
export async function cloneOne(o: CloneOptions, reporter: Reporter, signal?: AbortSignal, watch?: import('./reported.js').JobWatch): Promise<CloneResult> {
  const entry: JobEntry = { kind: 'clone', source: o.source, targets: [o.target], offset: o.offset, length: o.length, targetOffset: o.targetOffset, verify: o.verify ?? false, growLast: o.growLast, growFs: o.growFs, fit: o.fit, usedOnly: o.usedOnly, zeroFree: o.zeroFree };
  const planned = await cloneKind.plan(entry, { blockSize: o.blockSize, depth: o.depth, backend: o.backend, direct: o.direct, hash: o.hash, version: '', commandLine: '' }, 1);
  if (planned.overwrites.some((w) => w.drive.kind === 'block') && !o.yes) {
    // readline is loaded only when there is a question to ask
    const { confirmOverwriteAll } = await import('../confirm.js');
    await confirmOverwriteAll(planned.overwrites.map((w) => ({ ...w, what: `with ${planned.payload.used ? `the ${planned.length} used bytes of ${planned.payload.length}` : planned.length} bytes from ${o.source} at offset ${planned.payload.offset + planned.payload.targetDelta}` })), { yes: false });
  }
  const { runHere } = await import('./here.js');
  const { result } = await runHere(cloneKind, planned, reporter, signal, watch);
  const t = result.targets[0];
  if (result.state !== 'done' || t.state !== 'done') {
    if (t.state === 'cancelled') throw new CancelledError(t.reason ?? `cancelled: target ${o.target} is incomplete`);
    throw new CloneStationError(t.code ?? 'INCOMPLETE', (t.status as ExitStatusValue | undefined) ?? ExitStatus.io, t.reason ?? `target ${o.target} is incomplete`, { offset: t.offset, path: o.target });
  }
  const spec = planned.payload;
  // --used-only: the rate is of the bytes read and written, the used ones
  const moved = spec.used?.usedBytes ?? spec.length;
  return {
    bytes: spec.length,
    ...(spec.used ? { usedBytes: spec.used.usedBytes } : {}),
    seconds: result.copySeconds,
    bytesPerSec: result.copySeconds > 0 ? moved / result.copySeconds : 0,
    backend: result.backend,
    backendNote: result.backendNote ?? '',
    registeredBuffers: result.registeredBuffers ?? false,
    sourceDirect: result.sourceDirect ?? false,
    targetDirect: t.direct ?? false,
    verified: t.verified,
    ...(spec.verify ? { verifySeconds: result.verifySeconds } : {}),
    hashes: result.hashes,
    ...(t.adjusted?.length ? { adjusted: t.adjusted } : {}),
  };
}
