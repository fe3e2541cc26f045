// rescue on a real failing block device (nbdkit ddrescue filter -> nbdfuse -> direct-I/O
// loop device): reads really fail with EIO in the kernel. Root only.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { cli, lastEvent, runCli } from '../helpers/fixtures.js';
import { badSectors, failingDrive as startDrive, hasFailingDriveTools, missingFailingDriveTools, type FailingDrive, type FailingDriveOptions } from '../helpers/failing-drive.js';

function failingDrive(o: FailingDriveOptions): FailingDrive {
  mkdirSync(o.dir, { recursive: true });
  return startDrive(o);
}
import { parseMap } from '../../src/rescue/mapfile.js';

const MiB = 1 << 20;

function blocks(mapPath: string, status: string): { pos: number; size: number }[] {
  return parseMap(readFileSync(mapPath, 'utf8'), { path: mapPath })
    .blocks.filter((b) => b.status === status)
    .map(({ pos, size }) => ({ pos, size }));
}

function goodDataCopied(d: FailingDrive, target: string, mapPath: string): boolean {
  const a = readFileSync(d.image);
  const b = readFileSync(target);
  return blocks(mapPath, '+').every((blk) => b.subarray(blk.pos, blk.pos + blk.size).equals(a.subarray(blk.pos, blk.pos + blk.size)));
}

