// The dashboard's parts without a screen: rates and honest ETAs, plain progress lines, the
// output capture, the log feed, map cells, and the rescue map snapshot sent across threads.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Tracker, eta, resample } from '../../dashboard/model.js';
import { PlainProgress } from '../../dashboard/plain.js';
import { captureOutput } from '../../dashboard/capture.js';
import { LogFeed } from '../../dashboard/logfeed.js';
import { cellStatuses, linearMap, mapCells, palette256, positionMark } from '../../dashboard/blockmap.js';
import { bar, fit, fitTable, middle, shortBytes, shortDuration, shortPath, shortRate, wrapText } from '../../dashboard/format.js';
import { Mapbook } from '../../src/rescue/mapbook.js';
import { mapSnapshot } from '../../src/rescue/snapshot.js';
import { FakeSource, cloneView } from '../helpers/fake-source.js';
import { runCli } from '../helpers/fixtures.js';

describe('rates and ETA', () => {
  it('MB/s now over a sliding window, the average over the pass, an ETA from the rate now', () => {
    const tr = new Tracker(3);
    const v = cloneView(1, { bytesTotal: 1000e6 });
    for (let t = 0; t <= 10; t++) tr.update([{ ...v, bytesDone: t * (t < 5 ? 10e6 : 50e6) - (t < 5 ? 0 : 200e6) }], t);
    const s = tr.stats({ ...v, bytesDone: 300e6 });
    expect(s.now).toBeCloseTo(50e6);
    expect(s.average).toBeCloseTo(30e6);
    expect(s.eta).toBe('0:14');
    expect(s.history.length).toBe(11); // a sample per update
    expect(tr.totalHistory().at(-1)).toBeCloseTo(50e6);
  });
  it('restarts the rates when a new pass starts from zero (copy, then verify)', () => {
    const tr = new Tracker(3);
    const v = cloneView(1, { bytesTotal: 100e6 });
    tr.update([{ ...v, bytesDone: 90e6 }], 0);
    tr.update([{ ...v, bytesDone: 100e6 }], 1);
    tr.update([{ ...v, pass: 'verify', state: 'verifying', bytesDone: 0 }], 2);
    tr.update([{ ...v, pass: 'verify', state: 'verifying', bytesDone: 20e6 }], 3);
    const s = tr.stats({ ...v, pass: 'verify', state: 'verifying', bytesDone: 20e6 });
    expect(s.now).toBeCloseTo(20e6);
    expect(s.percent).toBeCloseTo(20);
  });
  it('leaves time paused (and queued) out of the average, and starts the rate now again after a pause', () => {
    const tr = new Tracker(5);
    const v = cloneView(1, { bytesTotal: 10e9 });
    let t = 0;
    tr.update([{ ...v, state: 'queued', bytesDone: 0 }], t);
    for (t = 1; t <= 20; t++) tr.update([{ ...v, state: 'queued', bytesDone: 0 }], t);
    for (; t <= 30; t++) tr.update([{ ...v, bytesDone: (t - 20) * 100e6 }], t);
    for (; t <= 90; t++) tr.update([{ ...v, state: 'paused', bytesDone: 1000e6 }], t);
    expect(tr.stats({ ...v, state: 'paused', bytesDone: 1000e6 }).now).toBe(0);
    for (; t <= 95; t++) tr.update([{ ...v, bytesDone: 1000e6 + (t - 90) * 100e6 }], t);
    const s = tr.stats({ ...v, bytesDone: 1500e6 });
    // 1500 MB in 15 s of moving: 100 MB/s, not 1500 MB over 95 s
    expect(s.average).toBeCloseTo(100e6, -5);
    expect(s.now).toBeCloseTo(100e6, -5);
  });
  it('keeps the rates sampled at every update; a chart spans a short job, not three minutes', () => {
    const tr = new Tracker(1);
    const v = cloneView(1, { bytesTotal: 1e9 });
    let done = 0;
    for (let i = 0; i <= 12; i++) {
      done += (i < 6 ? 200e6 : 50e6) * 0.25;
      tr.update([{ ...v, bytesDone: done }], 100 + i * 0.25);
    }
    tr.update([{ ...v, state: 'done', pass: '-', bytesDone: done }], 103.25);
    expect(tr.timeline(1).t).toHaveLength(14);
    // long after, the span is still the job's 3 s
    expect(tr.span(500)).toEqual({ from: 100, to: 103.25 });
    const line = resample(tr.timeline(1), 100, 103.25, 14);
    expect(Math.max(...line)).toBeCloseTo(200e6, -6);
    expect(line.some((x) => x > 40e6 && x < 60e6)).toBe(true);
    expect(line.at(-1)).toBe(0);
  });
  it('is honest: no ETA with bad areas, none while paused or queued, none without a rate', () => {
    const v = cloneView(1, { bytesDone: 10, bytesTotal: 100 });
    expect(eta({ ...v, badAreas: true }, 1e9)).toBe('? bad areas');
    expect(eta({ ...v, state: 'paused' }, 1e9)).toBe('paused');
    expect(eta({ ...v, state: 'queued' }, 0)).toBe('queued');
    expect(eta(v, 0)).toBe('--:--');
    expect(eta({ ...v, state: 'done' }, 0)).toBe('-');
    expect(eta(v, 10)).toBe('0:09');
  });
  it('formats short figures for narrow columns', () => {
    expect(shortBytes(512)).toBe('512 B');
    expect(shortBytes(1.5 * 2 ** 20)).toBe('1.50 MiB');
    expect(shortBytes(931 * 2 ** 30)).toBe('931 GiB');
    expect(shortRate(2.5e9)).toBe('2500');
    expect(shortDuration(3725)).toBe('1:02:05');
    expect(fit('abcdef', 4)).toBe('abc…');
    expect(bar(0.5, 4)).toBe('██  ');
  });
  it('cuts paths in the middle, keeping the last name (a by-id name keeps its serial)', () => {
    const p = '/tmp/clonestation-demo-9WNxQz/master-copy-1.img';
    expect(shortPath(p, 100)).toBe(p);
    expect(shortPath(p, 30)).toBe('/tmp/clones…/master-copy-1.img');
    expect(shortPath(p, 30)).toHaveLength(30);
    expect(shortPath(p, 19)).toBe('…/master-copy-1.img');
    expect(shortPath(p, 12)).toBe('mast…y-1.img');
    const id = '/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K1234567';
    expect(shortPath(id, 24)).toMatch(/^ata-WDC\S*…\S*WCC7K1234567$/);
    expect(middle('abcdefghij', 5)).toBe('a…hij');
    expect(wrapText('written at 0.01 s, caught up', 12)).toEqual(['written at', '0.01 s,', 'caught up']);
  });
  it('fits a table to a width: paths cut in the middle, notes folded; without a width nothing is cut', () => {
    const rows = [
      ['JOB', 'SOURCE', 'STATE', 'NOTE'],
      ['1', '/a/long/folder/name/here/source-one.img', 'done', 'slow: left the stream at 4096, caught up'],
      ['2', '/a/long/folder/name/here/source-two.img', 'failed', 'write failed'],
    ];
    const whole = fitTable(rows, Number.POSITIVE_INFINITY, { paths: [1], wrap: [3] });
    expect(whole).toHaveLength(3);
    expect(whole[1]).toContain('/a/long/folder/name/here/source-one.img');
    const fitted = fitTable(rows, 60, { paths: [1], wrap: [3] });
    for (const l of fitted) expect(l.length).toBeLessThanOrEqual(60);
    expect(fitted.join('\n')).toMatch(/…\/source-one\.img/);
    expect(fitted.join('\n')).toMatch(/…\/source-two\.img/);
    expect(fitted.join(' ').replace(/\s+/g, ' ')).toContain('slow: left the stream at 4096, caught up');
  });
});

