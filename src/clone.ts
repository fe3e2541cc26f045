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
  /** whole-disk copies (src/partition/whole-disk.ts): grow the last partition, its ext fs, allow a smaller target */
  growLast?: boolean;
  growFs?: boolean;
  fit?: boolean;
  /** copy only the source's used extents (src/used-extents.ts); zeroFree: zero the rest on the target */
  usedOnly?: boolean;
  zeroFree?: boolean;
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

/**
 * sourceRange, refusing an empty one: nothing to copy is a mistake (an empty file, a reader
 * without a medium, a loop detached under us, --length 0), never a success that leaves the
 * target as it was or makes an empty image with the empty input's hashes.
 */
export function nonEmptyRange(source: DriveInfo, offsetText: string | undefined, lengthText: string | undefined): Extent {
  const range = sourceRange(source, offsetText, lengthText);
  if (range.length === 0)
    throw new UsageError(
      source.size === 0
        ? `source ${source.path} is empty (0 bytes): nothing to copy; a card reader without a card looks like this`
        : `the range to copy is empty (--offset ${range.offset}, --length 0 or the end of the source): nothing to copy`,
      'RANGE',
    );
  return range;
}

/** Resolves the ranges and runs every safety check. Nothing is opened for writing. */
export function planClone(o: CloneOptions): ClonePlan {
  const source = inspectDrive(o.source, 'source');
  const target = existsSync(o.target) ? inspectDrive(o.target, 'target') : undefined;
  if (!target) checkNewImagePath(o.target);
  const { offset, length } = nonEmptyRange(source, o.offset, o.length);
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
  /** what was adjusted on the target after the copy (partition table, file system) */
  adjusted?: string[];
  /** --used-only: the bytes of the range the file systems use (the ones copied; `bytes` is the range) */
  usedBytes?: number;
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

export { chunkFailure, copyFailure, directNote, engineFailure, verifyFailure, type CopyPlace } from './copy-failure.js';

/** A ring slot the engine can carry: a multiple of 4 KiB from 4 KiB to 64 MiB (BAD_SIZE otherwise). */
export function checkBlockSize(blockSize: number | undefined): number {
  const b = blockSize ?? DEFAULT_BLOCK_SIZE;
  if (b % 4096 !== 0 || b < 4096 || b > 64 << 20) throw new UsageError(`--block-size must be a multiple of 4 KiB between 4 KiB and 64 MiB`, 'BAD_SIZE');
  return b;
}
