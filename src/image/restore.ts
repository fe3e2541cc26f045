// `clonestation restore IMAGE TARGET`: an image made by `backup` (raw, split raw, zip, split
// zip) back onto a drive or into a file. Plan (resolve the image, ranges, every refusal of
// clone), confirm, write, then check what was written against the manifest's hashes.
// Raw parts go through the native engine (O_DIRECT, one job per part, each at its delta);
// a ZIP entry is inflated in JS and written by TargetWriter (aligned O_DIRECT slots).
import { existsSync } from 'node:fs';
import { CancelledError, ImageError, IoError, UsageError, VerifyMismatchError, type CloneStationError } from '../errors.js';
import { inspectDrive, type DriveInfo } from '../drive.js';
import { checkDistinct, checkTargetFree, checkTargetSize } from '../safety.js';
import { EngineJob, DEFAULT_DEPTH, type EngineTuning, type JobOutcome, type RangeText } from '../engine.js';
import { parseSize, formatBytes } from '../units.js';
import { startProgress, type Reporter } from '../progress.js';
import type { Backend, NativeChunkError } from '../native.js';
import type { Extent } from '../extent.js';
import type { HashAlgorithm } from './hash.js';
import { HashThread } from './hash-thread.js';
import { defaultTargetOffset, fastestAlgorithm, firstHashMismatch, resolveImage, zipFiles, type ImagePart, type ResolvedImage } from './open.js';
// type only: yauzl and zlib are loaded when an image is a zip (45 ms of start-up otherwise)
import type { ZipImageReader } from './zip/reader.js';
import type { ZstdImageReader } from './zstd/reader.js';
import { TargetWriter, type TargetWriterOptions } from './target-writer.js';
import { checkBlockSize, checkNewImagePath, prepareFileTarget } from '../clone.js';
import { Claims, isClaimed } from '../claim.js';
import { applyTargetAdjust, type TargetAdjust } from '../partition/apply.js';
import { planRestoreTables } from './partitions/restore-tables.js';
import { GapFill, UsedCursor, fromManifestExtents } from './used.js';
import { usedWithin } from '../extent.js';
import { zeroBytes } from '../zeros.js';

/** Whether every byte is zero (a free extent of a used-only image's stream). */
function isZeros(piece: Uint8Array): boolean {
  for (let i = 0; i < piece.length; ) {
    const z = zeroBytes(piece.length - i);
    if (Buffer.compare(Buffer.from(piece.buffer, piece.byteOffset + i, z.length), Buffer.from(z.buffer, z.byteOffset, z.length)) !== 0) return false;
    i += z.length;
  }
  return true;
}

/** offset and length: the part of the image to restore */
export interface RestoreOptions extends RangeText, EngineTuning {
  image: string;
  target: string;
  yes?: boolean;
  /** use an image whose manifest says complete:false */
  force?: boolean;
  /** more hashes of the restored bytes, for the report */
  hash?: HashAlgorithm[];
  /** do not hash the restored bytes against the manifest (verify IMAGE TARGET later) */
  noCheck?: boolean;
  /** the dashboard's hook: nothing more will be asked on the terminal */
  ready?: () => void;
  /** whole-disk restore to a drive of another size (src/partition/whole-disk.ts) */
  growLast?: boolean;
  growFs?: boolean;
  fit?: boolean;
  /** a used-only image: zero its free extents on the target (else they are left as they are) */
  zeroFree?: boolean;
}

