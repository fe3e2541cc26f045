// rescue --used-only on a real failing drive (nbdkit ddrescue filter -> nbdfuse -> loop) that
// holds an ext4 file system with a bad sector inside a file: the used map is the rescue's
// domain, so only the file system's used blocks are read (its files' blocks first, free blocks
// never: the map leaves them untried), the bad sector is the only bad area, and every other
// file comes back whole on a file system e2fsck calls clean.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomFillSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { runCli, sh } from '../helpers/fixtures.js';
import { failingDrive, hasFailingDriveTools, missingFailingDriveTools, type FailingDrive } from '../helpers/failing-drive.js';
import { parseMap } from '../../src/rescue/mapfile.js';

const MiB = 1 << 20;
const hash = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function blocks(mapPath: string, status: string): { pos: number; size: number }[] {
  return parseMap(readFileSync(mapPath, 'utf8'), { path: mapPath })
    .blocks.filter((b) => b.status === status)
    .map(({ pos, size }) => ({ pos, size }));
}

describeRoot('rescue --used-only from a failing drive with ext4', () => {
  let dir: string;
  let d: FailingDrive | undefined;
  beforeAll(() => {
    if (!hasFailingDriveTools) throw new Error(`missing ${missingFailingDriveTools.join(', ')}: run scripts/system-deps.sh as root`);
    dir = mkdtempSync('/dev/shm/cs-uo-rescue-');
  });
  afterAll(() => {
    d?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads only the used blocks, finds the bad sector inside a file, and leaves free blocks untried', () => {
    const size = 48 * MiB;
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    const want: Record<string, string> = {};
    for (let i = 0; i < 4; i++) {
      const b = Buffer.alloc(2 * MiB + 1000 * i);
      randomFillSync(b);
      writeFileSync(join(tree, `f${i}.bin`), b);
      want[`f${i}.bin`] = hash(b);
    }
    const fs = join(dir, 'fs.img');
    sh('truncate', ['-s', String(size), fs]);
    sh('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, fs]);
    // the file system block that holds f1.bin's 10th block: one 512-byte sector in it goes bad
    const bmap = spawnSync('debugfs', ['-R', 'bmap /f1.bin 10', fs], { encoding: 'utf8' });
    const block = Number(bmap.stdout.trim());
    expect(block).toBeGreaterThan(0);
    const badAt = block * 4096 + 1024;
    mkdirSync(join(dir, 'drive'));
    d = failingDrive({ dir: join(dir, 'drive'), size, sectorSize: 512, bad: [{ offset: badAt, length: 512 }], from: fs });
    const target = join(dir, 'rescued.img');
    const map = join(dir, 'rescued.map');
    const r = runCli(['rescue', '--used-only', d.dev, target, map, '--json']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    // exactly the bad sector is bad
    expect(blocks(map, '-')).toEqual([{ pos: badAt, size: 512 }]);
    for (const st of ['*', '/']) expect(blocks(map, st)).toEqual([]);
    // the free blocks were never tried: most of the drive is still '?'
    const untried = blocks(map, '?').reduce((n, b) => n + b.size, 0);
    const rescued = blocks(map, '+').reduce((n, b) => n + b.size, 0);
    expect(untried).toBeGreaterThan(size / 2);
    expect(rescued).toBeGreaterThan(8 * MiB);
    expect(rescued + untried + 512).toBe(size);
    // every rescued byte is the drive's
    const a = readFileSync(d.image);
    const b = readFileSync(target);
    for (const blk of blocks(map, '+')) expect(b.subarray(blk.pos, blk.pos + blk.size).equals(a.subarray(blk.pos, blk.pos + blk.size))).toBe(true);
    // the file system is clean and every file but the one with the bad sector is whole
    const fsck = spawnSync('e2fsck', ['-fn', target], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    for (const [name, h] of Object.entries(want)) {
      const got = spawnSync('debugfs', ['-R', `cat /${name}`, target], { maxBuffer: 64 * MiB }).stdout;
      if (name === 'f1.bin') expect(hash(got)).not.toBe(h);
      else expect(hash(got), name).toBe(h);
    }
  });
});
