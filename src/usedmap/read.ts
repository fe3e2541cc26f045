// Reads for the used maps: bounds-checked, aligned, and many small pieces coalesced into large reads.
import type { FileHandle } from 'node:fs/promises';
import { IoError } from '../errors.js';
import type { Reader } from './types.js';

/** How reads are shaped: pieces closer than maxGap share one read of at most maxRead bytes. */
export interface ReadShape {
  /** Offsets and lengths are widened to multiples of this (clipped to the size): O_DIRECT readers need it. */
  align: number;
  maxGap: number;
  maxRead: number;
  /** Reads in flight at once. */
  parallel: number;
}

export const defaultShape: ReadShape = { align: 4096, maxGap: 1 << 20, maxRead: 16 << 20, parallel: 4 };

/** A read the file system's own numbers put outside the partition: a damaged file system. */
export class OutsideError extends RangeError {}

export interface Piece {
  offset: number;
  length: number;
}

/** One read of the reader, and the pieces it serves. */
interface Span {
  offset: number;
  end: number;
  pieces: number[];
}

/** Groups pieces into reads: sorted by offset, neighbours within maxGap merged up to maxRead. */
export function planReads(pieces: readonly Piece[], size: number, shape: ReadShape = defaultShape): Span[] {
  const order = pieces.map((_, i) => i).sort((a, b) => pieces[a]!.offset - pieces[b]!.offset);
  const spans: Span[] = [];
  const down = (v: number): number => v - (v % shape.align);
  const up = (v: number): number => Math.min(size, Math.ceil(v / shape.align) * shape.align);
  for (const i of order) {
    const p = pieces[i]!;
    if (p.length <= 0) continue;
    const start = down(p.offset);
    const end = up(p.offset + p.length);
    const last = spans[spans.length - 1];
    if (last && start - last.end <= shape.maxGap && Math.max(end, last.end) - last.offset <= shape.maxRead) {
      last.end = Math.max(end, last.end);
      last.pieces.push(i);
    } else {
      spans.push({ offset: start, end, pieces: [i] });
    }
  }
  return spans;
}

/** One read, checked: inside [0, size) and exactly as long as asked. */
export async function readExact(reader: Reader, size: number, offset: number, length: number): Promise<Buffer> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new OutsideError(`read of ${length} bytes at ${offset} is outside 0..${size}`);
  }
  const buf = await reader(offset, length);
  if (buf.length !== length) {
    throw new IoError('SHORT_READ', `reading ${length} bytes at offset ${offset} gave ${buf.length}: the drive or file is shorter than it says`, { offset, length, got: buf.length });
  }
  return buf;
}

/**
 * Reads every piece (each inside [0, size)) with as few, large reads as the shape allows,
 * and hands each piece's bytes to `use(index, bytes)` as its read completes (any order).
 */
export async function readPieces(
  reader: Reader,
  size: number,
  pieces: readonly Piece[],
  use: (index: number, bytes: Buffer) => void,
  shape: ReadShape = defaultShape,
): Promise<void> {
  for (const p of pieces) {
    if (p.offset < 0 || p.length < 0 || p.offset + p.length > size) throw new OutsideError(`piece of ${p.length} bytes at ${p.offset} is outside 0..${size}`);
  }
  const spans = planReads(pieces, size, shape);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < spans.length) {
      const s = spans[next++]!;
      const buf = await readExact(reader, size, s.offset, s.end - s.offset);
      for (const i of s.pieces) {
        const p = pieces[i]!;
        use(i, buf.subarray(p.offset - s.offset, p.offset - s.offset + p.length));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(shape.parallel, spans.length) }, worker));
}

/** A Reader over an open file or block device, `base` bytes in (a partition's start). */
export function fileReader(handle: FileHandle, base = 0): Reader {
  return async (offset, length) => {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buf, done, length - done, base + offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? buf : buf.subarray(0, done);
  };
}

/** A Reader over the part of `reader` that starts at `base` (a partition of a drive). */
export function subReader(reader: Reader, base: number): Reader {
  return (offset, length) => reader(base + offset, length);
}
