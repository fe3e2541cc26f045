// `clonestation backup` on real loop devices, read back by real tools: sha256sum -c,
// unzip -t, 7z t, cat. Faults: a full output file system (a small tmpfs), an interrupt,
// a failing source (nbdkit fixture), an existing image; and --keep pruning.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { cli, lastEvent, runCli, sha256, sh, useLoopScratch } from '../helpers/fixtures.js';
import { mixedImage, tool } from '../helpers/zip.js';
import { badSectors, failingDrive } from '../helpers/failing-drive.js';
import { slowTarget } from '../helpers/slow-target.js';
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

  it('a full output drive: OUTPUT_FULL, exit 1, nothing under the final name, manifest says incomplete', () => {
    const small = join(fx.dir(), 'small');
    mkdirSync(small);
    sh('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
    try {
      const out = join(small, 'disk.img');
      const r = runCli(['backup', src.dev, out, '--json']);
      expect(r.status, r.stderr).toBe(1);
      expect(lastEvent(r, 'error')?.code).toBe('OUTPUT_FULL');
      expect(existsSync(out)).toBe(false);
      const m = manifestOf(out);
      expect(m.complete).toBe(false);
      expect(m.incompleteReason).toMatch(/OUTPUT_FULL/);
      // the zip path fills up the same way
      const z = runCli(['backup', src.dev, join(small, 'disk.zip'), '--level', '0', '--force', '--json']);
      expect(z.status).toBe(1);
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
