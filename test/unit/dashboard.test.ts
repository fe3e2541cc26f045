// The dashboard on a fake terminal: what it draws for given progress snapshots, in the rich
// and the compact layout, the block map's cells and colours, and what its keys do.
import { afterEach, describe, expect, it } from 'vitest';
import { Dashboard } from '../../dashboard/dashboard.js';
import { palette256, palette8, positionMark } from '../../dashboard/blockmap.js';
import type { JobView, MapView } from '../../dashboard/source.js';
import { cellColours, fakeTerminal, screenLines, screenText, type FakeTerminal } from '../helpers/fake-screen.js';
import { FakeSource, cloneView } from '../helpers/fake-source.js';

const GiB = 2 ** 30;
const open: Dashboard[] = [];
afterEach(() => {
  for (const d of open.splice(0)) d.destroy();
});

function start(views: JobView[], cols = 160, rows = 48, terminal = 'xterm-256color'): { d: Dashboard; src: FakeSource; term: FakeTerminal; clock: { t: number } } {
  const term = fakeTerminal(cols, rows);
  const src = new FakeSource(views);
  const clock = { t: 0 };
  const d = new Dashboard(src, { input: term.input, output: term.output, hz: 0, clock: () => clock.t, terminal });
  open.push(d);
  return { d, src, term, clock };
}

/** Types keys into the fake terminal and lets blessed read them. */
async function press(term: FakeTerminal, ...keys: string[]): Promise<void> {
  for (const k of keys) {
    term.input.write(k);
    await new Promise((r) => setImmediate(r));
  }
}

const rescueMap: MapView = {
  size: 1000,
  extents: [
    { pos: 0, size: 500, status: '+' },
    { pos: 500, size: 100, status: '-' },
    { pos: 600, size: 100, status: '*' },
    { pos: 700, size: 300, status: '?' },
  ],
  current: { pos: 650, status: '*', pass: 4 },
};

const rescueView = (id: number, patch: Partial<JobView> = {}): JobView =>
  cloneView(id, { role: 'rescue', pass: 'trim', bytesDone: 500, bytesTotal: 1000, bytesBad: 100, errors: 2, badAreas: true, canPause: false, map: rescueMap, ...patch });

const row = (text: string[], id: number): string => text.find((l) => new RegExp(`^[│ ]\\s*${id} `).test(l)) ?? '';

