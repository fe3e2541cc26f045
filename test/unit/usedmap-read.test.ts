// The used maps' reads: bitmaps and tables coalesced into few large aligned reads, checked lengths.
import { execFileSync } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countSet, ExtentBuilder, setBits, setRuns } from '../../src/usedmap/bits.js';
import { fileReader, usedMap, type Reader } from '../../src/usedmap/index.js';
import { defaultShape, planReads, readPieces } from '../../src/usedmap/read.js';
import { scratch } from '../helpers/fixtures.js';
import { dumpe2fsField, tool } from '../helpers/usedmap.js';

describe('bits', () => {
  it('runs and counts of set bits agree with a bit-by-bit walk, at any start and length', () => {
    const bits = new Uint8Array(64);
    let seed = 3;
    for (let i = 0; i < bits.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      bits[i] = i % 7 === 0 ? 0xff : i % 5 === 0 ? 0 : seed & 0xff;
    }
    for (const [start, count] of [[0, 512], [3, 500], [8, 8], [13, 1], [17, 301]] as const) {
      const naive: number[] = [];
      for (let i = start; i < start + count; i++) if ((bits[i >> 3]! >> (i & 7)) & 1) naive.push(i - start);
      const fromRuns: number[] = [];
      setRuns(bits, start, count, (first, n) => {
        for (let k = 0; k < n; k++) fromRuns.push(first + k);
      });
      expect(fromRuns).toEqual(naive);
      expect(countSet(bits, start, count)).toBe(naive.length);
    }
  });

  it('whole zero and all-ones words, and bitmaps not 4-byte aligned, give the same runs', () => {
    const backing = new Uint8Array(1 + 96);
    const bits = backing.subarray(1);
    bits.fill(0xff, 8, 24);
    bits.fill(0x0f, 40, 41);
    bits.fill(0xff, 60, 96);
    const aligned = new Uint8Array(bits);
    for (const b of [bits, aligned]) {
      const runs: [number, number][] = [];
      setRuns(b, 0, 96 * 8, (f, n) => runs.push([f, n]));
      expect(runs).toEqual([
        [64, 128],
        [320, 4],
        [480, 288],
      ]);
      expect(countSet(b, 0, 96 * 8)).toBe(128 + 4 + 288);
      expect(countSet(b, 65, 300)).toBe(127 + 4);
    }
    const set = new Uint8Array(16);
    setBits(set, 3, 100);
    expect(countSet(set, 0, 128)).toBe(100);
    expect([set[0], set[12], set[13]]).toEqual([0xf8, 0x7f, 0]);
  });

  it('the extent builder merges touching and overlapping extents and keeps the total', () => {
    const b = new ExtentBuilder();
    for (const [o, l] of [[0, 10], [10, 5], [12, 2], [20, 5], [22, 10], [40, 1]]) b.add(o!, l!);
    expect(Array.from(b.flat())).toEqual([0, 15, 20, 12, 40, 1]);
    expect(b.usedBytes).toBe(28);
    expect(() => b.add(5, 1)).toThrow(/added after/);
  });
});

describe('reads', () => {
  it('neighbours within the gap share a read, far pieces do not, no read passes maxRead', () => {
    const shape = { ...defaultShape, maxGap: 8192, maxRead: 65536 };
    const pieces = [
      { offset: 4096 * 10, length: 1024 },
      { offset: 4096 * 11 + 100, length: 50 },
      { offset: 4096 * 13, length: 4096 },
      { offset: 1 << 20, length: 512 },
      { offset: 4096 * 12, length: 10 },
    ];
    const spans = planReads(pieces, 1 << 30, shape);
    expect(spans.map((s) => [s.offset, s.end, s.pieces.length])).toEqual([
      [40960, 57344, 4],
      [1 << 20, (1 << 20) + 4096, 1],
    ]);
    const many = Array.from({ length: 100 }, (_, i) => ({ offset: i * 4096, length: 4096 }));
    const capped = planReads(many, 1 << 30, shape);
    expect(capped.length).toBe(Math.ceil(100 / 16));
    for (const s of capped) expect(s.end - s.offset).toBeLessThanOrEqual(65536);
  });

  it('each piece gets exactly its bytes; a short read is an IoError, a piece outside a RangeError', async () => {
    const disk = Buffer.alloc(1 << 20);
    for (let i = 0; i < disk.length; i++) disk[i] = (i * 7) & 0xff;
    const calls: [number, number][] = [];
    const reader: Reader = async (o, l) => {
      calls.push([o, l]);
      return Buffer.from(disk.subarray(o, o + l));
    };
    const pieces = [{ offset: 5000, length: 300 }, { offset: 123, length: 7 }, { offset: 900_000, length: 10_000 }];
    const got: Buffer[] = [];
    await readPieces(reader, disk.length, pieces, (i, b) => (got[i] = Buffer.from(b)));
    pieces.forEach((p, i) => expect(got[i]).toEqual(disk.subarray(p.offset, p.offset + p.length)));
    for (const [o, l] of calls) expect([o % 4096, (o + l) % 4096 === 0 || o + l === disk.length]).toEqual([0, true]);
    const short: Reader = async (o, l) => disk.subarray(o, o + l - 1);
    await expect(readPieces(short, disk.length, pieces, () => undefined)).rejects.toMatchObject({ code: 'SHORT_READ', exitStatus: 1 });
    await expect(readPieces(reader, disk.length, [{ offset: disk.length - 1, length: 2 }], () => undefined)).rejects.toThrow(RangeError);
  });
});

describe('an ext4 of many groups is read in few reads', () => {
  let s: ReturnType<typeof scratch>;
  beforeAll(() => {
    s = scratch('cs-usedmap-read-');
  });
  afterAll(() => s.cleanup());

  for (const [name, features] of [
    ['flex_bg', '^metadata_csum,^uninit_bg'],
    ['no flex_bg', '^metadata_csum,^uninit_bg,^flex_bg'],
  ] as const) {
    it(`${name}: reads far fewer than one per group`, async () => {
      const img = join(s.dir, `${name.replace(/\W/g, '')}.img`);
      execFileSync('truncate', ['-s', '2G', img]);
      tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', '-O', features, img]);
      const groups = tool('dumpe2fs', [img]).split('\n').filter((l) => /^Group \d+:/.test(l)).length;
      expect(groups).toBe(Math.ceil((Number(dumpe2fsField(img, 'Block count')) - 1) / 8192));
      const h = await open(img, 'r');
      let reads = 0;
      const inner = fileReader(h);
      const counting: Reader = (o, l) => {
        reads++;
        return inner(o, l);
      };
      try {
        const map = await usedMap(counting, 2 * 2 ** 30);
        expect(map.fsType).toBe('ext4');
      } finally {
        await h.close();
      }
      // Groups are 8 MiB apart: without flex_bg each bitmap lies in its own group, and reads
      // within 1 MiB of each other merge, so the bound there is one read per group at worst.
      if (name === 'flex_bg') expect(reads).toBeLessThan(groups / 8);
      else expect(reads).toBeLessThanOrEqual(groups + 3);
    });
  }
});