export interface RestorePlan {
  image: ResolvedImage;
  /** zip: the opened archive (structure already checked) */
  zip?: ZipImageReader;
  /** zstd: the opened image (seek table already checked) */
  zstd?: ZstdImageReader;
  target: DriveInfo | undefined;
  targetPath: string;
  /** bytes of the image to restore */
  range: Extent;
  targetOffset: number;
  /** the whole image: its hashes can be checked */
  full: boolean;
  /** the manifest hash checked on the way (the fastest one it has) */
  check?: HashAlgorithm;
  hash: HashAlgorithm[];
  blockSize: number;
  depth: number;
  backend: Backend;
  direct: boolean;
  notes: string[];
  /** a whole-disk restore to a drive of another size: its partition table's adjustment after the copy */
  adjust?: TargetAdjust | null;
  /** --no-check was given */
  noCheck?: boolean;
  /**
   * a used-only image (its manifest's usedOnly): the used extents inside the range, at image
   * offsets; only they are written, the rest of the target is left as it is (or zeroed: zeroFree)
   */
  used?: Extent[];
  /** --zero-free: the free extents of a used-only image are zeroed on the target */
  zeroFree?: boolean;
}

export interface RestoreResult {
  bytes: number;
  seconds: number;
  bytesPerSec: number;
  format: 'raw' | 'zip' | 'zstd';
  parts: number;
  targetDirect: boolean;
  /** the manifest hash that was checked and matched, if any */
  checked?: HashAlgorithm;
  hashes?: Partial<Record<HashAlgorithm, string>>;
  /** what was adjusted on the target after the copy (partition table, file system) */
  adjusted?: string[];
}

/** A missing target becomes a new image file, never in the device folder: clone's check (src/outpath.ts). */
function checkNewFilePath(path: string): void {
  checkNewImagePath(path);
}

/** Image offset/length options → the extent of the image to restore. */
export function imageRange(size: number, offset: string | undefined, length: string | undefined, name: string): Extent {
  const off = offset ? parseSize(offset, '--offset') : 0;
  if (off > size) throw new UsageError(`--offset ${off} is beyond the end of image ${name} (${size} bytes)`, 'RANGE');
  const len = length ? parseSize(length, '--length') : size - off;
  if (off + len > size) throw new UsageError(`--offset ${off} plus --length ${len} runs past the end of image ${name} (${size} bytes): shorten --length`, 'RANGE');
  return { offset: off, length: len };
}

