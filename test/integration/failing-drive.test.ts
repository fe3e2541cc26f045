// The failing-drive fixture is a real failing drive: a block device whose O_DIRECT reads
// fail with EIO exactly at the injected bad sectors, that GNU ddrescue maps exactly, that
// can drop off the bus and come back, and that can be slow. Root only; the tools are
// required (CI installs them), so their absence fails rather than skips.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describeRoot } from '../helpers/root.js';
import { scratch } from '../helpers/fixtures.js';
import {
  badSectorNumbers,
  badSectors,
  failingDrive,
  missingFailingDriveTools,
  type BadArea,
  type FailingDrive,
} from '../helpers/failing-drive.js';

const KiB = 1024;
const MiB = 1024 * KiB;

type Read = { ok: true; data: Buffer } | { ok: false; eio: boolean; stderr: string };

/** One O_DIRECT read of `count` sectors at sector `first`, as a separate process (dd). */
function readSectors(dev: string, sectorSize: number, first: number, count = 1): Read {
  const r = spawnSync('dd', [`if=${dev}`, `bs=${sectorSize}`, 'iflag=direct', `skip=${first}`, `count=${count}`, 'status=none'], {
    timeout: 30_000,
    maxBuffer: 64 * MiB,
  });
  const stderr = r.stderr.toString();
  if (r.status === 0 && r.stdout.length === count * sectorSize) return { ok: true, data: r.stdout };
  return { ok: false, eio: /Input\/output error/.test(stderr), stderr: stderr || `status ${String(r.status)}` };
}

function expectEio(r: Read, what: string): void {
  expect(r.ok, `${what} should fail`).toBe(false);
  if (!r.ok) expect(r.eio, `${what} should fail with EIO, got: ${r.stderr}`).toBe(true);
}

function expectData(r: Read, src: Buffer, offset: number, what: string): void {
  expect(r.ok, `${what} should succeed${r.ok ? '' : `: ${r.stderr}`}`).toBe(true);
  if (r.ok) expect(r.data.equals(src.subarray(offset, offset + r.data.length)), `${what} returns the source's bytes`).toBe(true);
}

/** Scattered single sectors (an adjacent pair, the second and the last sector among them)
 *  and two whole 64 KiB clusters. */
function layout(size: number, ss: number): BadArea[] {
  const n = size / ss;
  const third = Math.floor(n * 0.3);
  return badSectors(ss, [
    1,
    37,
    third + 3,
    third + 4,
    Math.floor(n * 0.55) + 11,
    n - 1,
    [(3 * MiB) / ss, (64 * KiB) / ss],
    [(9 * MiB + 64 * KiB) / ss, (64 * KiB) / ss],
  ]);
}

function loopRecords(dir: string): { name: string; id: string }[] {
  const file = join(dir, 'loops');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name = '', id = ''] = l.split(' ');
      return { name, id };
    });
}

