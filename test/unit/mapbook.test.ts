import { describe, expect, it } from 'vitest';
import { Mapbook } from '../../src/rescue/mapbook.js';
import { BLOCK_STATUSES, formatMap, parseMap, type BlockStatus, type MapBlock, type RescueMap } from '../../src/rescue/mapfile.js';

const triples = (bs: readonly MapBlock[]): [number, number, BlockStatus][] => bs.map((b) => [b.pos, b.size, b.status]);

/** A seeded generator, so a failing random case can be replayed. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** The map's invariants: contiguous from 0 to size, positive sizes, no equal neighbours, honest counters. */
function checkInvariants(book: Mapbook): void {
  // Plain checks and one expect: a million expect() calls would dominate the big-map test.
  let end = 0;
  let prev: BlockStatus | undefined;
  const bytes: Record<string, number> = {};
  const areas: Record<string, number> = {};
  const problems: string[] = [];
  for (const b of book.blocks()) {
    if (b.pos !== end) problems.push(`block at ${b.pos} should start at ${end}`);
    if (!(b.size > 0)) problems.push(`block at ${b.pos} has size ${b.size}`);
    if (b.status === prev) problems.push(`block at ${b.pos} has its neighbour's status ${b.status}`);
    prev = b.status;
    end = b.pos + b.size;
    bytes[b.status] = (bytes[b.status] ?? 0) + b.size;
    areas[b.status] = (areas[b.status] ?? 0) + 1;
    if (problems.length > 5) break;
  }
  expect(problems).toEqual([]);
  expect(end).toBe(book.size);
  for (const s of BLOCK_STATUSES) {
    expect(book.totals()[s]).toBe(bytes[s] ?? 0);
    expect(book.areaCount(s)).toBe(areas[s] ?? 0);
  }
}

