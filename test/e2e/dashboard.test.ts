// The dashboard on a real terminal (tmux): `clonestation demo --ui` with its jobs throttled
// so there is time to press keys. Job rows appear with their drives told apart, the
// legend's colours are the map's, states change, p pauses and resumes, the verify pass
// moves, q leaves a clean terminal (no alternate screen) with the summary printed.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { cli } from '../helpers/fixtures.js';
import { hasTmux, shownCells, TmuxSession, type ShownCell } from '../helpers/tmux.js';

/** tmux knows whether the program left the alternate screen on */
function alternateOn(t: TmuxSession): boolean {
  return execFileSync('tmux', ['display-message', '-p', '-t', t.name, '#{alternate_on}'], { encoding: 'utf8' }).trim() === '1';
}

/**
 * The legend's swatch colours in order (finished, non-tried, non-trimmed, non-scraped, bad),
 * and the map's character cells in order, once job 1 is part copied.
 */
async function legendAndMap(t: TmuxSession): Promise<{ legend: number[]; map: ShownCell[] }> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const lines = t.screenColours().split('\n');
    const text = lines.map((l) => shownCells(l).map((c) => c.ch).join(''));
    const pct = Number(/│\s+1 1:3 .* running\s+copy\s+\S*\s+(\d+\.\d) /.exec(text.join('\n'))?.[1] ?? 'NaN');
    const y = text.findIndex((l) => l.includes('█ finished █ non-tried'));
    if (pct > 5 && pct < 90 && y >= 0) {
      const legend = shownCells(lines[y]).filter((c) => c.ch === '█').map((c) => c.fg);
      // the map: the runs of '▀' in the right half of the screen
      const map = lines.flatMap((l) => shownCells(l).slice(80).filter((c) => c.ch === '▀'));
      return { legend, map };
    }
    if (Date.now() > deadline) throw new Error(`job 1 was not seen part copied:\n${text.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** the table row of job `id` */
const rowOf = (id: number, rest: string): RegExp => new RegExp(`│\\s+${id} ${rest}`);

describeRoot('the dashboard under tmux (clonestation demo --ui)', () => {
  const sessions: TmuxSession[] = [];
  beforeAll(() => {
    if (!hasTmux) throw new Error('tmux is not installed: run scripts/system-deps.sh as root');
  });
  afterAll(() => {
    for (const t of sessions) t.kill();
  });
  const run = (args: string): TmuxSession => {
    const t = new TmuxSession(`${process.execPath} ${cli} demo --ui ${args}; echo EXIT=$?; sleep 120`, 160, 48);
    sessions.push(t);
    return t;
  };

  it('shows a row per job, follows their states, pauses and resumes with p, and q leaves a clean terminal with the summary', async () => {
    // 128 MiB master at 8 MiB/s: its copy and its verify take a while
    const t = run('--size 128MiB --throttle 8MiB');
    const first = await t.waitFor(/ID ROLE\s+DRIVES\s+STATE/);
    expect(first).toMatch(/clonestation demo/);
    const rows = await t.waitFor(/│\s+4 rescue/);
    // DRIVES: each row names its own drives by their basenames, cut in the middle when it
    // must be (every path here starts with the same /tmp/clonestation-demo-XXXXXX/)
    expect(rows).toMatch(rowOf(1, '1:3\\s+\\S*/master\\.img → \\S*/master-copy-1\\.img \\+2 '));
    expect(rows).toMatch(rowOf(2, 'pair\\s+\\S*/disk-a\\.img → \\S*/disk-a-copy\\.img '));
    expect(rows).toMatch(rowOf(3, 'pair\\s+\\S*disk-b-odd-size\\.img → \\S*disk-b-odd-size-copy\\.img '));
    expect(rows).toMatch(rowOf(4, 'rescue\\s+\\S*/failing\\.img → \\S*/failing-rescued\\.img '));
    expect(rows).toMatch(/…/);
    expect(alternateOn(t)).toBe(true);
    // the legend's swatches have the colours of the map's own squares: job 1 (selected)
    // part copied, its map finished up to its position and non-tried after it
    const { legend, map } = await legendAndMap(t);
    expect(legend).toHaveLength(5);
    expect(new Set(legend).size).toBe(5);
    expect(legend[0]).toBe(map[0].fg); // finished: the first square
    expect(legend[1]).toBe(map[map.length - 1].bg); // non-tried: the last square
    // job 1 is selected: p pauses it, p again resumes it
    await t.waitFor(rowOf(1, '1:3 .* running '));
    t.keys('p');
    const paused = await t.waitFor(rowOf(1, '1:3 .* paused '));
    expect(paused).toMatch(/job 1 paused/);
    t.keys('p');
    const resumed = await t.waitFor(rowOf(1, '1:3 .* (running|verifying) '));
    expect(resumed).toMatch(/job 1 resumed/);
    // the verify pass moves: a percent and a rate above 0 while it runs
    await t.waitFor(rowOf(1, '1:3 .* verifying +verify +\\S* +(?!0\\.0 )\\d+\\.\\d +(?!0\\.00 )\\d+\\.\\d+ +\\d'), 60_000);
    // states change: the rescue ends with its bad areas, the pairs are verified and done
    await t.waitFor(rowOf(4, 'rescue .* done '), 60_000);
    await t.waitFor(rowOf(2, 'pair .* done '), 60_000);
    const ended = await t.waitFor(/every job has ended: q leaves/, 90_000);
    for (const id of [1, 2, 3, 4]) expect(ended).toMatch(rowOf(id, '.* done '));
    t.keys('q');
    const end = await t.waitFor(/EXIT=\d+/);
    expect(end).toContain('EXIT=0');
    expect(alternateOn(t)).toBe(false);
    // the summary, and nothing of the dashboard, on the normal screen
    expect(end).toMatch(/station: 4 of 4 job\(s\) done, 6 target\(s\) good, 0 failed/);
    // (the table fits the terminal: a long note is folded onto more lines)
    expect(end.replace(/\s+/g, ' ')).toMatch(/rescue: bad \d[^]* in 3 area\(s\)/);
    for (const l of end.split('\n')) expect(l.length).toBeLessThanOrEqual(160);
    // nothing named that is gone: without --keep there is no report or log to name
    expect(end).not.toMatch(/; report |; log /);
    expect(end).toMatch(/now deleted \(--keep keeps them/);
    expect(end).not.toMatch(/ID ROLE\s+DRIVES/);
  });

  it('q while jobs run asks first, then stops them gracefully (maps saved) and prints the summary', async () => {
    const t = run('--size 128MiB --throttle 4MiB --keep');
    await t.waitFor(rowOf(1, '1:3 .* running '));
    t.keys('q');
    await t.waitFor(/Stop \d+ running job\(s\) gracefully and quit\?/);
    t.keys('n');
    // still there, still running
    await t.waitFor(rowOf(1, '1:3 .* running '));
    t.keys('q');
    await t.waitFor(/Stop \d+ running job\(s\) gracefully and quit\?/);
    t.keys('y');
    const end = await t.waitFor(/EXIT=\d+/, 60_000);
    expect(end).toContain('EXIT=130');
    expect(alternateOn(t)).toBe(false);
    expect(end).toMatch(/JOB\s+SOURCE\s+TARGET\s+STATE/);
    expect(end).toMatch(/master-copy-1\.img\s+cancelled/);
    expect(end).toMatch(/\[CANCELLED\]/);
    const dir = /generated images in (\S+)/.exec(end)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(join(dir ?? '', 'failing-rescued.map'))).toBe(true);
    execFileSync('rm', ['-rf', dir ?? '/nonexistent']);
  });

  it('a backup runs on the dashboard too: its row, then the summary on a clean terminal', async () => {
    const dir = mkdtempSync('/dev/shm/cs-e2e-backup-');
    try {
      execFileSync('dd', ['if=/dev/urandom', `of=${join(dir, 'disk.img')}`, 'bs=1M', 'count=64', 'status=none']);
      // small slots, one at a time: long enough to be seen running
      const t = new TmuxSession(`cd ${dir} && ${process.execPath} ${cli} backup disk.img copy.zip --ui --block-size 64KiB --depth 1 --level 9; echo EXIT=$?; sleep 120`, 160, 48);
      sessions.push(t);
      const row = await t.waitFor(rowOf(1, 'backup\\s+\\S*disk\\.img'));
      expect(row).toMatch(/clonestation backup/);
      await t.waitFor(/every job has ended: q leaves/, 60_000);
      t.keys('q');
      const end = await t.waitFor(/EXIT=\d+/);
      expect(end).toContain('EXIT=0');
      expect(alternateOn(t)).toBe(false);
      expect(end).toMatch(/backed up 64\.00 MiB to copy\.zip .* sha256 [0-9a-f]{64}/);
      expect(existsSync(join(dir, 'copy.zip.manifest.json'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
