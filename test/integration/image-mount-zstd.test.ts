// `image mount` of a seekable zstd image: the image is served as a file (nbdfuse running our NBD
// server) and its partitions mounted read-only through loops over it, reading only the frames
// the file systems touch (the server's own read count, from the kernel, is the witness).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { lastEvent, makeFile, root, runCli, sh, useLoopScratch } from '../helpers/fixtures.js';

const MiB = 1 << 20;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m?.startsWith(dir));
}

/** The NBD server nbdfuse runs for DIR's served image: its pid, from nbdfuse's pid file. */
function serverPid(dir: string): number {
  const fuse = Number(readFileSync(join(dir, '.clonestation-image.pid'), 'utf8').trim());
  const kids = spawnSync('pgrep', ['-P', String(fuse)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
  const server = kids.find((k) => readFileSync(`/proc/${k}/cmdline`, 'utf8').includes('nbd-serve'));
  if (!server) throw new Error(`no nbd-serve process under nbdfuse ${fuse}`);
  return server;
}

/** Bytes the process has read through read(2) and friends (the kernel's count, /proc/PID/io). */
function readChars(pid: number): number {
  return Number(/rchar:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
}

describeRoot('image mount of a zstd image', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  const files: Record<string, Buffer> = { 'hello.txt': Buffer.from('served\n'), 'data.bin': randomBytes(3 * MiB) };
  let image = '';
  let disk = '';
  let src = '';
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) if (existsSync(join(d, '.clonestation-mounts.json')) || existsSync(join(d, '.clonestation-image'))) runCli(['image', 'umount', d]);
  });

  beforeAll(() => {
    // a GPT disk: an 8 MiB ext4 with files, then 48 MiB of random bytes (no file system) that
    // a mount has no reason to read
    disk = makeFile(join(fx.dir(), 'disk.img'), 64 * MiB);
    sh('sgdisk', ['-n1:2048:+8M', '-t1:8300', '-c1:data', '-n2:0:+48M', '-t2:8300', '-c2:noise', disk]);
    const p1 = sh('losetup', ['--find', '--show', '--offset', String(MiB), '--sizelimit', String(8 * MiB), disk]);
    try {
      sh('mkfs.ext4', ['-q', '-F', '-L', 'served', p1]);
      const mnt = join(fx.dir(), 'fill');
      mkdirSync(mnt);
      sh('mount', [p1, mnt]);
      try {
        for (const [f, c] of Object.entries(files)) writeFileSync(join(mnt, f), c);
      } finally {
        sh('umount', [mnt]);
      }
    } finally {
      spawnSync('losetup', ['-d', p1]);
    }
    sh('dd', ['if=/dev/urandom', `of=${disk}`, 'bs=1M', `seek=${9}`, 'count=48', 'conv=notrunc', 'status=none']);
    src = fx.loop(disk).dev;
    image = join(fx.dir(), 'disk.img.zst');
    const r = runCli(['backup', src, image, '--json']);
    expect(r.status, r.stderr).toBe(0);
  });

  it('mounts the ext4 read-only with the same files, reading far less than the image, and image umount undoes all of it', () => {
    const dir = join(fx.dir(), 'm1');
    mkdirSync(dir);
    dirs.push(dir);
    const r = runCli(['image', 'mount', image, dir, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const res = lastEvent(r, 'mounted') as { mounted: { number: number; type: string; readOnly: boolean; loop: string }[]; skipped: { number: number; reason: string }[] };
    expect(res.mounted).toHaveLength(1);
    expect(res.mounted[0]).toMatchObject({ number: 1, type: 'ext4', readOnly: true });
    expect(res.skipped.find((s) => s.number === 2)?.reason).toMatch(/no file system/);
    for (const [f, c] of Object.entries(files)) expect(sha(readFileSync(join(dir, '1', f)))).toBe(sha(c));
    expect(spawnSync('touch', [join(dir, '1', 'new')]).status).not.toBe(0);
    // the served file is the whole image, read-only
    const served = join(dir, '.clonestation-image', 'disk.img');
    expect(statSync(served).size).toBe(64 * MiB);
    expect(spawnSync('sh', ['-c', `echo x | dd of=${served} conv=notrunc status=none`]).status).not.toBe(0);
    // what the server read (image, modules, requests) is far below the 48 MiB of noise it never needed
    const pid = serverPid(dir);
    const compressed = statSync(image).size;
    expect(compressed).toBeGreaterThan(48 * MiB);
    expect(readChars(pid)).toBeLessThan(24 * MiB);

    const u = runCli(['image', 'umount', dir]);
    expect(u.status, u.stderr).toBe(0);
    expect(mountsUnder(dir)).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
    // the server ends with its client
    const deadline = Date.now() + 10_000;
    while (existsSync(`/proc/${pid}`) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(spawnSync('losetup', ['-j', served], { encoding: 'utf8' }).stdout.trim()).toBe('');
  });

  it('libnbd\'s own tools read the served image: nbdinfo sees it read-only, nbdcopy copies exactly the source\'s bytes', () => {
    const server = ['[', process.execPath, join(root, 'dist', 'workers', 'nbd-serve.js'), image, ']'];
    const info = spawnSync('nbdinfo', ['--json', '--', ...server], { encoding: 'utf8', timeout: 60_000 });
    expect(info.status, info.stderr).toBe(0);
    const exp = (JSON.parse(info.stdout) as { exports: { 'export-size': number; is_read_only: boolean }[] }).exports[0];
    expect(exp['export-size']).toBe(64 * MiB);
    expect(exp.is_read_only).toBe(true);
    const out = join(fx.dir(), 'copied.img');
    const copy = spawnSync('nbdcopy', ['--', ...server, out], { encoding: 'utf8', timeout: 120_000 });
    expect(copy.status, copy.stderr).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(readFileSync(disk)));
  });

  it('a partition\'s image (backup --partition 1), zstd and raw, mounts as that partition', () => {
    for (const out of ['p1.img.zst', 'p1.img']) {
      const img = join(fx.dir(), out);
      const b = runCli(['backup', src, img, '--partition', '1', '--json']);
      expect(b.status, b.stderr).toBe(0);
      const dir = join(fx.dir(), `m-${out}`);
      mkdirSync(dir);
      dirs.push(dir);
      const r = runCli(['image', 'mount', img, dir, '--json']);
      expect(r.status, r.stderr).toBe(0);
      const res = lastEvent(r, 'mounted') as { mounted: { number: number; type: string }[] };
      expect(res.mounted).toEqual([expect.objectContaining({ number: 1, type: 'ext4' })]);
      for (const [f, c] of Object.entries(files)) expect(sha(readFileSync(join(dir, '1', f)))).toBe(sha(c));
      expect(runCli(['image', 'umount', dir]).status).toBe(0);
      expect(readdirSync(dir)).toEqual([]);
    }
    // the noise partition's image has no file system: refused, nothing left behind
    const noise = join(fx.dir(), 'p2.img.zst');
    expect(runCli(['backup', src, noise, '--partition', '2']).status).toBe(0);
    const dir = join(fx.dir(), 'm-noise');
    mkdirSync(dir);
    const r = runCli(['image', 'mount', noise, dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no file system this machine recognises in partition 2.*\[NO_PARTITION_TABLE\]/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a mount that fails leaves nothing behind, and the image is unchanged', () => {
    const before = sha(readFileSync(image));
    const dir = join(fx.dir(), 'm2');
    mkdirSync(dir);
    dirs.push(dir);
    writeFileSync(join(dir, 'x'), '');
    const r = runCli(['image', 'mount', image, dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not empty/);
    expect(readdirSync(dir)).toEqual(['x']);
    expect(sha(readFileSync(image))).toBe(before);
    expect(runCli(['verify', image]).status).toBe(0);
  });
});
