// Our mapfiles against the real GNU ddrescue and ddrescuelog: maps ddrescue writes parse
// and re-format byte for byte (but for the "Created by" line), and the tools accept the
// maps we write, agree with our totals, and honour our finished blocks. No root needed:
// plain files only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Mapbook } from '../../src/rescue/mapbook.js';
import { formatMap, loadMap, parseMap, saveMap, type BlockStatus, type MapHeader } from '../../src/rescue/mapfile.js';

const SECTOR = 512;

function run(cmd: string, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const hasDdrescue = ['ddrescue', 'ddrescuelog'].every((t) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0);

/** A local-time Date from ddrescue's "YYYY-MM-DD HH:MM:SS". */
function localTime(s: string): Date {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(s);
  if (!m) throw new Error(`not a ddrescue time: ${s}`);
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return new Date(y, mo - 1, d, h, mi, se);
}

/** The header ddrescue wrote, read back from its comment lines, so we can reproduce the file. */
function headerOf(text: string): MapHeader {
  const lines = text.split('\n');
  const after = (prefix: string): string => {
    const line = lines.find((l) => l.startsWith(prefix));
    if (line === undefined) throw new Error(`no "${prefix}" line in:\n${text}`);
    return line.slice(prefix.length);
  };
  const fifth = lines[4] ?? '';
  const finished = fifth === '# Finished';
  return {
    commandLine: after('# Command line: '),
    version: '1.27',
    startTime: localTime(after('# Start time:   ')),
    currentTime: localTime(after('# Current time: ')),
    finished,
    ...(finished || fifth.startsWith('# current_pos') ? {} : { progress: fifth.slice(2) }),
  };
}

/** ddrescuelog -t's byte count and area count for one status (maps kept under 1 MB, so plain bytes). */
function shown(status: string, label: string): { bytes: number; areas: number } {
  const m = new RegExp(`${label}:\\s+(\\d+) B,\\s+in\\s+(\\d+) area`).exec(status);
  if (!m) throw new Error(`no plain-byte "${label}" line in ddrescuelog -t output:\n${status}`);
  return { bytes: Number(m[1]), areas: Number(m[2]) };
}

// No skip when GNU ddrescue is missing: scripts/system-deps.sh and .ci/run install it, and
// compatibility with it is the point of these tests, so its absence is a failure.
describe('mapfile against GNU ddrescue', () => {
  let dir = '';
  // 1 MiB of random data; the test map makes ddrescue see read errors on 3 stretches.
  const size = 1024 * 1024;
  const testMap = [
    '0 +',
    '0 0x10000 +',
    '0x10000 0x2000 -',
    '0x12000 0x10000 +',
    '0x22000 0x1000 -',
    '0x23000 0x80000 +',
    '0xA3000 0x200 -',
    '0xA3200 0x5CE00 +',
    '',
  ].join('\n');

  beforeAll(() => {
    if (!hasDdrescue) throw new Error('GNU ddrescue/ddrescuelog are not installed: run scripts/system-deps.sh as root (apt-get install gddrescue)');
    dir = mkdtempSync(join(tmpdir(), 'cs-ddrescue-'));
    writeFileSync(join(dir, 'src.img'), randomFillSync(Buffer.alloc(size)));
    writeFileSync(join(dir, 'bad.map'), testMap);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('maps ddrescue wrote', () => {
    it.each([
      ['a full rescue (trim and scrape)', [], ['+', '-']],
      ['a rescue without scraping', ['-n'], ['+', '-', '/']],
      ['a rescue stopped after one read error', ['-X1'], ['+', '*', '?']],
    ])('%s: parse, and re-format byte for byte but for the "Created by" line', (name, opts, statuses) => {
      const map = join(dir, `${name.replace(/\W+/g, '-')}.map`);
      const r = run('ddrescue', ['-b512', '-H', 'bad.map', ...opts, 'src.img', `${map}.img`, map], dir);
      expect(r.status === 0 || opts.includes('-X1'), r.stderr).toBe(true);
      const theirs = readFileSync(map, 'utf8');

      const parsed = parseMap(theirs, { path: map, deviceSize: size });
      expect(new Set(parsed.blocks.map((b) => b.status))).toEqual(new Set(statuses));
      if (opts.includes('-X1')) expect(headerOf(theirs)).toMatchObject({ finished: false, progress: expect.stringMatching(/^Copying non-tried blocks/) });
      const ours = formatMap(parsed, headerOf(theirs));
      expect(ours.split('\n').slice(1)).toEqual(theirs.split('\n').slice(1));
      expect(ours.split('\n')[0]).toBe('# Mapfile. Created by clonestation version 1.27');
      expect(parseMap(ours, { path: map })).toEqual(parsed);

      // And ddrescuelog sees no difference between them.
      writeFileSync(`${map}.ours`, ours);
      const cmp = run('ddrescuelog', ['-p', `${map}.ours`, map], dir);
      expect(cmp.status, cmp.stderr).toBe(0);
    });

    it('a full rescue rebuilds the bad sectors of the test map', () => {
      const map = join(dir, 'rebuild.map');
      expect(run('ddrescue', ['-b512', '-H', 'bad.map', 'src.img', 'rebuild.img', map], dir).status).toBe(0);
      const book = new Mapbook(size, parseMap(readFileSync(map, 'utf8'), { path: map, deviceSize: size }));
      expect(book.extents(['-'])).toEqual([
        { offset: 0x10000, length: 0x2000 },
        { offset: 0x22000, length: 0x1000 },
        { offset: 0xa3000, length: 0x200 },
      ]);
      expect(book.current.status).toBe('+');
    });
  });

  describe('maps we write', () => {
    // 960 sectors: every total stays under 1 MB, where ddrescuelog -t prints plain bytes.
    const small = 960 * SECTOR;
    const badSectors = [3, 4, 5, 100, 511, 700, 701];
    const book = new Mapbook(small);
    book.set(0, 400 * SECTOR, '+');
    for (const s of badSectors) book.set(s * SECTOR, SECTOR, '-');
    book.set(520 * SECTOR, 30 * SECTOR, '*');
    book.set(600 * SECTOR, 50 * SECTOR, '/');
    book.set(900 * SECTOR, 60 * SECTOR, '+');
    book.current = { pos: 640 * SECTOR, status: '/', pass: 1 };
    const header: MapHeader = {
      commandLine: 'clonestation rescue src.img dst.img ours.map',
      version: '0.1.0',
      startTime: new Date(),
      currentTime: new Date(),
      finished: false,
      progress: 'Scraping failed blocks...',
    };

    it('ddrescuelog -t accepts them and reports our totals and area counts', async () => {
      const path = join(dir, 'ours.map');
      await saveMap(path, book.toMap(), header);
      const r = run('ddrescuelog', ['-t', path], dir);
      expect(r.status, r.stderr).toBe(0);
      const labels: [BlockStatus, string][] = [
        ['?', 'non-tried'],
        ['+', 'rescued'],
        ['*', 'non-trimmed'],
        ['/', 'non-scraped'],
        ['-', 'bad-sector'],
      ];
      const totals = book.totals();
      for (const [status, label] of labels) {
        expect(shown(r.stdout, label), label).toEqual({ bytes: totals[status], areas: book.areaCount(status) });
      }
      expect(r.stdout).toMatch(/current pos:\s+327680 B,\s+current status: scraping/);
    });

    it('ddrescuelog --list-blocks lists the bad sectors we put there', async () => {
      const path = join(dir, 'ours.map');
      await saveMap(path, book.toMap(), header);
      const r = run('ddrescuelog', ['--list-blocks=-', '-b512', path], dir);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n').map(Number)).toEqual(badSectors);
    });

    it("we read ddrescuelog's annotated copy of our map (ddrescuelog -A)", async () => {
      const path = join(dir, 'ours.map');
      await saveMap(path, book.toMap(), header);
      const r = run('ddrescuelog', ['-A', path], dir);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/\t# /);
      expect(parseMap(r.stdout, { path: 'annotated' })).toEqual(book.toMap());
    });

    it('ddrescuelog -D says whether our map is finished', async () => {
      const path = join(dir, 'done.map');
      const done = new Mapbook(small);
      done.set(0, small, '+');
      done.current = { pos: small, status: '+', pass: 1 };
      await saveMap(path, done.toMap(), { ...header, finished: true });
      expect(run('ddrescuelog', ['-D', path], dir).status).toBe(0);
      await saveMap(path, book.toMap(), header);
      expect(run('ddrescuelog', ['-D', path], dir).status).not.toBe(0);
    });

    it('ddrescue resumes from our map: it skips our finished blocks and reaches the same result', async () => {
      // We "rescued" [0, 256 KiB) ourselves, marking the copy so a re-read would show.
      const half = 256 * 1024;
      const dst = Buffer.alloc(size, 0xee);
      writeFileSync(join(dir, 'resume.img'), dst);
      const path = join(dir, 'resume.map');
      const mine = new Mapbook(size);
      mine.set(0, half, '+');
      mine.current = { pos: half, status: '?', pass: 1 };
      await saveMap(path, mine.toMap(), header);

      const r = run('ddrescue', ['-b512', '-H', 'bad.map', 'src.img', 'resume.img', path], dir);
      expect(r.status, r.stderr).toBe(0);
      const out = readFileSync(join(dir, 'resume.img'));
      expect(out.subarray(0, half).every((b) => b === 0xee)).toBe(true);
      const src = readFileSync(join(dir, 'src.img'));
      // What it did read, it copied: the good stretch after our half.
      expect(out.subarray(half, 0xa3000).equals(src.subarray(half, 0xa3000))).toBe(true);

      // ddrescue's map now: our finished half (whose test-map errors it never met), then
      // its own reads, with the one bad stretch past our half.
      const after = await loadMap(path, size);
      const book2 = new Mapbook(size, after);
      expect(book2.extents(['-'])).toEqual([{ offset: 0xa3000, length: 0x200 }]);
      expect(book2.totals()['?']).toBe(0);
    });
  });
});