/** Resolves the image and the ranges and runs every safety check. Nothing is opened for writing. */
export async function planRestore(o: RestoreOptions): Promise<RestorePlan> {
  const image = await resolveImage(o.image, { force: o.force });
  const notes = [...image.notes];
  let zip: ZipImageReader | undefined;
  let zstd: ZstdImageReader | undefined;
  try {
    if (image.format === 'zip') {
      // Opening checks the archive's structure (end records, local header, descriptor):
      // a truncated or shuffled archive is refused before the target is touched.
      zip = await (await import('./zip/reader.js')).ZipImageReader.open(zipFiles(image));
      if (image.manifest && zip.info.size !== image.size)
        throw new ImageError('IMAGE_CORRUPT', `the archive holds ${zip.info.size} bytes but the manifest says ${image.size}: the manifest does not belong to this archive`, {
          size: zip.info.size,
          expected: image.size,
        });
      const entry = image.manifest?.image.entryName;
      if (entry !== undefined && zip.info.entryName !== entry)
        throw new ImageError('IMAGE_CORRUPT', `the archive's entry is ${JSON.stringify(zip.info.entryName)} but the manifest says ${JSON.stringify(entry)}: the manifest does not belong to this archive`, {
          entryName: zip.info.entryName,
          expected: entry,
        });
      image.size = zip.info.size;
    }
    if (image.format === 'zstd') {
      // Opening checks the seek table against the files: a cut or shuffled image is refused here.
      zstd = await openZstd(image);
    }
    const target = existsSync(o.target) ? inspectDrive(o.target, 'target') : undefined;
    if (!target) checkNewFilePath(o.target);
    const range = imageRange(image.size, o.offset, o.length, image.name);
    const targetOffset = o.targetOffset ? parseSize(o.targetOffset, '--target-offset', target?.logicalSectorSize ?? 512) : defaultTargetOffset(image, range.offset);
    if (!o.targetOffset && targetOffset !== range.offset)
      notes.push(`the backup is of the source's bytes from ${image.manifest?.range.offset}: they go back to the same offset (${targetOffset}); --target-offset puts them elsewhere`);
    const blockSize = checkBlockSize(o.blockSize);
    // The image's files (its parts and its manifest) are the source: restoring onto one of
    // them (or onto the loop device over one) is SAME_DRIVE.
    for (const p of [...image.parts.map((x) => x.path), ...(image.manifestPath ? [image.manifestPath] : [])]) checkDistinct(inspectDrive(p, 'source'), target, o.target);
    checkTargetFree(target);
    // a whole image to a drive of another size: its partition table made right there (or --fit)
    const tables = await planRestoreTables(o, image, target);
    if (tables) range.length = tables.copyLength;
    checkTargetSize(target, o.target, { offset: targetOffset, length: range.length });
    if (target && target.size > targetOffset + range.length && !tables?.adjust) {
      notes.push(
        `target ${o.target} (${formatBytes(target.size)}) is larger than what is restored (${formatBytes(range.length)} at offset ${targetOffset}): the other ${formatBytes(target.size - targetOffset - range.length)} are left as they are${target.kind === 'block' ? ' (a GPT disk: move its backup header to the end with sgdisk -e)' : ''}`,
      );
    }
    const full = range.offset === 0 && range.length === image.size;
    if (tables && !full) notes.push(`--fit: the first ${range.length} of the image's ${image.size} bytes are restored (every partition ends inside them); the manifest's whole-image hash cannot be checked, ${image.manifest?.partitions?.length ? "each partition's is" : 'and it records no hash of each partition (an older backup): the restored bytes are not checked'}`);
    // A finished backup whose manifest has no hashes (made with --hash none, or stripped):
    // nothing would check what is restored. Said, and done only when asked for.
    if (full && image.manifest?.complete && Object.keys(image.hashes).length === 0 && !o.noCheck)
      throw new UsageError(
        `the manifest of ${image.name} has no hashes: the restored bytes could not be checked against it${image.format === 'zip' ? ' (only the archive\'s CRC-32 would be)' : image.format === 'zstd' ? " (only the frames' checksums would be)" : ''}; pass --no-check to restore it unchecked`,
        'NO_HASHES',
        { path: image.manifestPath },
      );
    if (full && image.manifest && Object.keys(image.hashes).length === 0 && (o.noCheck || !image.manifest.complete))
      notes.push(`the manifest has no hashes: the restored bytes are not checked${image.format === 'zip' ? ' (the archive\'s CRC-32 is)' : image.format === 'zstd' ? " (the frames' checksums are)" : ''}`);
    const check = full && !o.noCheck ? fastestAlgorithm(image.hashes) : undefined;
    if (o.noCheck && full && Object.keys(image.hashes).length > 0) notes.push('--no-check: the restored bytes are not checked against the manifest (clonestation verify IMAGE TARGET does it afterwards)');
    if (!full && Object.keys(image.hashes).length > 0) notes.push('a part of the image is restored: the manifest hashes (of the whole image) are not checked');
    const hash = [...new Set([...(check ? [check] : []), ...(o.hash ?? [])])];
    const usedOnly = image.manifest?.usedOnly;
    const used = usedOnly ? usedWithin(fromManifestExtents(usedOnly.extents), range.offset, range.length) : undefined;
    if (o.zeroFree && !used) throw new UsageError(`--zero-free is for an image made with --used-only; ${image.name} holds every byte of its source: leave it out`, 'USAGE');
    if (used) {
      const u = used.reduce((n, e) => n + e.length, 0);
      notes.push(
        `a used-only image: ${formatBytes(u)} of the ${formatBytes(range.length)} are the file systems' used blocks and are written; the free ones ${o.zeroFree ? 'are zeroed on the target (--zero-free)' : 'are left as the target has them (--zero-free zeroes them)'}`,
      );
    }
    return {
      image,
      zip,
      zstd,
      target,
      targetPath: o.target,
      range,
      targetOffset,
      full,
      check,
      hash,
      blockSize,
      depth: o.depth ?? DEFAULT_DEPTH,
      backend: o.backend ?? 'auto',
      direct: o.direct ?? true,
      notes,
      adjust: tables?.adjust,
      noCheck: o.noCheck,
      // --zero-free: a drive gets the used extents written and zeroes the free ones itself
      // (executeRestore, BLKZEROOUT); a file gets every byte of the image, its free extents as
      // the zeros they read as
      ...(used && (!o.zeroFree || target?.kind === 'block') ? { used } : {}),
      ...(used && o.zeroFree ? { zeroFree: true } : {}),
    };
  } catch (e) {
    await zip?.close();
    await zstd?.close();
    throw e;
  }
}

