import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { CloneStationError, ExitStatus } from '../../src/errors.js';
import {
  encodeMap,
  formatMap,
  loadMap,
  parseCNumber,
  parseMap,
  saveMap,
  saveMapSync,
  checkMapPath,
  type MapHeader,
  type RescueMap,
} from '../../src/rescue/mapfile.js';

const P = '/maps/disk.map';
const header: MapHeader = {
  commandLine: 'clonestation rescue /dev/sdb /dev/sdc disk.map',
  version: '0.1.0',
  startTime: new Date(2026, 10, 23, 22, 40, 37),
  currentTime: new Date(2026, 10, 23, 23, 5, 9),
  finished: false,
};

/** The CloneStationError parseMap throws, for checking its code, exit status and message. */
function parseError(text: string, deviceSize?: number): CloneStationError {
  try {
    parseMap(text, deviceSize === undefined ? { path: P } : { path: P, deviceSize });
  } catch (e) {
    if (e instanceof CloneStationError) return e;
    throw e;
  }
  throw new Error('parseMap accepted a malformed map');
}

describe('parseCNumber reads C integer syntax like ddrescue', () => {
  it.each([
    ['0', 0],
    ['0x0', 0],
    ['0x1F', 31],
    ['0X1f', 31],
    ['010', 8],
    ['0777', 511],
    ['123', 123],
    ['0x1FFFFFFFFFFFFF', Number.MAX_SAFE_INTEGER],
  ])('%s = %d', (token, n) => expect(parseCNumber(token)).toBe(n));

  it.each(['', 'x', '0x', '09', '1k', '-1', '+1', '1.5', '0x20000000000000', '99999999999999999999'])('refuses %j', (token) => {
    expect(parseCNumber(token)).toBeUndefined();
  });
});

