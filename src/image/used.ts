// Used-only images: the used extents as the manifest keeps them, and the taps that see a
// used-only copy's bytes as the image holds them (the free extents as zeros, fed cheaply).
import type { Extent } from '../extent.js';
import type { Tap } from '../tap.js';
import { feedZeros } from '../zeros.js';

export function toManifestExtents(list: readonly Extent[]): number[] {
  const out: number[] = [];
  for (const e of list) out.push(e.offset, e.length);
  return out;
}

export function fromManifestExtents(flat: readonly number[]): Extent[] {
  const out: Extent[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ offset: flat[i]!, length: flat[i + 1]! });
  return out;
}

/**
 * Taps of a whole image fed by a job that reads only its used extents: before each chunk the
 * bytes since the last one are fed as zeros, and finish() feeds them up to the image's end.
 * `base`: the source offset of image byte 0 (the taps see image bytes at source offsets).
 */
export class GapFill implements Tap {
  /** image bytes given to the taps so far */
  pos = 0;
  constructor(
    private readonly taps: readonly Tap[],
    private readonly base: number,
    private readonly length: number,
  ) {}

  consume(data: Uint8Array, offset: number): void | Promise<void> {
    const at = offset - this.base;
    const pending = at > this.pos ? this.zeros(at - this.pos) : [];
    for (const t of this.taps) {
      const r = t.consume(data, offset);
      if (r) pending.push(r);
    }
    this.pos = at + data.length;
    if (pending.length > 0) return Promise.all(pending).then(() => undefined);
  }

  /** Zeros from the last chunk to the image's end. */
  finish(): Promise<void> {
    const pending = this.length > this.pos ? this.zeros(this.length - this.pos) : [];
    this.pos = this.length;
    return Promise.all(pending).then(() => undefined);
  }

  private zeros(n: number): Promise<void>[] {
    const from = this.pos;
    const out: Promise<void>[] = [];
    for (const t of this.taps) out.push(...feedZeros(n, (z, done) => t.consume(z, this.base + from + done)));
    return out;
  }
}

/** Walks a byte stream of an image in order, saying for each piece whether it lies in a used extent. */
export class UsedCursor {
  private i = 0;
  constructor(private readonly used: readonly Extent[]) {}

  /**
   * Splits [offset, offset + length) (image offsets, never going back) into runs: `fn(start,
   * len, used)` for each, in order.
   */
  split(offset: number, length: number, fn: (start: number, len: number, used: boolean) => void): void {
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      while (this.i < this.used.length && this.used[this.i]!.offset + this.used[this.i]!.length <= pos) this.i++;
      const e = this.used[this.i];
      if (!e || e.offset >= end) {
        fn(pos, end - pos, false);
        return;
      }
      if (e.offset > pos) {
        fn(pos, e.offset - pos, false);
        pos = e.offset;
      }
      const to = Math.min(end, e.offset + e.length);
      fn(pos, to - pos, true);
      pos = to;
    }
  }
}

