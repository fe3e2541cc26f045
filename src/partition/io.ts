// Readers over byte sources (a buffer, a file descriptor) and over planned writes, for the table code.

import { read as fsRead } from 'node:fs';
import { promisify } from 'node:util';
import type { Reader, SectorWrite } from './model.js';

const readAsync = promisify(fsRead);

/** A reader over bytes in memory; reads past the end come back short. */
export function bufferReader(buf: Buffer): Reader {
  return async (offset, length) => buf.subarray(Math.min(offset, buf.length), Math.min(offset + length, buf.length));
}

/** A reader over an open file or block device (buffered reads; short at the end). */
export function fdReader(fd: number): Reader {
  return async (offset, length) => {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await readAsync(fd, buf, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  };
}

/**
 * What a target will read once `length` bytes of `base` are copied to it and `writes` are
 * applied: bytes past `length` read as zeros up to `size`. Lets a plan be parsed back before
 * anything is written.
 */
export function overlayReader(base: Reader, length: number, writes: readonly SectorWrite[], size: number): Reader {
  return async (offset, len) => {
    const end = Math.min(offset + len, size);
    if (end <= offset) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    const baseEnd = Math.min(end, length);
    if (baseEnd > offset) (await base(offset, baseEnd - offset)).copy(out, 0);
    for (const w of writes) {
      const from = Math.max(offset, w.offset);
      const to = Math.min(end, w.offset + w.bytes.length);
      if (from < to) w.bytes.copy(out, from - offset, from - w.offset, to - w.offset);
    }
    return out;
  };
}
