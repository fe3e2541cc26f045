// `clonestation backup SOURCE OUT`: a drive (or a range of it) to an image file — raw, a
// byte split of raw parts, or a ZIP — with hashes taken on the fly from the engine's ring,
// a manifest beside it, and hash files the coreutils *sum -c tools accept.
//
// An unfinished backup never looks finished: every file is written under a `.partial`
// name and renamed only after the last byte is synced and hashed, and the manifest says
// complete: false until then (and why, when it stops early).
import { closeSync, existsSync, ftruncateSync, openSync, renameSync, rmSync, statSync, statfsSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { CancelledError, CloneStationError, ImageError, IoError, RefusedError, UsageError } from '../errors.js';
import { inspectDrive, splitDev, type DriveInfo } from '../drive.js';
import { blockIdentity, describeIdentity, fileIdentity, identityOf, sameDrive } from '../identity.js';
import { checkBlockSize, chunkFailure, nonEmptyRange, runWithProgress, type ClonePlan } from '../clone.js';
import { mountedSourceNote } from '../safety.js';
import { EngineJob, DEFAULT_BLOCK_SIZE, DEFAULT_DEPTH, type EngineTuning, type JobOutcome, type RangeText } from '../engine.js';
import type { Reporter } from '../progress.js';
import type { Extent } from '../extent.js';
import type { Tap } from '../tap.js';
import { checkOutputPath, sameFile } from '../outpath.js';
import { Claims } from '../claim.js';
import { CHECK_TOOL, MultiHash, hashFileText, type HashAlgorithm } from './hash.js';
import { backupTable, checkPartitionRange, PartitionHashes } from './partitions/backup-table.js';
import { MANIFEST_FORMAT, MAX_UNREADABLE_LISTED, manifestPath, saveManifest, type ImageFormat, type Manifest, type ManifestPart } from './manifest.js';
import { partPath, type PartSink } from './parts.js';
import { expandName } from './names.js';
import { pruneBackups } from './prune.js';
import { namedFiles, previousBackup, removeFiles, thisWriter } from './rerun.js';
import { formatBytes } from '../units.js';
import type { RescueOptions } from '../rescue/rescue.js';
import { checkMapPath } from '../rescue/mapfile.js';
import { zstdVersion } from './zstd/native.js';
import { GapFill, toManifestExtents } from './used.js';
import { usedWithin } from '../extent.js';
import type { UsedExtents } from '../used-extents.js';

/** --used-only: the source's used extents in the range (the used-map code loads only then). */
export async function usedExtentsForBackup(source: DriveInfo, range: Extent): Promise<UsedExtents> {
  const { usedExtentsOf } = await import('../used-extents.js');
  return usedExtentsOf(source, range, { align: Math.max(source.logicalSectorSize, 4096) });
}

export interface BackupOptions extends Pick<RangeText, 'offset' | 'length'>, EngineTuning {
  source: string;
  /** the image's name; may hold a template ({date}, {serial}, ...: see names.ts) */
  out: string;
  /** bytes per part of a byte split (OUT.001, OUT.002, ...) */
  splitSize?: number;
  hash: HashAlgorithm[];
  /** zip: deflate level 0..9 (default 6); zstd: level 1..19 (default 3) */
  level?: number;
  /** zstd: bytes of image per frame (default 4 MiB) */
  frameSize?: number;
  /** a rescue of a failing drive: resumable, with this ddrescue map */
  map?: string;
  /** a rescue with its map beside the image (OUT.map), when no --map is given */
  rescue?: boolean;
  /** rescue: how unreadable sectors are filled in the image (default zeros) */
  fill?: string;
  /** after success, delete the oldest complete backups of the same source beyond this many */
  keep?: number;
  /** replace an existing complete image of the same name */
  force?: boolean;
  /** image just this partition of the source (its number as Linux gives it) */
  partition?: number;
  /** read only the extents the source's file systems use; the image holds zeros for the rest (src/used-extents.ts) */
  usedOnly?: boolean;
  version: string;
  commandLine: string;
  now?: Date;
  /** the dashboard's hooks: the terminal is free (nothing more to ask), a rescue's map, pause */
  ready?: () => void;
  watch?: RescueOptions['watch'];
  paused?: RescueOptions['paused'];
}

export interface BackupResult {
  image: string;
  manifest: string;
  format: ImageFormat;
  bytes: number;
  seconds: number;
  bytesPerSec: number;
  parts: ManifestPart[];
  hashes: Partial<Record<HashAlgorithm, string>>;
  hashFiles: string[];
  badBytes?: number;
  pruned: string[];
  /** --used-only: the bytes read from the source (the used extents) */
  usedBytes?: number;
}

export function imageFormat(name: string): ImageFormat {
  if (/\.(img|raw)$/i.test(name)) return 'raw';
  if (/\.zip$/i.test(name)) return 'zip';
  if (/\.zst$/i.test(name)) return 'zstd';
  throw new UsageError(`OUT ${name} must end in .img or .raw (a raw image), .zip (a ZIP archive) or .zst (a seekable zstd image, e.g. OUT.img.zst)`, 'USAGE');
}

/** The files of an image under `base`: one file, or base.001, base.002, ... */
function fileNames(base: string, count: number, split: boolean): string[] {
  return split ? Array.from({ length: count }, (_, i) => partPath(base, i + 1)) : [base];
}

/**
 * The image must not land on the drive it is an image of: not be the source under another
 * name, nor sit on a file system whose device shares bytes with the source (identity.ts).
 */
function checkOutputNotOnSource(source: DriveInfo, out: string): void {
  const src = identityOf(source);
  const st = existsSync(out) ? statSync(out) : undefined;
  if (st?.isFile() && sameDrive(fileIdentity(splitDev(st.dev), st.ino), src))
    throw new RefusedError('SAME_DRIVE', `OUT ${out} is the source itself (${describeIdentity(src)}): choose another name`);
  const fsDev = splitDev(statSync(dirname(resolve(out))).dev);
  if (sameDrive(blockIdentity(fsDev), src))
    throw new RefusedError('SAME_DRIVE', `OUT ${out} is on the drive being backed up (${source.path}): write the image to another drive`);
}

/** Bytes a file holds on its file system (0 when there is none). */
function allocatedBytes(path: string): number {
  try {
    return statSync(path).blocks * 512;
  } catch {
    return 0;
  }
}

/**
 * Refuses a backup that cannot fit before anything is written (TARGET_TOO_SMALL, exit 4),
 * where its size is known: a raw image is the range's bytes (less what a resumed rescue's
 * image already holds); a ZIP at --level 0 stores them (plus headers); a compressed ZIP's
 * size is not known beforehand, so it is not checked (a full drive ends it with OUTPUT_FULL).
 * `freed`: bytes the replaced unfinished backup's files give back.
 */
function checkFreeSpace(name: string, format: ImageFormat, level: number, length: number, have: number, freed: number, rescue: boolean): void {
  if ((format === 'zip' && level > 0) || format === 'zstd') return;
  const need = Math.max(0, length - have);
  const fs = statfsSync(dirname(resolve(name)));
  const free = fs.bavail * fs.bsize + freed;
  if (need > free)
    throw new RefusedError(
      'TARGET_TOO_SMALL',
      `the file system holding ${name} has ${formatBytes(free)} free but the ${format === 'zip' ? 'stored ZIP' : rescue ? 'rescued image' : 'image'} needs ${formatBytes(need)}: free space, choose another folder${format === 'raw' && !rescue ? ', or write a ZIP' : ''}`,
      { free, needed: need },
    );
}

function sourceIdentity(d: DriveInfo): Manifest['source'] {
  return {
    path: d.path,
    kind: d.kind,
    model: d.model,
    serial: d.serial,
    wwn: d.wwn,
    size: d.size,
    logicalSectorSize: d.logicalSectorSize,
    physicalSectorSize: d.physicalSectorSize,
  };
}

/** The parts of a split: [offset, length) of the range each part holds. */
function splitRange(range: Extent, splitSize: number | undefined): Extent[] {
  if (!splitSize) return [range];
  const out: Extent[] = [];
  for (let off = 0; off < range.length || out.length === 0; off += splitSize) out.push({ offset: range.offset + off, length: Math.min(splitSize, range.length - off) });
  return out;
}

/** Turns a copy job's outcome into success or the error that explains it. */
function checkOutcome(outcome: JobOutcome, plan: Pick<ClonePlan, 'source' | 'targetPath' | 'targetOffset' | 'range'>, what: string): void {
  if (outcome.state === 'cancelled') throw new CancelledError(`backup interrupted: ${what} is incomplete and marked so (re-run the backup)`);
  if (outcome.tapError) {
    // The tap's own typed error (a full output drive, say) is the one the user needs.
    const why = outcome.tapError.reason;
    throw why instanceof CloneStationError ? why : new IoError('IMAGE_WRITE_FAILED', `writing ${what} failed: ${outcome.tapError.message}`);
  }
  if (outcome.errors.length > 0) {
    const e = outcome.errors[0];
    if (e.target >= 0 && e.code === 'ENOSPC')
      throw new ImageError('OUTPUT_FULL', `the drive holding ${what} is full: free space or choose another place; the image is incomplete and marked so`);
    throw chunkFailure(e, plan as ClonePlan);
  }
  if (outcome.fatal) throw new IoError('ENGINE_FAILED', `the backup could not continue (${outcome.fatal.message}): ${what} is incomplete`);
}

interface Written {
  parts: { path: string; size: number; hashes: Partial<Record<HashAlgorithm, string>> }[];
  compressedSize?: number;
  badBytes?: number;
  badAreas?: number;
  unreadable?: Extent[];
}

/** A backup as planned: every refusal that needs no lock done, nothing written. */
export interface BackupPlan {
  source: DriveInfo;
  /** the image's name, its fields filled in */
  name: string;
  format: ImageFormat;
  range: Extent;
  level: number;
  mapPath?: string;
  /** the manifest's path and the image's work name (NAME.partial) */
  manifest: string;
  work: string;
  startedAt: Date;
}

/** Resolves the source, the image's name and format, the range, and checks every file the backup will write. */
export function planBackup(o: BackupOptions): BackupPlan {
  const startedAt = o.now ?? new Date();
  const source = inspectDrive(o.source, 'source');
  const name = expandName(o.out, source, startedAt);
  const format = imageFormat(name);
  if (!existsSync(dirname(resolve(name)))) throw new UsageError(`the folder of OUT ${name} does not exist: create it first`, 'NOT_FOUND');
  const range = nonEmptyRange(source, o.offset, o.length);
  if (o.splitSize !== undefined && (o.splitSize < 4096 || o.splitSize % 512 !== 0))
    throw new UsageError('--split must be at least 4 KiB and a multiple of 512 bytes', 'BAD_SIZE');
  const mapPath = o.map ?? (o.rescue ? `${name}.map` : undefined);
  if (mapPath !== undefined && (format !== 'raw' || o.splitSize))
    throw new UsageError('a rescue backup (--map) writes one raw image: use OUT.img without --split', 'USAGE');
  if (o.usedOnly && mapPath !== undefined) throw new UsageError('--used-only with a rescue backup: rescue the drive with `clonestation rescue --used-only`, or back it up whole', 'USAGE');
  if (format === 'zip' && o.level !== undefined && o.level > 9) throw new UsageError(`--level ${o.level} is not a deflate level: a ZIP takes 0 (stored) to 9`, 'BAD_NUMBER');
  if (format === 'zstd' && o.level !== undefined && (o.level < 1 || o.level > 19)) throw new UsageError(`--level ${o.level} is not a zstd level: a .zst image takes 1 to 19`, 'BAD_NUMBER');
  // a build without libzstd refuses now, before the manifest is written (ZSTD_UNAVAILABLE)
  if (format === 'zstd') zstdVersion();
  const level = o.level ?? (format === 'zstd' ? 3 : 6);
  checkOutputNotOnSource(source, name);
  const mPath = manifestPath(name);
  const work = `${name}.partial`;
  // Every file the backup writes is a regular file or a new name (src/outpath.ts): checked now.
  for (const p of [name, work, mPath, ...o.hash.filter((a) => CHECK_TOOL[a]).map((a) => `${name}.${a}`)]) checkOutputPath(p, 'the backup file', { fix: 'choose another OUT' });
  checkBlockSize(o.blockSize);
  if (mapPath !== undefined) {
    // the map is checked whole now (shape, contents, not the source's own file), before the manifest is written
    if (sameFile(mapPath, source.path)) throw new UsageError(`mapfile ${mapPath} is the source: give the map its own file`, 'USAGE');
    checkMapPath(mapPath, source.size);
  }
  return { source, name, format, range, level, mapPath, manifest: mPath, work, startedAt };
}

export async function backup(o: BackupOptions, reporter: Reporter, signal?: AbortSignal): Promise<BackupResult> {
  checkPartitionRange(o);
  // One backup to this name at a time (a lock beside it, released when the backup ends),
  // claimed before anything reads the source: a second backup to the name of a running one is
  // refused at once, even while the source hangs. (One clock for both plans: a name from a
  // template with the time in it is the same name.)
  o = { ...o, now: o.now ?? new Date() };
  const named = planBackup(o);
  using claims = new Claims();
  claims.backup(named.name);
  // the source's partition table for the manifest; --partition N: that partition's bytes
  const parts = await backupTable({ ...o, rescue: o.map !== undefined || o.rescue });
  if (parts.offset !== undefined) o = { ...o, offset: parts.offset, length: parts.length };
  const { source, name, format, range, level, mapPath, manifest: mPath, work, startedAt } = parts.offset !== undefined ? planBackup(o) : named;
  // --used-only: the source's used extents, or FS_DIRTY / FS_INCONSISTENT before anything is written
  const used = o.usedOnly ? await usedExtentsForBackup(source, range) : undefined;
  // A complete backup under this name is kept (unless --force); an unfinished one is
  // replaced, or continued from its rescue map.
  const previous = previousBackup(name, { force: o.force, mapPath });
  checkFreeSpace(name, format, level, used?.usedBytes ?? range.length, previous.resuming ? allocatedBytes(work) : 0, previous.freed, mapPath !== undefined);
  removeFiles(previous.stale);

  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    tool: { name: 'clonestation', version: o.version },
    complete: false,
    // what a crash or a kill leaves: this very text
    incompleteReason: 'not finished: the backup is running, or stopped before it ended',
    startedAt: startedAt.toISOString(),
    source: sourceIdentity(source),
    range,
    image: {
      format,
      name: basename(name),
      splitSize: o.splitSize,
      entryName: format === 'zip' ? basename(name).replace(/\.zip$/i, '.img') : undefined,
      level: format === 'zip' || format === 'zstd' ? level : undefined,
      frameSize: format === 'zstd' ? (o.frameSize ?? (await import('./zstd/writer.js')).DEFAULT_FRAME_SIZE) : undefined,
      parts: [],
    },
    hashes: {},
    writer: thisWriter(),
    ...(parts.table ? { partitionTable: parts.table } : {}),
    ...(parts.partition !== undefined ? { partition: parts.partition } : {}),
    ...(used ? { usedOnly: { usedBytes: used.usedBytes, extents: toManifestExtents(used.extents) } } : {}),
  };
  // The manifest exists, saying "not complete", before the first byte of the image does.
  saveManifest(mPath, manifest);
  // Nothing below asks anything: a dashboard may take the terminal.
  o.ready?.();
  for (const n of previous.notes) reporter.note(n);
  const mounted = mountedSourceNote(source);
  if (mounted) reporter.note(mounted);
  for (const n of used?.notes ?? []) reporter.note(n);
  if (used) reporter.note(`--used-only: reading the ${formatBytes(used.usedBytes)} the file systems use of ${formatBytes(range.length)} (${used.extents.length} extents; ${used.partitions.map((p) => `${p.fsType} at ${p.start}: ${formatBytes(p.usedBytes)} used`).join(', ') || 'no partitions'}); the image holds zeros for the rest`, { usedBytes: used.usedBytes, extents: used.extents.length });
  reporter.note(`backing up ${range.length} bytes of ${source.path} at ${range.offset} to ${name} (${format}${o.splitSize ? `, parts of ${o.splitSize} bytes` : ''}${o.hash.length ? `, ${o.hash.join(', ')}` : ''})`, {
    source: source.path,
    image: name,
    format,
    range,
  });

  const t0 = process.hrtime.bigint();
  const whole = await MultiHash.create(o.hash);
  const partHashes = await PartitionHashes.create(parts.hashed, range, o.hash);
  partHashes?.attach(whole);
  let written: Written;
  try {
    if (mapPath !== undefined) written = await rescueBackup(o, mapPath, source, range, work, whole, reporter, signal);
    else if (format === 'zip') {
      const { ZipImageWriter } = await import('./zip/writer.js');
      const entryName = basename(name).replace(/\.zip$/i, '.img');
      written = await compressedBackup(o, source, range, used?.extents, work, name, whole, reporter, signal, (sink) => ({ writer: new ZipImageWriter({ sink, entryName, level, size: range.length }), blockSize: DEFAULT_BLOCK_SIZE }));
    } else if (format === 'zstd') {
      const { ZstdImageWriter } = await import('./zstd/writer.js');
      // one slot, one frame: the native threads compress the ring's memory in place
      written = await compressedBackup(o, source, range, used?.extents, work, name, whole, reporter, signal, (sink) => {
        const writer = new ZstdImageWriter({ sink, level, frameSize: o.frameSize, size: range.length });
        return { writer, blockSize: writer.frameSize };
      });
    }
    else written = await rawBackup(o, source, range, used?.extents, work, whole, reporter, signal);
  } catch (e) {
    // one line, as the manifest's schema wants it
    manifest.incompleteReason = (e instanceof CloneStationError ? `${e.code}: ${e.message}` : String(e)).replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 4000);
    if (e instanceof CloneStationError && e.code === 'OUTPUT_FULL' && mapPath === undefined) {
      // Not resumable, so of no use; deleting it makes room to record why it failed.
      // Truncated first: the kernel may hold the file a moment longer (io_uring tears
      // down asynchronously), and a deleted file's blocks are freed only with the last
      // reference, but a truncated one's at once.
      const drop = (p: string): void => {
        truncateSync(p, 0);
        rmSync(p, { force: true });
      };
      for (let i = 1; existsSync(partPath(work, i)); i++) drop(partPath(work, i));
      if (existsSync(work)) drop(work);
      manifest.incompleteReason += ' (the partial image was deleted to free the space)';
    }
    manifest.endedAt = new Date().toISOString();
    // stopped: nobody writes it any more (a rerun may replace it, even from this process)
    delete manifest.writer;
    try {
      saveManifest(mPath, manifest);
    } catch {
      // A full drive cannot take the update either: the manifest saved at the start
      // still says the backup is not complete, which is the truth that matters.
      rmSync(`${mPath}.tmp`, { force: true });
    }
    throw e;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // A hash of part of the image is a wrong hash: a backup whose taps did not see every byte is
  // not reported complete (the manifest keeps saying why; a rerun replaces it).
  if (o.hash.length > 0 && whole.bytes !== range.length) {
    manifest.incompleteReason = `HASH_INCOMPLETE: the image's hashes saw ${whole.bytes} of its ${range.length} bytes`;
    saveManifest(mPath, manifest);
    throw new IoError('HASH_INCOMPLETE', `the hashes of ${name} saw ${whole.bytes} of its ${range.length} bytes, so they would be wrong: the backup is left unfinished; run the same command again`, { hashed: whole.bytes, bytes: range.length });
  }

  // Everything is on disk and synced: now the files take their real names.
  const finals = fileNames(name, written.parts.length, o.splitSize !== undefined);
  written.parts.forEach((p, i) => renameSync(p.path, finals[i]));
  manifest.image.parts = written.parts.map((p, i) => ({ name: basename(finals[i]), size: p.size, hashes: p.hashes }));
  manifest.image.compressedSize = written.compressedSize;
  manifest.hashes = whole.digest();
  if (partHashes) manifest.partitions = partHashes.digest();
  // A raw image in one file: the file's hashes are the image's.
  if (format === 'raw' && !o.splitSize) manifest.image.parts[0].hashes = manifest.hashes;
  if (written.unreadable && written.unreadable.length > MAX_UNREADABLE_LISTED) {
    reporter.note(`${written.unreadable.length} unreadable areas: the manifest lists the first ${MAX_UNREADABLE_LISTED}, the map ${mapPath} lists every one`);
    written.unreadable = written.unreadable.slice(0, MAX_UNREADABLE_LISTED);
  }
  if (written.unreadable) {
    manifest.rescue = {
      map: basename(mapPath ?? ''),
      badBytes: written.badBytes ?? 0,
      badAreas: written.badAreas ?? 0,
      fill: o.fill ?? '0x00',
      unreadable: written.unreadable,
    };
  }
  manifest.seconds = seconds;
  manifest.bytesPerSec = seconds > 0 ? range.length / seconds : 0;
  manifest.endedAt = new Date().toISOString();
  const hashFiles = writeHashFiles(name, manifest);
  manifest.complete = true;
  delete manifest.incompleteReason;
  delete manifest.writer;
  saveManifest(mPath, manifest);
  // What an earlier backup of this name (replaced with --force) had and this one has not:
  // parts beyond this one's last, hash files of other algorithms, leftover work files.
  const mine = new Set([...finals.map((f) => resolve(f)), ...hashFiles.map((f) => resolve(f))]);
  removeFiles(namedFiles(name).filter((f) => !mine.has(f)));
  const prune = o.keep !== undefined ? pruneBackups(name, manifest, o.keep) : { deleted: [], notes: [] };
  for (const n of prune.notes) reporter.note(n);
  const pruned = prune.deleted;
  return {
    image: name,
    manifest: mPath,
    format,
    bytes: range.length,
    seconds,
    bytesPerSec: manifest.bytesPerSec,
    parts: manifest.image.parts,
    hashes: manifest.hashes,
    hashFiles,
    badBytes: written.badBytes,
    pruned,
    ...(used ? { usedBytes: used.usedBytes } : {}),
  };
}

