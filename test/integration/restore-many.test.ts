// restore IMAGE TARGET1..TARGETn on real loop devices (root): the image read once, written to
// every target, each target read back and hashed against the manifest; a target whose
// writes fail drops out with its reason and offset while the others finish; a slow target
// does not pace the others; aliases of one drive are refused before anything is written.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { lastEvent, makeFile, runCli, sha256, useLoopScratch, type CliRun } from '../helpers/fixtures.js';
import { makeImage, type MadeImage } from '../helpers/images.js';
import { mixedImage, sha256 as sha256Of } from '../helpers/zip.js';
import { fullTarget, slowTarget, type SlowTarget } from '../helpers/slow-target.js';

const MiB = 1024 * 1024;
const SIZE = 12 * MiB + 3 * 4096;
const data = mixedImage(SIZE, 11);
const dataHash = sha256Of(data);

interface TargetRow {
  path: string;
  state: string;
  code?: string;
  reason?: string;
  offset?: number;
  detachedAt?: number;
  verified: boolean;
  checked?: string;
}

function rows(r: CliRun): TargetRow[] {
  return (lastEvent(r, 'done')?.targets as TargetRow[] | undefined) ?? [];
}

/** the targets of the `written` notes, in the order they came */
function writtenOrder(r: CliRun): string[] {
  return r.events.filter((e) => e.event === 'note' && e.what === 'written').map((e) => String(e.target));
}

