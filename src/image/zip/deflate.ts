// Pieces of one deflate stream built pigz style: every chunk of the input is compressed on
// its own (in a worker), and the pieces are concatenated. This works because
//  - each piece ends with a sync flush (an empty stored block), so it ends on a byte
//    boundary and the next piece's first block can follow it directly;
//  - no piece sets BFINAL; the stream ends with FINAL_BLOCK, an empty final block;
//  - each chunk is compressed with the previous 32 KiB of input as its dictionary, so its
//    matches may reach back into the previous chunk exactly as a single stream's would
//    (deflate's window is 32 KiB): the ratio stays within a fraction of a percent.
// This module is pure (no threads, no I/O): the worker and the writer both use it.
import { constants, crc32, deflateRawSync } from 'node:zlib';

/** Deflate's window: the dictionary each chunk gets from the one before. */
export const WINDOW = 32 * 1024;

/** An empty fixed-Huffman block with BFINAL set (bits 1,01 then end-of-block 0000000): ends the stream. */
export const FINAL_BLOCK = Uint8Array.of(0x03, 0x00);

/** Largest payload of one stored deflate block. */
const STORED_MAX = 0xffff;

/** Bytes that `n` input bytes take as stored blocks (5-byte header per 65535 bytes). */
export function storedSize(n: number): number {
  return n + 5 * Math.max(1, Math.ceil(n / STORED_MAX));
}

/**
 * `data` as non-final stored deflate blocks (BFINAL=0, BTYPE=00): what a chunk that does not
 * shrink becomes. Starts and ends on a byte boundary, as a sync-flushed piece does.
 */
export function storedBlocks(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(storedSize(data.length));
  let o = 0;
  let i = 0;
  do {
    const n = Math.min(STORED_MAX, data.length - i);
    out[o] = 0x00; // BFINAL=0, BTYPE=00, the rest of the byte is padding
    out[o + 1] = n & 0xff;
    out[o + 2] = n >>> 8;
    out[o + 3] = ~n & 0xff;
    out[o + 4] = (~n >>> 8) & 0xff;
    out.set(data.subarray(i, i + n), o + 5);
    o += 5 + n;
    i += n;
  } while (i < data.length);
  return out;
}

const zeroPage = new Uint8Array(64 * 1024);

/** True when every byte of data is 0 (memcmp against a zero page, 64 KiB at a time). */
export function isAllZero(data: Uint8Array): boolean {
  const zero = Buffer.from(zeroPage.buffer, 0, zeroPage.length);
  for (let i = 0; i < data.length; i += zeroPage.length) {
    const n = Math.min(zeroPage.length, data.length - i);
    const piece = Buffer.from(data.buffer, data.byteOffset + i, n);
    if (!piece.equals(n === zeroPage.length ? zero : zero.subarray(0, n))) return false;
  }
  return true;
}

/**
 * Samples: a chunk is stored without trying deflate when `SAMPLES` slices of `SAMPLE_SIZE`
 * spread over it all fail to shrink by `SAMPLE_GAIN` at level 1. Random data deflates at
 * ~25 MiB/s whatever the level, and gains nothing: this check costs ~2% of that.
 */
const SAMPLE_SIZE = 16 * 1024;
const SAMPLES = 4;
const SAMPLE_GAIN = 0.97;

/** Whether `data` looks incompressible from a few samples (level 1, no dictionary). */
export function looksIncompressible(data: Uint8Array): boolean {
  if (data.length < SAMPLE_SIZE * SAMPLES * 2) return false;
  const step = Math.floor((data.length - SAMPLE_SIZE) / (SAMPLES - 1));
  for (let s = 0; s < SAMPLES; s++) {
    const slice = data.subarray(s * step, s * step + SAMPLE_SIZE);
    const z = deflateRawSync(slice, { level: 1, finishFlush: constants.Z_SYNC_FLUSH });
    if (z.length < slice.length * SAMPLE_GAIN) return false;
  }
  return true;
}

export interface ChunkResult {
  /** the piece of the deflate stream (byte aligned, not final) */
  data: Uint8Array;
  /** CRC-32 of the chunk's input */
  crc: number;
  /** how it was encoded, for counters and tests */
  kind: 'deflate' | 'stored' | 'zero';
}

/**
 * One chunk as a piece of the stream: deflated with the dictionary at `level` and sync
 * flushed; stored blocks when that does not shrink it (or when samples say it will not).
 */
export function deflateChunk(input: Uint8Array, dictionary: Uint8Array | undefined, level: number): ChunkResult {
  const crc = crc32(input);
  if (input.length === 0) return { data: new Uint8Array(0), crc, kind: 'stored' };
  if (looksIncompressible(input)) return { data: storedBlocks(input), crc, kind: 'stored' };
  const z = deflateRawSync(input, {
    level,
    finishFlush: constants.Z_SYNC_FLUSH,
    ...(dictionary && dictionary.length > 0 ? { dictionary } : {}),
  });
  if (z.length >= storedSize(input.length)) return { data: storedBlocks(input), crc, kind: 'stored' };
  return { data: z, crc, kind: 'deflate' };
}

// ---------------------------------------------------------------------------------------
// CRC-32 of a concatenation from the CRCs of its parts (zlib's crc32_combine, which node
// does not expose): crc(A||B) from crc(A), crc(B) and len(B), by applying len(B) zero bytes
// to crc(A) with GF(2) matrix squaring. O(log len) 32x32 bit-matrix products: microseconds.

function gf2Times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  let i = 0;
  while (vec !== 0) {
    if (vec & 1) sum ^= mat[i] ?? 0;
    vec >>>= 1;
    i++;
  }
  return sum >>> 0;
}

function gf2Square(square: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2Times(mat, mat[n] ?? 0);
}

/** CRC-32 of A||B given crc(A), crc(B) and the length of B. */
export function crc32Combine(crcA: number, crcB: number, lenB: number): number {
  if (lenB <= 0) return crcA >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = 0xedb88320; // the reflected CRC-32 polynomial: the operator for one zero bit
  let row = 1;
  for (let n = 1; n < 32; n++) {
    odd[n] = row;
    row <<= 1;
  }
  gf2Square(even, odd); // two zero bits
  gf2Square(odd, even); // four zero bits
  let crc = crcA >>> 0;
  let len = lenB;
  // apply len zero bytes (len * 8 bits), one bit of len at a time, starting with one byte
  do {
    gf2Square(even, odd);
    if (len % 2 === 1) crc = gf2Times(even, crc);
    len = Math.floor(len / 2);
    if (len === 0) break;
    gf2Square(odd, even);
    if (len % 2 === 1) crc = gf2Times(odd, crc);
    len = Math.floor(len / 2);
  } while (len !== 0);
  return (crc ^ crcB) >>> 0;
}
