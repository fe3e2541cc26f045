// The in-memory rescue map the planner mutates, like ddrescue's Mapbook: a sorted run of
// blocks covering [0, size) exactly, where neighbours never share a status. Lookups are
// binary searches; `set` is a search plus a splice of at most three blocks, so a map of a
// million blocks (a badly failing drive) stays fast.
//
// Block objects are never changed once they are in the map: `set` replaces them. So a
// block a caller holds is a stable snapshot, and toMap() can share them.

import { InternalError } from '../errors.js';
import type { Extent } from '../extent.js';
import { BLOCK_STATUSES, type BlockStatus, type MapBlock, type PassStatus, type RescueMap } from './mapfile.js';

export type Direction = 'forward' | 'backward';

/** Where the rescue is: the fields of the mapfile's status line. */
export interface RescuePosition {
  pos: number;
  status: PassStatus;
  pass: number;
}

const zeroes = (): Record<BlockStatus, number> => ({ '?': 0, '*': 0, '/': 0, '-': 0, '+': 0 });
const endOf = (b: Readonly<MapBlock>): number => b.pos + b.size;

export class Mapbook {
  /** The drive's size in bytes; the blocks cover exactly [0, size). */
  readonly size: number;
  /** The status line: saved with the map so a resumed rescue knows where it was. */
  current: RescuePosition;
  readonly #blocks: MapBlock[];
  // Kept up to date by every change so progress displays read them in O(1).
  readonly #bytes = zeroes();
  readonly #areas = zeroes();

  /**
   * A map of `size` bytes: all non-tried, or the blocks of `map` (which must start at 0 and
   * be contiguous, as parseMap guarantees; a short map is extended with '?').
   */
  constructor(size: number, map?: RescueMap) {
    if (!Number.isSafeInteger(size) || size < 0) throw new InternalError(`mapbook size must be a whole number of bytes, got ${size}`);
    this.size = size;
    this.current = map ? { pos: map.currentPos, status: map.currentStatus, pass: map.currentPass } : { pos: 0, status: '?', pass: 1 };
    this.#blocks = [];
    let end = 0;
    for (const b of map?.blocks ?? []) {
      if (b.pos !== end || !(b.size > 0)) {
        throw new InternalError(`mapbook: block at ${b.pos} (size ${b.size}) does not follow the previous block ending at ${end}`);
      }
      end = endOf(b);
      this.#append(b.pos, b.size, b.status);
    }
    if (end > size) {
      // parseMap refuses such maps with a user-facing error; reaching here is a caller bug.
      throw new InternalError(`mapbook: map covers ${end} bytes but the drive has ${size}; parse it with deviceSize`);
    }
    if (end < size) this.#append(end, size - end, '?');
  }