describeRoot('restore to many targets on loop devices', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  const images: Record<'zip' | 'split', MadeImage | undefined> = { zip: undefined, split: undefined };
  const nbd: SlowTarget[] = [];
  let n = 0;

  beforeAll(async () => {
    const dir = join(fx.dir(), 'images');
    mkdirSync(dir);
    images.zip = await makeImage(dir, 'zip', 'zip', data);
    images.split = await makeImage(dir, 'split', 'split', data, 5 * MiB);
  });
  afterAll(() => {
    for (const t of nbd) t.down();
  });

  /** four targets: 512 and 4096 sectors, the third larger than the image */
  function fourTargets(): { dev: string; file: string }[] {
    return [
      fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), SIZE), 512),
      fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), SIZE), 4096),
      fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), 16 * MiB), 512),
      fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), 16 * MiB), 4096),
    ];
  }

  for (const kind of ['zip', 'split'] as const) {
    it(`restores a ${kind} image to 4 targets at once, each byte-identical and hash-checked`, () => {
      const img = images[kind] as MadeImage;
      if (kind === 'split') expect(img.parts.length).toBe(3);
      const ts = fourTargets();
      const tails = ts.map((t) => (statSync(t.file).size > SIZE ? sha256(t.file, SIZE) : undefined));
      const report = join(fx.dir(), `report-${n++}.json`);
      const r = runCli(['restore', img.name, ...ts.map((t) => t.dev), '--yes', '--json', '--report', report]);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      const done = lastEvent(r, 'done');
      expect(done?.bytes).toBe(SIZE);
      expect(done?.checked).toBe('sha256');
      expect(rows(r).map((t) => [t.path, t.state, t.verified, t.checked])).toEqual(ts.map((t) => [t.dev, 'done', true, 'sha256']));
      ts.forEach((t, i) => {
        expect(sha256(t.file, 0, SIZE), t.dev).toBe(dataHash);
        // bytes beyond the image are left as they were
        if (tails[i] !== undefined) expect(sha256(t.file, SIZE)).toBe(tails[i]);
      });
      // the verify command agrees, for every target
      for (const t of ts) expect(runCli(['verify', img.name, t.dev]).status).toBe(0);
      const rep = JSON.parse(readFileSync(report, 'utf8')) as { targets: TargetRow[]; summary: { targetsDone: number; targetsFailed: number } };
      expect(rep.targets.map((t) => t.path)).toEqual(ts.map((t) => t.dev));
      expect(rep.summary).toMatchObject({ targetsDone: 4, targetsFailed: 0 });
    });
  }

  for (const kind of ['zip', 'split'] as const) {
    it(`a ${kind} restore: a target whose every write fails (ENOSPC) drops out with its reason and offset; the other three complete`, () => {
      const img = images[kind] as MadeImage;
      const full = fullTarget(join(fx.dir(), `full-${n++}`), 16 * MiB);
      nbd.push(full);
      const ts = [fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), SIZE), 512), fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), SIZE), 4096)];
      const last = fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), 16 * MiB), 512);
      const devs = [ts[0].dev, full.dev, ts[1].dev, last.dev];
      const report = join(fx.dir(), `report-${n++}.json`);
      const r = runCli(['restore', img.name, ...devs, '--yes', '--json', '--report', report]);
      expect(r.status, r.stderr + r.stdout).toBe(1);
      expect(lastEvent(r, 'error')?.code).toBe('JOBS_FAILED');
      const out = rows(r);
      expect(out.map((t) => t.state)).toEqual(['done', 'failed', 'done', 'done']);
      const bad = out[1];
      expect(bad.path).toBe(full.dev);
      expect(bad.code).toBe('TARGET_FULL');
      expect(bad.reason).toMatch(/ENOSPC/);
      expect(typeof bad.offset).toBe('number');
      expect(bad.offset).toBe(0);
      for (const i of [0, 2, 3]) expect(out[i]).toMatchObject({ state: 'done', verified: true, checked: 'sha256' });
      for (const t of [...ts, last]) expect(sha256(t.file, 0, SIZE)).toBe(dataHash);
      // one summary line per target, the failed one with its reason
      expect(String(lastEvent(r, 'done')?.message)).toMatch(new RegExp(`${full.dev}: FAILED TARGET_FULL at offset 0`));
      const rep = JSON.parse(readFileSync(report, 'utf8')) as { targets: TargetRow[] };
      expect(rep.targets.map((t) => t.state)).toEqual(['done', 'failed', 'done', 'done']);
    });
  }

  for (const kind of ['zip', 'split'] as const) {
    it(`a ${kind} restore: a rate-limited target does not pace the others`, () => {
      const img = images[kind] as MadeImage;
      const slow = slowTarget(join(fx.dir(), `slow-${n++}`), SIZE, 3 * MiB);
      nbd.push(slow);
      const ts = [fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), SIZE), 512), fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), SIZE), 4096), fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), SIZE), 512)];
      const devs = [ts[0].dev, slow.dev, ts[1].dev, ts[2].dev];
      // raw: a ring of two 1 MiB slots, so the slow target fills it alone and leaves the stream
      const ring = kind === 'split' ? ['--block-size', '1MiB', '--depth', '2'] : [];
      const r = runCli(['restore', img.name, ...devs, '--yes', '--json', ...ring]);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      // the three fast targets were written before the slow one
      const order = writtenOrder(r);
      expect(order).toHaveLength(4);
      expect(order[3]).toBe(slow.dev);
      expect(new Set(order.slice(0, 3))).toEqual(new Set(ts.map((t) => t.dev)));
      if (kind === 'split') {
        // it left the shared stream (the engine's lag rule) and caught up on its own
        expect(r.events.some((e) => e.event === 'note' && e.target === slow.dev && /left the shared stream/.test(String(e.message)))).toBe(true);
        expect(typeof rows(r)[1].detachedAt).toBe('number');
      }
      expect(rows(r).every((t) => t.state === 'done' && t.verified)).toBe(true);
      for (const t of ts) expect(sha256(t.file, 0, SIZE)).toBe(dataHash);
    });
  }

  it('a zip target that falls more than the window behind catches up from a second inflate of its own', () => {
    const img = images.zip as MadeImage;
    const slow = slowTarget(join(fx.dir(), `slow-${n++}`), SIZE, 3 * MiB);
    nbd.push(slow);
    const fast = fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), SIZE), 512);
    const r = runCli(['restore', img.name, fast.dev, slow.dev, '--yes', '--json'], undefined, { CLONESTATION_ZIP_WINDOW: String(2 * MiB) });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.events.some((e) => e.event === 'note' && e.target === slow.dev && /left the shared stream/.test(String(e.message)))).toBe(true);
    expect(writtenOrder(r)).toEqual([fast.dev, slow.dev]);
    expect(rows(r).map((t) => [t.state, t.verified])).toEqual([
      ['done', true],
      ['done', true],
    ]);
    expect(sha256(fast.file, 0, SIZE)).toBe(dataHash);
  });

  it('refuses a target named twice, two names of one drive, the image as a target, block targets without --yes, and --hash: nothing written', () => {
    const img = images.split as MadeImage;
    const a = fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), SIZE), 512);
    const b = fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), SIZE), 512);
    const before = [sha256(a.file), sha256(b.file)];
    const cases: [string[], number, string, string[]?][] = [
      [[a.dev, b.dev, a.dev], 4, 'SAME_DRIVE'],
      // the loop device and the file behind it
      [[a.dev, b.dev, a.file], 4, 'SAME_DRIVE'],
      [[a.dev, img.parts[1] ?? ''], 4, 'SAME_DRIVE'],
      // no terminal to ask on
      [[a.dev, b.dev], 4, 'CONFIRMATION_REQUIRED'],
      // more hashes are a single restore's
      [[a.dev, b.dev], 2, 'USAGE', ['--hash', 'md5']],
    ];
    for (const [targets, status, code, extra] of cases) {
      const r = runCli(['restore', img.name, ...targets, ...(code === 'CONFIRMATION_REQUIRED' ? [] : ['--yes']), '--json', ...(extra ?? [])]);
      expect(r.status, `${targets.join(' ')}: ${r.stdout}`).toBe(status);
      expect(lastEvent(r, 'error')?.code).toBe(code);
    }
    expect([sha256(a.file), sha256(b.file)]).toEqual(before);
  });
});