describe('plain progress without a terminal', () => {
  it('prints one line per running job every few seconds, none for ended or queued jobs', () => {
    const src = new FakeSource([cloneView(1, { bytesTotal: 100e6 }), cloneView(2, { state: 'done' }), cloneView(3, { state: 'queued' }), cloneView(4, { role: 'rescue', badAreas: true, bytesBad: 4096, errors: 2 })]);
    const out: string[] = [];
    let t = 0;
    const p = new PlainProgress(src, (l) => out.push(l), 5, () => t);
    expect(p.sample()).toHaveLength(0); // the first line comes after 5 s
    t = 1;
    src.set(1, { bytesDone: 10e6 });
    expect(p.sample()).toHaveLength(0);
    t = 5;
    src.set(1, { bytesDone: 50e6 });
    const lines = p.sample();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^job 1 running copy {2}50\.0% {2}47\.7 MiB of 95\.4 MiB {2}10\.0 MB\/s now, 10\.0 avg {2}ETA 0:05$/);
    expect(lines[1]).toMatch(/^job 4 running copy .* ETA \? bad areas {2}bad 4\.00 KiB, 2 error\(s\)$/);
    expect(out).toHaveLength(2);
  });
});

describe('nothing else writes to the terminal while the dashboard owns it', () => {
  it('captures console.*, stray stdout/stderr writes and process warnings; blessed still reaches the terminal', async () => {
    const got: string[] = [];
    const terminal: string[] = [];
    const fakeOut = { write: (c: string) => (terminal.push(String(c)), true), isTTY: true, columns: 80, rows: 24, on: () => fakeOut, removeListener: () => fakeOut } as unknown as NodeJS.WriteStream;
    const fakeErr = { write: (c: string) => (terminal.push(`ERR ${String(c)}`), true) } as unknown as NodeJS.WriteStream;
    const cap = captureOutput((l, level) => got.push(`${level}: ${l}`), fakeOut, fakeErr);
    try {
      console.log('hello %d', 42);
      console.error('oops');
      console.warn('careful');
      fakeOut.write('stray\x1b[1m bold\x1b[0m\n');
      fakeErr.write('from a library\n');
      process.emitWarning('something deprecated');
      await new Promise((r) => setImmediate(r));
      cap.output.write('drawn by blessed');
    } finally {
      cap.restore();
    }
    expect(got).toEqual(['info: hello 42', 'error: oops', 'warn: careful', 'info: stray bold', 'error: from a library', 'warn: Warning: something deprecated']);
    expect(terminal).toEqual(['drawn by blessed']);
    // restored
    fakeOut.write('after');
    expect(terminal).toEqual(['drawn by blessed', 'after']);
    expect(process.listeners('warning').length).toBeGreaterThanOrEqual(0);
  });
});