/** Opens a zstd image's files and checks its seek table against the manifest's size (IMAGE_CORRUPT when they differ). */
export async function openZstd(image: ResolvedImage): Promise<ZstdImageReader> {
  const r = await (await import('./zstd/reader.js')).ZstdImageReader.open(zipFiles(image));
  if (image.manifest && r.info.size !== image.size) {
    await r.close();
    throw new ImageError('IMAGE_CORRUPT', `the zstd image's seek table holds ${r.info.size} bytes but the manifest says ${image.size}: the manifest does not belong to this image`, {
      size: r.info.size,
      expected: image.size,
    });
  }
  image.size = r.info.size;
  return r;
}

/** The part of each image file that the range covers, and where it lands on the target. */
export function partExtents(parts: readonly ImagePart[], range: Extent, targetOffset: number): { part: ImagePart; extent: Extent; delta: number }[] {
  const out: { part: ImagePart; extent: Extent; delta: number }[] = [];
  const end = range.offset + range.length;
  for (const part of parts) {
    const from = Math.max(range.offset, part.start);
    const to = Math.min(end, part.start + part.size);
    if (to <= from) continue;
    // part-local offset x is image offset part.start + x, target offset targetOffset + that - range.offset
    out.push({ part, extent: { offset: from - part.start, length: to - from }, delta: part.start - range.offset + targetOffset });
  }
  return out;
}

/** A failed chunk of a raw restore as the error the user sees. */
function rawChunkFailure(e: NativeChunkError, part: ImagePart, delta: number, targetPath: string): CloneStationError {
  const details = { errno: e.code, op: e.op, offset: e.offset, length: e.length };
  if (e.target < 0) {
    if (e.code === 'END_OF_DATA')
      return new ImageError('IMAGE_TRUNCATED', `image file ${part.path} ended at offset ${e.offset} while being read: is something writing it?`, { path: part.path, ...details });
    return new ImageError('IMAGE_READ_FAILED', `reading image file ${part.path} failed at offset ${e.offset} (${e.code}): its disk may be failing; copy the image elsewhere and retry`, {
      path: part.path,
      ...details,
    });
  }
  const at = e.offset + delta;
  if (e.op === 'fdatasync')
    return new IoError('WRITE_FAILED', `flushing target ${targetPath} to the device failed (${e.code}): the target may be failing; its contents are not trustworthy`, { path: targetPath, ...details });
  if (e.code === 'ENOSPC') return new IoError('TARGET_FULL', `target ${targetPath} is full at offset ${at} (ENOSPC): choose a larger target`, { path: targetPath, ...details, offset: at });
  return new IoError('WRITE_FAILED', `writing target ${targetPath} failed at offset ${at} (${e.code}): the target may be failing; choose another target`, { path: targetPath, ...details, offset: at });
}

function engineFailure(fatal: NonNullable<JobOutcome['fatal']>, targetPath: string): IoError {
  if (fatal.syscall === 'io_uring_setup')
    return new IoError('IO_URING_UNAVAILABLE', `io_uring is not available here (${fatal.code}): use --backend auto or --backend threads`, { errno: fatal.code });
  return new IoError('ENGINE_FAILED', `the restore could not continue (${fatal.message}): target ${targetPath} is incomplete`, { errno: fatal.code });
}

