// `clonestation clone SOURCE TARGET`: plan (ranges and every refusal), confirm, copy,
// optionally verify. Policy only: the bytes move in the native engine.
import { existsSync, ftruncateSync, openSync, closeSync, fstatSync, realpathSync, truncateSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CancelledError, CloneStationError, IoError, UsageError, VerifyMismatchError, openError } from './errors.js';
import { inspectDrive, readMounts, type DriveInfo } from './drive.js';
import { checkDistinct, checkTargetFree, checkTargetSize, mountedSourceNote } from './safety.js';
import { EngineJob, DEFAULT_BLOCK_SIZE, DEFAULT_DEPTH, type EngineTuning, type JobOutcome, type RangeText } from './engine.js';
import { parseSize } from './units.js';
import { checkOutputPath } from './outpath.js';
import { startProgress, type Phase, type Reporter } from './progress.js';
import type { Backend, NativeChunkError, NativeEndpoint } from './native.js';
import type { Extent } from './extent.js';
import { MultiHash, type HashAlgorithm } from './image/hash.js';
import { Claims } from './claim.js';
import { checkPartial, partialPath, publishPartial } from './partial.js';

export interface CloneOptions extends RangeText, EngineTuning {
  source: string;
  target: string;
  verify?: boolean;
  yes?: boolean;
  /** hashes of the bytes copied, on the fly */
  hash?: HashAlgorithm[];
}

export interface ClonePlan {
  source: DriveInfo;
  /** undefined: a new image file will be created */
  target: DriveInfo | undefined;
  targetPath: string;
  range: Extent;
  targetOffset: number;
  blockSize: number;
  depth: number;
  backend: Backend;
  direct: boolean;
  verify: boolean;
  hash: HashAlgorithm[];
}

/**
 * A missing target becomes a new image file, but never in the device folder: there a
 * missing name is a mistyped drive, not a wish for a file. The name must be one a file can
 * have (not empty, no trailing slash, not too long) in a folder that can be written.
 */
export function checkNewImagePath(path: string): void {
  checkOutputPath(path, 'target', { code: 'BAD_TARGET', fix: 'give the path of a drive or of a new image file' });
  const parent = dirname(resolve(path));
  const real = realpathSync(parent);
  const mount = readMounts()
    .filter((m) => real === m.mountPoint || real.startsWith(m.mountPoint.endsWith('/') ? m.mountPoint : `${m.mountPoint}/`))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
  if (mount?.fsType === 'devtmpfs')
    throw new UsageError(`target ${path} does not exist: check the device name (clonestation list shows drives; it will not create files in ${mount.mountPoint})`, 'NOT_FOUND');
}

/** The bytes of `source` that --offset and --length select (default: all of it). */
export function sourceRange(source: DriveInfo, offsetText: string | undefined, lengthText: string | undefined): Extent {
  const offset = offsetText !== undefined ? parseSize(offsetText, '--offset', source.logicalSectorSize) : 0;
  if (offset > source.size)
    throw new UsageError(`--offset ${offset} is beyond the end of source ${source.path} (${source.size} bytes)`, 'RANGE');
  const length = lengthText !== undefined ? parseSize(lengthText, '--length', source.logicalSectorSize) : source.size - offset;
  if (offset + length > source.size)
    throw new UsageError(
      `--offset ${offset} plus --length ${length} runs past the end of source ${source.path} (${source.size} bytes): shorten --length`,
      'RANGE',
    );
  return { offset, length };
}

/** Resolves the ranges and runs every safety check. Nothing is opened for writing. */
export function planClone(o: CloneOptions): ClonePlan {
  const source = inspectDrive(o.source, 'source');
  const target = existsSync(o.target) ? inspectDrive(o.target, 'target') : undefined;
  if (!target) checkNewImagePath(o.target);
  const { offset, length } = sourceRange(source, o.offset, o.length);
  // Nothing to copy is a mistake (an empty file, a reader without a medium, --length 0),
  // never a success that leaves the target as it was or creates an empty file.
  if (length === 0)
    throw new UsageError(
      source.size === 0
        ? `source ${source.path} is empty (0 bytes): nothing to copy; a card reader without a card looks like this`
        : `the range to copy is empty (--offset ${offset}, --length 0 or the end of the source): nothing to copy`,
      'RANGE',
    );
  const targetOffset = o.targetOffset !== undefined ? parseSize(o.targetOffset, '--target-offset', target?.logicalSectorSize ?? 512) : 0;
  const blockSize = checkBlockSize(o.blockSize);

  checkDistinct(source, target, o.target);
  checkTargetFree(target);
  checkTargetSize(target, o.target, { offset: targetOffset, length });
  return {
    source,
    target,
    targetPath: o.target,
    range: { offset, length },
    targetOffset,
    blockSize,
    depth: o.depth ?? DEFAULT_DEPTH,
    backend: o.backend ?? 'auto',
    direct: o.direct ?? true,
    verify: o.verify ?? false,
    hash: o.hash ?? [],
  };
}