/**
 * One hash file per algorithm that coreutils (or b3sum) checks: `sha256sum -c X.img.sha256`.
 * It lists the image's files as they lie on disk: the image, or each part of a split (a
 * whole-image hash of a split set is in the manifest; no *sum tool can check it).
 */
function writeHashFiles(name: string, m: Manifest): string[] {
  const out: string[] = [];
  for (const alg of Object.keys(m.image.parts[0]?.hashes ?? {}) as HashAlgorithm[]) {
    if (!CHECK_TOOL[alg]) continue;
    const path = `${name}.${alg}`;
    writeFileSync(path, hashFileText(m.image.parts.map((p) => ({ name: p.name, hex: p.hashes[alg] ?? '' }))));
    out.push(path);
  }
  return out;
}

/** A raw image, whole or split: one engine job per file, source range to file offset 0. */
async function rawBackup(o: BackupOptions, source: DriveInfo, range: Extent, used: Extent[] | undefined, work: string, whole: MultiHash, reporter: Reporter, signal?: AbortSignal): Promise<Written> {
  const pieces = splitRange(range, o.splitSize);
  const paths = fileNames(work, pieces.length, o.splitSize !== undefined);
  const parts: Written['parts'] = [];
  let before = 0;
  const total = used ? used.reduce((n, e) => n + e.length, 0) : range.length;
  for (const [i, piece] of pieces.entries()) {
    const path = paths[i];
    // Each part is exactly its bytes long, whatever a previous attempt left there.
    const fd = openSync(path, 'w', 0o644);
    try {
      ftruncateSync(fd, piece.length);
    } finally {
      closeSync(fd);
    }
    // a split's parts get hashes of their own; one file's hashes are the whole image's
    const own = o.splitSize && o.hash.length > 0 ? await MultiHash.create(o.hash) : undefined;
    const taps: Tap[] = o.hash.length === 0 ? [] : own ? [whole, own] : [whole];
    // --used-only: only the used extents are read and written; the rest of the file is a hole,
    // and the hashes see it as the zeros it reads as
    const extents = used ? usedWithin(used, piece.offset - range.offset, piece.length).map((e) => ({ offset: e.offset + range.offset, length: e.length })) : piece.length > 0 ? [piece] : [];
    const fill = used && taps.length > 0 ? new GapFill(taps, piece.offset, piece.length) : undefined;
    const job = new EngineJob({
      mode: 'copy',
      source: { path: source.path, direct: o.direct ?? true },
      targets: [{ path, direct: o.direct ?? true, delta: -piece.offset }],
      extents,
      blockSize: o.blockSize ?? DEFAULT_BLOCK_SIZE,
      // hashing holds each slot a little longer: a deeper ring keeps the drive busy meanwhile
      depth: o.depth ?? (o.hash.length > 0 ? 2 * DEFAULT_DEPTH : DEFAULT_DEPTH),
      backend: o.backend ?? 'auto',
      stopOnReadError: true,
      sync: true,
      taps: fill ? [fill] : taps.length > 0 ? taps : undefined,
    });
    const { outcome } = await runWithProgress(job, 'copy', reporter, (j) => j.snapshot().targets[0]?.bytes ?? 0, signal, { before, total });
    checkOutcome(outcome, { source, targetPath: path, targetOffset: 0, range: piece }, `image ${path}`);
    await fill?.finish();
    before += job.total;
    parts.push({ path, size: piece.length, hashes: own?.digest() ?? {} });
  }
  return { parts };
}

