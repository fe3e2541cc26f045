// The dashboard's adapter over a real Station (image files, no root): job views follow the
// jobs, pause shows as paused and resumes, a rescue job's map reaches the main thread.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Station } from '../../src/station/station.js';
import { RescueSource, StationSource } from '../../src/station/view.js';
import { summaryTable } from '../../src/station/report.js';
import { Dashboard } from '../../dashboard/dashboard.js';
import { fakeTerminal, screenText } from '../helpers/fake-screen.js';
import { makeFile, scratch } from '../helpers/fixtures.js';

const s = scratch();
afterAll(() => s.cleanup());

const until = async (what: () => boolean, ms = 30_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('StationSource: the dashboard view of a station', () => {
  it('shows a row per job with its drives and role, pauses and resumes, and ends done', async () => {
    const a = makeFile(join(s.dir, 'a.img'), 16 << 20);
    const b = makeFile(join(s.dir, 'b.img'), 8 << 20);
    // throttled so that it is still running when paused
    const station = new Station({ maxParallel: 2, maxRate: 4 << 20, blockSize: 1 << 20, depth: 2, verify: false });
    await station.add({ source: a, targets: [join(s.dir, 'a1.img'), join(s.dir, 'a2.img')] });
    await station.add({ source: b, targets: [join(s.dir, 'b1.img')] });
    const src = new StationSource(station, 'test');
    const before = src.jobs();
    expect(before.map((j) => [j.id, j.role, j.state, j.pass, j.bytesTotal])).toEqual([
      [1, '1:2', 'queued', '-', 16 << 20],
      [2, 'pair', 'queued', '-', 8 << 20],
    ]);
    expect(before[0].drives.map((d) => [d.role, d.path])).toEqual([
      ['source', a],
      ['target', join(s.dir, 'a1.img')],
      ['target', join(s.dir, 'a2.img')],
    ]);
    const run = station.run();
    await until(() => src.jobs()[0].state === 'running' && src.jobs()[0].bytesDone > 0);
    src.pause(1);
    await until(() => src.jobs()[0].state === 'paused');
    await new Promise((r) => setTimeout(r, 300));
    // the report of a job under way tells where it is now: no final figures, no zeros
    const live = src.report(1) as Record<string, unknown> & { targets: { path: string; bytesWritten: number }[] };
    expect(live).toMatchObject({ id: 1, state: 'paused', pass: 'copy', bytesTotal: 16 << 20 });
    expect(live.bytesDone).toBeGreaterThan(0);
    expect(live.bytesDone).toBe(src.jobs()[0].bytesDone);
    expect(live.secondsSoFar).toBeGreaterThan(0);
    expect(live.targets.map((t) => t.path)).toEqual([join(s.dir, 'a1.img'), join(s.dir, 'a2.img')]);
    for (const t of live.targets) expect(t.bytesWritten).toBeGreaterThan(0);
    expect(live).not.toHaveProperty('copySeconds');
    // still paused, not finished behind the dashboard's back
    expect(src.jobs()[0]).toMatchObject({ state: 'paused', pass: 'copy' });
    expect(src.jobs()[0].bytesDone).toBeLessThan(16 << 20);
    expect(src.finished()).toBe(false);
    src.resume(1);
    await until(() => src.jobs()[0].state !== 'paused');
    await run;
    const after = src.jobs();
    expect(after.map((j) => [j.state, j.pass, j.bytesDone])).toEqual([
      ['done', '-', 16 << 20],
      ['done', '-', 8 << 20],
    ]);
    expect(src.finished()).toBe(true);
    // an ended job's report is its final one
    expect(src.report(1)).toMatchObject({ id: 1, state: 'done', bytes: 16 << 20 });
    expect((src.report(1) as { copySeconds: number }).copySeconds).toBeGreaterThan(0);
  });

  it("brings a rescue job's map to the main thread: bad areas, errors, no ETA; p holds it before its next read", async () => {
    const size = 4 << 20;
    const sick = makeFile(join(s.dir, 'sick.img'), size);
    const bad = join(s.dir, 'bad.map');
    writeFileSync(bad, `0x0 + 1\n0x0 0x100000 +\n0x100000 0x10000 -\n0x110000 ${'0x' + (size - 0x110000).toString(16)} +\n`);
    const station = new Station({ maxParallel: 1, version: 'test' });
    await station.add({ source: sick, targets: [join(s.dir, 'sick-rescued.img')], map: join(s.dir, 'sick.map'), simulateErrors: bad });
    const src = new StationSource(station);
    // paused before it starts: it holds before its first read
    src.pause(1);
    const run = station.run();
    await until(() => src.jobs()[0].state === 'paused' && src.jobs()[0].map !== undefined);
    await new Promise((r) => setTimeout(r, 500));
    expect(src.jobs()[0]).toMatchObject({ state: 'paused', bytesDone: 0 });
    expect(src.jobs()[0].map?.extents).toEqual([{ pos: 0, size, status: '?' }]);
    src.resume(1);
    await run;
    const [j] = src.jobs();
    expect(j).toMatchObject({ role: 'rescue', state: 'done', canPause: true, badAreas: true, bytesBad: 0x10000, bytesTotal: size, bytesDone: size - 0x10000, errors: 1 });
    expect(j.map?.extents).toEqual([
      { pos: 0, size: 0x100000, status: '+' },
      { pos: 0x100000, size: 0x10000, status: '-' },
      { pos: 0x110000, size: size - 0x110000, status: '+' },
    ]);
  });
});

describe('what the operator reads of real jobs (issue 11)', () => {
  it('a verify pass moves: its percent and its rate above 0 on the dashboard while it runs', async () => {
    const a = makeFile(join(s.dir, 'v.img'), 24 << 20);
    // throttled so the verify pass lasts long enough to be seen under way
    const station = new Station({ maxParallel: 1, maxRate: 12 << 20, blockSize: 1 << 20, depth: 2, verify: true });
    await station.add({ source: a, targets: [join(s.dir, 'v1.img'), join(s.dir, 'v2.img')] });
    const src = new StationSource(station, 'test');
    const term = fakeTerminal(160, 48);
    const d = new Dashboard(src, { input: term.input, output: term.output, hz: 0 });
    try {
      const run = station.run();
      let seen: string | undefined;
      const end = Date.now() + 60_000;
      while (!seen && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
        d.tick();
        const row = screenText(d).find((l) => /^│\s+1 /.test(l)) ?? '';
        // verifying, some percent done, a rate now above zero
        const m = /verifying\s+verify\s+\S*\s+(\d+\.\d)\s+(\d+\.\d+)\s+(\d+\.\d+)/.exec(row);
        if (m && Number(m[1]) > 0 && Number(m[1]) < 100 && Number(m[2]) > 0 && Number(m[3]) > 0) seen = row;
      }
      expect(seen, 'a verifying row with percent and rate above 0').toBeDefined();
      const live = src.report(1) as { pass: string; targets: { bytesVerified: number }[] };
      await run;
      expect(live.pass === 'verify' ? live.targets.every((t) => t.bytesVerified >= 0) : true).toBe(true);
      expect(src.jobs()[0]).toMatchObject({ state: 'done', bytesDone: 24 << 20 });
    } finally {
      d.destroy();
    }
  });

  it('a single job on the dashboard (backup, restore, verify) shows its phase and ends at its last figures', () => {
    const rs = new RescueSource({ source: '/dev/sdb', target: 'disk.img' }, new AbortController(), { title: 'verify', role: 'verify', canPause: false });
    const rep = rs.reporter(() => {});
    rep.progress({ phase: 'verify', done: 40e6, total: 100e6, elapsed: 1, rate: 40e6, bytesBad: 0 });
    expect(rs.jobs()[0]).toMatchObject({ pass: 'verify', bytesDone: 40e6, bytesTotal: 100e6 });
    expect(rs.report()).toMatchObject({ state: 'running', pass: 'verify', bytesDone: 40e6, percent: 40 });
    // the phase's end comes between two samples: its last figures are kept
    rep.phaseEnd({ phase: 'verify', done: 100e6, total: 100e6, elapsed: 2, rate: 50e6, bytesBad: 0 });
    rs.settle('done', { ok: true });
    expect(rs.jobs()[0]).toMatchObject({ state: 'done', bytesDone: 100e6 });
  });

  it('the summary table fits the terminal: long paths cut in the middle keeping their names, notes folded', async () => {
    const deep = join(s.dir, 'a-folder-with-a-rather-long-name', 'and-another-one-below-it');
    mkdirSync(deep, { recursive: true });
    const a = makeFile(join(deep, 'source-disk-one.img'), 1 << 20);
    const station = new Station({ maxParallel: 2, verify: false });
    await station.add({ source: a, targets: [join(deep, 'target-disk-one.img'), join(deep, 'target-disk-two.img')] });
    await station.run();
    const wide = summaryTable(station.jobs, Number.POSITIVE_INFINITY);
    expect(Math.max(...wide.map((l) => l.length))).toBeGreaterThan(100);
    for (const width of [100, 80]) {
      const table = summaryTable(station.jobs, width);
      for (const l of table) expect(l.length).toBeLessThanOrEqual(width);
      expect(table[0]).toMatch(/^JOB\s+SOURCE\s+TARGET\s+STATE\s+BYTES\s+RATE\s+VERIFIED\s+NOTE/);
      const rows = table.filter((l) => /^1 /.test(l));
      expect(rows).toHaveLength(2);
      // the targets stay told apart: their names' ends are there
      if (width === 100) {
        expect(rows[0]).toMatch(/ …\/source-disk-one\.img +…\/target-disk-one\.img +done/);
        expect(rows[1]).toMatch(/ …\/source-disk-one\.img +…\/target-disk-two\.img +done/);
      } else {
        expect(rows[0]).toMatch(/ sour…\S*ne\.img +targ…\S*ne\.img +done/);
        expect(rows[1]).toMatch(/ sour…\S*ne\.img +targ…\S*wo\.img +done/);
      }
      // the note ("written at … s") is folded, not lost
      expect(table.join('\n').replace(/\s+/g, ' ')).toMatch(/written at \d+\.\d\d s/);
    }
  });
});