describe('dashboard: what is drawn', () => {
  it('draws a row per job with drives, role, state, pass, percent, rates, ETA, bad bytes and errors (160x48)', () => {
    const { d, src, clock } = start([cloneView(1, { bytesTotal: 4 * GiB }), cloneView(2, { state: 'paused', bytesDone: GiB, bytesTotal: 4 * GiB }), rescueView(3)]);
    clock.t = 1;
    src.set(1, { bytesDone: 100e6, elapsed: 1 });
    d.tick();
    clock.t = 2;
    src.set(1, { bytesDone: 300e6, elapsed: 2 });
    d.tick();
    const text = screenText(d);
    expect(text[0]).toMatch(/clonestation test\s+3 job\(s\): 2 running, 1 paused/);
    expect(text.join('\n')).toMatch(/ID ROLE\s+DRIVES\s+STATE\s+PASS\s+PROGRESS\s+% NOW MB\/s AVG MB\/s\s+ETA\s+BAD\s+ERR/);
    const r1 = row(text, 1);
    // model and serial do not fit beside both paths here: the paths whole (the detail pane has the rest)
    expect(r1).toContain('/dev/sdb → /dev/sdl ');
    // 300 MB in 2 s, now and on average; 4 GiB - 300 MB to go at 150 MB/s
    expect(r1).toMatch(/pair\s+.*running\s+copy\s+█\S*\s+7\.0\s+150\.0\s+150\.0\s+0:27\s+0\s+0/);
    // a paused job moves nothing now, and gives no ETA
    expect(row(text, 2)).toMatch(/paused\s+copy\s+█{5}\s+25\.0\s+0\.00\s+\S+\s+paused/);
    // with bad areas there is no honest ETA
    expect(row(text, 3)).toMatch(/rescue\s+.*running\s+trim\s+.*50\.0\s+.*\? bad areas\s+100 B\s+2/);
    // the selected job's drives in full
    expect(text.join('\n')).toMatch(/from \/dev\/sdb\s+WDC WD40EFRX, serial WD-1000/);
    expect(text.at(-1)).toMatch(/p pause\/resume\s+c cancel job\s+r report\s+q quit/);
  });

  it('follows state changes between snapshots', () => {
    const { d, src } = start([cloneView(1), cloneView(2)]);
    expect(row(screenText(d), 2)).toContain('running');
    src.set(2, { state: 'verifying', pass: 'verify' });
    src.set(1, { state: 'failed', pass: '-', note: 'source read failed at offset 4096 (EIO)' });
    d.tick();
    const text = screenText(d);
    expect(row(text, 2)).toMatch(/verifying\s+verify/);
    expect(row(text, 1)).toMatch(/failed\s+-/);
    expect(text.join('\n')).toContain('source read failed at offset 4096 (EIO)');
    expect(text[0]).toMatch(/1 verifying, 1 failed/);
  });

  it('fits 80x24 in the compact layout: every row, the map, the log and the help line', () => {
    const { d } = start([cloneView(1, { bytesDone: GiB }), cloneView(2), cloneView(3), rescueView(4)], 80, 24);
    d.feed.add('a log line');
    d.tick();
    expect(d.compact).toBe(true);
    const text = screenText(d);
    expect(text).toHaveLength(24);
    for (const l of text) expect(l.length).toBe(80);
    expect(text[1]).toMatch(/ID DRIVES\s+STATE\s+PASS\s+%\s+MB\/s\s+ETA\s+BAD/);
    for (const id of [1, 2, 3, 4]) expect(row(text, id)).not.toBe('');
    expect(row(text, 1)).toMatch(/\/dev\/sdb → \/dev\/sdl\s+running\s+copy\s+25\.0/);
    expect(row(text, 4)).toMatch(/\? bad\s+100 B/);
    expect(text.join('\n')).toMatch(/map, job 1: █ finished █ non-tried █ non-trimmed █ non-scraped █ bad ◆ pos/);
    expect(text.filter((l) => l.startsWith('▀')).length).toBeGreaterThanOrEqual(2);
    expect(text.join('\n')).toContain('a log line');
    expect(text[23]).toMatch(/select\s+p pause\s+c cancel\s+r report\s+q quit/);
  });

  it('scrolls the rows to keep the selected job in view when they do not all fit (20 jobs in 80x24)', async () => {
    const { d, term } = start(Array.from({ length: 20 }, (_, i) => cloneView(i + 1)), 80, 24);
    let text = screenText(d);
    expect(row(text, 1)).not.toBe('');
    expect(row(text, 20)).toBe('');
    for (let i = 0; i < 19; i++) await press(term, 'j');
    expect(d.selectedId).toBe(20);
    text = screenText(d);
    expect(row(text, 20)).not.toBe('');
    expect(row(text, 1)).toBe('');
    expect(text.join('\n')).toContain('map, job 20');
  });

  it('stays one line per row on a terminal too small for its columns (40x10): cut, not wrapped', () => {
    const { d } = start([cloneView(1), cloneView(2), rescueView(3)], 40, 10);
    const text = screenText(d);
    expect(text).toHaveLength(10);
    expect(text.every((l) => l.length === 40)).toBe(true);
    expect(text[1]).toMatch(/^ ID DRIVES/);
    // each path keeps its end: the drives' names, not a common prefix
    expect(text[2]).toMatch(/^\s+1 sd.*→ sdl running/);
    expect(text[3]).toMatch(/^\s+2 sd.*→ sdm running/);
    expect(text[9]).toMatch(/^ ↑↓\/jk select/);
  });

  it('resizes cleanly between the rich and the compact layout', () => {
    const { d, term } = start([cloneView(1), rescueView(2)], 160, 48);
    expect(d.compact).toBe(false);
    expect(screenText(d).join('\n')).toContain('throughput MB/s');
    term.resize(80, 24);
    expect(d.compact).toBe(true);
    let text = screenText(d);
    expect(text).toHaveLength(24);
    expect(text.every((l) => l.length === 80)).toBe(true);
    expect(text.join('\n')).not.toContain('throughput MB/s');
    term.resize(200, 60);
    text = screenText(d);
    expect(d.compact).toBe(false);
    expect(text).toHaveLength(60);
    expect(text.join('\n')).toContain('throughput MB/s');
    expect(row(text, 2)).toContain('rescue');
  });
});

