// `clonestation verify IMAGE [DRIVE]`.
// - verify IMAGE: re-reads every file of the image and checks it against the manifest: sizes,
//   each part's hashes (a damaged, replaced or reordered part is named), the whole image's
//   hashes (zip: of the inflated entry, and the archive's CRC-32 through the reader).
// - verify IMAGE DRIVE: does the drive (or file) hold the image? Raw parts are compared byte
//   for byte by the engine's verify mode (O_DIRECT, first differing offset); a zip entry is
//   inflated and compared with the drive read through aligned O_DIRECT reads.
import { closeSync, constants as fsConstants, openSync, read } from 'node:fs';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { CancelledError, ImageError, IoError, UsageError, VerifyMismatchError, isSystemCallError, openError } from '../errors.js';
import { inspectDrive } from '../drive.js';
import { EngineJob, DEFAULT_BLOCK_SIZE, DEFAULT_DEPTH, type EngineTuning, type RangeText } from '../engine.js';
import { engine } from '../native.js';
import { formatBytes, parseSize } from '../units.js';
import type { Reporter } from '../progress.js';
import { HASH_ALGORITHMS, MultiHash, type HashAlgorithm } from './hash.js';
import { HashThread } from './hash-thread.js';
import { UsedCursor, fromManifestExtents } from './used.js';
import { usedWithin } from '../extent.js';
import type { Extent } from '../extent.js';
import { defaultTargetOffset, firstHashMismatch, resolveImage, zipFiles, type ResolvedImage } from './open.js';
import { imageRange, partExtents } from './restore.js';
import { startProgress } from '../progress.js';
// type only: yauzl and zlib are loaded when an image is a zip (45 ms of start-up otherwise)
import type { ZipImageReader } from './zip/reader.js';
import type { ZstdImageReader } from './zstd/reader.js';

const readAsync = promisify(read);

export interface VerifyOptions extends RangeText, Omit<EngineTuning, 'direct'> {
  image: string;
  /** a drive or file to compare with the image; unset: check the image against its manifest */
  drive?: string;
  force?: boolean;
  /** a used-only image: the drive's free extents were zeroed (restore --zero-free), so compare them too */
  zeroFree?: boolean;
}

export interface VerifyResult {
  ok: true;
  image: string;
  format: 'raw' | 'zip' | 'zstd';
  parts: number;
  /** bytes of the image checked or compared */
  bytes: number;
  seconds: number;
  /** what was checked: per-part hashes, whole-image hashes, the zip CRC, a byte compare */
  checked: string[];
  /** digests computed (no manifest: for the user to compare by hand) */
  hashes?: Partial<Record<HashAlgorithm, string>>;
  notes: string[];
}

const READ_SIZE = 4 << 20;

function algorithmsOf(h: Partial<Record<HashAlgorithm, string>>): HashAlgorithm[] {
  return (Object.keys(h) as HashAlgorithm[]).filter((a) => (HASH_ALGORITHMS as readonly string[]).includes(a));
}

/**
 * Reads a file from start to end in large pieces into a ring of three shared buffers, one read
 * ahead of the consumer. `each` may return a promise (a HashThread still hashing the bytes):
 * that buffer is read into again only after it settles.
 */
async function readWhole(path: string, each: (data: Uint8Array) => void | Promise<unknown>, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<number> {
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw new ImageError('IMAGE_READ_FAILED', `cannot open ${path}: ${(e as Error).message}`, { path });
  });
  const bufs = [0, 1, 2].map(() => Buffer.from(new SharedArrayBuffer(READ_SIZE)));
  const busy: (Promise<unknown> | undefined)[] = [undefined, undefined, undefined];
  try {
    let pos = 0;
    let i = 0;
    const readInto = async (j: number, at: number): Promise<number> => {
      await busy[j];
      return fh.read(bufs[j] as Buffer, 0, READ_SIZE, at).then(
        (r) => r.bytesRead,
        (e: unknown) => {
          throw new ImageError('IMAGE_READ_FAILED', `reading ${path} failed at offset ${at}: ${(e as Error).message}; its disk may be failing`, { path, offset: at });
        },
      );
    };
    let pending = readInto(0, 0);
    for (;;) {
      const n = await pending;
      if (n === 0) break;
      const cur = bufs[i] as Buffer;
      const j = i;
      pos += n;
      i = (i + 1) % bufs.length;
      pending = readInto(i, pos);
      busy[j] = each(cur.subarray(0, n)) ?? undefined;
      onBytes(n);
      if (signal?.aborted) {
        await pending.catch(() => 0);
        throw new CancelledError('verify cancelled: the image is unverified');
      }
    }
    await Promise.all(busy);
    return pos;
  } finally {
    await Promise.allSettled(busy);
    await fh.close();
  }
}