describe('parseMap', () => {
  it('reads a map ddrescue wrote', () => {
    const text = [
      '# Mapfile. Created by GNU ddrescue version 1.27',
      '# Command line: ddrescue -b512 -H bad2.map -n src.img d9.img m4',
      '# Start time:   2026-11-23 22:40:37',
      '# Current time: 2026-11-23 22:40:37',
      '# Finished',
      '# current_pos  current_status  current_pass',
      '0x00023000     +               1',
      '#      pos        size  status',
      '0x00000000  0x00010000  +',
      '0x00010000  0x00000200  -',
      '0x00010200  0x00012C00  /',
      '0x00022E00  0x00000200  -',
      '0x00023000  0x000DD000  +',
      '',
    ].join('\n');
    expect(parseMap(text, { path: P })).toEqual({
      currentPos: 0x23000,
      currentStatus: '+',
      currentPass: 1,
      blocks: [
        { pos: 0, size: 0x10000, status: '+' },
        { pos: 0x10000, size: 0x200, status: '-' },
        { pos: 0x10200, size: 0x12c00, status: '/' },
        { pos: 0x22e00, size: 0x200, status: '-' },
        { pos: 0x23000, size: 0xdd000, status: '+' },
      ],
    });
  });

  it('reads the old format without current_pass as pass 1', () => {
    const m = parseMap('# old ddrescue\n0x200 *\n0 0x200 +\n0x200 0x200 *\n', { path: P });
    expect(m.currentPos).toBe(0x200);
    expect(m.currentStatus).toBe('*');
    expect(m.currentPass).toBe(1);
    expect(m.blocks).toHaveLength(2);
  });

  it('reads every status and C-syntax numbers, tabs, CRLF, blank lines and trailing comments', () => {
    const text = '  # indented comment\r\n\n0x10\tG\t3\r\n0 010 ?\r\n8 0X8 *\n\t16 0x10 / # ddrescuelog -A annotation\n32 32 -\n   \n64 0100 +\n';
    const m = parseMap(text, { path: P });
    expect(m.currentStatus).toBe('G');
    expect(m.currentPass).toBe(3);
    expect(m.blocks.map((b) => [b.pos, b.size, b.status])).toEqual([
      [0, 8, '?'],
      [8, 8, '*'],
      [16, 16, '/'],
      [32, 32, '-'],
      [64, 64, '+'],
    ]);
  });

  it('merges adjacent blocks with the same status', () => {
    const m = parseMap('0 ?\n0 0x100 +\n0x100 0x100 +\n0x200 0x100 -\n0x300 0x100 -\n0x400 0x100 +\n', { path: P });
    expect(m.blocks).toEqual([
      { pos: 0, size: 0x200, status: '+' },
      { pos: 0x200, size: 0x200, status: '-' },
      { pos: 0x400, size: 0x100, status: '+' },
    ]);
  });

  it("extends a short map to the drive's end with non-tried space, as ddrescue does", () => {
    expect(parseMap('0 +\n0 0x100 +\n', { path: P, deviceSize: 0x1000 }).blocks).toEqual([
      { pos: 0, size: 0x100, status: '+' },
      { pos: 0x100, size: 0xf00, status: '?' },
    ]);
    // A trailing non-tried block just grows.
    expect(parseMap('0 +\n0 0x100 +\n0x100 0x100 ?\n', { path: P, deviceSize: 0x1000 }).blocks).toEqual([
      { pos: 0, size: 0x100, status: '+' },
      { pos: 0x100, size: 0xf00, status: '?' },
    ]);
  });

  it('starts fresh from an empty map, or one with only a status line', () => {
    const fresh: RescueMap = { currentPos: 0, currentStatus: '?', currentPass: 1, blocks: [{ pos: 0, size: 4096, status: '?' }] };
    expect(parseMap('', { path: P, deviceSize: 4096 })).toEqual(fresh);
    expect(parseMap('# only comments\n\n', { path: P, deviceSize: 4096 })).toEqual(fresh);
    expect(parseMap('', { path: P })).toEqual({ ...fresh, blocks: [] });
    expect(parseMap('0x10 - 4\n', { path: P, deviceSize: 4096 })).toEqual({ ...fresh, currentPos: 16, currentStatus: '-', currentPass: 4 });
  });

  it('accepts a map exactly as large as the drive', () => {
    expect(parseMap('0 +\n0 0x1000 +\n', { path: P, deviceSize: 0x1000 }).blocks).toHaveLength(1);
  });

  describe('refuses malformed maps with BAD_MAP (exit 2), naming the file and line', () => {
    it.each([
      ['an overlap', '0 +\n0 0x200 +\n0x100 0x100 -\n', 3, /overlaps the previous block, which ends at 0x00000200/],
      ['a gap', '0 +\n0 0x100 +\n0x200 0x100 -\n', 3, /leaves a gap after the previous block, which ends at 0x00000100/],
      ['an unknown block status', '0 +\n# c\n0 0x100 x\n', 3, /unknown block status "x"/],
      ['an unknown pass status', '0 X 1\n0 0x100 +\n', 1, /unknown current_status "X"/],
      ['a first block not at 0', '0 +\n0x100 0x100 +\n', 2, /first block starts at 0x00000100, not at 0/],
      ['a zero size', '0 +\n0 0x100 +\n0x100 0 -\n', 3, /block size must be more than 0/],
      ['a non-number', '0 +\n0 0x100 +\n0x100 1k -\n', 3, /size "1k" is not a number/],
      ['a bad octal number', '0 +\n0 09 +\n', 2, /size "09" is not a number/],
      ['a negative number', '0 +\n0 -0x100 +\n', 2, /size "-0x100" is not a number/],
      ['a number past 2^53', '0 +\n0 0x20000000000000 +\n', 2, /is not a number/],
      ['a short block line', '0 +\n0 0x100\n', 2, /expected a block line "pos size status"/],
      ['extra fields', '0 +\n0 0x100 + 5\n', 2, /expected a block line/],
      ['garbage', 'hello world\n', 1, /current_pos "hello" is not a number/],
      ['binary garbage', '\u0000\u0001\u0002PK\u0003\u0004', 1, /expected the status line/],
      ['a pass of 0', '0 + 0\n0 0x100 +\n', 1, /current_pass must be 1 or more/],
      ['a lone status field', '0x100\n', 1, /expected the status line/],
    ])('%s', (_name, text, line, why) => {
      const e = parseError(text);
      expect(e.code).toBe('BAD_MAP');
      expect(e.exitStatus).toBe(ExitStatus.usage);
      expect(e.exitStatus).toBe(2);
      expect(e.message).toContain(`map ${P} line ${line}: `);
      expect(e.message).toMatch(why);
      expect(e.message).toMatch(/— fix that line .* or pass the right map$/);
      expect(e.message).not.toContain('\n');
      expect(e.details).toMatchObject({ path: P, line });
    });
  });

  it('refuses a map that reaches past the drive with MAP_LARGER_THAN_DRIVE (exit 2)', () => {
    const e = parseError('0 +\n0 0x800 +\n0x800 0x800 -\n0x1000 0x1000 ?\n', 0x1000);
    expect(e.code).toBe('MAP_LARGER_THAN_DRIVE');
    expect(e.exitStatus).toBe(2);
    expect(e.message).toBe(
      `map ${P} covers 8192 bytes (line 4) but the drive has 4096: it belongs to another (larger) drive — pass the right map or drive`,
    );
    expect(e.details).toMatchObject({ path: P, line: 4, mapSize: 8192, deviceSize: 4096 });
  });
});