describeRoot('failing drive fixture (nbdkit ddrescue filter, nbdfuse, direct-I/O loop device)', () => {
  let s: ReturnType<typeof scratch> | undefined;
  const drives: FailingDrive[] = [];
  const records: { name: string; id: string }[] = [];
  const dirOf = (name: string): string => {
    if (!s) throw new Error('no scratch dir');
    const d = join(s.dir, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const up = (opts: Parameters<typeof failingDrive>[0]): FailingDrive => {
    const d = failingDrive(opts);
    drives.push(d);
    return d;
  };
  const downAll = (): void => {
    for (const d of drives) {
      records.push(...loopRecords(d.dir));
      d.down();
    }
  };

  beforeAll(() => {
    s = scratch('cs-fd-');
  });
  afterAll(() => {
    try {
      downAll();
    } finally {
      s?.cleanup();
    }
  });

  it('has nbdkit (ddrescue and delay filters), nbdfuse, fusermount3 and losetup', () => {
    expect(missingFailingDriveTools, 'apt-get install nbdkit libnbd-bin fuse3 (scripts/system-packages.txt)').toEqual([]);
  });

  for (const ss of [512, 4096] as const) {
    describe(`${ss}-byte sectors`, () => {
      const size = 16 * MiB;
      let drive: FailingDrive;
      let src: Buffer;
      beforeAll(() => {
        drive = up({ dir: dirOf(`d${ss}`), size, sectorSize: ss, bad: layout(size, ss) });
        src = readFileSync(drive.image);
      });

      it('is a read-only loop device with direct I/O and the right sector size', () => {
        const name = drive.dev.replace('/dev/', '');
        expect(statSync(drive.dev).isBlockDevice()).toBe(true);
        expect(readFileSync(`/sys/block/${name}/loop/dio`, 'utf8').trim()).toBe('1');
        expect(readFileSync(`/sys/block/${name}/ro`, 'utf8').trim()).toBe('1');
        expect(Number(readFileSync(`/sys/block/${name}/queue/logical_block_size`, 'utf8'))).toBe(ss);
        expect(Number(readFileSync(`/sys/block/${name}/size`, 'utf8')) * 512).toBe(size);
        expect(drive.bad.length).toBe(7); // the adjacent pair is one area
      });

      it('(a) fails O_DIRECT reads of bad sectors with EIO and reads their neighbours', () => {
        const last = size / ss - 1;
        for (const b of drive.bad) {
          const first = b.offset / ss;
          const end = (b.offset + b.length) / ss - 1;
          for (const sec of new Set([first, Math.floor((first + end) / 2), end])) {
            expectEio(readSectors(drive.dev, ss, sec), `bad sector ${sec}`);
          }
          if (first > 0) expectData(readSectors(drive.dev, ss, first - 1), src, (first - 1) * ss, `good sector ${first - 1}`);
          if (end < last) expectData(readSectors(drive.dev, ss, end + 1), src, (end + 1) * ss, `good sector ${end + 1}`);
          // a larger read that covers a bad sector fails as a whole
          if (first >= 4) expectEio(readSectors(drive.dev, ss, first - 4, 8), `8 sectors from ${first - 4}`);
        }
        // sector 0 and a long good run read fine
        expectData(readSectors(drive.dev, ss, 0), src, 0, 'sector 0');
        const run = (5 * MiB) / ss;
        expectData(readSectors(drive.dev, ss, run, MiB / ss), src, run * ss, '1 MiB at 5 MiB');
      });

      it('(b) GNU ddrescue rebuilds exactly the injected bad set', () => {
        const out = join(drive.dir, 'rescued.img');
        const map = join(drive.dir, 'rescued.map');
        const r = spawnSync('ddrescue', ['-q', '-d', '-b', String(ss), drive.dev, out, map], { encoding: 'utf8', timeout: 120_000 });
        expect(r.status, r.stderr + r.stdout).toBe(0);
        const list = spawnSync('ddrescuelog', ['--list-blocks=-', '-b', String(ss), map], { encoding: 'utf8' });
        expect(list.status, list.stderr).toBe(0);
        const found = list.stdout
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map(Number);
        expect(found).toEqual(badSectorNumbers(drive.bad, ss));
        // nothing left untried, and every good byte rescued
        const pending = spawnSync('ddrescuelog', ['--list-blocks=?*/', '-b', String(ss), map], { encoding: 'utf8' });
        expect(pending.stdout.trim()).toBe('');
        const expected = Buffer.from(src);
        for (const b of drive.bad) expected.fill(0, b.offset, b.offset + b.length);
        const got = Buffer.alloc(size);
        readFileSync(out).copy(got);
        expect(got.equals(expected)).toBe(true);
      });

      it('(c) pull() fails every read with EIO and keeps the node; replug() is a new device with the same data', () => {
        const old = drive.dev;
        const oldName = old.replace('/dev/', '');
        drive.pull();
        expect(statSync(old).isBlockDevice()).toBe(true);
        expect(existsSync(`/sys/block/${oldName}/loop/backing_file`)).toBe(true);
        for (const sec of [0, 2, size / ss / 2, size / ss - 2]) expectEio(readSectors(old, ss, sec), `sector ${sec} of a pulled drive`);
        // buffered reads fail too (nothing of this range was cached)
        const buffered = spawnSync('dd', [`if=${old}`, `bs=${ss}`, `skip=${(7 * MiB) / ss}`, 'count=1', 'status=none']);
        expect(buffered.status).not.toBe(0);
        expect(buffered.stderr.toString()).toMatch(/Input\/output error/);

        const dev = drive.replug();
        expect(dev).not.toBe(old);
        expect(drive.dev).toBe(dev);
        expect(statSync(dev).isBlockDevice()).toBe(true);
        expect(readFileSync(`/sys/block/${dev.replace('/dev/', '')}/loop/dio`, 'utf8').trim()).toBe('1');
        expectData(readSectors(dev, ss, MiB / ss, MiB / ss), src, MiB, 'a MiB at 1 MiB after replug');
        expectData(readSectors(dev, ss, (12 * MiB) / ss, MiB / ss), src, 12 * MiB, 'a MiB at 12 MiB after replug');
        const [firstBad] = drive.bad;
        if (!firstBad) throw new Error('no bad areas');
        expectEio(readSectors(dev, ss, firstBad.offset / ss), 'a bad sector after replug');
        // the old device stays dead
        expectEio(readSectors(old, ss, 0), 'sector 0 of the old device');
      });
    });
  }

  it('(d) with delayMs, every read (good or bad) takes at least that long', () => {
    const ss = 512;
    const drive = up({ dir: dirOf('slow'), size: 2 * MiB, sectorSize: ss, bad: badSectors(ss, [100]), delayMs: 10 });
    const src = readFileSync(drive.image);
    expectData(readSectors(drive.dev, ss, 0), src, 0, 'warm-up read');
    let t = performance.now();
    expectData(readSectors(drive.dev, ss, 1), src, ss, 'one delayed read');
    expect(performance.now() - t).toBeGreaterThanOrEqual(9.5);
    // five sequential O_DIRECT reads: five delays
    t = performance.now();
    expectData(readSectors(drive.dev, ss, 200, 5), src, 200 * ss, 'five delayed reads');
    expect(performance.now() - t).toBeGreaterThanOrEqual(49.5);
    // the delay filter sits before the ddrescue filter: a failing read is slow too
    t = performance.now();
    expectEio(readSectors(drive.dev, ss, 100), 'a delayed bad sector');
    expect(performance.now() - t).toBeGreaterThanOrEqual(9.5);
  });

  it('leaves no loop device, mount or nbdkit/nbdfuse process behind', () => {
    expect(drives.length).toBe(3);
    const dir = s?.dir ?? '';
    downAll();
    for (const d of drives) d.down(); // idempotent
    expect(records.length).toBeGreaterThanOrEqual(5); // 3 drives, 2 replugs
    for (const { name, id } of records) {
      let now = '';
      try {
        now = statSync(`/sys/block/${name}/loop`, { bigint: true }).ino.toString();
      } catch {
        // detached
      }
      expect(now, `/dev/${name} still attached`).not.toBe(id);
    }
    const losetup = spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout;
    expect(losetup.split('\n').filter((l) => l.includes(dir))).toEqual([]);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    expect(mounts.split('\n').filter((l) => l.includes(dir))).toEqual([]);
    const procs = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ');
        } catch {
          return '';
        }
      })
      .filter((c) => c.includes(dir) && /nbdkit|nbdfuse/.test(c));
    expect(procs).toEqual([]);
  });
});
