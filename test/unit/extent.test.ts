import { describe, expect, it } from 'vitest';
import { clipExtent, extentEnd, isAligned, overlaps, splitExtent, toFlat, totalLength } from '../../src/extent.js';

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
