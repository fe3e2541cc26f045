// --zero-free: zeros over a target's free extents (written: Node has no BLKZEROOUT), and the
// read-back that checks a target's free extents hold zeros.
import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import { IoError, VerifyMismatchError, openError } from '../errors.js';
import { complementExtents, type Extent } from '../extent.js';
import { zeroBytes } from '../image/used.js';

/** The free extents of [0, length): what `used` (sorted, apart) leaves. */
export function freeExtents(used: readonly Extent[], length: number): Extent[] {
  return complementExtents(used, length);
}

/**
 * Writes zeros over `extents` of `path` (offsets + `delta`), then fdatasync. A block device is
 * opened without O_EXCL: the caller holds its claim (src/claim.ts). Returns the bytes written.
 */
export async function zeroExtents(path: string, extents: readonly Extent[], delta = 0, signal?: () => boolean): Promise<number> {
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
