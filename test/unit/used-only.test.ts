// The pieces of --used-only that need no drive: the extents a job copies (clipped, aligned,
// merged, bounded), GapFill (taps see free extents as zeros, in order), UsedCursor, and the
// manifest's checks of usedOnly as untrusted input.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { GapFill, UsedCursor, fromManifestExtents, toManifestExtents } from '../../src/image/used.js';
import { usedWithin } from '../../src/extent.js';
import { feedZeros } from '../../src/zeros.js';
import { closeGaps, shapeExtents } from '../../src/used-extents.js';
import { parseManifest, type Manifest } from '../../src/image/manifest.js';
import type { Tap } from '../../src/tap.js';

describe('shapeExtents', () => {
  it('clips to the range, widens to the alignment, closes small gaps, and makes offsets range-relative', () => {
    // drive-relative: [1000, 100), [8192, 4096), [12288 + 70000, 10)
    const flat = [1000, 100, 8192, 4096, 82288, 10];
    expect(shapeExtents(flat, { offset: 0, length: 1 << 20 }, 4096, 0)).toEqual([
      { offset: 0, length: 4096 },
      { offset: 8192, length: 4096 },
      { offset: 81920, length: 4096 },
    ]);
    // a gap under minGap is read too
    expect(shapeExtents(flat, { offset: 0, length: 1 << 20 }, 4096, 8192)).toEqual([
      { offset: 0, length: 12288 },
      { offset: 81920, length: 4096 },
    ]);
    // a range from 8192: the first extent falls out, offsets start at the range
    expect(shapeExtents(flat, { offset: 8192, length: 76000 }, 4096, 0)).toEqual([
      { offset: 0, length: 4096 },
      // widened to 81920..86016, cut at the range's end 84192
      { offset: 73728, length: 84192 - 81920 },
    ]);
  });

  it('closeGaps merges only gaps shorter than asked', () => {
    const list = [
      { offset: 0, length: 10 },
      { offset: 15, length: 5 },
      { offset: 100, length: 1 },
    ];
    expect(closeGaps(list, 6)).toEqual([
      { offset: 0, length: 20 },
      { offset: 100, length: 1 },
    ]);
    expect(closeGaps(list, 5)).toEqual(list);
  });
});

describe('usedWithin and UsedCursor', () => {
  const used = [
    { offset: 10, length: 10 },
    { offset: 40, length: 20 },
    { offset: 100, length: 5 },
  ];
  it('clips the extents to a window', () => {
    expect(usedWithin(used, 15, 30)).toEqual([
      { offset: 15, length: 5 },
      { offset: 40, length: 5 },
    ]);
    expect(usedWithin(used, 60, 40)).toEqual([]);
    expect(usedWithin(used, 0, 200)).toEqual(used);
  });
  it('splits a stream into used and free runs, chunk after chunk', () => {
    const c = new UsedCursor(used);
    const runs: [number, number, boolean][] = [];
    for (const [at, n] of [
      [0, 15],
      [15, 30],
      [45, 100],
    ] as const)
      c.split(at, n, (s, l, u) => runs.push([s, l, u]));
    expect(runs).toEqual([
      [0, 10, false],
      [10, 5, true],
      [15, 5, true],
      [20, 20, false],
      [40, 5, true],
      [45, 15, true],
      [60, 40, false],
      [100, 5, true],
      [105, 40, false],
    ]);
  });
});

describe('GapFill', () => {
  it('gives its taps the image as restored: free extents as zeros, in order, to the end', async () => {
    const seen: { data: Buffer; offset: number }[] = [];
    const tap: Tap = { consume: (data, offset) => void seen.push({ data: Buffer.from(data), offset }) };
    const base = 1000;
    const g = new GapFill([tap], base, 100);
    // source offsets 1010..1020 and 1050..1060 read
    await g.consume(Buffer.alloc(10, 1), base + 10);
    await g.consume(Buffer.alloc(10, 2), base + 50);
    await g.finish();
    const all = Buffer.concat(seen.map((s) => s.data));
    const want = Buffer.alloc(100);
    want.fill(1, 10, 20);
    want.fill(2, 50, 60);
    expect(all.equals(want)).toBe(true);
    // each piece at its own offset, in order
    let at = base;
    for (const s of seen) {
      expect(s.offset).toBe(at);
      at += s.data.length;
    }
  });

  it('feeds a long free run from one shared buffer, never more than 16 MiB a call', () => {
    const sizes: number[] = [];
    const buffers = new Set<ArrayBufferLike>();
    feedZeros(40 << 20, (z) => {
      sizes.push(z.length);
      buffers.add(z.buffer);
    });
    expect(sizes).toEqual([16 << 20, 16 << 20, 8 << 20]);
    expect(buffers.size).toBe(1);
  });

  it("a hash through it equals the hash of the whole image's bytes", async () => {
    const h = createHash('sha256');
    const g = new GapFill([{ consume: (d) => void h.update(d) }], 0, 3 << 20);
    const a = Buffer.alloc(4096, 7);
    await g.consume(a, 1 << 20);
    await g.finish();
    const img = Buffer.alloc(3 << 20);
    a.copy(img, 1 << 20);
    expect(h.digest('hex')).toBe(createHash('sha256').update(img).digest('hex'));
  });
});

describe('the manifest: usedOnly is untrusted input', () => {
  const base = (extents: number[], usedBytes: number): unknown =>
    ({
      format: 'clonestation-image/1',
      tool: { name: 'clonestation', version: '0' },
      complete: true,
      startedAt: '2026-11-30T00:00:00.000Z',
      source: { path: '/dev/x', kind: 'block', size: 1 << 20, logicalSectorSize: 512, physicalSectorSize: 512 },
      range: { offset: 0, length: 1 << 20 },
      image: { format: 'raw', name: 'x.img', parts: [{ name: 'x.img', size: 1 << 20, hashes: {} }] },
      hashes: {},
      usedOnly: { usedBytes, extents },
    }) satisfies Partial<Manifest> as unknown;

  it('takes sorted, apart extents inside the image that add up to usedBytes', () => {
    const m = parseManifest(base([0, 4096, 8192, 4096], 8192), 'm');
    expect(fromManifestExtents(m.usedOnly!.extents)).toEqual([
      { offset: 0, length: 4096 },
      { offset: 8192, length: 4096 },
    ]);
    expect(toManifestExtents(fromManifestExtents(m.usedOnly!.extents))).toEqual([0, 4096, 8192, 4096]);
  });

  for (const [what, extents, used] of [
    ['an odd count', [0, 4096, 8192], 4096],
    ['unsorted', [8192, 4096, 0, 4096], 8192],
    ['overlapping', [0, 8192, 4096, 4096], 12288],
    ['touching (not coalesced)', [0, 4096, 4096, 4096], 8192],
    ['past the end', [0, 4096, (1 << 20) - 100, 4096], 8192],
    ['an empty extent', [0, 0], 0],
    ['a wrong total', [0, 4096], 4097],
    ['a negative offset', [-4096, 4096], 4096],
    ['not integers', [0.5, 4096], 4096],
  ] as const) {
    it(`refuses ${what} (IMAGE_CORRUPT)`, () => {
      expect(() => parseManifest(base([...extents], used), 'm')).toThrow(expect.objectContaining({ code: 'IMAGE_CORRUPT' }));
    });
  }
});