interface Written {
  bytes: number;
  targetDirect: boolean;
}

/** Raw and split raw: one engine job per part, in order, all feeding one hash tap. */
async function restoreRaw(plan: RestorePlan, hash: HashThread | undefined, reporter: Reporter, signal: AbortSignal | undefined): Promise<Written> {
  const pieces = partExtents(plan.image.parts, plan.range, plan.targetOffset);
  let before = 0;
  let current: EngineJob | undefined;
  let targetDirect = true;
  const total = plan.used ? plan.used.reduce((n, e) => n + e.length, 0) : plan.range.length;
  const progress = startProgress('copy', total, reporter, () => before + (current?.snapshot().targets[0]?.bytes ?? 0));
  const onAbort = (): void => current?.cancel();
  // One claim on a block device for all the parts (claim.ts): each engine job opens it
  // without O_EXCL. (Job after job each taking the claim races the kernel: io_uring drops
  // its registered files asynchronously after a ring is closed, so the next open can see EBUSY.)
  using claims = new Claims();
  if (plan.target?.kind === 'block' && !isClaimed(plan.targetPath)) {
    try {
      claims.target(plan.targetPath);
    } catch (e) {
      progress.end();
      throw e;
    }
  }
  signal?.addEventListener('abort', onAbort);
  try {
    for (const { part, extent, delta } of pieces) {
      if (signal?.aborted) throw new CancelledError(`cancelled after ${before} bytes: target ${plan.targetPath} is incomplete`, { bytesWritten: before });
      // a used-only image: only its used extents are copied; the hash sees the rest as zeros
      const extents = plan.used ? usedWithin(plan.used, part.start + extent.offset, extent.length).map((e) => ({ offset: e.offset - part.start, length: e.length })) : [extent];
      const fill = plan.used && hash ? new GapFill([hash], extent.offset, extent.length) : undefined;
      const job = new EngineJob({
        mode: 'copy',
        source: { path: part.path, direct: plan.direct },
        targets: [{ path: plan.targetPath, direct: plan.direct, exclusive: true, delta }],
        extents,
        blockSize: plan.blockSize,
        depth: plan.depth,
        backend: plan.backend,
        stopOnReadError: true,
        // one fdatasync at the end is enough; a single part syncs itself
        sync: pieces.length === 1,
        taps: fill ? [fill] : hash ? [hash] : undefined,
      });
      const eps = job.endpoints();
      if (!eps.targets[0]?.direct || !eps.source.direct) {
        targetDirect &&= eps.targets[0]?.direct ?? false;
        reporter.note(
          `${part.path}: ${eps.source.direct ? 'source O_DIRECT' : `source buffered (${eps.source.directNote})`}, ${eps.targets[0]?.direct ? 'target O_DIRECT' : `target buffered (${eps.targets[0]?.directNote ?? ''})`}`,
          { part: part.path, sourceDirect: eps.source.direct, targetDirect: eps.targets[0]?.direct },
        );
      }
      current = job;
      const outcome = await job.run();
      current = undefined;
      const written = outcome.progress.targets[0]?.bytes ?? 0;
      before += written;
      if (outcome.state === 'cancelled' && !outcome.tapError)
        throw new CancelledError(`cancelled after ${before} bytes: target ${plan.targetPath} is incomplete`, { bytesWritten: before });
      const first = outcome.errors[0];
      if (first) throw rawChunkFailure(first, part, delta, plan.targetPath);
      if (outcome.tapError) throw new IoError('INCOMPLETE', `hashing the restored bytes failed (${outcome.tapError.message}): target ${plan.targetPath} is incomplete`);
      if (outcome.fatal) throw engineFailure(outcome.fatal, plan.targetPath);
      if (outcome.state !== 'done' || written !== job.total)
        throw new IoError('INCOMPLETE', `only ${written} of ${job.total} bytes of ${part.path} were written: target ${plan.targetPath} is incomplete`);
      await fill?.finish();
    }
    if (pieces.length > 1) await syncTarget(plan);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    progress.end();
  }
  return { bytes: before, targetDirect };
}