describe('log feed', () => {
  it('takes pino JSON lines and plain lines, keeping the last ones', () => {
    const feed = new LogFeed(3);
    const log = pino({ base: { run: 'x' } }, feed);
    log.info({ job: 2, state: 'paused' }, 'job state');
    log.warn({ job: 1, code: 'WRITE_FAILED' }, 'target failed');
    feed.add('a note');
    feed.add('another\nand more', 'error');
    expect(feed.lines.map((l) => [l.level, l.text])).toEqual([
      ['info', 'a note'],
      ['error', 'another'],
      ['error', 'and more'],
    ]);
    const f2 = new LogFeed();
    pino({ base: {} }, f2).warn({ job: 1, code: 'WRITE_FAILED' }, 'target failed');
    expect(f2.lines[0]).toMatchObject({ level: 'warn', text: 'target failed job=1 code=WRITE_FAILED' });
  });
});

describe('block map cells', () => {
  it('each cell is the worst status in its slice', () => {
    const map = { size: 100, extents: [{ pos: 0, size: 49, status: '+' as const }, { pos: 49, size: 1, status: '-' as const }, { pos: 50, size: 50, status: '?' as const }], current: { pos: 0, status: '?', pass: 1 } };
    expect(cellStatuses(map, 4)).toEqual(['+', '-', '?', '?']);
    expect(cellStatuses(map, 200).filter((s) => s === '-')).toHaveLength(2);
  });
  it('packs two squares per character: upper as foreground, lower as background; marks the position', () => {
    const map = linearMap(50, 100, false);
    const cells = mapCells(map, 5, 2, 256);
    // squares 0-9 finished, 10-19 non-tried; rows of 5: char row 0 = squares 0-4 over 5-9
    expect(cells[0][0]).toEqual({ ch: '▀', fg: palette256['+'], bg: palette256['+'] });
    expect(cells[1][4]).toEqual({ ch: '▀', fg: palette256['?'], bg: palette256['?'] });
    expect(cells[1][0]).toMatchObject({ ch: positionMark, bg: palette256['?'] });
    expect(mapCells(linearMap(100, 100, true), 5, 2, 256).flat().some((c) => c.ch === positionMark)).toBe(false);
  });
});