/** verify IMAGE: every part and the whole image against the manifest. */
export async function verifyImage(image: ResolvedImage, reporter: Reporter, signal?: AbortSignal): Promise<VerifyResult> {
  const checked: string[] = [];
  const notes: string[] = [];
  const m = image.manifest;
  const fileBytes = image.parts.reduce((s, p) => s + p.size, 0);
  const total = fileBytes + (image.format === 'zip' || image.format === 'zstd' ? image.size : 0);
  let done = 0;
  const progress = startProgress('verify', total, reporter, () => done);
  let hashes: Partial<Record<HashAlgorithm, string>> | undefined;
  try {
    // Raw: the whole image is the parts in order, hashed on the same pass. Without a
    // manifest there is nothing to compare with: sha256 is reported for checking by hand.
    const wholeAlgs = image.format === 'raw' ? (m ? algorithmsOf(image.hashes) : (['sha256'] as HashAlgorithm[])) : [];
    // One raw file: its bytes are the image's, one set of hashes serves both checks. A split:
    // the whole image is hashed on a thread of its own while each part is hashed here.
    const single = image.format === 'raw' && image.parts.length === 1;
    const whole = !single && wholeAlgs.length > 0 ? await HashThread.start(wholeAlgs) : undefined;
    let singleDigest: Partial<Record<HashAlgorithm, string>> | undefined;
    try {
      for (const [i, part] of image.parts.entries()) {
        const partAlgs = single ? [...new Set([...algorithmsOf(part.hashes), ...wholeAlgs])] : algorithmsOf(part.hashes);
        const ph = partAlgs.length > 0 ? await MultiHash.create(partAlgs) : undefined;
        const n = await readWhole(
          part.path,
          (d) => {
            ph?.update(d);
            return whole?.update(d);
          },
          signal,
          (b) => (done += b),
        );
        const partDigest = ph?.digest();
        if (single) singleDigest = partDigest;
        if (m && n !== part.size)
          throw new ImageError('IMAGE_TRUNCATED', `${part.path} changed size while being read (${n} bytes, the manifest says ${part.size}): is something writing it?`, { path: part.path });
        if (partDigest) {
          const bad = firstHashMismatch(part.hashes, partDigest);
          if (bad)
            throw new VerifyMismatchError(
              `${image.parts.length > 1 ? `part ${i + 1} of ${image.parts.length}, ` : ''}${part.path}, differs from the manifest (${bad.algorithm} ${bad.got}, expected ${bad.expected}): it is damaged, replaced or out of order; copy a good one back or make the backup again`,
              { path: part.path, part: i + 1, algorithm: bad.algorithm, expected: bad.expected, got: bad.got },
            );
        }
      }
      if (whole) hashes = await whole.digest();
      else if (single) hashes = singleDigest;
    } finally {
      await whole?.close();
    }
    if (image.parts.some((p) => algorithmsOf(p.hashes).length > 0)) checked.push('part hashes');
    if (image.format === 'zip') {
      // The entry: inflated, size and CRC-32 checked by the reader, hashed against the manifest.
      const zh = m && algorithmsOf(image.hashes).length > 0 ? await MultiHash.create(algorithmsOf(image.hashes)) : undefined;
      const zip = await (await import('./zip/reader.js')).ZipImageReader.open(zipFiles(image));
      try {
        if (m && zip.info.size !== image.size)
          throw new ImageError('IMAGE_CORRUPT', `the archive holds ${zip.info.size} bytes but the manifest says ${image.size}: the manifest does not belong to this archive`, {});
        for await (const c of zip.chunks()) {
          zh?.update(c);
          done += c.length;
          if (signal?.aborted) throw new CancelledError('verify cancelled: the image is unverified');
        }
      } catch (e) {
        if (e instanceof ImageError && e.code === 'IMAGE_CRC_MISMATCH') throw new VerifyMismatchError(e.message, { ...e.details, zipCode: e.code });
        throw e;
      } finally {
        await zip.close();
      }
      checked.push('zip CRC-32');
      if (zh) hashes = zh.digest();
    }
    if (image.format === 'zstd') {
      // Every frame: decompressed on native threads, each checked against its own checksum
      // and the seek table's sizes and checksum, the whole hashed against the manifest.
      // without a manifest, sha256 of the image is reported for checking by hand (as for raw)
      const algs: HashAlgorithm[] = m ? algorithmsOf(image.hashes) : ['sha256'];
      const zh = algs.length > 0 ? await MultiHash.create(algs) : undefined;
      const zstd = await (await import('./restore.js')).openZstd(image);
      try {
        for await (const c of zstd.chunks()) {
          zh?.update(c);
          done += c.length;
          if (signal?.aborted) throw new CancelledError('verify cancelled: the image is unverified');
        }
      } finally {
        await zstd.close();
      }
      checked.push('zstd seek table and frame checksums');
      if (zh) hashes = zh.digest();
    }
    if (m && hashes) {
      const bad = firstHashMismatch(image.hashes, hashes);
      if (bad)
        throw new VerifyMismatchError(`the image differs from its manifest: ${bad.algorithm} is ${bad.got}, the manifest says ${bad.expected}; a part is damaged or out of order`, {
          algorithm: bad.algorithm,
          expected: bad.expected,
          got: bad.got,
        });
      checked.push(`image ${algorithmsOf(hashes).join(', ')}`);
    }
    if (!m) notes.push('nothing to compare with: the hashes above are of what is there');
    else if (algorithmsOf(image.hashes).length === 0 && !image.parts.some((p) => algorithmsOf(p.hashes).length > 0))
      notes.push(`the manifest has no hashes: only the files' sizes${image.format === 'zip' ? " and the archive's CRC-32" : image.format === 'zstd' ? " and the frames' checksums" : ''} were checked`);
  } finally {
    progress.end();
  }
  return { ok: true, image: image.name, format: image.format, parts: image.parts.length, bytes: image.size, seconds: 0, checked, hashes, notes };
}

