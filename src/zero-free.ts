// --zero-free: zeros over a target's free extents (a drive zeroes them itself with
// BLKZEROOUT; a file, or a drive that refuses it, gets zeros written), and the read-back that
// checks a target's free extents hold zeros.
import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import { IoError, VerifyMismatchError, openError } from './errors.js';
import { complementExtents, type Extent } from './extent.js';
import { zeroBytes } from './zeros.js';
import { engine } from './native.js';

/** The free extents of [0, length): what `used` (sorted, apart) leaves. */
export function freeExtents(used: readonly Extent[], length: number): Extent[] {
  return complementExtents(used, length);
}

/**
 * Zeros over `extents` of `path` (offsets + `delta`): BLKZEROOUT on a block device that takes
 * it, else written and fdatasynced. A block device is opened without O_EXCL: the caller holds
 * its claim (src/claim.ts). Returns the bytes zeroed.
 */
export async function zeroExtents(path: string, extents: readonly Extent[], delta = 0, signal?: () => boolean): Promise<number> {
  // BLKZEROOUT takes whole logical sectors: the 4 KiB-aligned core of each extent goes to the
  // drive, the edges (if any) are written
  const cores: Extent[] = [];
  const edges: Extent[] = [];
  for (const e of extents) {
    const start = e.offset + delta;
    const end = start + e.length;
    const a = Math.ceil(start / ZEROOUT_ALIGN) * ZEROOUT_ALIGN;
    const b = Math.floor(end / ZEROOUT_ALIGN) * ZEROOUT_ALIGN;
    if (b <= a) {
      edges.push({ offset: start, length: e.length });
      continue;
    }
    if (a > start) edges.push({ offset: start, length: a - start });
    cores.push({ offset: a, length: b - a });
    if (end > b) edges.push({ offset: b, length: end - b });
  }
  const zeroed = cores.length > 0 ? await zeroOutExtents(path, cores, signal) : 0;
  if (zeroed === undefined) return writeZeros(path, extents, delta, signal);
  return zeroed + (edges.length > 0 ? await writeZeros(path, edges, 0, signal) : 0);
}

/** BLKZEROOUT's ranges are whole sectors: 4 KiB covers both sector sizes. */
const ZEROOUT_ALIGN = 4096;

/** Ranges per BLKZEROOUT call: cancel is looked at between calls. */
const ZEROOUT_BATCH = 256;

/**
 * BLKZEROOUT over the extents (a block device), batch by batch; undefined when the target is a
 * file or the drive refused it before zeroing anything (then zeros are written instead).
 */
async function zeroOutExtents(path: string, extents: readonly Extent[], signal?: () => boolean): Promise<number | undefined> {
  let done = 0;
  for (let i = 0; i < extents.length; i += ZEROOUT_BATCH) {
    if (signal?.()) return done;
    const batch = extents.slice(i, i + ZEROOUT_BATCH);
    const flat = new Float64Array(batch.length * 2);
    batch.forEach((e, j) => {
      flat[2 * j] = e.offset;
      flat[2 * j + 1] = e.length;
    });
    let r: { bytes: number; unsupported: boolean };
    try {
      r = await engine.zeroOutRanges(path, flat);
    } catch (e) {
      const err = e as { code?: string; offset?: number; syscall?: string };
      if (err.syscall === 'open') throw openError(e, 'target', path);
      throw new IoError('WRITE_FAILED', `zeroing the free blocks of ${path} failed at offset ${err.offset ?? '?'} (${err.code ?? String(e)}): the target may be failing`, { path, offset: err.offset });
    }
    if (r.unsupported) {
      if (done === 0) return undefined;
      throw new IoError('WRITE_FAILED', `${path} refused BLKZEROOUT after zeroing ${done} bytes: the target may be failing`, { path });
    }
    done += r.bytes;
  }
  return done;
}

/** Zeros written over the extents, then fdatasync. */
async function writeZeros(path: string, extents: readonly Extent[], delta: number, signal?: () => boolean): Promise<number> {
  let fh;
  try {
    fh = await open(path, fsConstants.O_WRONLY);
  } catch (e) {
    throw openError(e, 'target', path);
  }
  let done = 0;
  try {
    for (const e of extents) {
      for (let at = 0; at < e.length; ) {
        if (signal?.()) return done;
        const z = zeroBytes(e.length - at);
        const pos = e.offset + delta + at;
        let n: number;
        try {
          ({ bytesWritten: n } = await fh.write(z, 0, z.length, pos));
        } catch (err) {
          throw new IoError('WRITE_FAILED', `zeroing the free blocks of ${path} failed at offset ${pos} (${(err as { code?: string }).code ?? String(err)}): the target may be failing`, { path, offset: pos });
        }
        if (n === 0) throw new IoError('TARGET_FULL', `zeroing the free blocks of ${path} made no progress at offset ${pos}: is it full?`, { path, offset: pos });
        at += n;
        done += n;
      }
    }
    try {
      await fh.datasync();
    } catch (err) {
      throw new IoError('WRITE_FAILED', `flushing the zeroed free blocks of ${path} failed (${(err as Error).message}): its contents are not trustworthy`, { path });
    }
    return done;
  } finally {
    await fh.close();
  }
}

/** Reads `extents` of `path` (offsets + `delta`) back and throws VERIFY_MISMATCH at the first byte that is not zero. */
export async function checkZeros(path: string, extents: readonly Extent[], delta = 0): Promise<void> {
  const fh = await open(path, 'r');
  const buf = Buffer.alloc(4 << 20);
  try {
    for (const e of extents) {
      for (let at = 0; at < e.length; ) {
        const want = Math.min(buf.length, e.length - at);
        const pos = e.offset + delta + at;
        const { bytesRead } = await fh.read(buf, 0, want, pos);
        if (bytesRead === 0) throw new VerifyMismatchError(`${path} ends at ${pos}, inside a free extent that should hold zeros`, { offset: pos });
        const z = zeroBytes(bytesRead);
        if (Buffer.compare(buf.subarray(0, bytesRead), Buffer.from(z.buffer, z.byteOffset, bytesRead)) !== 0) {
          let j = 0;
          while (buf[j] === 0) j++;
          throw new VerifyMismatchError(`${path} holds data at offset ${pos + j}, in a free extent --zero-free should have zeroed: zero it again (restore or clone with --zero-free)`, { offset: pos + j });
        }
        at += bytesRead;
      }
    }
  } finally {
    await fh.close();
  }
}
