// Bitmaps to runs, bit counts, and a growing list of sorted, coalesced extents in flat form.
import { InternalError } from '../errors.js';

/** A 32-bit view of `bits` when it is 4-byte aligned (whole words are then skipped at once). */
function words(bits: Uint8Array): Uint32Array | null {
  return bits.byteOffset % 4 === 0 ? new Uint32Array(bits.buffer, bits.byteOffset, bits.byteLength >> 2) : null;
}

function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** The number of set bits among bits [start, start + count) of `bits` (little-endian bit order). */
export function countSet(bits: Uint8Array, start: number, count: number): number {
  let n = 0;
  let i = start;
  const end = start + count;
  const w = words(bits);
  while (i < end && (i & 31) !== 0) {
    n += (bits[i >> 3]! >> (i & 7)) & 1;
    i++;
  }
  if (w) {
    for (; i + 32 <= end; i += 32) n += popcount32(w[i >> 5]!);
  } else {
    for (; i + 8 <= end; i += 8) n += popcount32(bits[i >> 3]!);
  }
  while (i < end) {
    n += (bits[i >> 3]! >> (i & 7)) & 1;
    i++;
  }
  return n;
}

/**
 * Calls `run(first, count)` for each run of set bits among bits [start, start + count),
 * in order, with bit numbers relative to `start`. Whole zero and all-ones words (or bytes)
 * inside and outside a run are skipped at once.
 */
export function setRuns(bits: Uint8Array, start: number, count: number, run: (first: number, count: number) => void): void {
  const end = start + count;
  const w = words(bits);
  let i = start;
  let runStart = -1;
  while (i < end) {
    if (w && (i & 31) === 0 && i + 32 <= end) {
      const v = w[i >> 5]!;
      if ((v === 0 && runStart < 0) || (v === 0xffffffff && runStart >= 0)) {
        i += 32;
        continue;
      }
    }
    if ((i & 7) === 0 && i + 8 <= end) {
      const b = bits[i >> 3]!;
      if ((b === 0 && runStart < 0) || (b === 0xff && runStart >= 0)) {
        i += 8;
        continue;
      }
    }
    const set = (bits[i >> 3]! >> (i & 7)) & 1;
    if (set && runStart < 0) runStart = i;
    else if (!set && runStart >= 0) {
      run(runStart - start, i - runStart);
      runStart = -1;
    }
    i++;
  }
  if (runStart >= 0) run(runStart - start, end - runStart);
}

/** Sets bits [first, first + count) of `bits`, whole bytes at once. */
export function setBits(bits: Uint8Array, first: number, count: number): void {
  let i = first;
  const end = first + count;
  while (i < end && (i & 7) !== 0) {
    bits[i >> 3]! |= 1 << (i & 7);
    i++;
  }
  if (i + 8 <= end) {
    const bytesEnd = end >> 3;
    bits.fill(0xff, i >> 3, bytesEnd);
    i = bytesEnd << 3;
  }
  while (i < end) {
    bits[i >> 3]! |= 1 << (i & 7);
    i++;
  }
}

/**
 * Extents appended in ascending order; one that touches or overlaps the last is merged
 * with it. Stored flat ([offset, length, ...]) in a growing Float64Array.
 */
export class ExtentBuilder {
  private data = new Float64Array(256);
  private n = 0;
  private total = 0;

  add(offset: number, length: number): void {
    if (length <= 0) return;
    if (this.n > 0) {
      const lastOff = this.data[2 * this.n - 2]!;
      const lastEnd = lastOff + this.data[2 * this.n - 1]!;
      if (offset < lastOff) throw new InternalError(`used map: extent at ${offset} added after one at ${lastOff}`);
      if (offset <= lastEnd) {
        const end = Math.max(lastEnd, offset + length);
        this.total += end - lastEnd;
        this.data[2 * this.n - 1] = end - lastOff;
        return;
      }
    }
    if (2 * this.n + 2 > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[2 * this.n] = offset;
    this.data[2 * this.n + 1] = length;
    this.n++;
    this.total += length;
  }

  get count(): number {
    return this.n;
  }

  get usedBytes(): number {
    return this.total;
  }

  flat(): Float64Array {
    return this.data.slice(0, 2 * this.n);
  }
}
