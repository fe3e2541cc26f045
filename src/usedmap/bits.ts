// Bitmaps to runs, bit counts, and a growing list of sorted, coalesced extents in flat form.
import { InternalError } from '../errors.js';

const POP = new Uint8Array(256);
for (let i = 1; i < 256; i++) POP[i] = (i & 1) + POP[i >> 1]!;

/** The number of set bits among bits [start, start + count) of `bits` (little-endian bit order). */
export function countSet(bits: Uint8Array, start: number, count: number): number {
  let n = 0;
  let i = start;
  const end = start + count;
  while (i < end && (i & 7) !== 0) {
    n += (bits[i >> 3]! >> (i & 7)) & 1;
    i++;
  }
  while (i + 8 <= end) {
    n += POP[bits[i >> 3]!]!;
    i += 8;
  }
  while (i < end) {
    n += (bits[i >> 3]! >> (i & 7)) & 1;
    i++;
  }
  return n;
}

/**
 * Calls `run(first, count)` for each run of set bits among bits [start, start + count),
 * in order, with bit numbers relative to `start`. Whole 0x00 and 0xFF bytes are skipped.
 */
export function setRuns(bits: Uint8Array, start: number, count: number, run: (first: number, count: number) => void): void {
  const end = start + count;
  let i = start;
  let runStart = -1;
  while (i < end) {
    if ((i & 7) === 0 && i + 8 <= end) {
      const b = bits[i >> 3]!;
      if (b === 0 && runStart < 0) {
        i += 8;
        continue;
      }
      if (b === 0xff && runStart >= 0) {
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

/** Sets bits [first, first + count) of `bits`. */
export function setBits(bits: Uint8Array, first: number, count: number): void {
  for (let i = first; i < first + count; i++) bits[i >> 3]! |= 1 << (i & 7);
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