  #append(pos: number, size: number, status: BlockStatus): void {
    const last = this.#blocks[this.#blocks.length - 1];
    this.#bytes[status] += size;
    if (last !== undefined && last.status === status) {
      this.#blocks[this.#blocks.length - 1] = { pos: last.pos, size: last.size + size, status };
    } else {
      this.#blocks.push({ pos, size, status });
      this.#areas[status]++;
    }
  }

  /** The blocks in order. A live view: it changes with set(); copy it to keep it. */
  blocks(): readonly Readonly<MapBlock>[] {
    return this.#blocks;
  }

  /** Index of the block containing pos, which must be in [0, size). */
  #indexOf(pos: number): number {
    const bs = this.#blocks;
    let lo = 0;
    let hi = bs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (bs[mid]!.pos <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Marks [pos, pos+size) with `status`, clipped to [0, size). Splits the blocks it cuts
   * and merges with neighbours of the same status, so the map stays minimal.
   */
  set(pos: number, size: number, status: BlockStatus): void {
    const start = Math.max(0, pos);
    const end = Math.min(this.size, pos + size);
    if (!(end > start)) return;
    const bs = this.#blocks;
    let lo = this.#indexOf(start);
    let hi = lo;
    while (endOf(bs[hi]!) < end) hi++;
    // The scan above is linear in the blocks replaced, which the splice pays for anyway.
    const first = bs[lo]!;
    const last = bs[hi]!;
    if (lo === hi && first.status === status) return;

    let newStart = start;
    let left: MapBlock | undefined;
    if (first.status === status) newStart = first.pos;
    else if (first.pos < start) left = { pos: first.pos, size: start - first.pos, status: first.status };
    else if (lo > 0 && bs[lo - 1]!.status === status) newStart = bs[--lo]!.pos;

    let newEnd = end;
    let right: MapBlock | undefined;
    const lastEnd = endOf(last);
    if (last.status === status) newEnd = lastEnd;
    else if (lastEnd > end) right = { pos: end, size: lastEnd - end, status: last.status };
    else if (hi + 1 < bs.length && bs[hi + 1]!.status === status) newEnd = endOf(bs[++hi]!);

    for (let i = lo; i <= hi; i++) {
      const b = bs[i]!;
      this.#bytes[b.status] -= b.size;
      this.#areas[b.status]--;
    }
    const repl: MapBlock[] = [];
    if (left) repl.push(left);
    repl.push({ pos: newStart, size: newEnd - newStart, status });
    if (right) repl.push(right);
    for (const b of repl) {
      this.#bytes[b.status] += b.size;
      this.#areas[b.status]++;
    }
    const removed = hi - lo + 1;
    if (removed === repl.length) {
      // The common case (a good read moving the edge between '+' and '?'): no shifting.
      for (let i = 0; i < removed; i++) bs[lo + i] = repl[i]!;
    } else if (repl.length === 1) {
      bs.splice(lo, removed, repl[0]!);
    } else if (repl.length === 2) {
      // Explicit arguments: V8's splice with a spread is about 8x slower on a big array.
      bs.splice(lo, removed, repl[0]!, repl[1]!);
    } else {
      bs.splice(lo, removed, repl[0]!, repl[1]!, repl[2]!);
    }
  }

  /** The status of the byte at pos. Throws RangeError outside [0, size). */
  statusAt(pos: number): BlockStatus {
    if (!(pos >= 0 && pos < this.size)) throw new RangeError(`position ${pos} is outside the map [0, ${this.size})`);
    return this.#blocks[this.#indexOf(pos)]!.status;
  }

  /**
   * The nearest block whose status is listed, searching from the byte at `pos`, clipped so
   * it never reaches behind `pos` in the search direction:
   * - forward: the first such block containing or after pos, starting at max(block.pos, pos);
   *   pos < 0 searches from 0, pos >= size finds nothing.
   * - backward: the last such block containing or before pos, ending at min(block end, pos+1)
   *   (pos itself is included); pos >= size searches from the last byte, pos < 0 finds nothing.
   * So a backward pass starts with find(size - 1, ...) and continues from result.pos - 1;
   * a forward pass starts with find(0, ...) and continues from result.pos + result.size.
   */
  find(pos: number, statuses: readonly BlockStatus[], direction: Direction): MapBlock | undefined {
    const bs = this.#blocks;
    if (direction === 'forward') {
      if (pos >= this.size) return undefined;
      const from = Math.max(0, pos);
      for (let i = this.#indexOf(from); i < bs.length; i++) {
        const b = bs[i]!;
        if (!statuses.includes(b.status)) continue;
        const p = Math.max(b.pos, from);
        return { pos: p, size: endOf(b) - p, status: b.status };
      }
      return undefined;
    }
    if (pos < 0 || this.size === 0) return undefined;
    const from = Math.min(pos, this.size - 1);
    for (let i = this.#indexOf(from); i >= 0; i--) {
      const b = bs[i]!;
      if (!statuses.includes(b.status)) continue;
      return { pos: b.pos, size: Math.min(endOf(b), from + 1) - b.pos, status: b.status };
    }
    return undefined;
  }

  /** Bytes in each status. O(1). */
  totals(): Record<BlockStatus, number> {
    return { ...this.#bytes };
  }

  /** How many separate areas (blocks) have this status, as ddrescuelog -t counts them. O(1). */
  areaCount(status: BlockStatus): number {
    return this.#areas[status];
  }

  /** Whether no block is left to try, trim, scrape or retry. */
  isFinished(): boolean {
    return this.#bytes['+'] === this.size;
  }

  /** The map for formatMap/saveMap. Shares the (never mutated) block objects: do not change them. */
  toMap(): RescueMap {
    return { currentPos: this.current.pos, currentStatus: this.current.status, currentPass: this.current.pass, blocks: this.#blocks.slice() };
  }

  /** The blocks with a listed status, as extents for the engine. */
  extents(statuses: readonly BlockStatus[]): Extent[] {
    const out: Extent[] = [];
    for (const b of this.#blocks) if (statuses.includes(b.status)) out.push({ offset: b.pos, length: b.size });
    return out;
  }

  /**
   * The parts of this map's blocks (only those with a listed status, when given) that lie
   * inside the finished ('+') blocks of `domain` — ddrescue's --domain-mapfile: a rescue
   * touches only what the domain map marks finished. The domain may be shorter or longer
   * than this map; outside it nothing is in the domain. Linear in both maps.
   */
  intersect(domain: Mapbook, statuses: readonly BlockStatus[] = BLOCK_STATUSES): MapBlock[] {
    const out: MapBlock[] = [];
    const mine = this.#blocks;
    const dom = domain.#blocks;
    let i = 0;
    let j = 0;
    while (i < mine.length && j < dom.length) {
      const a = mine[i]!;
      const d = dom[j]!;
      const lo = Math.max(a.pos, d.pos);
      const hi = Math.min(endOf(a), endOf(d));
      if (hi > lo && d.status === '+' && statuses.includes(a.status)) out.push({ pos: lo, size: hi - lo, status: a.status });
      // Advance whichever ends first; both when they end together.
      if (endOf(a) <= endOf(d)) i++;
      if (endOf(d) <= endOf(a)) j++;
    }
    return out;
  }
}