/** verify IMAGE DRIVE: the drive's bytes at --target-offset against the image's range. */
export async function verifyDrive(image: ResolvedImage, o: VerifyOptions, reporter: Reporter, signal?: AbortSignal): Promise<VerifyResult> {
  const drivePath = o.drive as string;
  const drive = inspectDrive(drivePath, 'target');
  let zip: ZipImageReader | undefined;
  let zstd: ZstdImageReader | undefined;
  try {
    if (image.format === 'zip') {
      zip = await (await import('./zip/reader.js')).ZipImageReader.open(zipFiles(image));
      image.size = zip.info.size;
    }
    if (image.format === 'zstd') zstd = await (await import('./restore.js')).openZstd(image);
    const range = imageRange(image.size, o.offset, o.length, image.name);
    const targetOffset = o.targetOffset ? parseSize(o.targetOffset, '--target-offset', drive.logicalSectorSize) : defaultTargetOffset(image, range.offset);
    if (targetOffset + range.length > drive.size)
      throw new VerifyMismatchError(`${drivePath} ends at byte ${drive.size}, before the image's ${range.length} bytes at offset ${targetOffset} do: it is too small to hold this image`, {
        driveSize: drive.size,
        needed: targetOffset + range.length,
      });
    const z = zstd;
    // a used-only image: only its used extents are compared (free ones too with --zero-free)
    const usedOnly = image.manifest?.usedOnly;
    const used = usedOnly && !o.zeroFree ? usedWithin(fromManifestExtents(usedOnly.extents), range.offset, range.length) : undefined;
    const notes: string[] = [];
    if (o.zeroFree && !usedOnly) throw new UsageError(`--zero-free is for an image made with --used-only; ${image.name} holds every byte of its source: leave it out`, 'USAGE');
    if (used) notes.push(`a used-only image: the ${formatBytes(used.reduce((n, e) => n + e.length, 0))} of used extents were compared; free extents were not (--zero-free compares them as zeros)`);
    const checked = zip
      ? await compareZip(zip, range, targetOffset, drivePath, drive.logicalSectorSize, reporter, signal, 0, used)
      : z
        ? // only the frames the range needs (a used-only image's: only those with used blocks),
          // the stream starting at the range's first byte
          await compareZip({ chunks: () => z.chunks(range, used ? (start, length) => usedWithin(used, start, length).length === 0 : undefined), info: z.info }, range, targetOffset, drivePath, drive.logicalSectorSize, reporter, signal, range.offset, used)
        : await compareRaw(image, range, targetOffset, drivePath, o, reporter, signal, used);
    return { ok: true, image: image.name, format: image.format, parts: image.parts.length, bytes: range.length, seconds: 0, checked: [checked], notes };
  } finally {
    await zip?.close();
    await zstd?.close();
  }
}