describe('formatMap', () => {
  const map: RescueMap = {
    currentPos: 0x11c00,
    currentStatus: '+',
    currentPass: 1,
    blocks: [
      { pos: 0, size: 0x10000, status: '+' },
      { pos: 0x10000, size: 0x2000, status: '-' },
      { pos: 0x12000, size: 0xee000, status: '+' },
    ],
  };

  it("writes ddrescue 1.27's exact layout", () => {
    expect(formatMap(map, { ...header, finished: true })).toBe(
      [
        '# Mapfile. Created by clonestation version 0.1.0',
        '# Command line: clonestation rescue /dev/sdb /dev/sdc disk.map',
        '# Start time:   2026-11-23 22:40:37',
        '# Current time: 2026-11-23 23:05:09',
        '# Finished',
        '# current_pos  current_status  current_pass',
        '0x00011C00     +               1',
        '#      pos        size  status',
        '0x00000000  0x00010000  +',
        '0x00010000  0x00002000  -',
        '0x00012000  0x000EE000  +',
        '',
      ].join('\n'),
    );
  });

  it('writes the progress comment instead of "# Finished" while unfinished', () => {
    const text = formatMap(map, { ...header, progress: 'Copying non-tried blocks... Pass 2 (backwards)' });
    expect(text).not.toContain('# Finished');
    expect(text.split('\n')[4]).toBe('# Copying non-tried blocks... Pass 2 (backwards)');
    expect(formatMap(map, header).split('\n')[4]).toBe('# current_pos  current_status  current_pass');
  });

  it('widens numbers past 8 hex digits like %08llX, keeping the columns', () => {
    const big: RescueMap = {
      currentPos: 0x200000000,
      currentStatus: '*',
      currentPass: 7,
      blocks: [
        { pos: 0, size: 0x100000000, status: '+' },
        { pos: 0x100000000, size: 0x1000, status: '-' },
      ],
    };
    const lines = formatMap(big, header).split('\n');
    expect(lines.slice(5)).toEqual(['0x200000000     *               7', '#      pos        size  status', '0x00000000  0x100000000  +', '0x100000000  0x00001000  -', '']);
  });

  it('keeps header values on one line so they cannot inject data lines', () => {
    const text = formatMap(map, { ...header, commandLine: 'a\n0 0x10 -\nb' });
    expect(text).toContain('# Command line: a 0 0x10 - b\n');
    expect(parseMap(text, { path: P })).toEqual(map);
  });

  it('refuses to write a broken map (a bug must not reach the disk)', () => {
    const broken = (blocks: RescueMap['blocks']): RescueMap => ({ ...map, blocks });
    for (const blocks of [
      [{ pos: 0, size: 0x100, status: '+' as const }, { pos: 0x200, size: 0x100, status: '-' as const }],
      [{ pos: 0x100, size: 0x100, status: '+' as const }],
      [{ pos: 0, size: 0, status: '+' as const }],
      [{ pos: 0, size: Number.NaN, status: '+' as const }],
    ]) {
      expect(() => formatMap(broken(blocks), header)).toThrow(expect.objectContaining({ code: 'INTERNAL', exitStatus: 3 }));
    }
    for (const bad of [{ currentPos: -1 }, { currentPass: 0 }, { currentPass: 1.5 }, { currentStatus: 'x' as '?' }]) {
      expect(() => formatMap({ ...map, ...bad }, header)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    }
    expect(encodeMap(map, header).toString('utf8')).toBe(formatMap(map, header));
  });

  it('writes an empty map as the header and status line only', () => {
    const text = formatMap({ currentPos: 0, currentStatus: '?', currentPass: 1, blocks: [] }, header);
    expect(text.endsWith('0x00000000     ?               1\n#      pos        size  status\n')).toBe(true);
  });

  it('round-trips through parseMap', () => {
    for (const m of [map, { ...map, currentStatus: 'F' as const, currentPass: 12, currentPos: 0 }]) {
      expect(parseMap(formatMap(m, header), { path: P, deviceSize: 0x100000 })).toEqual(m);
    }
  });
});

describe('saveMap and loadMap', () => {
  const withDir = async (fn: (dir: string) => Promise<void>): Promise<void> => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-mapfile-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const map: RescueMap = {
    currentPos: 0x200,
    currentStatus: '*',
    currentPass: 2,
    blocks: [
      { pos: 0, size: 0x200, status: '+' },
      { pos: 0x200, size: 0x600, status: '*' },
    ],
  };

  it('returns undefined for a missing map (a fresh rescue)', async () => {
    await withDir(async (dir) => {
      expect(await loadMap(join(dir, 'none.map'), 4096)).toBeUndefined();
    });
  });

  it('saves (async and sync) and loads back, leaving no .tmp file', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'disk.map');
      await saveMap(path, map, header);
      expect(readFileSync(path, 'utf8')).toBe(formatMap(map, header));
      expect(await loadMap(path, 0x800)).toEqual(map);
      const next = { ...map, currentPass: 3 };
      saveMapSync(path, next, header);
      expect(await loadMap(path, 0x800)).toEqual(next);
      expect(await loadMap(path, 0x1000)).toEqual({ ...next, blocks: [...next.blocks, { pos: 0x800, size: 0x800, status: '?' }] });
      expect(readdirSync(dir)).toEqual(['disk.map']);
    });
  });

  it('replaces the file a symlinked map points to, keeping the link', async () => {
    await withDir(async (dir) => {
      mkdirSync(join(dir, 'real'));
      const real = join(dir, 'real', 'disk.map');
      writeFileSync(real, '0 ?\n0 0x800 ?\n');
      const link = join(dir, 'link.map');
      symlinkSync(real, link);
      await saveMap(link, map, header);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(await loadMap(real)).toEqual(map);
      saveMapSync(link, { ...map, currentPass: 9 }, header);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect((await loadMap(real))?.currentPass).toBe(9);
    });
  });

  it('reports a failed save as MAP_SAVE_FAILED (exit 1) and keeps the old map', async () => {
    await withDir(async (dir) => {
      const path = join(dir, 'no-such-folder', 'disk.map');
      await expect(saveMap(path, map, header)).rejects.toMatchObject({ code: 'MAP_SAVE_FAILED', exitStatus: 1 });
      expect(() => saveMapSync(path, map, header)).toThrow(expect.objectContaining({ code: 'MAP_SAVE_FAILED' }));
      expect(existsSync(path)).toBe(false);
    });
  });

  it('refuses a folder, or a malformed map, with BAD_MAP', async () => {
    await withDir(async (dir) => {
      await expect(loadMap(dir)).rejects.toMatchObject({ code: 'BAD_MAP', exitStatus: 2 });
      const path = join(dir, 'bad.map');
      writeFileSync(path, '0 +\n0 0x100 +\n0x80 0x100 -\n');
      await expect(loadMap(path)).rejects.toMatchObject({ code: 'BAD_MAP', message: expect.stringContaining(`map ${path} line 3: `) });
      await expect(loadMap(path.replace('bad', 'short'))).resolves.toBeUndefined();
      // An image passed by mistake: refused before it is read into memory (sparse, so cheap).
      const image = join(dir, 'disk.img');
      writeFileSync(image, '');
      truncateSync(image, 300 * 1024 * 1024);
      await expect(loadMap(image)).rejects.toMatchObject({ code: 'BAD_MAP', message: expect.stringContaining('too large to be a mapfile') });
    });
  });

  it('refuses a FIFO as a map without waiting for a writer, and never saves over one', async () => {
    await withDir(async (dir) => {
      const fifo = join(dir, 'pipe.map');
      execFileSync('mkfifo', [fifo]);
      await expect(loadMap(fifo)).rejects.toMatchObject({ code: 'BAD_MAP', exitStatus: 2, message: expect.stringContaining('FIFO') });
      await expect(saveMap(fifo, map, header)).rejects.toMatchObject({ code: 'BAD_MAP' });
      expect(() => saveMapSync(fifo, map, header)).toThrow(expect.objectContaining({ code: 'BAD_MAP' }));
      expect(() => checkMapPath(fifo)).toThrow(expect.objectContaining({ code: 'BAD_MAP' }));
      expect(lstatSync(fifo).isFIFO()).toBe(true);
      expect(readdirSync(dir)).toEqual(['pipe.map']);
    });
  });

  it('saves over a folder never, and a .tmp left as a FIFO fails at once (MAP_SAVE_FAILED), the map kept', async () => {
    await withDir(async (dir) => {
      mkdirSync(join(dir, 'folder.map'));
      expect(() => saveMapSync(join(dir, 'folder.map'), map, header)).toThrow(expect.objectContaining({ code: 'BAD_MAP' }));
      const path = join(dir, 'disk.map');
      saveMapSync(path, map, header);
      execFileSync('mkfifo', [`${path}.tmp`]);
      expect(() => saveMapSync(path, { ...map, currentPass: 7 }, header)).toThrow(expect.objectContaining({ code: 'MAP_SAVE_FAILED' }));
      expect((await loadMap(path))?.currentPass).toBe(2);
      // the failed save removed its own temporary name; the same with the async save
      expect(existsSync(`${path}.tmp`)).toBe(false);
      execFileSync('mkfifo', [`${path}.tmp`]);
      await expect(saveMap(path, { ...map, currentPass: 7 }, header)).rejects.toMatchObject({ code: 'MAP_SAVE_FAILED' });
      expect((await loadMap(path))?.currentPass).toBe(2);
      // and the next save works
      saveMapSync(path, { ...map, currentPass: 8 }, header);
      expect((await loadMap(path))?.currentPass).toBe(8);
      expect(lstatSync(join(dir, 'folder.map')).isDirectory()).toBe(true);
    });
  });
});
