// One exclusive claim per operation on block devices (root, loop devices): multi-pass and
// multi-phase jobs (rescue, clone --verify, a station job) run back to back with both
// backends without tripping over their own ring's delayed teardown, and the claim still
// refuses a mounted device, a second claimer, and a second run while one is going.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describeRoot } from '../helpers/root.js';
import { lastEvent, makeFile, runCli, sha256, sh, useLoopScratch } from '../helpers/fixtures.js';
import { pausableDevice } from '../helpers/slow-target.js';
import { startCli } from '../helpers/running-cli.js';
import { Claims, isClaimed } from '../../src/claim.js';
import { RefusedError } from '../../src/errors.js';
import { badAreasMap, parseMap } from '../../src/rescue/mapfile.js';

const MiB = 1 << 20;


const hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Zeros over a whole loop device, through the device (O_DIRECT, as our writes go). */
function zeroDevice(dev: string, bytes: number): void {
  sh('dd', ['if=/dev/zero', `of=${dev}`, 'bs=1M', `count=${bytes / MiB}`, 'oflag=direct', 'status=none']);
}

describeRoot('one claim per operation on block devices', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  const size = 32 * MiB;
  // a sector, a run of sectors, a whole cluster: copy, trim and scrape passes all run
  const injected = [
    { offset: 1 * MiB, length: 512 },
    { offset: 3 * MiB + 512 * 7, length: 512 * 5 },
    { offset: 9 * MiB, length: 64 * 1024 },
  ];

  it('rescue onto a block device: io_uring and threads alternating, back to back, three times each', () => {
    const srcFile = makeFile(join(fx.dir(), 'r-src.img'), size);
    const src = fx.loop(srcFile);
    const dst = fx.loop(makeFile(join(fx.dir(), 'r-dst.img'), size, 'zero'));
    const sim = join(fx.dir(), 'r-sim.map');
    writeFileSync(sim, badAreasMap(size, injected));
    // what the target must hold: the source, with zeros where its reads fail
    const want = readFileSync(srcFile);
    for (const b of injected) want.fill(0, b.offset, b.offset + b.length);
    for (let run = 0; run < 6; run++) {
      const backend = run % 2 === 0 ? 'io_uring' : 'threads';
      zeroDevice(dst.dev, size);
      const map = join(fx.dir(), `r-${run}.map`);
      const r = runCli(['rescue', src.dev, dst.dev, map, '--simulate-errors', sim, '--yes', '--json', '--backend', backend]);
      expect(r.status, `run ${run} (${backend}): ${r.stderr}${r.stdout}`).toBe(0);
      expect(lastEvent(r, 'done')?.finished).toBe(true);
      const blocks = parseMap(readFileSync(map, 'utf8'), { path: map }).blocks;
      expect(blocks.filter((b) => b.status === '-').map((b) => ({ offset: b.pos, length: b.size }))).toEqual(injected);
      expect(hex(readFileSync(dst.file)), `run ${run} (${backend})`).toBe(hex(want));
    }
  });

  it('clone --verify onto a loop device: both backends, back to back, three times each', () => {
    const src = fx.loop(makeFile(join(fx.dir(), 'c-src.img'), size));
    const dst = fx.loop(makeFile(join(fx.dir(), 'c-dst.img'), size, 'zero'));
    for (let run = 0; run < 6; run++) {
      const backend = run % 2 === 0 ? 'io_uring' : 'threads';
      zeroDevice(dst.dev, size);
      const r = runCli(['clone', src.dev, dst.dev, '--verify', '--yes', '--json', '--backend', backend]);
      expect(r.status, `run ${run} (${backend}): ${r.stderr}${r.stdout}`).toBe(0);
      expect(lastEvent(r, 'done')?.verified).toBe(true);
      expect(sha256(dst.file)).toBe(sha256(src.file));
    }
  });

  it('a station job (1:2 with --verify) onto loop devices, back to back, three times', () => {
    const src = fx.loop(makeFile(join(fx.dir(), 's-src.img'), size));
    const dsts = [0, 1].map((i) => fx.loop(makeFile(join(fx.dir(), `s-dst-${i}.img`), size, 'zero')));
    for (let run = 0; run < 3; run++) {
      for (const d of dsts) zeroDevice(d.dev, size);
      const r = runCli(['clone', src.dev, ...dsts.map((d) => d.dev), '--verify', '--yes', '--no-ui', '--backend', 'io_uring', '--log', join(fx.dir(), `s-${run}.log`)]);
      expect(r.status, `run ${run}: ${r.stderr}${r.stdout}`).toBe(0);
      for (const d of dsts) expect(sha256(d.file)).toBe(sha256(src.file));
    }
  });

  it('the claim refuses a mounted device and a second claimer (TARGET_BUSY), and ends at release', () => {
    const dev = fx.loop(makeFile(join(fx.dir(), 'm.img'), 16 * MiB, 'zero')).dev;
    const first = new Claims().target(dev);
    expect(isClaimed(dev)).toBe(true);
    let refused: unknown;
    try {
      new Claims().target(dev);
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(RefusedError);
    expect((refused as RefusedError).code).toBe('TARGET_BUSY');
    // another process cannot claim it either
    const other = spawnSync('python3', ['-c', `import os\ntry:\n  os.open(${JSON.stringify(dev)}, os.O_RDONLY | os.O_EXCL); print('claimed')\nexcept OSError as e: print(e.errno)`], { encoding: 'utf8' });
    expect(other.stdout.trim()).toBe('16'); // EBUSY
    first.release();
    expect(isClaimed(dev)).toBe(false);
    new Claims().target(dev).release();

    const mnt = join(fx.dir(), 'mnt');
    sh('mkfs.ext4', ['-q', '-F', dev]);
    sh('mkdir', ['-p', mnt]);
    sh('mount', [dev, mnt]);
    try {
      expect(() => new Claims().target(dev)).toThrowError(expect.objectContaining({ code: 'TARGET_BUSY' }) as Error);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  it('while a rescue runs, a second run onto its target is TARGET_BUSY and writes nothing', async () => {
    const srcFile = makeFile(join(fx.dir(), 'b-src.img'), 16 * MiB);
    const dst = fx.loop(makeFile(join(fx.dir(), 'b-dst.img'), 16 * MiB, 'zero'));
    const other = join(fx.dir(), 'b-other.img');
    writeFileSync(other, Buffer.alloc(16 * MiB, 0xab));
    const drive = pausableDevice(join(fx.dir(), 'b-drive'), 16 * MiB, { file: srcFile });
    try {
      // the source stalls: the rescue holds its claim and waits on its reads
      await drive.pause();
      const first = startCli(['rescue', drive.dev, dst.dev, join(fx.dir(), 'b.map'), '--yes', '--json', '--backend', 'io_uring']);
      await first.waitFor(/rescuing /);
      for (const args of [
        ['clone', other, dst.dev, '--yes'],
        ['rescue', other, dst.dev, join(fx.dir(), 'b-other.map'), '--yes'],
      ]) {
        const r = runCli(args);
        expect(r.status, r.stderr).toBe(4);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toContain('[TARGET_BUSY]');
      }
      // the refused rescue did not even start its map
      expect(existsSync(join(fx.dir(), 'b-other.map'))).toBe(false);
      expect(existsSync(join(fx.dir(), 'b-other.map.lock'))).toBe(false);
      await drive.resume();
      const end = await first.ended;
      expect(end.status, first.stderr() + first.stdout()).toBe(0);
      // every byte is the rescue's: none of the refused runs' 0xab
      expect(sha256(dst.file)).toBe(sha256(srcFile));
    } finally {
      await drive.resume().catch(() => undefined);
      drive.down();
    }
  });
});
