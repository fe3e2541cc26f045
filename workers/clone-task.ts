// A piscina task: one station job, whole, in one worker thread. Source to N targets in one
// shared stream; targets that fall behind or fail a write are caught up on their own from
// where they left it (failed writes retried with backoff); then every target is verified,
// all read in parallel. Progress lives in shared memory; state changes go over a port.
import { EngineJob } from '../src/engine.js';
import type { NativeChunkError } from '../src/native.js';
import { steer } from './control.js';
import { Phase, cancelRequested, enterPhase, postEvent, type CloneTask, type CloneTaskResult, type PhaseValue, type TargetOutcome } from '../src/contract.js';
import { MultiHash } from '../src/image/hash.js';
import { trace } from '../src/trace.js';
import { Claims } from '../src/claim.js';

trace('clone-task: module evaluated');

/** Runs an engine job under the control word; `paused.ms` grows by the time the operator held it paused. */
async function runJob(job: EngineJob, control: Int32Array, maxRate: number | undefined, paused: { ms: number }): ReturnType<EngineJob['run']> {
  const stop = steer(job, control, maxRate);
  try {
    return await job.run();
  } finally {
    paused.ms += stop();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export default async function cloneTask(task: CloneTask): Promise<CloneTaskResult> {
  const { spec } = task;
  const control = new Int32Array(task.control);
  const setPhase = (p: PhaseValue): void => enterPhase(control, task.port, p);
  const targets: TargetOutcome[] = spec.targets.map((path) => ({ path, state: 'done', writeRetries: 0, verified: false }));
  const cancelled = (): boolean => cancelRequested(control);
  const copyPaused = { ms: 0 };
  const verifyPaused = { ms: 0 };
  const fail = (t: number, code: string, reason: string, offset?: number): void => {
    targets[t] = { ...targets[t], state: 'failed', code, reason, offset };
    postEvent(task.port, { type: 'target-failed', index: t, code, reason, offset });
  };

  trace(`clone-task: ${spec.source} starts`);
  // One claim per target for the job's whole life (shared copy, catch-ups, verify): its
  // engine jobs open the targets without O_EXCL, so none races another's ring teardown.
  using claims = new Claims();
  claims.targets(spec.targets);
  setPhase(Phase.copying);
  const t0 = process.hrtime.bigint();
  const hash = spec.hash?.length ? await MultiHash.create(spec.hash) : undefined;
  const shared = new EngineJob(
    {
      mode: 'copy',
      source: { path: spec.source, direct: spec.direct },
      targets: spec.targets.map((path) => ({ path, direct: spec.direct, exclusive: true, delta: spec.targetDelta })),
      extents: spec.length > 0 ? [{ offset: spec.offset, length: spec.length }] : [],
      blockSize: spec.blockSize,
      depth: spec.depth,
      backend: spec.backend,
      stopOnReadError: true,
      lagMs: spec.targets.length > 1 ? spec.lagMs : 0,
      taps: hash ? [hash] : undefined,
    },
    task.copyCounters,
  );
  const out = await runJob(shared, control, spec.maxRate, copyPaused);
  trace(`clone-task: ${spec.source} shared copy over`);
  const result: CloneTaskResult = { state: 'done', targets, copySeconds: 0, verifySeconds: 0, backend: out.backend };
  if (hash) {
    // The shared stream read every byte unless every target left it by failing writes;
    // a hash over part of the range would be a wrong hash, so none is given then.
    if (hash.bytes === spec.length) result.hashes = hash.digest();
    else result.hashNote = `hashed ${hash.bytes} of ${spec.length} bytes: the shared copy stopped early`;
  }
  const readErr = out.errors.find((e) => e.target < 0 && e.op === 'read');
  if (readErr || out.fatal) {
    // The source failed: no target is a copy of it. (A map-based rescue handles this.)
    result.readError = readErr ? { offset: readErr.offset, code: readErr.code } : { offset: 0, code: out.fatal?.code ?? 'EIO' };
    spec.targets.forEach((_, t) => fail(t, 'READ_FAILED', `source read failed at offset ${result.readError?.offset} (${result.readError?.code})`, result.readError?.offset));
    result.state = 'failed';
    setPhase(Phase.finished);
    return result;
  }
  if (out.state === 'cancelled' || cancelled()) {
    targets.forEach((t) => (t.state = 'cancelled'));
    result.state = 'cancelled';
    setPhase(Phase.finished);
    return result;
  }

  const sinceStart = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
  // Targets still in the stream at its end are written and synced now: an operator can
  // take them while a slow one catches up.
  const sharedEnd = sinceStart();
  const laggards = new Set([...out.detached.map((d) => d.target), ...out.errors.filter((e) => e.target >= 0).map((e) => e.target)]);
  targets.forEach((tg, i) => {
    if (!laggards.has(i)) {
      tg.writtenSeconds = sharedEnd;
      postEvent(task.port, { type: 'written', index: i, seconds: sharedEnd });
    }
  });

  // Who owes what: detached targets from their detach offset, failed writes from the
  // lowest failed chunk (retried with backoff).
  const owed = new Map<number, { from: number; failure?: NativeChunkError }>();
  for (const d of out.detached) {
    owed.set(d.target, { from: d.offset });
    targets[d.target].detachedAt = d.offset;
  }
  for (const e of out.errors.filter((x) => x.target >= 0)) {
    const cur = owed.get(e.target);
    if (!cur || e.offset < cur.from) owed.set(e.target, { from: e.offset, failure: e });
  }
  if (owed.size > 0) setPhase(Phase.catchingUp);
  for (const [t, o] of owed) {
    let from = o.from;
    let failure = o.failure;
    for (let attempt = 0; ; attempt++) {
      if (cancelled()) break;
      if (failure) {
        if (attempt > spec.retries) {
          fail(t, failure.code === 'ENOSPC' ? 'TARGET_FULL' : 'WRITE_FAILED', `write failed at target offset ${failure.offset + spec.targetDelta} (${failure.code}) after ${spec.retries} retries`, failure.offset);
          break;
        }
        if (attempt > 0) {
          targets[t].writeRetries = attempt;
          await sleep(250 * 2 ** (attempt - 1));
        }
      }
      const end = spec.offset + spec.length;
      const catchUp = new EngineJob(
        {
          mode: 'copy',
          source: { path: spec.source, direct: spec.direct },
          // inside the job's claim; a detached target's orphaned writes may still be in flight
          targets: [{ path: spec.targets[t], direct: spec.direct, exclusive: true, delta: spec.targetDelta }],
          extents: [{ offset: from, length: end - from }],
          blockSize: spec.blockSize,
          depth: spec.depth,
          backend: spec.backend,
        },
        task.catchUpCounters,
      );
      const r = await runJob(catchUp, control, spec.maxRate, copyPaused);
      const w = r.errors.find((x) => x.target >= 0);
      const rd = r.errors.find((x) => x.target < 0 && x.op === 'read');
      if (rd) {
        fail(t, 'READ_FAILED', `source read failed at offset ${rd.offset} (${rd.code}) while catching up`, rd.offset);
        break;
      }
      if (!w) {
        const seconds = sinceStart();
        targets[t].writtenSeconds = seconds;
        postEvent(task.port, { type: 'written', index: t, seconds });
        break;
      }
      failure = w;
      from = w.offset;
    }
  }
  // seconds the copy ran: time the operator held it paused is not the copy's
  result.copySeconds = Math.max(0, Number(process.hrtime.bigint() - t0) / 1e9 - copyPaused.ms / 1000);
  if (cancelled()) {
    targets.forEach((t) => t.state !== 'failed' && (t.state = 'cancelled'));
    result.state = 'cancelled';
    setPhase(Phase.finished);
    return result;
  }

  const live = targets.map((t, i) => (t.state === 'done' ? i : -1)).filter((i) => i >= 0);
  if (spec.verify && live.length > 0 && spec.length > 0) {
    setPhase(Phase.verifying);
    const v0 = process.hrtime.bigint();
    const verify = new EngineJob(
      {
        mode: 'verify',
        source: { path: spec.source, direct: spec.direct },
        targets: live.map((i) => ({ path: spec.targets[i], direct: true, delta: spec.targetDelta })),
        extents: [{ offset: spec.offset, length: spec.length }],
        blockSize: spec.blockSize,
        depth: spec.verifyDepth ?? spec.depth,
        backend: spec.backend,
        stopOnReadError: true,
      },
      task.verifyCounters,
    );
    const v = await runJob(verify, control, spec.maxRate, verifyPaused);
    result.verifySeconds = Math.max(0, Number(process.hrtime.bigint() - v0) / 1e9 - verifyPaused.ms / 1000);
    for (const e of v.errors) {
      if (e.target < 0) continue;
      const t = live[e.target];
      if (e.code === 'MISMATCH') fail(t, 'VERIFY_MISMATCH', `differs from the source at target offset ${e.offset + spec.targetDelta}`, e.offset);
      else fail(t, 'VERIFY_READ_FAILED', `reading it back failed at target offset ${e.offset + spec.targetDelta} (${e.code})`, e.offset);
    }
    if (v.state === 'cancelled') live.forEach((t) => targets[t].state === 'done' && (targets[t].state = 'cancelled'));
    else for (const t of live) if (targets[t].state === 'done') targets[t].verified = true;
  }
  result.state = targets.every((t) => t.state === 'done') ? 'done' : targets.some((t) => t.state === 'cancelled') ? 'cancelled' : 'failed';
  setPhase(Phase.finished);
  return result;
}