describe('rescue map snapshots for the dashboard', () => {
  it('sends the blocks as they are when there are few', () => {
    const book = new Mapbook(1 << 20);
    book.set(0, 4096, '+');
    book.set(8192, 512, '-');
    const s = mapSnapshot(book);
    expect(s.extents).toEqual(book.blocks().map((b) => ({ ...b })));
    expect(s.totals['-']).toBe(512);
    expect(s.errorAreas).toBe(1);
  });
  it('compacts a map of many blocks to at most maxExtents, keeping the worst status of each slice and exact totals', () => {
    const size = 1 << 30;
    const book = new Mapbook(size);
    for (let i = 0; i < 20000; i++) book.set(i * 40960, 512, i % 2 ? '-' : '*');
    const s = mapSnapshot(book, 1000);
    expect(s.extents.length).toBeLessThanOrEqual(1000);
    expect(s.extents[0]).toMatchObject({ pos: 0, status: '-' });
    let end = 0;
    for (const e of s.extents) {
      expect(e.pos).toBe(end);
      end = e.pos + e.size;
    }
    expect(end).toBe(size);
    expect(s.totals['-']).toBe(10000 * 512);
    expect(s.errorAreas).toBe(20000);
    expect(s.extents.at(-1)?.status).toBe('?');
  });
});

describe('the CLI: --ui / --no-ui', () => {
  it('refuses --ui without a terminal, --ui with --json, and --ui with --no-ui (exit 2, nothing run)', () => {
    for (const args of [['demo', '--ui'], ['demo', '--ui', '--json'], ['demo', '--ui', '--no-ui']]) {
      const r = runCli(args);
      expect(r.status, r.stderr).toBe(2);
      // (with --json the error is a JSON event on stdout)
      expect(r.stderr + r.stdout).toMatch(/--ui (and|needs)/);
      expect(r.stderr + r.stdout).toMatch(/\[USAGE\]|"code":"USAGE"/);
    }
  });
  it('prints a plain progress line per running job every few seconds without a terminal, then the summary', () => {
    // 8 MiB at 1 MiB/s: the master's copy and verify take long enough for a line or two
    const r = runCli(['demo', '--size', '8MiB', '--throttle', '1MiB']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^job 1 (running copy|verifying verify) +\d+\.\d% +[\d.]+ MiB of 8\.00 MiB +[\d.]+ MB\/s now, [\d.]+ avg +ETA \S+$/m);
    expect(r.stderr).toMatch(/^JOB +SOURCE +TARGET +STATE/m);
    expect(r.stderr).toMatch(/station: 3 of 3 job\(s\) done/);
  });
});
