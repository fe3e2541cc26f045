// clone on real loop devices (root). Every copy is checked byte for byte; every refusal
// is checked to leave the would-be target byte-identical.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { copyFileSync, existsSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describeRoot } from '../helpers/root.js';
import { attachPartitioned, lastEvent, makeFile, runCli, sha256, sh, umountWhenFree, useLoopScratch } from '../helpers/fixtures.js';

describeRoot('clone on loop devices', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  const loop = fx.loop;

  for (const sector of [512, 4096] as const) {
    for (const backend of ['io_uring', 'threads'] as const) {
      it(`copies a whole device byte for byte (${sector}-byte sectors, ${backend})`, () => {
        // 40 MiB + 12 KiB: not a multiple of the 1 MiB block size.
        const size = 40 * 1024 * 1024 + 3 * 4096;
        const src = loop(makeFile(join(fx.dir(), `src-${sector}-${backend}.img`), size), sector);
        const dst = loop(makeFile(join(fx.dir(), `dst-${sector}-${backend}.img`), size, 'zero'), sector);
        const r = runCli(['clone', src.dev, dst.dev, '--yes', '--json', '--backend', backend, '--verify']);
        expect(r.status, r.stderr + r.stdout).toBe(0);
        const done = lastEvent(r, 'done');
        expect(done?.backend).toBe(backend);
        expect(done?.bytes).toBe(size);
        expect(done?.verified).toBe(true);
        expect(done?.sourceDirect).toBe(true);
        expect(done?.targetDirect).toBe(true);
        expect(sha256(dst.file)).toBe(sha256(src.file));
      });
    }
  }

  it('copies a device to an image file and back, including an unaligned file tail', () => {
    const size = 7 * 1024 * 1024 + 1234;
    const srcFile = makeFile(join(fx.dir(), 'odd.img'), size);
    const img = join(fx.dir(), 'odd-copy.img');
    let r = runCli(['clone', srcFile, img, '--json']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(statSync(img).size).toBe(size);
    expect(sha256(img)).toBe(sha256(srcFile));
    // an image file onto a device with room to spare: only the image's bytes change
    const dst = loop(makeFile(join(fx.dir(), 'odd-dst.img'), 8 * 1024 * 1024), 512);
    const tailBefore = sha256(dst.file, size);
    r = runCli(['clone', img, dst.dev, '--yes', '--json', '--verify']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(sha256(dst.file, 0, size)).toBe(sha256(srcFile));
    expect(sha256(dst.file, size)).toBe(tailBefore);
  });

  it('makes partial clones at offsets (bytes, units and sectors)', () => {
    const src = loop(makeFile(join(fx.dir(), 'part-src.img'), 16 << 20), 4096);
    const dst = loop(makeFile(join(fx.dir(), 'part-dst.img'), 16 << 20), 4096);
    const before = sha256(dst.file);
    const r = runCli(['clone', src.dev, dst.dev, '--yes', '--json', '--offset', '256s', '--length', '3MiB', '--target-offset', '0x900000']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    // 256 sectors of 4096 bytes = 1 MiB
    expect(sha256(dst.file, 0x900000, 3 << 20)).toBe(sha256(src.file, 1 << 20, 3 << 20));
    expect(sha256(dst.file, 0, 0x900000)).toBe(sha256(fx.dir() + '/part-dst.img', 0, 0x900000));
    expect(before).not.toBe(sha256(dst.file));
  });

  it('handles unaligned offsets by falling back to buffered I/O, and says so', () => {
    const src = makeFile(join(fx.dir(), 'unal-src.img'), 1 << 20);
    const dst = makeFile(join(fx.dir(), 'unal-dst.img'), 1 << 20);
    const r = runCli(['clone', src, dst, '--json', '--offset', '1000', '--length', '5000', '--target-offset', '333', '--verify']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const note = r.events.find((e) => e.event === 'note' && typeof e.sourceDirect === 'boolean');
    expect(note?.sourceDirect).toBe(false);
    expect(String(note?.message)).toMatch(/buffered \(offset not aligned/);
    expect(sha256(dst, 333, 5000)).toBe(sha256(src, 1000, 5000));
    expect(statSync(dst).size).toBe(1 << 20); // a target offset keeps the rest of the file
  });

  it('clones with several block sizes and depths to the same result', () => {
    const src = loop(makeFile(join(fx.dir(), 'bs-src.img'), 9 << 20), 512);
    for (const [bs, depth] of [
      ['4KiB', '1'],
      ['64KiB', '3'],
      ['4MiB', '2'],
    ]) {
      const dst = join(fx.dir(), `bs-${bs}.img`);
      const r = runCli(['clone', src.dev, dst, '--json', '--block-size', bs, '--depth', depth]);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(sha256(dst)).toBe(sha256(src.file));
    }
  });

  // ---- refusals: each leaves the target byte-identical ----
  function refused(args: string[], code: string, targetFile: string, status = 4): void {
    const before = sha256(targetFile);
    const r = runCli([...args, '--json']);
    expect(r.status, r.stderr + r.stdout).toBe(status);
    expect(lastEvent(r, 'error')?.code).toBe(code);
    expect(lastEvent(r, 'done')).toBeUndefined();
    expect(sha256(targetFile)).toBe(before);
  }

  it('refuses a target smaller than what must be written', () => {
    const src = loop(makeFile(join(fx.dir(), 'big.img'), 8 << 20));
    const small = loop(makeFile(join(fx.dir(), 'small.img'), 4 << 20));
    refused(['clone', src.dev, small.dev, '--yes'], 'TARGET_TOO_SMALL', small.file);
    refused(['clone', src.dev, small.dev, '--yes', '--length', '1MiB', '--target-offset', '3584KiB'], 'TARGET_TOO_SMALL', small.file);
  });

  it('refuses the same drive through another path, a symlink, a partition or its backing file; allows another partition', () => {
    const file = makeFile(join(fx.dir(), 'same.img'), 8 << 20);
    const sf = spawnSync('sfdisk', ['-q', file], { input: 'label: dos\nstart=2048, size=4096, type=83\nstart=8192, type=83\n' });
    expect(sf.status, String(sf.stderr)).toBe(0);
    const disk = attachPartitioned(file);
    fx.track(disk);
    const dev = disk.dev;
    expect(disk.partitions).toEqual([`${dev}p1`, `${dev}p2`]);
    const link = join(fx.dir(), 'link-to-dev');
    sh('ln', ['-s', dev, link]);
    refused(['clone', dev, dev, '--yes'], 'SAME_DRIVE', file);
    refused(['clone', dev, link, '--yes'], 'SAME_DRIVE', file);
    refused(['clone', `${dev}p2`, dev, '--yes'], 'SAME_DRIVE', file);
    refused(['clone', dev, `${dev}p1`, '--yes', '--length', '1MiB'], 'SAME_DRIVE', file);
    refused(['clone', `${dev}p1`, file, '--length', '1MiB'], 'SAME_DRIVE', file);
    // Two partitions of one disk are two byte ranges that share none: distinct drives
    // (docs/ARCHITECTURE.md, "Identity"). p1 is 1..3 MiB, p2 4..8 MiB of the file.
    const p1Bytes = sha256(file, 1 << 20, 2 << 20);
    const r = runCli(['clone', `${dev}p1`, `${dev}p2`, '--yes', '--json']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(sha256(file, 4 << 20, 2 << 20)).toBe(p1Bytes);
    expect(sha256(file, 1 << 20, 2 << 20)).toBe(p1Bytes);
    refused(['clone', file, dev, '--yes', '--length', '1MiB'], 'SAME_DRIVE', file);
    refused(['clone', dev, file, '--length', '1MiB'], 'SAME_DRIVE', file);
    const hard = join(fx.dir(), 'hardlink.img');
    sh('ln', [file, hard]);
    refused(['clone', file, hard], 'SAME_DRIVE', file);
  });

  it('refuses a mounted target, and a disk one of whose partitions is mounted', () => {
    const src = loop(makeFile(join(fx.dir(), 'm-src.img'), 32 << 20));
    const file = makeFile(join(fx.dir(), 'mounted.img'), 32 << 20, 'zero');
    const sf = spawnSync('sfdisk', ['-q', file], { input: 'label: gpt\nstart=2048, type=L\n' });
    expect(sf.status, String(sf.stderr)).toBe(0);
    const disk = attachPartitioned(file);
    fx.track(disk);
    const dev = disk.dev;
    sh('mkfs.ext4', ['-q', '-F', `${dev}p1`]);
    const mnt = join(fx.dir(), 'mnt');
    sh('mkdir', ['-p', mnt]);
    // read-only: a read-write ext4 writes by itself (lazy inode-table init, journal commits),
    // which would look like our write to the byte-identical check
    sh('mount', ['-o', 'ro', `${dev}p1`, mnt]);
    try {
      refused(['clone', src.dev, `${dev}p1`, '--yes'], 'TARGET_MOUNTED', file);
      refused(['clone', src.dev, dev, '--yes'], 'TARGET_MOUNTED', file);
    } finally {
      umountWhenFree(mnt);
    }
  });

  it('refuses the drive that holds the running system, before asking anything', () => {
    const rootDev = sh('findmnt', ['-n', '-o', 'SOURCE', '/']);
    const src = loop(makeFile(join(fx.dir(), 'sys-src.img'), 1 << 20));
    // No --yes and no terminal: if the system check failed, the confirmation would still
    // refuse, so this can never write the system drive.
    const r = runCli(['clone', src.dev, rootDev, '--json']);
    expect(r.status).toBe(4);
    expect(lastEvent(r, 'error')?.code).toBe('SYSTEM_DRIVE');
  });

  it('refuses to write a block device without a terminal and without --yes', () => {
    const src = loop(makeFile(join(fx.dir(), 'c-src.img'), 1 << 20));
    const dst = loop(makeFile(join(fx.dir(), 'c-dst.img'), 1 << 20));
    refused(['clone', src.dev, dst.dev], 'CONFIRMATION_REQUIRED', dst.file);
  });

  it('refuses a read-only target device', () => {
    const src = loop(makeFile(join(fx.dir(), 'ro-src.img'), 1 << 20));
    const dst = loop(makeFile(join(fx.dir(), 'ro-dst.img'), 1 << 20), 512, true);
    refused(['clone', src.dev, dst.dev, '--yes'], 'READ_ONLY', dst.file, 1);
  });

  it('refuses a target another program holds exclusively (O_EXCL), through the engine', async () => {
    const src = loop(makeFile(join(fx.dir(), 'ex-src.img'), 1 << 20));
    const dst = loop(makeFile(join(fx.dir(), 'ex-dst.img'), 1 << 20));
    const { spawn } = await import('node:child_process');
    const holder = spawn(process.execPath, [
      '-e',
      `require('fs').openSync(${JSON.stringify(dst.dev)}, require('fs').constants.O_RDONLY | require('fs').constants.O_EXCL); console.log('held'); setTimeout(() => {}, 60000)`,
    ]);
    await new Promise<void>((res) => holder.stdout.once('data', () => res()));
    try {
      refused(['clone', src.dev, dst.dev, '--yes'], 'TARGET_BUSY', dst.file);
    } finally {
      holder.kill();
    }
  });

  it('rejects bad input with exit status 2 and writes nothing', () => {
    const src = makeFile(join(fx.dir(), 'bad-src.img'), 1 << 20);
    const dst = makeFile(join(fx.dir(), 'bad-dst.img'), 1 << 20);
    refused(['clone', src, dst, '--length', '12 apples'], 'BAD_SIZE', dst, 2);
    refused(['clone', src, dst, '--offset', '2MiB'], 'RANGE', dst, 2);
    refused(['clone', src, dst, '--offset', '512KiB', '--length', '1MiB'], 'RANGE', dst, 2);
    refused(['clone', src, dst, '--block-size', '1000'], 'BAD_SIZE', dst, 2);
    refused(['clone', src, dst, '--depth', '0'], 'BAD_NUMBER', dst, 2);
    refused(['clone', src, dst, '--backend', 'magic'], 'USAGE', dst, 2);
    refused(['clone', src, dst, '--frobnicate'], 'USAGE', dst, 2);
    refused(['clone', join(fx.dir(), 'missing.img'), dst], 'NOT_FOUND', dst, 2);
    refused(['clone', '/dev/null', dst], 'BAD_TARGET', dst, 2);
    const r = runCli(['clone', src, '/dev/does-not-exist', '--json']);
    expect(r.status).toBe(2);
    expect(lastEvent(r, 'error')?.code).toBe('NOT_FOUND');
    expect(existsSync('/dev/does-not-exist')).toBe(false);
  });

  it('stops on SIGINT with exit status 130 and says the target is incomplete', async () => {
    const src = join(fx.dir(), 'sig-src.img');
    makeFile(src, 1 << 30, 'zero'); // sparse: costs no memory to read
    const dst = join(fx.dir(), 'sig-dst.img');
    copyFileSync(src, dst);
    truncateSync(dst, 0);
    const { spawn } = await import('node:child_process');
    const { cli } = await import('../helpers/fixtures.js');
    // 4 KiB blocks, one at a time: slow enough to interrupt reliably.
    const child = spawn(process.execPath, [cli, 'clone', src, dst, '--json', '--block-size', '4KiB', '--depth', '1', '--backend', 'threads']);
    let out = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // Exactly one SIGINT: a second one means "leave now" by design.
      if (!sent && out.includes('"event":"note"')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const status = await new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    expect(status).toBe(130);
    const err = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event: string; code?: string; message?: string })
      .find((e) => e.event === 'error');
    expect(err?.code).toBe('CANCELLED');
    expect(err?.message).toMatch(/incomplete/);
    expect(out).not.toContain('"event":"done"');
  });
});
