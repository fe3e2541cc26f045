// A piscina task: one station job, whole, in one worker thread. Source to N targets in one
// shared stream; targets that fall behind or fail a write are caught up on their own from
// where they left it (failed writes retried with backoff); then every target is verified,
// all read in parallel. Progress lives in shared memory; state changes go over a port.
import { EngineJob } from '../src/engine.js';
import { copyToMany } from '../src/copy-many.js';
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
  // The 1:N policy (shared stream, lag rule, catch-ups, retries) is src/copy-many.ts's.
  const sinceStart = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
  const out = await copyToMany(
    {
      pieces: [{ source: spec.source, extent: { offset: spec.offset, length: spec.length }, delta: spec.targetDelta }],
      targets: spec.targets,
      blockSize: spec.blockSize,
      depth: spec.depth,
      backend: spec.backend,
      direct: spec.direct,
      lagMs: spec.lagMs,
      retries: spec.retries,
      taps: hash ? [hash] : undefined,
    },
    {
      run: (job) => runJob(job, control, spec.maxRate, copyPaused),
      cancelled,
      sharedCounters: task.copyCounters,
      catchUpCounters: task.catchUpCounters,
      catchingUp: () => setPhase(Phase.catchingUp),
      written: (t) => {
        const seconds = sinceStart();
        targets[t].writtenSeconds = seconds;
        postEvent(task.port, { type: 'written', index: t, seconds });
      },
      failed: (t, code, reason, offset) => fail(t, code, reason, offset),
      detached: (t, offset) => (targets[t].detachedAt = offset),
      retried: (t, attempt) => (targets[t].writeRetries = attempt),
    },
  );
  trace(`clone-task: ${spec.source} shared copy over`);
  const result: CloneTaskResult = { state: 'done', targets, copySeconds: 0, verifySeconds: 0, backend: out.first?.backend ?? spec.backend };
  if (hash) {
    // The shared stream read every byte unless every target left it by failing writes;
    // a hash over part of the range would be a wrong hash, so none is given then.
    if (hash.bytes === spec.length) result.hashes = hash.digest();
    else result.hashNote = `hashed ${hash.bytes} of ${spec.length} bytes: the shared copy stopped early`;
  }
  if (out.readError) {
    // The source failed: no target is a copy of it. (A map-based rescue handles this.)
    result.readError = { offset: out.readError.offset, code: out.readError.code };
    spec.targets.forEach((_, t) => fail(t, 'READ_FAILED', `source read failed at offset ${out.readError?.offset} (${out.readError?.code})`, out.readError?.offset));
    result.state = 'failed';
    setPhase(Phase.finished);
    return result;
  }
  if (out.cancelled && !targets.some((t) => t.writtenSeconds !== undefined || t.state === 'failed')) {
    targets.forEach((t) => (t.state = 'cancelled'));
    result.state = 'cancelled';
    setPhase(Phase.finished);
    return result;
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