/** What a compressed image's writer does with the ring's slots (ZIP's and zstd's). */
interface ImageWriter {
  write(data: Uint8Array): void | Promise<void>;
  finish(): Promise<{ parts: { parts: { path: string; size: number; hashes?: Partial<Record<HashAlgorithm, string>> }[] }; compressedSize: number }>;
  abort?(): Promise<unknown>;
}

/**
 * A compressed image (ZIP, seekable zstd): the engine reads the source into its ring; the hash
 * tap and the writer read each slot in place (the writer's deflate workers or native zstd
 * threads hold slots while they compress, so the ring is deeper than a clone's).
 */
async function compressedBackup(
  o: BackupOptions,
  source: DriveInfo,
  range: Extent,
  used: Extent[] | undefined,
  work: string,
  name: string,
  whole: MultiHash,
  reporter: Reporter,
  signal: AbortSignal | undefined,
  make: (sink: PartSink) => { writer: ImageWriter; blockSize: number },
): Promise<Written> {
  const { openPartSink } = await import('./parts.js');
  // The image's own files get every hash too, so `sha256sum -c`, `md5sum -c`, ... check them as they lie.
  const { writer, blockSize } = make(openPartSink(work, { partSize: o.splitSize, hash: o.hash, overwrite: true }));
  const tap: Tap = { consume: (data) => writer.write(data) };
  const taps = o.hash.length > 0 ? [whole, tap] : [tap];
  // --used-only: the writer and the hashes get zeros for the free extents (a zero run: cheap to deflate and to compress)
  const fill = used ? new GapFill(taps, range.offset, range.length) : undefined;
  const job = new EngineJob({
    mode: 'copy',
    source: { path: source.path, direct: o.direct ?? true },
    targets: [],
    extents: used ? used.map((e) => ({ offset: e.offset + range.offset, length: e.length })) : range.length > 0 ? [range] : [],
    blockSize: o.blockSize ?? blockSize,
    depth: o.depth ?? 8,
    backend: o.backend ?? 'auto',
    stopOnReadError: true,
    taps: fill ? [fill] : taps,
  });
  let result;
  try {
    const { outcome } = await runWithProgress(job, 'copy', reporter, (j) => j.snapshot().bytesRead, signal);
    checkOutcome(outcome, { source, targetPath: work, targetOffset: 0, range }, `image ${name}`);
    await fill?.finish();
    result = await writer.finish();
  } catch (e) {
    await writer.abort?.().catch(() => undefined);
    throw e;
  }
  return {
    parts: result.parts.parts.map((p) => ({ path: p.path, size: p.size, hashes: p.hashes ?? {} })),
    compressedSize: result.compressedSize,
  };
}