export interface CloneResult {
  bytes: number;
  seconds: number;
  bytesPerSec: number;
  backend: string;
  backendNote: string;
  registeredBuffers: boolean;
  sourceDirect: boolean;
  targetDirect: boolean;
  verified: boolean;
  verifySeconds?: number;
  /** hex digests of the bytes copied, by algorithm */
  hashes?: Partial<Record<HashAlgorithm, string>>;
}

/**
 * A file target is created when missing, sized to the end of what is written. An existing
 * file is a drive like any other: only the range written changes; what lies outside it is
 * kept (as dd conv=notrunc does), and the file only grows when the range ends past its end.
 * (restore and the station prepare their file targets the same way.)
 */
export function prepareFileTarget(plan: Pick<ClonePlan, 'target' | 'targetPath' | 'targetOffset' | 'range'>, claims?: Claims): void {
  if (plan.target?.kind === 'block') return;
  // With `claims`, the file is locked before it is created or cut: a second run is refused first.
  claims?.target(plan.targetPath, { create: !plan.target });
  let fd: number;
  try {
    // never truncated: every byte outside the range written keeps its value (a larger file)
    fd = openSync(plan.targetPath, plan.target || claims ? 'r+' : 'wx', 0o644);
  } catch (e) {
    throw openError(e, 'target', plan.targetPath);
  }
  try {
    const end = plan.targetOffset + plan.range.length;
    if (fstatSync(fd).size < end) ftruncateSync(fd, end);
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs one engine job with live progress; `signal` (SIGINT/SIGTERM in the CLI) cancels it.
 * `whole`: the job is one piece of a larger task (a part of a split image) whose progress
 * is shown instead: `before` bytes done by earlier pieces, of `total`.
 */
export async function runWithProgress(
  job: EngineJob,
  phase: Phase,
  reporter: Reporter,
  measure: (j: EngineJob) => number,
  signal: AbortSignal | undefined,
  whole?: { before: number; total: number },
): Promise<{ outcome: JobOutcome; seconds: number }> {
  const done = (): number => (whole?.before ?? 0) + measure(job);
  const progress = startProgress(phase, whole?.total ?? job.total, reporter, done, () => job.snapshot().bytesBad);
  const onAbort = (): void => job.cancel();
  signal?.addEventListener('abort', onAbort);
  if (signal?.aborted) job.cancel();
  try {
    const outcome = await job.run();
    // a piece of a larger task finishes the line only with the last piece
    const seconds = !whole || done() >= whole.total ? progress.end() : progress.elapsed();
    return { outcome, seconds };
  } finally {
    progress.stop();
    signal?.removeEventListener('abort', onAbort);
  }
}

function directNote(role: string, ep: NativeEndpoint): string {
  return ep.direct ? `${role} O_DIRECT` : `${role} buffered (${ep.directNote})`;
}

/** Turns the first chunk failure of a copy into the error the user sees. */
export function chunkFailure(e: NativeChunkError, plan: ClonePlan): CloneStationError {
  const where = e.target < 0 ? plan.source.path : plan.targetPath;
  const at = e.target < 0 ? e.offset : e.offset + plan.targetOffset - plan.range.offset;
  const details = { offset: at, length: e.length, errno: e.code, op: e.op, path: where };
  if (e.code === 'END_OF_DATA')
    return new IoError('SOURCE_SHRANK', `source ${where} ended at offset ${at}, before the range did: was it resized or unplugged?`, details);
  if (e.target < 0)
    return new IoError(
      'READ_FAILED',
      `reading source ${where} failed at offset ${at} (${e.code}): the source may be failing; copy it with a rescue map (GNU ddrescue) instead`,
      details,
    );
  if (e.op === 'fdatasync')
    return new IoError('WRITE_FAILED', `flushing target ${where} to the device failed (${e.code}): the target may be failing; its contents are not trustworthy`, details);
  if (e.code === 'ENOSPC')
    return new IoError('TARGET_FULL', `target ${where} is full at offset ${at} (ENOSPC): free space or choose a larger target`, details);
  return new IoError('WRITE_FAILED', `writing target ${where} failed at offset ${at} (${e.code}): the target may be failing; choose another target`, details);
}

/** The engine could not run at all (as opposed to a chunk failing). */
function engineFailure(fatal: NonNullable<JobOutcome['fatal']>, targetPath: string): IoError {
  if (fatal.syscall === 'io_uring_setup')
    return new IoError('IO_URING_UNAVAILABLE', `io_uring is not available here (${fatal.code}): use --backend auto or --backend threads`, { errno: fatal.code });
  return new IoError('ENGINE_FAILED', `the copy could not continue (${fatal.message}): target ${targetPath} is incomplete`, { errno: fatal.code });
}

/** A ring slot the engine can carry: a multiple of 4 KiB from 4 KiB to 64 MiB (BAD_SIZE otherwise). */
export function checkBlockSize(blockSize: number | undefined): number {
  const b = blockSize ?? DEFAULT_BLOCK_SIZE;
  if (b % 4096 !== 0 || b < 4096 || b > 64 << 20) throw new UsageError(`--block-size must be a multiple of 4 KiB between 4 KiB and 64 MiB`, 'BAD_SIZE');
  return b;
}

/**
 * Claims the target for the whole clone (copy and verify) and writes it. A new file is
 * written as TARGET.partial and renamed to TARGET only once it is copied, synced and (with
 * --verify) verified; an existing one, the user's, is written in place.
 */
export async function executeClone(plan: ClonePlan, reporter: Reporter, signal?: AbortSignal): Promise<CloneResult> {
  if (signal?.aborted) throw new CancelledError(`cancelled before writing: ${plan.targetPath} was left untouched`);
  if (plan.target) {
    using claims = new Claims();
    if (plan.target.kind === 'block') claims.target(plan.targetPath);
    else prepareFileTarget(plan, claims);
    return await copyAndVerify(plan, reporter, signal);
  }
  const work = partialPath(plan.targetPath);
  checkPartial(work);
  using claims = new Claims();
  // created by the claim, or left by an interrupted run (then ours, and started afresh)
  claims.target(work, { create: true });
  truncateSync(work, 0);
  truncateSync(work, plan.targetOffset + plan.range.length);
  let result: CloneResult;
  try {
    result = await copyAndVerify({ ...plan, targetPath: work }, reporter, signal);
  } catch (e) {
    if (e instanceof CloneStationError) {
      const kept = e.message.includes(work) ? '' : `: the incomplete copy is ${work}`;
      e.message += ` (${plan.targetPath} was not created${kept}; rerun the same command to start again)`;
    }
    throw e;
  }
  publishPartial(work, plan.targetPath);
  return result;
}

async function copyAndVerify(plan: ClonePlan, reporter: Reporter, signal?: AbortSignal): Promise<CloneResult> {
  const delta = plan.targetOffset - plan.range.offset;
  const extents = plan.range.length > 0 ? [plan.range] : [];
  const hash = plan.hash.length > 0 ? await MultiHash.create(plan.hash) : undefined;
  const copy = new EngineJob({
    mode: 'copy',
    source: { path: plan.source.path, direct: plan.direct },
    targets: [{ path: plan.targetPath, direct: plan.direct, exclusive: true, delta }],
    extents,
    blockSize: plan.blockSize,
    depth: plan.depth,
    backend: plan.backend,
    stopOnReadError: true,
    sync: true,
    taps: hash ? [hash] : undefined,
  });
  const eps = copy.endpoints();
  const mounted = mountedSourceNote(plan.source);
  if (mounted) reporter.note(mounted);
  reporter.note(
    `cloning ${plan.range.length} bytes from ${plan.source.path} at ${plan.range.offset} to ${plan.targetPath} at ${plan.targetOffset}; ${directNote('source', eps.source)}, ${directNote('target', eps.targets[0])}`,
    { source: plan.source.path, target: plan.targetPath, offset: plan.range.offset, length: plan.range.length, targetOffset: plan.targetOffset, sourceDirect: eps.source.direct, targetDirect: eps.targets[0].direct },
  );
  const { outcome, seconds } = await runWithProgress(copy, 'copy', reporter, (j) => j.snapshot().targets[0]?.bytes ?? 0, signal);
  const written = outcome.progress.targets[0]?.bytes ?? 0;
  reporter.note(`backend ${outcome.backend}${outcome.registeredBuffers ? ' (registered buffers)' : ''}${outcome.backendNote ? `: ${outcome.backendNote}` : ''}`, {
    backend: outcome.backend,
    backendNote: outcome.backendNote,
    registeredBuffers: outcome.registeredBuffers,
    registeredFiles: outcome.registeredFiles,
  });
  if (outcome.state === 'cancelled')
    throw new CancelledError(`cancelled after ${written} bytes: target ${plan.targetPath} is incomplete`, { bytesWritten: written });
  if (outcome.errors.length > 0) throw chunkFailure(outcome.errors[0], plan);
  if (outcome.fatal) throw engineFailure(outcome.fatal, plan.targetPath);
  if (outcome.state !== 'done' || written !== plan.range.length)
    throw new IoError('INCOMPLETE', `only ${written} of ${plan.range.length} bytes were written: target ${plan.targetPath} is incomplete`);

  const result: CloneResult = {
    bytes: written,
    seconds,
    bytesPerSec: seconds > 0 ? written / seconds : 0,
    backend: outcome.backend,
    backendNote: outcome.backendNote,
    registeredBuffers: outcome.registeredBuffers,
    sourceDirect: eps.source.direct,
    targetDirect: eps.targets[0].direct,
    verified: false,
    hashes: hash?.digest(),
  };
  if (plan.verify) {
    result.verifySeconds = await verifyClone(plan, reporter, signal);
    result.verified = true;
  }
  return result;
}

/** Re-reads the written range from the target (O_DIRECT) and compares it with the source. */
export async function verifyClone(plan: ClonePlan, reporter: Reporter, signal?: AbortSignal): Promise<number> {
  const delta = plan.targetOffset - plan.range.offset;
  const job = new EngineJob({
    mode: 'verify',
    source: { path: plan.source.path, direct: plan.direct },
    targets: [{ path: plan.targetPath, direct: true, delta }],
    extents: plan.range.length > 0 ? [plan.range] : [],
    blockSize: plan.blockSize,
    depth: plan.depth,
    backend: plan.backend,
    stopOnReadError: true,
  });
  const { outcome, seconds } = await runWithProgress(job, 'verify', reporter, (j) => j.snapshot().bytesCompared, signal);
  if (outcome.state === 'cancelled') throw new CancelledError('verification cancelled: the copy is complete but unverified');
  const mismatch = outcome.errors.find((e) => e.code === 'MISMATCH');
  if (mismatch) {
    const at = mismatch.offset + delta;
    throw new VerifyMismatchError(
      `verify failed: target ${plan.targetPath} differs from the source at target offset ${at} (source offset ${mismatch.offset}): the target may be failing`,
      { targetOffset: at, sourceOffset: mismatch.offset },
    );
  }
  if (outcome.errors.length > 0) {
    const e = outcome.errors[0];
    const path = e.target < 0 ? plan.source.path : plan.targetPath;
    throw new IoError('VERIFY_READ_FAILED', `verify could not read ${path} at offset ${e.offset} (${e.code}): the copy is unverified`, { errno: e.code });
  }
  if (outcome.fatal) throw engineFailure(outcome.fatal, plan.targetPath);
  return seconds;
}

/** The whole command: plan, confirm a block-device target, copy, verify. */
export async function clone(o: CloneOptions, reporter: Reporter, signal?: AbortSignal): Promise<CloneResult> {
  const plan = planClone(o);
  if (plan.target?.kind === 'block' && !o.yes) {
    // readline is loaded only when there is a question to ask.
    const { confirmOverwrite } = await import('./confirm.js');
    await confirmOverwrite(plan.target, `with ${plan.range.length} bytes from ${plan.source.path} at offset ${plan.targetOffset}`, { yes: o.yes ?? false });
  }
  return executeClone(plan, reporter, signal);
}
