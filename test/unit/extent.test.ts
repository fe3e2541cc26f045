import { describe, expect, it } from 'vitest';
import { clipExtent, complementExtents, extentEnd, intersectExtents, isAligned, overlaps, splitExtent, subtractExtent, toFlat, totalLength } from '../../src/extent.js';

describe('extents', () => {
  it('splits into block-sized pieces with a short tail', () => {
    expect(splitExtent({ offset: 100, length: 2500 }, 1000)).toEqual([
      { offset: 100, length: 1000 },
      { offset: 1100, length: 1000 },
      { offset: 2100, length: 500 },
    ]);
    expect(splitExtent({ offset: 0, length: 0 }, 4096)).toEqual([]);
    expect(() => splitExtent({ offset: 0, length: 1 }, 0)).toThrow(RangeError);
  });

  it('clips at a limit', () => {
    expect(clipExtent({ offset: 10, length: 100 }, 50)).toEqual({ offset: 10, length: 40 });
    expect(clipExtent({ offset: 60, length: 100 }, 50)).toBeNull();
    expect(clipExtent({ offset: 0, length: 10 }, 1000)).toEqual({ offset: 0, length: 10 });
  });

  it('detects overlap only when a byte is shared', () => {
    expect(overlaps({ offset: 0, length: 10 }, { offset: 10, length: 5 })).toBe(false);
    expect(overlaps({ offset: 0, length: 11 }, { offset: 10, length: 5 })).toBe(true);
    expect(overlaps({ offset: 12, length: 1 }, { offset: 10, length: 5 })).toBe(true);
  });

  it('totals, ends, alignment and the flat form', () => {
    const ex = [
      { offset: 0, length: 4096 },
      { offset: 8192, length: 100 },
    ];
    expect(totalLength(ex)).toBe(4196);
    expect(extentEnd(ex[1])).toBe(8292);
    expect(isAligned(8192, 4096)).toBe(true);
    expect(isAligned(8292, 512)).toBe(false);
    expect(Array.from(toFlat(ex))).toEqual([0, 4096, 8192, 100]);
  });
});

describe('extent sets', () => {
  const e = (offset: number, length: number) => ({ offset, length });
  it('intersects sorted lists', () => {
    expect(intersectExtents([e(0, 100), e(200, 100)], [e(50, 200)])).toEqual([e(50, 50), e(200, 50)]);
    expect(intersectExtents([e(0, 10)], [e(10, 10)])).toEqual([]);
    expect(intersectExtents([e(0, 1000)], [e(10, 10), e(30, 10), e(2000, 1)])).toEqual([e(10, 10), e(30, 10)]);
    expect(intersectExtents([], [e(0, 1)])).toEqual([]);
  });
  it('subtracts one extent, splitting where it falls inside', () => {
    expect(subtractExtent([e(0, 100)], e(40, 20))).toEqual([e(0, 40), e(60, 40)]);
    expect(subtractExtent([e(0, 100), e(200, 10)], e(90, 115))).toEqual([e(0, 90), e(205, 5)]);
    expect(subtractExtent([e(0, 10)], e(10, 5))).toEqual([e(0, 10)]);
  });
  it('complements within a size', () => {
    expect(complementExtents([e(10, 10), e(30, 5)], 50)).toEqual([e(0, 10), e(20, 10), e(35, 15)]);
    expect(complementExtents([], 7)).toEqual([e(0, 7)]);
    expect(complementExtents([e(0, 7)], 7)).toEqual([]);
  });
});