function mismatch(drivePath: string, imageOffset: number, driveOffset: number): VerifyMismatchError {
  return new VerifyMismatchError(`${drivePath} differs from the image at drive offset ${driveOffset} (image offset ${imageOffset}): it does not hold this image (restore it again, or the drive may be failing)`, {
    driveOffset,
    imageOffset,
  });
}

async function compareRaw(image: ResolvedImage, range: { offset: number; length: number }, targetOffset: number, drivePath: string, o: VerifyOptions, reporter: Reporter, signal?: AbortSignal, used?: Extent[]): Promise<string> {
  let before = 0;
  let current: EngineJob | undefined;
  const progress = startProgress('verify', range.length, reporter, () => before + (current?.snapshot().bytesCompared ?? 0));
  const onAbort = (): void => current?.cancel();
  signal?.addEventListener('abort', onAbort);
  try {
    for (const { part, extent, delta } of partExtents(image.parts, range, targetOffset)) {
      if (signal?.aborted) throw new CancelledError('verify cancelled: unverified');
      current = new EngineJob({
        mode: 'verify',
        source: { path: part.path, direct: true },
        targets: [{ path: drivePath, direct: true, delta }],
        extents: used ? usedWithin(used, part.start + extent.offset, extent.length).map((e) => ({ offset: e.offset - part.start, length: e.length })) : [extent],
        blockSize: o.blockSize ?? DEFAULT_BLOCK_SIZE,
        depth: o.depth ?? DEFAULT_DEPTH,
        backend: o.backend ?? 'auto',
        stopOnReadError: true,
      });
      const outcome = await current.run();
      current = undefined;
      if (outcome.state === 'cancelled') throw new CancelledError('verify cancelled: unverified');
      const mm = outcome.errors.find((e) => e.code === 'MISMATCH');
      if (mm) throw mismatch(drivePath, part.start + mm.offset, mm.offset + delta);
      const e = outcome.errors[0];
      if (e) {
        if (e.target < 0) throw new ImageError('IMAGE_READ_FAILED', `reading image file ${part.path} failed at offset ${e.offset} (${e.code})`, { path: part.path, errno: e.code });
        throw new IoError('VERIFY_READ_FAILED', `verify could not read ${drivePath} at offset ${e.offset + delta} (${e.code}): the drive may be failing`, { errno: e.code });
      }
      if (outcome.fatal) throw new IoError('ENGINE_FAILED', `verify could not run (${outcome.fatal.message})`, { errno: outcome.fatal.code });
      before += extent.length;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    progress.end();
  }
  return 'byte compare';
}

/**
 * The inflated entry (or the decompressed zstd frames) against the drive, read with O_DIRECT
 * into aligned memory when it can be. `startAt`: the image offset of the stream's first byte.
 */
async function compareZip(
  zip: { chunks(): AsyncIterable<Uint8Array>; info: { size: number } },
  range: { offset: number; length: number },
  targetOffset: number,
  drivePath: string,
  sector: number,
  reporter: Reporter,
  signal?: AbortSignal,
  startAt = 0,
  used?: Extent[],
): Promise<string> {
  const cursor = used ? new UsedCursor(used) : undefined;
  const align = Math.max(sector, 4096);
  let fd: number;
  let direct = targetOffset % align === 0;
  try {
    fd = openSync(drivePath, fsConstants.O_RDONLY | (direct ? fsConstants.O_DIRECT : 0));
  } catch (e) {
    if (!direct || !isSystemCallError(e) || e.code !== 'EINVAL') throw openError(e, 'target', drivePath);
    direct = false;
    fd = openSync(drivePath, fsConstants.O_RDONLY);
  }
  const mem = new Uint8Array(new ArrayBuffer(READ_SIZE + 2 * align));
  const pad = engine.alignPad(mem, 4096);
  const buf = mem.subarray(pad, pad + READ_SIZE + align);
  let compared = 0;
  const progress = startProgress('verify', range.length, reporter, () => compared);
  // The drive is read in READ_SIZE pieces at the drive position of the image byte `compared`.
  let have = 0; // bytes of buf valid, starting at image offset range.offset + compared - bufStart
  let bufAt = 0; // image-relative offset (from range.offset) of buf[0]
  const fill = async (): Promise<void> => {
    bufAt = compared;
    const want = Math.min(READ_SIZE, range.length - compared);
    const at = targetOffset + compared;
    const len = direct ? Math.ceil(want / align) * align : want;
    let got = 0;
    while (got < want) {
      let n: number;
      try {
        ({ bytesRead: n } = await readAsync(fd, buf, got, len - got, at + got));
      } catch (e) {
        if (direct && isSystemCallError(e) && e.code === 'EINVAL') {
          // an unaligned tail of a file: read the rest buffered
          direct = false;
          closeSync(fd);
          fd = openSync(drivePath, fsConstants.O_RDONLY);
          continue;
        }
        throw new IoError('VERIFY_READ_FAILED', `verify could not read ${drivePath} at offset ${at + got} (${(e as Error).message}): the drive may be failing`, {});
      }
      if (n === 0) break;
      got += n;
    }
    have = Math.min(got, want);
    if (have < want) throw mismatch(drivePath, range.offset + compared + have, at + have);
  };
  try {
    let pos = startAt;
    const end = range.offset + range.length;
    for await (const chunk of zip.chunks()) {
      if (signal?.aborted) throw new CancelledError('verify cancelled: unverified');
      const from = Math.max(range.offset - pos, 0);
      const to = Math.min(end - pos, chunk.length);
      const chunkAt = pos;
      pos += chunk.length;
      const runs: [number, number][] = [];
      if (!cursor) runs.push([from, to]);
      else if (to > from)
        cursor.split(chunkAt + from, to - from, (start, len, isUsed) => {
          if (isUsed) runs.push([start - chunkAt, start - chunkAt + len]);
          else {
            // a free extent: not compared; the drive is read again from the next used byte
            runs.push([-1, len]);
          }
        });
      for (const [runFrom, runTo] of runs) {
      if (runFrom < 0) {
        compared += runTo;
        have = 0;
        continue;
      }
      let i = runFrom;
      while (i < runTo) {
        if (compared - bufAt >= have || have === 0) await fill();
        const k = compared - bufAt;
        const n = Math.min(runTo - i, have - k);
        const a = chunk.subarray(i, i + n);
        const b = buf.subarray(k, k + n);
        if (Buffer.compare(a, b) !== 0) {
          let j = 0;
          while (j < n && a[j] === b[j]) j++;
          throw mismatch(drivePath, range.offset + compared + j, targetOffset + compared + j);
        }
        i += n;
        compared += n;
      }
      }
      if (pos >= end && range.offset + range.length < zip.info.size) break;
    }
  } catch (e) {
    if (e instanceof ImageError && e.code === 'IMAGE_CRC_MISMATCH') throw new VerifyMismatchError(e.message, { ...e.details, zipCode: e.code });
    throw e;
  } finally {
    closeSync(fd);
    progress.end();
  }
  if (compared !== range.length) throw new UsageError(`the image ended after ${compared} of ${range.length} bytes`, 'RANGE');
  return direct ? 'byte compare (drive read with O_DIRECT)' : 'byte compare (drive read buffered)';
}

/** The whole command. */
export async function verify(o: VerifyOptions, reporter: Reporter, signal?: AbortSignal): Promise<VerifyResult> {
  const start = process.hrtime.bigint();
  const image = await resolveImage(o.image, { force: o.force });
  for (const n of image.notes) reporter.note(n);
  const r = o.drive ? await verifyDrive(image, o, reporter, signal) : await verifyImage(image, reporter, signal);
  r.seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return r;
}
