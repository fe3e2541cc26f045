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

describe('dashboard: as an operator reads it (issue 11)', () => {
  const demoDir = '/tmp/clonestation-demo-9WNxQz';
  const demoView = (id: number, source: string, targets: string[], patch: Partial<JobView> = {}): JobView =>
    cloneView(id, { drives: [{ role: 'source', path: `${demoDir}/${source}` }, ...targets.map((t) => ({ role: 'target' as const, path: `${demoDir}/${t}` }))], ...patch });

  it("the DRIVES column keeps each path's end (its basename), the cut in the middle, in both layouts", () => {
    const views = [
      demoView(1, 'master.img', ['master-copy-1.img', 'master-copy-2.img', 'master-copy-3.img'], { role: '1:3' }),
      demoView(2, 'disk-a.img', ['disk-a-copy.img']),
      demoView(3, 'disk-b-odd-size.img', ['disk-b-odd-size-copy.img']),
      cloneView(4, { drives: [{ role: 'source', path: '/dev/disk/by-id/ata-WDC_WD40EFRX-68N32N0_WD-WCC7K1234567' }, { role: 'target', path: '/dev/disk/by-id/ata-ST4000DM004-2CV104_ZFN0ABCD' }] }),
    ];
    for (const [cols, rows] of [
      [160, 48],
      [80, 24],
    ]) {
      const { d } = start(views, cols, rows);
      const text = screenText(d);
      const r = (id: number): string => row(text, id);
      if (cols === 160) {
        // room for every basename whole, and some of the folder
        expect(r(1)).toMatch(/ \/tmp\S*…\/master\.img → \S*\/master-copy-1\.img \+2 /);
        expect(r(2)).toMatch(/ \/tmp\S*…\/disk-a\.img → \S*\/disk-a-copy\.img /);
        expect(r(3)).toMatch(/ \S*\/disk-b-odd-size\.img → \S*disk-b-odd-size-copy\.img /);
      } else {
        // 80 columns: the names' ends at least, where they differ
        expect(r(1)).toMatch(/ master\.img → \S*-1\.img \+2 /);
        expect(r(2)).toMatch(/ \S*disk-a\.img → disk\S*opy\.img /);
        expect(r(3)).toMatch(/ disk\S*ize\.img → disk\S*opy\.img /);
      }
      // the by-id names keep their ends, where the serial is
      expect(r(4)).toMatch(cols === 160 ? /…\S*WCC7K1234567 → .*…\S*ZFN0ABCD / : /ata-…\S*1234567 → ata-…\S*ABCD /);
      // rows differ where the drives do: no two rows read the same
      expect(new Set([1, 2, 3].map((id) => r(id).slice(0, 40))).size).toBe(3);
      for (const id of [1, 2, 3]) expect(r(id)).toContain('…');
      expect(text.every((l) => l.length === cols)).toBe(true);
    }
  });

  it('DRIVES shows model and serial beside the paths when there is room for all of it', () => {
    const { d } = start([cloneView(1)], 220, 48);
    expect(row(screenText(d), 1)).toContain('/dev/sdb [WDC WD40EFRX WD-1000] → /dev/sdl [ST4000DM004 ZC1999] ');
  });

  it('every legend swatch has the colour the map gives that status (256 and 8 colours)', () => {
    const every: MapView = {
      size: 500,
      extents: (['+', '?', '*', '/', '-'] as const).map((status, i) => ({ pos: i * 100, size: 100, status })),
      current: { pos: 0, status: '+', pass: 1 },
    };
    for (const terminal of ['xterm-256color', 'xterm']) {
      for (const [cols, rows] of [
        [160, 48],
        [80, 24],
      ]) {
        const { d } = start([rescueView(1, { map: every })], cols, rows, terminal);
        const lines = screenLines(d);
        // the legend line, and its swatches in order
        const y = lines.findIndex((l) => l.map((c) => c[1]).join('').includes('finished █ non-tried'));
        expect(y).toBeGreaterThan(0);
        const text = lines[y].map((c) => c[1]).join('');
        const swatches = lines[y].filter((c) => c[1] === '█').map((c) => cellColours(c).fg);
        const names = ['finished', 'non-tried', 'non-trimmed', 'non-scraped', 'bad'];
        for (const n of names) expect(text).toContain(`█ ${n}`);
        // the map's own squares: each fifth of it is one status
        const mapCellsDrawn = lines.flatMap((l) => l.filter((c) => c[1] === '▀').map((c) => cellColours(c)));
        const colourAt = (fraction: number): number => mapCellsDrawn[Math.floor(fraction * mapCellsDrawn.length)].fg;
        // top rows hold the first part of the map (rows are laid out top to bottom)
        const seen = new Set(mapCellsDrawn.flatMap((c) => [c.fg, c.bg]));
        expect(swatches).toHaveLength(5);
        expect(swatches[0]).toBe(colourAt(0.01));
        for (const s of swatches) expect(seen).toContain(s);
        expect(new Set(swatches).size).toBe(5);
        expect(swatches).toEqual([ '+', '?', '*', '/', '-'].map((st) => (terminal === 'xterm' ? palette8 : palette256)[st as keyof typeof palette256]));
        d.destroy();
      }
    }
  });

  it('the selected row is inverse from edge to edge, coloured cells included', async () => {
    const { d, term } = start([cloneView(1), cloneView(2, { state: 'paused' }), rescueView(3)], 160, 48);
    const inverse = (id: number): boolean[] => {
      const y = screenText(d).findIndex((l) => new RegExp(`^│\\s*${id} `).test(l));
      // inside the table's border
      return screenLines(d)[y].slice(1, -1).map((c) => ((c[0] >> 18) & 8) !== 0);
    };
    expect(inverse(1).every(Boolean)).toBe(true);
    expect(inverse(2).some(Boolean)).toBe(false);
    await press(term, 'j', 'j');
    expect(inverse(3).every(Boolean)).toBe(true);
    expect(inverse(1).some(Boolean)).toBe(false);
  });

  it('a verify pass shows its percent and its rate', () => {
    const { d, src, clock } = start([cloneView(1, { bytesTotal: 1000e6, bytesDone: 1000e6 })]);
    clock.t = 1;
    src.set(1, { state: 'verifying', pass: 'verify', bytesDone: 0 });
    d.tick();
    for (let i = 1; i <= 8; i++) {
      clock.t = 1 + i * 0.25;
      src.set(1, { bytesDone: i * 25e6 });
      d.tick();
    }
    // 200 MB of 1000 compared in 2 s: 20%, 100 MB/s now and on average
    expect(row(screenText(d), 1)).toMatch(/verifying\s+verify\s+█+\S*\s+20\.0\s+100\.0\s+100\.0\s+0:08 /);
  });

  it('time paused does not lower the average', () => {
    const { d, src, clock } = start([cloneView(1, { bytesTotal: 4000e6 })]);
    const at = (t: number, bytes: number, state: JobView['state'] = 'running'): void => {
      clock.t = t;
      src.set(1, { bytesDone: bytes, state });
      d.tick();
    };
    // 100 MB/s for 10 s, paused 30 s, 100 MB/s for 10 s more
    for (let t = 0; t <= 10; t++) at(t, t * 100e6);
    for (let t = 11; t <= 40; t++) at(t, 1000e6, 'paused');
    for (let t = 41; t <= 50; t++) at(t, 1000e6 + (t - 40) * 100e6);
    expect(row(screenText(d), 1)).toMatch(/running\s+copy\s+\S+\s+50\.0\s+100\.0\s+100\.0 /);
  });

  it("the r popup follows a running job's figures while it is open", async () => {
    const { d, src, term, clock } = start([cloneView(1, { bytesTotal: 1000e6 })]);
    src.report = (id: number) => ({ id, bytesDone: src.views[0].bytesDone });
    clock.t = 1;
    src.set(1, { bytesDone: 100e6 });
    d.tick();
    await press(term, 'r');
    let text = screenText(d).join('\n');
    expect(text).toContain('"bytesDone": 100000000');
    expect(text).toMatch(/job 1 running, copy: 95\.4 MiB of 954 MiB \(10\.0%\)/);
    clock.t = 2;
    src.set(1, { bytesDone: 300e6 });
    d.tick();
    text = screenText(d).join('\n');
    expect(text).toContain('"bytesDone": 300000000');
    expect(text).toMatch(/\(30\.0%\)/);
    expect(text).toMatch(/150\.0 MB\/s now/);
  });

  it('the chart spans a short job: its curve, not a sliver', () => {
    const { d, src, clock } = start([cloneView(1, { bytesTotal: 400e6 })]);
    // a 3-second job: up, steady, down
    const rates = [0, 50e6, 150e6, 150e6, 150e6, 150e6, 150e6, 100e6, 50e6, 50e6, 50e6, 50e6];
    let done = 0;
    rates.forEach((r, i) => {
      clock.t = i * 0.25;
      done += r * 0.25;
      src.set(1, { bytesDone: done });
      d.tick();
    });
    clock.t = 3.25;
    src.set(1, { state: 'done', pass: '-', bytesDone: 400e6 });
    d.tick();
    clock.t = 60;
    d.tick();
    const text = screenText(d).join('\n');
    // the axis covers the job's few seconds, even a minute later
    expect(text).toMatch(/throughput MB\/s, last [34] s/);
    // braille dots drawn at more than two heights: a curve
    const chart = screenText(d).slice(8, 40).map((l) => l.slice(3, 70));
    const heights = new Set(chart.flatMap((l, y) => ([...l].some((c) => c >= '⠁' && c <= '⣿') ? [y] : [])));
    expect(heights.size).toBeGreaterThan(4);
  });
});