/** A failing drive: the rescue (resumable, with its map) writes the image; then it is hashed. */
async function rescueBackup(
  o: BackupOptions,
  mapPath: string,
  source: DriveInfo,
  range: Extent,
  work: string,
  whole: MultiHash,
  reporter: Reporter,
  signal?: AbortSignal,
): Promise<Written> {
  const { rescue } = await import('../rescue/rescue.js');
  const { loadMap } = await import('../rescue/mapfile.js');
  const summary = await rescue(
    {
      source: source.path,
      target: work,
      mapPath,
      offset: String(range.offset),
      length: String(range.length),
      targetOffset: '0',
      depth: o.depth,
      backend: o.backend,
      direct: o.direct,
      fill: o.fill,
      yes: true,
      version: o.version,
      commandLine: o.commandLine,
      watch: o.watch,
      paused: o.paused,
    },
    reporter,
    signal,
  );
  if (!summary.finished) throw new IoError('RESCUE_UNFINISHED', `the rescue stopped before every area was tried (map ${mapPath}): re-run the same command to go on`);
  // The rescue sized the file for the source's end; the image is the range.
  const fd = openSync(work, 'r+');
  try {
    ftruncateSync(fd, range.length);
  } finally {
    closeSync(fd);
  }
  const map = await loadMap(mapPath, source.size);
  const unreadable = (map?.blocks ?? [])
    .filter((b) => b.status !== '+' && b.pos < range.offset + range.length && b.pos + b.size > range.offset)
    .map((b) => ({ offset: Math.max(b.pos, range.offset) - range.offset, length: Math.min(b.pos + b.size, range.offset + range.length) - Math.max(b.pos, range.offset) }));
  if (o.hash.length > 0) {
    // Hashed from the image as written (unreadable sectors filled), as dcfldd's
    // hashconv=after does: the hash is of what the image holds.
    const job = new EngineJob({ mode: 'copy', source: { path: work }, targets: [], extents: range.length > 0 ? [{ offset: 0, length: range.length }] : [], taps: [whole] });
    const { outcome } = await runWithProgress(job, 'hash', reporter, (j) => j.snapshot().bytesRead, signal);
    checkOutcome(outcome, { source, targetPath: work, targetOffset: 0, range }, `image ${work}`);
  }
  return { parts: [{ path: work, size: range.length, hashes: {} }], badBytes: summary.badBytes, badAreas: summary.badAreas, unreadable };
}
