// `clonestation backup` on real loop devices, read back by real tools: sha256sum -c,
// unzip -t, 7z t, cat. Faults: a full output file system (a small tmpfs), an interrupt,
// a failing source (nbdkit fixture), an existing image; and --keep pruning.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { cli, lastEvent, runCli, sha256, sh, useLoopScratch } from '../helpers/fixtures.js';
import { mixedImage, tool } from '../helpers/zip.js';
import { badSectors, failingDrive } from '../helpers/failing-drive.js';
import { pausableDevice, slowTarget } from '../helpers/slow-target.js';
import { startCli } from '../helpers/running-cli.js';
import type { Manifest } from '../../src/image/manifest.js';

const MiB = 1 << 20;

function manifestOf(image: string): Manifest {
  return JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8')) as Manifest;
}

describeRoot('backup', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let src: { dev: string; file: string };
  const size = 24 * MiB + 5 * 4096; // not a multiple of the split sizes below

  beforeAll(() => {
    const file = join(fx.dir(), 'src.img');
    writeFileSync(file, mixedImage(size, 7));
    src = fx.loop(file);
  });

  it('raw: one file, byte-identical, hashes that sha256sum -c and md5sum -c accept, a complete manifest', () => {
    const out = join(fx.dir(), 'raw', 'disk.img');
    mkdirSync(join(fx.dir(), 'raw'));
    const r = runCli(['backup', src.dev, out, '--hash', 'sha256,md5,blake3', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(out)).toBe(sha256(src.file));
    expect(tool('sha256sum', ['-c', 'disk.img.sha256'], join(fx.dir(), 'raw')).status).toBe(0);
    expect(tool('md5sum', ['-c', 'disk.img.md5'], join(fx.dir(), 'raw')).status).toBe(0);
    const m = manifestOf(out);
    expect(m.complete).toBe(true);
    expect(m.image).toMatchObject({ format: 'raw', name: 'disk.img', parts: [{ name: 'disk.img', size }] });
    expect(m.hashes.sha256).toBe(sha256(src.file));
    expect(m.hashes.blake3).toMatch(/^[0-9a-f]{64}$/);
    expect(m.source).toMatchObject({ path: src.dev, kind: 'block', size });
    expect(lastEvent(r, 'done')?.image).toBe(out);
  });

  it('raw split: parts that do not divide the image; cat gives it back; each part checked', () => {
    const dir = join(fx.dir(), 'split');
    mkdirSync(dir);
    const out = join(dir, 'disk.img');
    const r = runCli(['backup', src.dev, out, '--split', '5MiB', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const parts = readdirSync(dir).filter((f) => /^disk\.img\.\d{3}$/.test(f)).sort();
    expect(parts).toEqual(['disk.img.001', 'disk.img.002', 'disk.img.003', 'disk.img.004', 'disk.img.005']);
    const joined = join(dir, 'joined');
    spawnSync('sh', ['-c', `cat ${parts.map((p) => join(dir, p)).join(' ')} > ${joined}`]);
    expect(sha256(joined)).toBe(sha256(src.file));
    expect(tool('sha256sum', ['-c', 'disk.img.sha256'], dir).status).toBe(0);
    const m = manifestOf(out);
    expect(m.image.parts.map((p) => p.size)).toEqual([5, 5, 5, 5, 4].map((n) => n * MiB).map((n, i) => (i === 4 ? size - 20 * MiB : n)));
    expect(m.hashes.sha256).toBe(sha256(src.file));
  });

  it('zip and split zip: unzip -t and 7z t accept them, and they hold the image', () => {
    const dir = join(fx.dir(), 'zip');
    mkdirSync(dir);
    const out = join(dir, 'disk.zip');
    expect(runCli(['backup', src.dev, out, '--level', '1']).status).toBe(0);
    expect(tool('unzip', ['-tq', out]).status).toBe(0);
    const restored = join(dir, 'unzipped.img');
    spawnSync('sh', ['-c', `unzip -p ${out} > ${restored}`]);
    expect(sha256(restored)).toBe(sha256(src.file));
    expect(tool('sha256sum', ['-c', 'disk.zip.sha256'], dir).status).toBe(0);
    const m = manifestOf(out);
    expect(m.image).toMatchObject({ format: 'zip', entryName: 'disk.img', level: 1 });
    expect(m.hashes.sha256).toBe(sha256(src.file));

    const split = join(dir, 'parts.zip');
    expect(runCli(['backup', src.dev, split, '--split', '3MiB']).status).toBe(0);
    expect(existsSync(`${split}.001`) && existsSync(`${split}.002`)).toBe(true);
    expect(tool('7z', ['t', `${split}.001`]).status).toBe(0);
    expect(tool('sha256sum', ['-c', 'parts.zip.sha256'], dir).status).toBe(0);
  });

  it('refuses to replace an image, and to write it onto the drive being backed up', () => {
    const out = join(fx.dir(), 'raw', 'disk.img');
    const before = sha256(out);
    const r = runCli(['backup', src.dev, out, '--json']);
    expect(r.status).toBe(4);
    expect(lastEvent(r, 'error')?.code).toBe('OUTPUT_EXISTS');
    expect(sha256(out)).toBe(before);
    const bad = runCli(['backup', src.dev, join(fx.dir(), 'x.tar'), '--json']);
    expect(bad.status).toBe(2);
    expect(String(lastEvent(bad, 'error')?.message)).toMatch(/\.img or \.raw .* \.zip/);
  });

  it('a mounted source is backed up, with a note that the copy may be inconsistent', () => {
    const file = join(fx.dir(), 'fs.img');
    writeFileSync(file, Buffer.alloc(16 * MiB));
    sh('mkfs.ext4', ['-q', '-F', file]);
    const dev = fx.loop(file);
    const mnt = join(fx.dir(), 'mnt');
    mkdirSync(mnt);
    sh('mount', [dev.dev, mnt]);
    try {
      const out = join(fx.dir(), 'mounted.img');
      const r = runCli(['backup', dev.dev, out, '--json']);
      expect(r.status, r.stderr).toBe(0);
      const notes = r.events.filter((e) => e.event === 'note').map((e) => String(e.message));
      expect(notes.some((n) => n.includes(`source ${dev.dev} is mounted (${mnt})`) && n.includes('inconsistent'))).toBe(true);
      expect(manifestOf(out).complete).toBe(true);
    } finally {
      if (spawnSync('umount', [mnt]).status !== 0) spawnSync('umount', ['-l', mnt]);
    }
  });

  it('not enough room: a raw (or stored zip) backup is refused before writing (TARGET_TOO_SMALL, exit 4); a zip that outgrows it is OUTPUT_FULL', () => {
    const small = join(fx.dir(), 'small');
    mkdirSync(small);
    sh('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
    try {
      for (const [out, extra] of [['disk.img', []], ['parts.img', ['--split', '3MiB']], ['stored.zip', ['--level', '0']]] as const) {
        const r = runCli(['backup', src.dev, join(small, out), '--json', ...extra]);
        expect(r.status, r.stderr).toBe(4);
        const err = lastEvent(r, 'error');
        expect(err?.code).toBe('TARGET_TOO_SMALL');
        expect(String(err?.message)).toMatch(/has [\d.]+ MiB free but the (image|stored ZIP) needs 24\.\d+ MiB/);
        // refused: not even the manifest was written
        expect(readdirSync(small)).toEqual([]);
      }
      // what fits is not refused
      const fits = runCli(['backup', src.dev, join(small, 'head.img'), '--length', '6MiB', '--json']);
      expect(fits.status, fits.stderr).toBe(0);
      expect(sha256(join(small, 'head.img'))).toBe(sha256(src.file, 0, 6 * MiB));
      sh('rm', ['-f', ...readdirSync(small).map((f) => join(small, f))]);
      // the space comes back when the kernel lets go of the removed file: io_uring's teardown
      // of the finished run's ring is delayed (kworker iou_exit), so wait for it
      for (const until = Date.now() + 20_000; statfsSync(small).bavail * statfsSync(small).bsize < 7.5 * MiB && Date.now() < until; ) spawnSync('sleep', ['0.05']);
      // a compressed zip's size is not known beforehand: it runs, fills the drive, and says so
      writeFileSync(join(small, 'filler'), Buffer.alloc(7 * MiB, 1));
      const z = runCli(['backup', src.dev, join(small, 'disk.zip'), '--level', '1', '--json']);
      expect(z.status, z.stderr).toBe(1);
      expect(lastEvent(z, 'error')?.code).toBe('OUTPUT_FULL');
      expect(existsSync(join(small, 'disk.zip'))).toBe(false);
      expect(manifestOf(join(small, 'disk.zip')).complete).toBe(false);
    } finally {
      if (spawnSync('umount', [small]).status !== 0) spawnSync('umount', ['-l', small]);
    }
  });

  it('an interrupted backup is marked incomplete, never left looking complete', async () => {
    const dir = join(fx.dir(), 'intr');
    mkdirSync(dir);
    const out = join(dir, 'disk.img');
    // a slow source (nbdkit's rate filter), so the interrupt lands mid-copy
    const slow = slowTarget(join(dir, 'slow'), 16 * MiB, 4_000_000);
    try {
      const child = spawn(process.execPath, [cli, 'backup', slow.dev, out, '--json']);
      const closed = new Promise<number | null>((r) => child.on('close', r));
      let stdout = '';
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes('"event":"progress"')) resolve();
        });
        void closed.then(() => resolve());
      });
      child.kill('SIGINT');
      expect(await closed, stdout).toBe(130);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(`${out}.partial`)).toBe(true);
      expect(existsSync(`${out}.sha256`)).toBe(false);
      expect(manifestOf(out)).toMatchObject({ complete: false });
      expect(manifestOf(out).incompleteReason).toMatch(/CANCELLED/);
    } finally {
      slow.down();
    }
  });

  it('a rerun of an interrupted backup (SIGINT, kill -9) replaces it without --force, byte-exact; a running one is BACKUP_RUNNING; a complete one OUTPUT_EXISTS', async () => {
    const dir = join(fx.dir(), 'rerun');
    mkdirSync(dir);
    const data = join(dir, 'data.bin');
    writeFileSync(data, mixedImage(8 * MiB, 3));
    // a slow copy of `data` (nbdkit's rate filter), so each stop lands mid-copy
    const slow = pausableDevice(join(dir, 'slow'), 8 * MiB, { file: data, bytesPerSec: 4_000_000 });
    const start = (out: string, extra: string[]): { closed: Promise<number | null>; progressed: Promise<void>; kill: (s: NodeJS.Signals) => void; out: () => string } => {
      const child = spawn(process.execPath, [cli, 'backup', slow.dev, out, '--hash', 'sha256,md5', '--json', ...extra]);
      const closed = new Promise<number | null>((r) => child.on('close', r));
      let stdout = '';
      const progressed = new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes('"event":"progress"')) resolve();
        });
        void closed.then(() => resolve());
      });
      return { closed, progressed, kill: (sig) => child.kill(sig), out: () => stdout };
    };
    try {
      const runs = [
        ['SIGINT', 'int.img', []],
        ['SIGKILL', 'kill.img', ['--split', '3MiB']],
        ['SIGKILL', 'kill.zip', ['--split', '1MiB', '--level', '1']],
      ] as const;
      for (const [sig, name, extra] of runs) {
        const out = join(dir, name);
        const first = start(out, [...extra]);
        await first.progressed;
        first.kill(sig);
        expect(await first.closed, first.out()).toBe(sig === 'SIGINT' ? 130 : null);
        expect(manifestOf(out).complete).toBe(false);
        expect(existsSync(out) || existsSync(`${out}.001`)).toBe(false);
        // the same command again, no --force: the unfinished one is replaced
        const again = runCli(['backup', slow.dev, out, '--hash', 'sha256,md5', '--json', ...extra]);
        expect(again.status, again.stderr + again.stdout).toBe(0);
        expect(again.events.some((e) => e.event === 'note' && /replacing the unfinished backup/.test(String(e.message)))).toBe(true);
        const m = manifestOf(out);
        expect(m.complete).toBe(true);
        expect(m.writer).toBeUndefined();
        expect(m.hashes.sha256).toBe(sha256(data));
        const parts = m.image.parts.map((p) => p.name);
        if (name === 'kill.img') expect(parts).toEqual(['kill.img.001', 'kill.img.002', 'kill.img.003']);
        if (name === 'kill.zip') expect(parts.length).toBeGreaterThan(1);
        // nothing of the killed run is left: only the new image's files
        expect(readdirSync(dir).filter((f) => f.startsWith(name)).sort()).toEqual([...parts, `${name}.manifest.json`, `${name}.md5`, `${name}.sha256`].sort());
        const joined = join(dir, `${name}.joined`);
        const readBack = (): string => {
          spawnSync('sh', ['-c', `cat ${parts.map((p) => join(dir, p)).join(' ')} > ${joined}`]);
          if (name.endsWith('.zip')) spawnSync('sh', ['-c', `unzip -p ${joined} > ${joined}.img`]);
          return sha256(name.endsWith('.zip') ? `${joined}.img` : joined);
        };
        expect(readBack()).toBe(sha256(data));
        expect(tool('sha256sum', ['-c', `${name}.sha256`], dir).status).toBe(0);
        expect(tool('md5sum', ['-c', `${name}.md5`], dir).status).toBe(0);
        if (name.endsWith('.zip')) expect(tool('7z', ['t', `${out}.001`]).status).toBe(0);
        // complete now: protected, and left as it is
        const third = runCli(['backup', slow.dev, out, '--json', ...extra]);
        expect(third.status).toBe(4);
        expect(lastEvent(third, 'error')?.code).toBe('OUTPUT_EXISTS');
        expect(readBack()).toBe(sha256(data));
        expect(manifestOf(out).complete).toBe(true);
      }
      // while a backup runs, the same command is refused and the running one is untouched
      const out = join(dir, 'busy.img');
      const running = start(out, []);
      await running.progressed;
      // the first is held mid-copy while the second starts (a busy machine could otherwise
      // finish it first); the second meets the lock before it reads anything of the source,
      // so it ends while the source is still held (it runs in the background: were it to read
      // the held source, the drive is let go after 60 s and the test fails)
      await slow.pause();
      const second = startCli(['backup', slow.dev, out, '--json']);
      let timer: NodeJS.Timeout | undefined;
      let hung = true;
      try {
        hung = await Promise.race([second.ended.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 60_000)))]);
      } finally {
        clearTimeout(timer);
        await slow.resume();
      }
      const ended = await second.ended;
      expect(hung, 'the second backup read the held source before it met the lock').toBe(false);
      expect(ended.status, second.stderr()).toBe(4);
      expect(second.stdout()).toMatch(/"code":"BACKUP_RUNNING"/);
      expect(await running.closed, running.out()).toBe(0);
      expect(sha256(out)).toBe(sha256(data));
      // --force over a complete split: parts and hash files it does not write again go
      const forced = runCli(['backup', slow.dev, join(dir, 'kill.img'), '--force', '--split', '5MiB', '--hash', 'sha1', '--json']);
      expect(forced.status, forced.stderr).toBe(0);
      expect(readdirSync(dir).filter((f) => f.startsWith('kill.img')).sort()).toEqual(['kill.img.001', 'kill.img.002', 'kill.img.joined', 'kill.img.manifest.json', 'kill.img.sha1']);
      expect(tool('sha1sum', ['-c', 'kill.img.sha1'], dir).status).toBe(0);
    } finally {
      slow.down();
    }
  });

  it('zip, split zip and raw split with --hash sha256,md5: both hash files, both hashes on every part (sha256sum -c, md5sum -c, 7z t)', () => {
    const dir = join(fx.dir(), 'twohash');
    mkdirSync(dir);
    for (const [out, extra] of [['one.zip', []], ['many.zip', ['--split', '4MiB']], ['many.img', ['--split', '7MiB']]] as const) {
      const r = runCli(['backup', src.dev, join(dir, out), '--hash', 'sha256,md5', '--level', '1', '--json', ...extra]);
      expect(r.status, r.stderr).toBe(0);
      expect(tool('sha256sum', ['-c', `${out}.sha256`], dir).status).toBe(0);
      expect(tool('md5sum', ['-c', `${out}.md5`], dir).status).toBe(0);
      const m = manifestOf(join(dir, out));
      if (extra.length === 0) expect(m.image.parts).toHaveLength(1);
      else expect(m.image.parts.length).toBeGreaterThan(out.endsWith('.img') ? 3 : 1);
      for (const p of m.image.parts) {
        const file = readFileSync(join(dir, p.name));
        expect(p.hashes.sha256).toBe(createHash('sha256').update(file).digest('hex'));
        expect(p.hashes.md5).toBe(createHash('md5').update(file).digest('hex'));
      }
      expect(readFileSync(join(dir, `${out}.md5`), 'utf8').trim().split('\n')).toHaveLength(m.image.parts.length);
      if (out.endsWith('.zip')) expect(tool('7z', ['t', join(dir, extra.length > 0 ? `${out}.001` : out)]).status).toBe(0);
      expect(m.hashes.sha256).toBe(sha256(src.file));
      expect(m.hashes.md5).toBe(createHash('md5').update(readFileSync(src.file)).digest('hex'));
    }
  });

  it('--keep N prunes the oldest complete backups of the same source; names from a template', () => {
    const dir = join(fx.dir(), 'keep');
    mkdirSync(dir);
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = runCli(['backup', src.dev, join(dir, `{source}-{datetime}-${i}.img`), '--keep', '2', '--length', '1MiB', '--json']);
      expect(r.status, r.stderr).toBe(0);
      made.push(String(lastEvent(r, 'done')?.image));
      spawnSync('sleep', ['1.1']);
    }
    expect(made[0]).toMatch(/loop\d+-\d{4}-\d\d-\d\dT\d{6}-0\.img$/);
    expect(existsSync(made[0])).toBe(false);
    expect(existsSync(`${made[0]}.manifest.json`)).toBe(false);
    expect(existsSync(made[1]) && existsSync(made[2])).toBe(true);
  });

  it('a failing source: the rescue map beside the image, unreadable sectors listed, resumable', async () => {
    const dir = join(fx.dir(), 'sick');
    mkdirSync(dir);
    const bad = badSectors(512, [100, [3000, 8], 9000]);
    mkdirSync(join(dir, 'drive'));
    // slow reads, so that an interrupt lands mid-rescue
    const drive = failingDrive({ dir: join(dir, 'drive'), size: 8 * MiB, sectorSize: 512, bad, delayMs: 20 });
    try {
      const out = join(dir, 'sick.img');
      const first = spawn(process.execPath, [cli, 'backup', drive.dev, out, '--rescue', '--json']);
      const closed = new Promise<number | null>((r) => first.on('close', r));
      await new Promise((r) => setTimeout(r, 1000));
      first.kill('SIGINT');
      expect(await closed).toBe(130);
      expect(existsSync(`${out}.map`) && existsSync(`${out}.partial`)).toBe(true);
      expect(manifestOf(out).complete).toBe(false);
      // the same command again goes on from the map
      const r = runCli(['backup', drive.dev, out, '--rescue', '--json']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/resuming from map .*sick\.img\.map/);
      const m = manifestOf(out);
      expect(m.complete).toBe(true);
      expect(m.rescue?.map).toBe('sick.img.map');
      expect(m.rescue?.badBytes).toBe(10 * 512);
      expect(m.rescue?.unreadable).toEqual(bad.map((b) => ({ offset: b.offset, length: b.length })));
      expect(existsSync(`${out}.map`)).toBe(true);
      expect(m.hashes.sha256).toBe(sha256(out));
      // every good byte is the drive's
      const good = readFileSync(drive.image);
      const img = readFileSync(out);
      for (const b of bad) good.fill(0, b.offset, b.offset + b.length);
      expect(img.equals(good)).toBe(true);
    } finally {
      drive.down();
    }
  });
});