/** Several parts were written without a sync each: one fdatasync of the target at the end. */
async function syncTarget(plan: RestorePlan): Promise<void> {
  const { open } = await import('node:fs/promises');
  const fh = await open(plan.targetPath, 'r+');
  try {
    await fh.datasync();
  } catch (e) {
    throw new IoError('WRITE_FAILED', `flushing target ${plan.targetPath} to the device failed (${(e as Error).message}): its contents are not trustworthy`, { path: plan.targetPath });
  } finally {
    await fh.close();
  }
}

/** The writer of an inflated stream onto one restore target (aligned O_DIRECT slots where it can). */
export function openTargetWriter(
  plan: Pick<RestorePlan, 'target' | 'targetPath' | 'targetOffset' | 'direct' | 'blockSize' | 'depth'>,
  tap?: TargetWriterOptions['tap'],
): TargetWriter {
  const align = Math.max(plan.target?.logicalSectorSize ?? 512, 512);
  return new TargetWriter({
    path: plan.targetPath,
    kind: plan.target?.kind ?? 'file',
    offset: plan.targetOffset,
    direct: plan.direct,
    // a file's O_DIRECT alignment is not known from stat: 4096 is always safe
    align: plan.target?.kind === 'block' ? align : 4096,
    slotSize: plan.blockSize,
    depth: Math.min(plan.depth, 8),
    tap,
  });
}

/** Zip and split zip: the inflated entry, the range's bytes of it, streamed through TargetWriter. */
function restoreZip(plan: RestorePlan, zip: ZipImageReader, hash: HashThread | undefined, reporter: Reporter, signal: AbortSignal | undefined): Promise<Written> {
  async function* range(): AsyncGenerator<Uint8Array> {
    const start = plan.range.offset;
    const end = plan.range.offset + plan.range.length;
    let pos = 0;
    for await (const chunk of zip.chunks()) {
      const from = Math.max(start - pos, 0);
      const to = Math.min(end - pos, chunk.length);
      pos += chunk.length;
      if (to > from) yield from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
      // a part of the image: stop reading once it is written (no CRC check then)
      if (pos >= end && (to <= from || !plan.full)) return;
    }
  }
  return restoreStream(plan, range(), hash, reporter, signal);
}

/** zstd and split zstd: only the frames the range needs are read (the seek table says which), decompressed on native threads. */
function restoreZstd(plan: RestorePlan, zstd: ZstdImageReader, hash: HashThread | undefined, reporter: Reporter, signal: AbortSignal | undefined): Promise<Written> {
  // a used-only image: frames of free blocks only are not read (the seek table says where they are)
  const used = plan.used;
  const unused = used ? (start: number, length: number): boolean => usedWithin(used, start, length).length === 0 : undefined;
  return restoreStream(plan, zstd.chunks(plan.range, unused), hash, reporter, signal);
}