describe('Mapbook', () => {
  it('starts as one non-tried block, or empty for a 0-byte drive', () => {
    const book = new Mapbook(1000);
    expect(triples(book.blocks())).toEqual([[0, 1000, '?']]);
    expect(book.current).toEqual({ pos: 0, status: '?', pass: 1 });
    expect(book.totals()).toEqual({ '?': 1000, '*': 0, '/': 0, '-': 0, '+': 0 });
    expect(new Mapbook(0).blocks()).toEqual([]);
    expect(new Mapbook(0).find(0, ['?'], 'forward')).toBeUndefined();
    expect(new Mapbook(0).find(0, ['?'], 'backward')).toBeUndefined();
  });

  it('loads a map, extending a short one and merging equal neighbours', () => {
    const map: RescueMap = {
      currentPos: 5,
      currentStatus: '*',
      currentPass: 2,
      blocks: [
        { pos: 0, size: 10, status: '+' },
        { pos: 10, size: 10, status: '+' },
        { pos: 20, size: 10, status: '?' },
      ],
    };
    const book = new Mapbook(100, map);
    expect(triples(book.blocks())).toEqual([
      [0, 20, '+'],
      [20, 80, '?'],
    ]);
    expect(book.current).toEqual({ pos: 5, status: '*', pass: 2 });
    // The caller's map is copied, not aliased.
    book.set(0, 100, '-');
    expect(map.blocks[0]).toEqual({ pos: 0, size: 10, status: '+' });
  });

  it('refuses a map larger than the drive or not contiguous (a caller bug: exit 3)', () => {
    expect(() => new Mapbook(10, { currentPos: 0, currentStatus: '?', currentPass: 1, blocks: [{ pos: 0, size: 20, status: '+' }] })).toThrow(
      expect.objectContaining({ code: 'INTERNAL', exitStatus: 3 }),
    );
    const gap: MapBlock[] = [
      { pos: 0, size: 5, status: '+' },
      { pos: 6, size: 4, status: '-' },
    ];
    expect(() => new Mapbook(10, { currentPos: 0, currentStatus: '?', currentPass: 1, blocks: gap })).toThrow(/does not follow/);
  });

  it('splits a block in three and merges it back', () => {
    const book = new Mapbook(100);
    book.set(40, 20, '-');
    expect(triples(book.blocks())).toEqual([
      [0, 40, '?'],
      [40, 20, '-'],
      [60, 40, '?'],
    ]);
    expect(book.areaCount('?')).toBe(2);
    book.set(40, 20, '?');
    expect(triples(book.blocks())).toEqual([[0, 100, '?']]);
    expect(book.areaCount('?')).toBe(1);
    checkInvariants(book);
  });

  it('grows a finished area block by block, merging with its left neighbour', () => {
    const book = new Mapbook(100);
    for (let p = 0; p < 100; p += 10) {
      book.set(p, 10, '+');
      expect(triples(book.blocks())).toEqual(p + 10 < 100 ? [[0, p + 10, '+'], [p + 10, 90 - p, '?']] : [[0, 100, '+']]);
    }
    expect(book.isFinished()).toBe(true);
  });

  it('merges with both neighbours and replaces spans of many blocks', () => {
    const book = new Mapbook(100);
    book.set(0, 10, '+');
    book.set(20, 10, '+');
    book.set(10, 10, '+');
    expect(triples(book.blocks())).toEqual([
      [0, 30, '+'],
      [30, 70, '?'],
    ]);
    book.set(35, 5, '-');
    book.set(45, 5, '*');
    book.set(55, 5, '/');
    book.set(25, 50, '-');
    expect(triples(book.blocks())).toEqual([
      [0, 25, '+'],
      [25, 50, '-'],
      [75, 25, '?'],
    ]);
    checkInvariants(book);
  });

  it('clips set() to the drive and ignores empty ranges', () => {
    const book = new Mapbook(100);
    book.set(-10, 20, '+');
    book.set(90, 50, '-');
    book.set(50, 0, '*');
    book.set(200, 10, '*');
    book.set(-50, 10, '*');
    expect(triples(book.blocks())).toEqual([
      [0, 10, '+'],
      [10, 80, '?'],
      [90, 10, '-'],
    ]);
  });

  it('answers statusAt, and refuses positions outside the drive', () => {
    const book = new Mapbook(100);
    book.set(10, 10, '-');
    expect(book.statusAt(0)).toBe('?');
    expect(book.statusAt(10)).toBe('-');
    expect(book.statusAt(19)).toBe('-');
    expect(book.statusAt(20)).toBe('?');
    expect(book.statusAt(99)).toBe('?');
    expect(() => book.statusAt(100)).toThrow(RangeError);
    expect(() => book.statusAt(-1)).toThrow(RangeError);
  });

  describe('find', () => {
    // [0,10) +  [10,20) ?  [20,30) -  [30,40) ?  [40,50) +
    const book = new Mapbook(50);
    book.set(0, 10, '+');
    book.set(20, 10, '-');
    book.set(40, 10, '+');

    it('forward: the first listed block at or after pos, starting at pos when it contains it', () => {
      expect(book.find(0, ['?'], 'forward')).toEqual({ pos: 10, size: 10, status: '?' });
      expect(book.find(15, ['?'], 'forward')).toEqual({ pos: 15, size: 5, status: '?' });
      expect(book.find(20, ['?'], 'forward')).toEqual({ pos: 30, size: 10, status: '?' });
      expect(book.find(12, ['-', '+'], 'forward')).toEqual({ pos: 20, size: 10, status: '-' });
      expect(book.find(-5, ['+'], 'forward')).toEqual({ pos: 0, size: 10, status: '+' });
      expect(book.find(40, ['?'], 'forward')).toBeUndefined();
      expect(book.find(50, ['+'], 'forward')).toBeUndefined();
      expect(book.find(0, ['*'], 'forward')).toBeUndefined();
    });

    it('backward: the last listed block at or before pos, ending just after pos when it contains it', () => {
      expect(book.find(49, ['?'], 'backward')).toEqual({ pos: 30, size: 10, status: '?' });
      expect(book.find(35, ['?'], 'backward')).toEqual({ pos: 30, size: 6, status: '?' });
      expect(book.find(30, ['?'], 'backward')).toEqual({ pos: 30, size: 1, status: '?' });
      expect(book.find(29, ['?'], 'backward')).toEqual({ pos: 10, size: 10, status: '?' });
      expect(book.find(1000, ['+'], 'backward')).toEqual({ pos: 40, size: 10, status: '+' });
      expect(book.find(9, ['?'], 'backward')).toBeUndefined();
      expect(book.find(-1, ['+'], 'backward')).toBeUndefined();
    });

    it('walks every listed area in both directions', () => {
      const fwd: MapBlock[] = [];
      for (let b = book.find(0, ['?'], 'forward'); b; b = book.find(b.pos + b.size, ['?'], 'forward')) fwd.push(b);
      const back: MapBlock[] = [];
      for (let b = book.find(book.size - 1, ['?'], 'backward'); b; b = book.find(b.pos - 1, ['?'], 'backward')) back.push(b);
      expect(fwd).toEqual([
        { pos: 10, size: 10, status: '?' },
        { pos: 30, size: 10, status: '?' },
      ]);
      expect(back).toEqual([...fwd].reverse());
    });
  });

  it('lists extents and intersects with a domain map (ddrescue --domain-mapfile)', () => {
    const book = new Mapbook(100);
    book.set(0, 30, '+');
    book.set(50, 10, '-');
    // Domain: finished on [20,40) and [55,120) — longer than the drive.
    const domain = new Mapbook(120);
    domain.set(20, 20, '+');
    domain.set(55, 65, '+');
    expect(domain.extents(['+'])).toEqual([
      { offset: 20, length: 20 },
      { offset: 55, length: 65 },
    ]);
    expect(book.intersect(domain)).toEqual([
      { pos: 20, size: 10, status: '+' },
      { pos: 30, size: 10, status: '?' },
      { pos: 55, size: 5, status: '-' },
      { pos: 60, size: 40, status: '?' },
    ]);
    expect(book.intersect(domain, ['?'])).toEqual([
      { pos: 30, size: 10, status: '?' },
      { pos: 60, size: 40, status: '?' },
    ]);
    // A shorter domain: nothing past its end is in it.
    expect(book.intersect(new Mapbook(50), ['?'])).toEqual([]);
    const short = new Mapbook(50);
    short.set(0, 50, '+');
    expect(book.intersect(short, ['?'])).toEqual([{ pos: 30, size: 20, status: '?' }]);
  });

  it('keeps blocks, totals and area counts right under random changes (against a byte model)', () => {
    const size = 4096;
    const next = rng(42);
    const book = new Mapbook(size);
    const bytes: BlockStatus[] = new Array<BlockStatus>(size).fill('?');
    for (let round = 0; round < 2000; round++) {
      const pos = next(size + 64) - 32;
      const len = next(round % 10 === 0 ? 1024 : 48);
      const status = BLOCK_STATUSES[next(5)]!;
      book.set(pos, len, status);
      for (let p = Math.max(0, pos); p < Math.min(size, pos + len); p++) bytes[p] = status;
      if (round % 50 === 0) {
        checkInvariants(book);
        for (let p = 0; p < size; p += 7) expect(book.statusAt(p)).toBe(bytes[p]);
        const probe = next(size);
        const want = BLOCK_STATUSES.filter(() => next(2) === 1);
        let q = probe;
        while (q < size && !want.includes(bytes[q]!)) q++;
        const f = book.find(probe, want, 'forward');
        expect(f?.pos).toBe(q < size ? q : undefined);
        if (f) for (let p = f.pos; p < f.pos + f.size; p++) expect(bytes[p]).toBe(f.status);
        let r = probe;
        while (r >= 0 && !want.includes(bytes[r]!)) r--;
        const g = book.find(probe, want, 'backward');
        expect(g === undefined ? undefined : g.pos + g.size - 1).toBe(r >= 0 ? r : undefined);
      }
    }
    checkInvariants(book);
    expect(book.blocks().map((b) => b.status.repeat(b.size)).join('')).toBe(bytes.join(''));
  });

  it('builds, formats and parses a map of 1,000,000 blocks', () => {
    const n = 1_000_000;
    const sector = 512;
    const book = new Mapbook(n * sector);
    // Alternating statuses, one sector each: the worst case for a map's length.
    const cycle: BlockStatus[] = ['+', '-', '+', '/', '+', '*'];
    for (let i = 0; i < n; i++) book.set(i * sector, sector, cycle[i % cycle.length]!);
    expect(book.blocks().length).toBe(n);
    checkInvariants(book);

    const header = { commandLine: 'bench', version: 'test', startTime: new Date(0), currentTime: new Date(0), finished: false };
    const text = formatMap(book.toMap(), header);
    const map = parseMap(text, { path: 'big.map', deviceSize: n * sector });
    expect(map.blocks.length).toBe(n);
    const loaded = new Mapbook(n * sector, map);
    expect(loaded.totals()).toEqual(book.totals());
    // A plain loop: a deep toEqual over a million objects takes seconds.
    const a = loaded.blocks();
    const b = book.blocks();
    let differing = 0;
    for (let i = 0; i < n; i++) if (a[i]!.pos !== b[i]!.pos || a[i]!.size !== b[i]!.size || a[i]!.status !== b[i]!.status) differing++;
    expect(differing).toBe(0);
    expect(loaded.statusAt(777_777 * sector)).toBe(cycle[777_777 % cycle.length]);

    // Changing a block in the middle of a big map splits and merges correctly.
    loaded.set(500_001 * sector, sector, '+');
    expect(loaded.blocks().length).toBe(n - 2);
    expect(loaded.find(500_000 * sector, ['-', '/', '*'], 'forward')?.pos).toBe(500_003 * sector);
  });
});
