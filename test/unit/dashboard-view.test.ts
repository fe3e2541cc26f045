// The dashboard's adapter over a real Station (image files, no root): job views follow the
// jobs, pause shows as paused and resumes, a rescue job's map reaches the main thread.
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Station } from '../../src/station/station.js';
import { StationSource } from '../../src/station/view.js';
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
    station.add({ source: a, targets: [join(s.dir, 'a1.img'), join(s.dir, 'a2.img')] });
    station.add({ source: b, targets: [join(s.dir, 'b1.img')] });
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
    station.add({ source: sick, targets: [join(s.dir, 'sick-rescued.img')], map: join(s.dir, 'sick.map'), simulateErrors: bad });
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