describe('dashboard: the block map', () => {
  /** the map's character cells: rows of '▀' or the position mark inside the map box */
  function mapRows(d: Dashboard): { y: number; x: number; width: number }[] {
    const lines = screenLines(d);
    const out: { y: number; x: number; width: number }[] = [];
    lines.forEach((l, y) => {
      const text = l.map((c) => c[1]).join('');
      const m = /[▀◆]+/.exec(text);
      if (m && m[0].length > 20) out.push({ y, x: m.index, width: m[0].length });
    });
    return out;
  }

  it("draws the selected rescue's map in ddrescueview's colours, two squares per cell, the position marked", () => {
    const { d } = start([rescueView(1)], 160, 48);
    const rows = mapRows(d);
    expect(rows.length).toBeGreaterThan(4);
    const { x, width } = rows[0];
    const squares = width * rows.length * 2;
    const lines = screenLines(d);
    // square i (row-major over 2 x rows lines of `width`) -> its colour
    const colourOf = (i: number): number => {
      const r = Math.floor(i / width);
      const cell = cellColours(lines[rows[Math.floor(r / 2)].y][x + (i % width)]);
      return r % 2 === 0 ? cell.fg : cell.bg;
    };
    expect(colourOf(0)).toBe(palette256['+']);
    expect(colourOf(Math.floor(squares * 0.3))).toBe(palette256['+']);
    expect(colourOf(Math.floor(squares * 0.55))).toBe(palette256['-']);
    expect(colourOf(Math.floor(squares * 0.8))).toBe(palette256['?']);
    expect(colourOf(squares - 1)).toBe(palette256['?']);
    // non-trimmed between 60% and 70%, except where the position mark sits
    const trimmed = Math.floor(squares * 0.62);
    expect([palette256['*'], 15]).toContain(colourOf(trimmed));
    // the position (65%) is marked once
    const marks = rows.flatMap((r) => lines[r.y].slice(r.x, r.x + width).filter((c) => c[1] === positionMark));
    expect(marks).toHaveLength(1);
    const text = screenText(d).join('\n');
    expect(text).toContain('block map: job 1, trim');
    expect(text).toMatch(/█ finished █ non-tried █ non-trimmed █ non-scraped █ bad ◆ position/);
  });

  it('shows a clone as copied up to its position', () => {
    const { d } = start([cloneView(1, { bytesDone: 1000, bytesTotal: 4000 })], 160, 48);
    const rows = mapRows(d);
    const lines = screenLines(d);
    const first = cellColours(lines[rows[0].y][rows[0].x]);
    const last = cellColours(lines[rows.at(-1)!.y][rows.at(-1)!.x + rows[0].width - 1]);
    expect(first).toMatchObject({ ch: '▀', fg: palette256['+'], bg: palette256['+'] });
    expect(last).toMatchObject({ ch: '▀', fg: palette256['?'], bg: palette256['?'] });
    expect(screenText(d).join('\n')).toContain('block map: job 1 (a clone: copied so far)');
  });

  it('falls back to the 8 basic colours on an 8-colour terminal', () => {
    const { d } = start([rescueView(1)], 160, 48, 'xterm');
    const rows = mapRows(d);
    const cell = cellColours(screenLines(d)[rows[0].y][rows[0].x]);
    expect(cell.fg).toBe(palette8['+']);
    const colours = new Set(rows.flatMap((r) => screenLines(d)[r.y].slice(r.x, r.x + r.width).flatMap((c) => [cellColours(c).fg, cellColours(c).bg])));
    for (const c of colours) expect(c).toBeLessThan(16);
  });

  it('follows the selection', async () => {
    const { d, term } = start([cloneView(1, { bytesDone: 4000, bytesTotal: 4000 }), rescueView(2)], 160, 48);
    expect(screenText(d).join('\n')).toContain('block map: job 1');
    await press(term, 'j');
    expect(d.selectedId).toBe(2);
    expect(screenText(d).join('\n')).toContain('block map: job 2, trim');
  });
});

