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
 * Inside a chunk, data is classified in segments of SEGMENT bytes: random-looking segments
 * (compressed files, encrypted volumes) become stored blocks, the rest is deflated. Drives
 * mix content at file-system-block granularity, so a 1 MiB chunk often holds text and
 * random data; deflate spends ~25 MiB/s on random data for no gain, ten times what it
 * spends on text, so classifying only whole chunks left most of the time there.
 */
export const SEGMENT = 64 * 1024;
/** Bytes sampled per segment: 4 slices of 2 KiB at 0, 1/4, 1/2, 3/4. */
const SAMPLE_SLICES = 4;
const SAMPLE_SLICE = 2048;
/**
 * Order-0 entropy (bits per byte) above which a sample counts as random. Random data
 * measures ~7.98 on 8 KiB; text 4.5-5.5, machine code 6-7. Deflate cannot shrink data
 * above ~7.9 by more than about 1% without long repeats, which random data lacks.
 */
const RANDOM_ENTROPY = 7.9;

const histogram = new Uint32Array(256);

/** Whether a segment looks random: the order-0 entropy of 8 KiB sampled from it. */
export function looksRandom(seg: Uint8Array): boolean {
  if (seg.length < SAMPLE_SLICES * SAMPLE_SLICE) return false;
  histogram.fill(0);
  const step = Math.floor(seg.length / SAMPLE_SLICES);
  for (let k = 0; k < SAMPLE_SLICES; k++) {
    const from = k * step;
    for (let i = from; i < from + SAMPLE_SLICE; i++) histogram[seg[i] ?? 0]!++;
  }
  const n = SAMPLE_SLICES * SAMPLE_SLICE;
  let bits = 0;
  for (let b = 0; b < 256; b++) {
    const c = histogram[b] ?? 0;
    if (c > 0) bits -= (c / n) * Math.log2(c / n);
  }
  return bits >= RANDOM_ENTROPY;
}

export interface ChunkResult {
  /** the piece of the deflate stream (byte aligned, not final) */
  data: Uint8Array;
  /** CRC-32 of the chunk's input */
  crc: number;
  /** how it was encoded, for counters and tests: all deflated, all stored, or some of each */
  kind: 'deflate' | 'stored' | 'mixed' | 'zero';
}

/** Deflates one run of the chunk (sync flushed) with the 32 KiB before it as dictionary; stored if that does not shrink it. */
function deflateRun(run: Uint8Array, dictionary: Uint8Array | undefined, level: number): { data: Uint8Array; stored: boolean } {
  const z = deflateRawSync(run, {
    level,
    finishFlush: constants.Z_SYNC_FLUSH,
    ...(dictionary && dictionary.length > 0 ? { dictionary } : {}),
  });
  return z.length >= storedSize(run.length) ? { data: storedBlocks(run), stored: true } : { data: z, stored: false };
}

/**
 * One chunk as a piece of the stream. Its segments are classified (looksRandom); each run
 * of consecutive random segments becomes stored blocks, each run of the others is deflated
 * at `level` with the 32 KiB before it as dictionary (the chunk's `dictionary` for a run at
 * its start) and sync flushed, and stored after all if that does not shrink it.
 */
export function deflateChunk(input: Uint8Array, dictionary: Uint8Array | undefined, level: number): ChunkResult {
  const crc = crc32(input);
  if (input.length === 0) return { data: new Uint8Array(0), crc, kind: 'stored' };
  const pieces: Uint8Array[] = [];
  let stored = 0;
  let deflated = 0;
  let runStart = 0;
  let runRandom = looksRandom(input.subarray(0, SEGMENT));
  const flush = (end: number): void => {
    const run = input.subarray(runStart, end);
    if (runRandom) {
      pieces.push(storedBlocks(run));
      stored++;
      return;
    }
    const dict = runStart === 0 ? dictionary : input.subarray(Math.max(0, runStart - WINDOW), runStart);
    const r = deflateRun(run, dict, level);
    pieces.push(r.data);
    if (r.stored) stored++;
    else deflated++;
  };
  for (let pos = SEGMENT; pos < input.length; pos += SEGMENT) {
    const random = looksRandom(input.subarray(pos, pos + SEGMENT));
    if (random !== runRandom) {
      flush(pos);
      runStart = pos;
      runRandom = random;
    }
  }
  flush(input.length);
  const data = pieces.length === 1 ? (pieces[0] ?? new Uint8Array(0)) : Buffer.concat(pieces);
  return { data, crc, kind: stored === 0 ? 'deflate' : deflated === 0 ? 'stored' : 'mixed' };
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