/** A decompressed image's bytes of the range, in order, written through TargetWriter: a damaged image says the target is partly written. */
async function restoreStream(plan: RestorePlan, chunks: AsyncIterable<Uint8Array>, hash: HashThread | undefined, reporter: Reporter, signal: AbortSignal | undefined): Promise<Written> {
  const writer = openTargetWriter(plan, hash ? (slot) => hash.update(slot) : undefined);
  reporter.note(`target ${writer.direct ? 'O_DIRECT' : `buffered (${writer.directNote})`}`, { targetDirect: writer.direct });
  const progress = startProgress('copy', plan.range.length, reporter, () => writer.written + writer.skipped);
  let ok = false;
  // a used-only image: its free extents (zeros in the stream) are passed over on the target
  const cursor = plan.used ? new UsedCursor(plan.used) : undefined;
  let pos = plan.range.offset;
  try {
    for await (const chunk of chunks) {
      if (signal?.aborted) break;
      if (!cursor) {
        await writer.write(chunk);
        continue;
      }
      const runs: { start: number; len: number; used: boolean }[] = [];
      cursor.split(pos, chunk.length, (start, len, used) => runs.push({ start, len, used }));
      for (const r of runs) {
        const piece = chunk.subarray(r.start - pos, r.start - pos + r.len);
        if (r.used) await writer.write(piece);
        else {
          if (!isZeros(piece))
            throw new ImageError('IMAGE_CORRUPT', `the image holds data at image offset ${r.start}, in an extent its manifest calls free: the image or its manifest is damaged`, { offset: r.start });
          await writer.skip(r.len, zeroBytes);
        }
      }
      pos += chunk.length;
    }
    if (signal?.aborted) throw new CancelledError(`cancelled after ${writer.written} bytes: target ${plan.targetPath} is incomplete`, { bytesWritten: writer.written });
    await writer.finish();
    ok = true;
  } catch (e) {
    if (e instanceof ImageError)
      throw new ImageError(e.code, `${e.message}; target ${plan.targetPath} was partly written and is not a faithful copy`, { ...e.details, bytesWritten: writer.written });
    throw e;
  } finally {
    if (!ok) await writer.abort();
    progress.end();
  }
  if (writer.written + writer.skipped !== plan.range.length)
    throw new IoError('INCOMPLETE', `only ${writer.written + writer.skipped} of ${plan.range.length} bytes were written: target ${plan.targetPath} is incomplete`);
  return { bytes: writer.written, targetDirect: writer.direct };
}

