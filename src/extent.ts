// Extents: (offset, length) in bytes. The engine copies lists of them; policy builds them.

export interface Extent {
  offset: number;
  length: number;
}

export function extentEnd(e: Extent): number {
  return e.offset + e.length;
}

export function totalLength(extents: readonly Extent[]): number {
  return extents.reduce((sum, e) => sum + e.length, 0);
}

/** The part of `e` inside [0, limit); null when nothing is left. */
export function clipExtent(e: Extent, limit: number): Extent | null {
  const end = Math.min(extentEnd(e), limit);
  return end > e.offset ? { offset: e.offset, length: end - e.offset } : null;
}

/** Whether two extents share at least one byte. */
export function overlaps(a: Extent, b: Extent): boolean {
  return a.offset < extentEnd(b) && b.offset < extentEnd(a);
}

/** Splits an extent into pieces of at most `size` bytes, aligned to its start. */
export function splitExtent(e: Extent, size: number): Extent[] {
  if (size <= 0) throw new RangeError('split size must be positive');
  const out: Extent[] = [];
  for (let off = e.offset; off < extentEnd(e); off += size) out.push({ offset: off, length: Math.min(size, extentEnd(e) - off) });
  return out;
}

export function isAligned(v: number, align: number): boolean {
  return v % align === 0;
}

/** The flat [offset0, length0, offset1, ...] form the native engine takes. */
export function toFlat(extents: readonly Extent[]): Float64Array {
  const a = new Float64Array(extents.length * 2);
  extents.forEach((e, i) => {
    a[2 * i] = e.offset;
    a[2 * i + 1] = e.length;
  });
  return a;
}

/** Where two sorted, non-overlapping extent lists overlap. */
export function intersectExtents(a: readonly Extent[], b: readonly Extent[]): Extent[] {
  const out: Extent[] = [];
  let j = 0;
  for (const x of a) {
    const xEnd = extentEnd(x);
    while (j < b.length && extentEnd(b[j]) <= x.offset) j++;
    for (let k = j; k < b.length && b[k].offset < xEnd; k++) {
      const s = Math.max(x.offset, b[k].offset);
      const e = Math.min(xEnd, extentEnd(b[k]));
      if (e > s) out.push({ offset: s, length: e - s });
    }
  }
  return out;
}

/** `list` minus `cut`. */
export function subtractExtent(list: readonly Extent[], cut: Extent): Extent[] {
  const out: Extent[] = [];
  const cEnd = extentEnd(cut);
  for (const d of list) {
    const dEnd = extentEnd(d);
    if (dEnd <= cut.offset || d.offset >= cEnd) {
      out.push(d);
      continue;
    }
    if (d.offset < cut.offset) out.push({ offset: d.offset, length: cut.offset - d.offset });
    if (dEnd > cEnd) out.push({ offset: cEnd, length: dEnd - cEnd });
  }
  return out;
}

/** What [0, size) holds outside a sorted, non-overlapping list. */
export function complementExtents(list: readonly Extent[], size: number): Extent[] {
  const out: Extent[] = [];
  let at = 0;
  for (const g of list) {
    if (g.offset > at) out.push({ offset: at, length: g.offset - at });
    at = extentEnd(g);
  }
  if (at < size) out.push({ offset: at, length: size - at });
  return out;
}

/** The extents of a sorted list (apart) that lie in [offset, offset + length), clipped to it. */
export function usedWithin(used: readonly Extent[], offset: number, length: number): Extent[] {
  const end = offset + length;
  const out: Extent[] = [];
  // binary search for the first extent ending after offset
  let lo = 0;
  let hi = used.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (used[mid]!.offset + used[mid]!.length <= offset) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < used.length && used[i]!.offset < end; i++) {
    const s = Math.max(offset, used[i]!.offset);
    const e = Math.min(end, used[i]!.offset + used[i]!.length);
    if (e > s) out.push({ offset: s, length: e - s });
  }
  return out;
}