describe('dashboard: keys', () => {
  it('selects with arrows and j/k; p pauses and resumes the selected job', async () => {
    const { d, src, term } = start([cloneView(1), cloneView(2), cloneView(3)]);
    await press(term, 'j', '\x1b[B');
    expect(d.selectedId).toBe(3);
    await press(term, 'k');
    expect(d.selectedId).toBe(2);
    await press(term, 'p');
    expect(src.calls).toEqual(['pause 2']);
    expect(row(screenText(d), 2)).toContain('paused');
    await press(term, 'p');
    expect(src.calls).toEqual(['pause 2', 'resume 2']);
    expect(row(screenText(d), 2)).toContain('running');
    await press(term, '\x1b[A');
    expect(d.selectedId).toBe(1);
  });

  it('says so when the selected job cannot pause', async () => {
    const { src, term, d } = start([rescueView(1)]);
    await press(term, 'p');
    expect(src.calls).toEqual([]);
    expect(screenText(d).at(-1)).toContain('job 1 cannot pause (rescue)');
  });

  it('c asks before cancelling the selected job', async () => {
    const { d, src, term } = start([cloneView(1), cloneView(2)]);
    await press(term, 'j', 'c');
    expect(screenText(d).join('\n')).toContain('Cancel job 2?');
    await press(term, 'n');
    expect(src.calls).toEqual([]);
    expect(screenText(d).join('\n')).not.toContain('Cancel job 2?');
    await press(term, 'c', 'y');
    expect(src.calls).toEqual(['cancel 2']);
    expect(row(screenText(d), 2)).toContain('cancelled');
  });

  it("r shows the selected job's report, Esc closes it", async () => {
    const { d, src, term } = start([cloneView(1)]);
    await press(term, 'r');
    expect(src.calls).toEqual(['report 1']);
    const text = screenText(d).join('\n');
    expect(text).toContain('report: job 1');
    expect(text).toContain('"note": "fake report"');
    await press(term, '\x1b');
    await new Promise((r) => setTimeout(r, 100)); // a lone Esc is told from a key sequence by a short wait
    expect(screenText(d).join('\n')).not.toContain('"note": "fake report"');
  });

  it('q asks while jobs run, then stops them all gracefully and leaves once they have stopped', async () => {
    const { d, src, term } = start([cloneView(1), cloneView(2, { state: 'done' })]);
    let left = false;
    void d.whenQuit().then(() => (left = true));
    await press(term, 'q');
    expect(screenText(d).join('\n')).toContain('Stop 1 running job(s) gracefully and quit?');
    await press(term, 'n');
    expect(src.calls).toEqual([]);
    await press(term, 'q', 'y');
    expect(src.calls).toEqual(['stopAll']);
    d.tick();
    await new Promise((r) => setImmediate(r));
    expect(left).toBe(true);
  });

  it('q leaves at once when every job has ended', async () => {
    const { d, src, term } = start([cloneView(1, { state: 'done' })]);
    expect(screenText(d).at(-1)).toContain('every job has ended: q leaves');
    let left = false;
    void d.whenQuit().then(() => (left = true));
    await press(term, 'q');
    await new Promise((r) => setImmediate(r));
    expect(left).toBe(true);
    expect(src.calls).toEqual([]);
  });

  it('Ctrl-C stops every job; a second one forces', async () => {
    const term = fakeTerminal(160, 48);
    const src = new FakeSource([cloneView(1)]);
    let forced = 0;
    const d = new Dashboard(src, { input: term.input, output: term.output, hz: 0, onForce: () => forced++ });
    open.push(d);
    // stopAll does not end this job at once: the second Ctrl-C comes while it stops
    src.stopAll = () => void src.calls.push('stopAll');
    await press(term, '\x03');
    expect(src.calls).toEqual(['stopAll']);
    expect(screenText(d).at(-1)).toContain('stopping every job gracefully');
    await press(term, '\x03');
    expect(forced).toBe(1);
  });
});