export async function executeRestore(plan: RestorePlan, reporter: Reporter, signal?: AbortSignal): Promise<RestoreResult> {
  try {
    for (const n of plan.notes) reporter.note(n);
    if (signal?.aborted) throw new CancelledError(`cancelled before writing: ${plan.targetPath} was left untouched`);
    // a file target is locked for the whole restore (a device is claimed by restoreRaw, or TargetWriter)
    using claims = new Claims();
    prepareFileTarget(plan, claims);
    // a raw restore whose table is adjusted after it keeps one claim on the drive throughout
    if (plan.adjust && plan.target?.kind === 'block' && !plan.zip) claims.target(plan.targetPath);
    reporter.note(
      `restoring ${plan.range.length} bytes of ${plan.image.format}${plan.image.split ? ` (${plan.image.parts.length} parts)` : ''} image ${plan.image.name} at ${plan.range.offset} to ${plan.targetPath} at ${plan.targetOffset}${plan.check ? `; checking ${plan.check} against the manifest` : ''}`,
      { image: plan.image.name, format: plan.image.format, parts: plan.image.parts.length, target: plan.targetPath, offset: plan.range.offset, length: plan.range.length, targetOffset: plan.targetOffset },
    );
    // Hashing on its own thread, beside the engine's I/O thread and the main thread's work.
    const hash = plan.hash.length > 0 ? await HashThread.start(plan.hash) : undefined;
    const start = process.hrtime.bigint();
    let hashes: Partial<Record<HashAlgorithm, string>> | undefined;
    let w: Written;
    try {
      w = plan.zip
        ? await restoreZip(plan, plan.zip, hash, reporter, signal)
        : plan.zstd
          ? await restoreZstd(plan, plan.zstd, hash, reporter, signal)
          : await restoreRaw(plan, hash, reporter, signal);
      hashes = hash ? await hash.digest() : undefined;
    } finally {
      await hash?.close();
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (plan.check && hashes) {
      const bad = firstHashMismatch({ [plan.check]: plan.image.hashes[plan.check] }, hashes);
      if (bad)
        throw new VerifyMismatchError(
          `the image differs from its manifest: ${bad.algorithm} of the restored bytes is ${bad.got}, the manifest says ${bad.expected}; a part is damaged or out of order (clonestation verify ${plan.image.name} finds it); target ${plan.targetPath} is not a faithful copy`,
          { algorithm: bad.algorithm, expected: bad.expected, got: bad.got },
        );
    }
    if (plan.zeroFree && plan.used && plan.target?.kind === 'block') {
      // after the check: a damaged image's target is not zeroed as if it were good
      if (!isClaimed(plan.targetPath)) claims.target(plan.targetPath);
      const { freeExtents, zeroExtents } = await import('../zero-free.js');
      const free = freeExtents(plan.used.map((e) => ({ offset: e.offset - plan.range.offset, length: e.length })), plan.range.length);
      const n = await zeroExtents(plan.targetPath, free, plan.targetOffset, () => signal?.aborted ?? false);
      if (signal?.aborted) throw new CancelledError(`cancelled while zeroing the free blocks: ${plan.targetPath} holds the image's used blocks, its free ones only partly zeroed`);
      reporter.note(`${plan.targetPath}: ${formatBytes(n)} of free blocks zeroed (--zero-free)`, { zeroed: n });
    }
    let adjusted: string[] | undefined;
    // --fit: the whole-image hash cannot be checked, each partition's (backup recorded them) can
    if (plan.adjust && !plan.full && plan.range.offset === 0 && plan.image.manifest?.partitions?.length && !plan.noCheck) {
      const { checkPartitionHashes } = await import('./partitions/check-parts.js');
      const c = await checkPartitionHashes(plan.targetPath, plan.image.manifest.partitions, plan.range.length);
      if (c.checked.length > 0) reporter.note(`partitions ${c.checked.join(', ')} match the manifest's ${c.algorithm} of each`, { partitionsChecked: c.checked });
    }
    if (plan.adjust) {
      // after the check: a damaged image's table is not made right on the target
      if (plan.zip && plan.target?.kind === 'block') claims.target(plan.targetPath);
      adjusted = await applyTargetAdjust(plan.targetPath, plan.adjust, (n) => reporter.note(`${plan.targetPath}: ${n}`, { adjusted: n }));
    }
    return {
      ...(adjusted ? { adjusted } : {}),
      bytes: w.bytes,
      seconds,
      bytesPerSec: seconds > 0 ? w.bytes / seconds : 0,
      format: plan.image.format,
      parts: plan.image.parts.length,
      targetDirect: w.targetDirect,
      checked: plan.check,
      hashes,
    };
  } finally {
    await plan.zip?.close();
    await plan.zstd?.close();
  }
}

/** " (a backup of MODEL serial SERIAL, DATE)" from the manifest, for the question: which image is this? */
export function imageOrigin(image: ResolvedImage): string {
  const m = image.manifest;
  if (!m) return '';
  const who = [m.source.model, m.source.serial ? `serial ${m.source.serial}` : undefined].filter(Boolean).join(' ') || m.source.path;
  return ` (a backup of ${who}, ${m.startedAt.slice(0, 10)})`;
}

/** The whole command: plan, confirm a block-device target, restore, check. */
export async function restore(o: RestoreOptions, reporter: Reporter, signal?: AbortSignal): Promise<RestoreResult> {
  const plan = await planRestore(o);
  if (plan.target?.kind === 'block' && !o.yes) {
    try {
      const { confirmOverwrite } = await import('../confirm.js');
      await confirmOverwrite(plan.target, `with ${plan.range.length} bytes of image ${plan.image.name}${imageOrigin(plan.image)} at offset ${plan.targetOffset}`, { yes: o.yes ?? false });
    } catch (e) {
      await plan.zip?.close();
      await plan.zstd?.close();
      throw e;
    }
  }
  o.ready?.();
  return executeRestore(plan, reporter, signal);
}