describeRoot('rescue from a real failing drive', () => {
  let dir: string;
  const drives: FailingDrive[] = [];
  beforeAll(() => {
    if (!hasFailingDriveTools) throw new Error(`missing ${missingFailingDriveTools.join(', ')}: run scripts/system-deps.sh as root`);
    dir = mkdtempSync('/dev/shm/cs-rescue-drive-');
  });
  afterAll(() => {
    for (const d of drives) d.down();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const sectorSize of [512, 4096] as const) {
    it(`maps exactly the injected bad sectors, copies every good byte, and ddrescue agrees (${sectorSize}-byte sectors)`, () => {
      const size = 16 * MiB;
      const perSector = (n: number): number => Math.floor((n * MiB) / sectorSize);
      // scattered single sectors, a short run, and two whole 64 KiB clusters
      const bad = badSectors(sectorSize, [1, 37, [perSector(5), 3], perSector(11), size / sectorSize - 1, [perSector(3), (64 * 1024) / sectorSize], [perSector(9) + (64 * 1024) / sectorSize, (64 * 1024) / sectorSize]]);
      const d = failingDrive({ dir: join(dir, `d${sectorSize}`), size, sectorSize, bad });
      drives.push(d);
      const target = join(dir, `rescued-${sectorSize}.img`);
      const map = join(dir, `rescued-${sectorSize}.map`);
      const r = runCli(['rescue', d.dev, target, map, '--json']);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      // exact: every injected sector bad, nothing else, nothing left untried
      expect(blocks(map, '-')).toEqual(d.bad.map((b) => ({ pos: b.offset, size: b.length })));
      for (const st of ['?', '*', '/']) expect(blocks(map, st)).toEqual([]);
      expect(goodDataCopied(d, target, map)).toBe(true);
      // GNU ddrescue's own tool reads our map and lists the same bad sectors
      const listed = spawnSync('ddrescuelog', ['--list-blocks=-', `-b${sectorSize}`, map], { encoding: 'utf8' });
      expect(listed.status, listed.stderr).toBe(0);
      const want = d.bad.flatMap((b) => Array.from({ length: b.length / sectorSize }, (_, i) => b.offset / sectorSize + i));
      expect(listed.stdout.trim().split('\n').map(Number)).toEqual(want);
      // ddrescue resumes from our map: nothing left for it to read
      const again = spawnSync('ddrescue', ['-d', `-b${sectorSize}`, '-r0', d.dev, target, map], { encoding: 'utf8' });
      expect(again.status, again.stderr).toBe(0);
      expect(blocks(map, '-')).toEqual(d.bad.map((b) => ({ pos: b.offset, size: b.length })));
    });
  }

  it('resumes from a map ddrescue left half-way on the same drive', () => {
    const size = 16 * MiB;
    const d = failingDrive({ dir: join(dir, 'dd-half'), size, sectorSize: 512, bad: badSectors(512, [100, [9000, 130], 20000]) });
    drives.push(d);
    const target = join(dir, 'dd-half.img');
    const map = join(dir, 'dd-half.map');
    // ddrescue's copying phase only (-n: no scraping), and only the first 10 MiB
    const first = spawnSync('ddrescue', ['-d', '-b512', '-n', '-s', '10Mi', d.dev, target, map], { encoding: 'utf8' });
    expect(first.status, first.stderr).toBe(0);
    expect(blocks(map, '?').length + blocks(map, '*').length + blocks(map, '/').length).toBeGreaterThan(0);
    const r = runCli(['rescue', d.dev, target, map, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(blocks(map, '-')).toEqual(d.bad.map((b) => ({ pos: b.offset, size: b.length })));
    expect(goodDataCopied(d, target, map)).toBe(true);
  });

  /** Starts a rescue of a slow drive and resolves once it has finished some data. */
  async function startSlowRescue(d: FailingDrive, target: string, map: string, extra: string[]): Promise<{ child: ReturnType<typeof spawn>; out: () => string; done: Promise<number | null> }> {
    const child = spawn(process.execPath, [cli, 'rescue', d.dev, target, map, '--json', '--cluster', '16KiB', ...extra]);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    const done = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const js = readdirSync(dir).filter((f) => f.startsWith(`${map.split('/').pop()}.journal-`));
      if (js.some((j) => statSync(join(dir, j)).size > 2000)) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    return { child, out: () => out, done };
  }

  it('stops with DRIVE_GONE when the drive drops off, map saved; resumes on the replugged drive', async () => {
    const size = 32 * MiB;
    const d = failingDrive({ dir: join(dir, 'pull'), size, sectorSize: 512, bad: badSectors(512, [5, 40000]), delayMs: 5 });
    drives.push(d);
    const target = join(dir, 'pull.img');
    const map = join(dir, 'pull.map');
    const run = await startSlowRescue(d, target, map, []);
    d.pull();
    const status = await run.done;
    expect(status, run.out()).toBe(1);
    expect(run.out()).toContain('"code":"DRIVE_GONE"');
    // nothing was marked bad because the drive went away
    const rescuedBefore = blocks(map, '+').reduce((t, b) => t + b.size, 0);
    expect(rescuedBefore).toBeGreaterThan(0);
    expect(blocks(map, '-').length).toBeLessThanOrEqual(1);
    const dev = d.replug();
    const r = runCli(['rescue', dev, target, map, '--json']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(blocks(map, '-')).toEqual(d.bad.map((b) => ({ pos: b.offset, size: b.length })));
    expect(goodDataCopied(d, target, map)).toBe(true);
  });

  it('--wait-for-return waits for the same drive under a new name and finishes', async () => {
    const size = 32 * MiB;
    const d = failingDrive({ dir: join(dir, 'wait'), size, sectorSize: 512, bad: badSectors(512, [7, [30000, 64]]), delayMs: 5 });
    drives.push(d);
    const target = join(dir, 'wait.img');
    const map = join(dir, 'wait.map');
    const run = await startSlowRescue(d, target, map, ['--wait-for-return']);
    d.pull();
    const deadline = Date.now() + 20_000;
    while (!run.out().includes('waiting for the drive') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    expect(run.out()).toContain('waiting for the drive');
    const dev = d.replug();
    const status = await run.done;
    expect(status, run.out()).toBe(0);
    expect(run.out()).toContain(`the drive is back as ${dev}`);
    expect(blocks(map, '-')).toEqual(d.bad.map((b) => ({ pos: b.offset, size: b.length })));
    expect(goodDataCopied(d, target, map)).toBe(true);
    expect(lastEvent({ status, stdout: run.out(), stderr: '', events: run.out().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) }, 'done')?.finished).toBe(true);
  });

  it('gives up after --timeout seconds without a good read, map saved, resumable', () => {
    const size = 32 * MiB;
    // the last 24 MiB unreadable, every read 20 ms: the skipping pass spends seconds there
    const d = failingDrive({ dir: join(dir, 'timeout'), size, sectorSize: 512, bad: [{ offset: 8 * MiB, length: 24 * MiB }], delayMs: 20 });
    drives.push(d);
    const target = join(dir, 'timeout.img');
    const map = join(dir, 'timeout.map');
    const r = runCli(['rescue', d.dev, target, map, '--json', '--timeout', '1']);
    expect(r.status, r.stderr + r.stdout).toBe(1);
    expect(lastEvent(r, 'error')?.code).toBe('RESCUE_TIMEOUT');
    expect(blocks(map, '+')).toEqual([{ pos: 0, size: 8 * MiB }]);
    expect(goodDataCopied(d, target, map)).toBe(true);
  });

  it('stops on SIGINT with exit 130, the map saved and no journal left; the rerun completes', async () => {
    const size = 32 * MiB;
    const d = failingDrive({ dir: join(dir, 'sigint'), size, sectorSize: 512, bad: badSectors(512, [3000]), delayMs: 5 });
    drives.push(d);
    const target = join(dir, 'sigint.img');
    const map = join(dir, 'sigint.map');
    const run = await startSlowRescue(d, target, map, []);
    run.child.kill('SIGINT');
    expect(await run.done, run.out()).toBe(130);
    expect(run.out()).toContain('"code":"CANCELLED"');
    const saved = blocks(map, '+').reduce((t, b) => t + b.size, 0);
    expect(saved).toBeGreaterThan(0);
    expect(saved).toBeLessThan(size);
    expect(readdirSync(join(dir)).filter((f) => f.startsWith('sigint.map.journal-'))).toEqual([]);
    const r = runCli(['rescue', d.dev, target, map, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(blocks(map, '-')).toEqual([{ pos: 3000 * 512, size: 512 }]);
    expect(goodDataCopied(d, target, map)).toBe(true);
  });

  it('--min-read-rate leaves slow areas for a later pass, and still rescues everything', () => {
    // No bad sector at all, every read 20 ms: far below 1 GB/s, so the first pass must skip
    // ahead at least once and a later pass must pick the skipped area up.
    const size = 64 * MiB;
    const d = failingDrive({ dir: join(dir, 'slow'), size, sectorSize: 512, bad: [], delayMs: 20 });
    drives.push(d);
    const target = join(dir, 'slow.img');
    const map = join(dir, 'slow.map');
    const r = runCli(['rescue', d.dev, target, map, '--json', '--min-read-rate', '1GB']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const passes = lastEvent(r, 'done')?.passes as { name: string; bytesRescued: number }[];
    expect(passes[0].name).toBe('copy 1');
    expect(passes[0].bytesRescued).toBeLessThan(size);
    expect(passes.slice(1).reduce((t, p) => t + p.bytesRescued, 0)).toBe(size - passes[0].bytesRescued);
    expect(blocks(map, '+')).toEqual([{ pos: 0, size }]);
    expect(goodDataCopied(d, target, map)).toBe(true);
  });

  it('maps a patchy cluster exactly: good sectors between bad ones are not lost to merged requests', () => {
    // Bad and good sectors alternating inside one cluster: the block layer merges adjacent
    // reads in flight, and a merged request with one bad sector fails as a whole. Reads of
    // single sectors must never be in flight next to each other.
    const size = 8 * MiB;
    const base = (3 * MiB) / 512;
    const bad = badSectors(512, [base + 1, base + 3, [base + 6, 2], base + 9, base + 14, base + 40, [base + 60, 3], base + 100]);
    const d = failingDrive({ dir: join(dir, 'patchy'), size, sectorSize: 512, bad });
    drives.push(d);
    const target = join(dir, 'patchy.img');
    const map = join(dir, 'patchy.map');
    const r = runCli(['rescue', d.dev, target, map, '--json']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(blocks(map, '-')).toEqual(d.bad.map((b) => ({ pos: b.offset, size: b.length })));
    expect(goodDataCopied(d, target, map)).toBe(true);
  });
});

