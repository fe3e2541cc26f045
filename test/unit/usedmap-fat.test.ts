// FAT12/16/32 used maps against dosfstools (fsck.fat -n -v) and mtools (mshowfat cluster chains).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAt, writeAt as patch, scratch } from '../helpers/fixtures.js';
import { describeRoot } from '../helpers/root.js';
import { freeUnits, mapError, mapFile, mergeRanges, tool } from '../helpers/usedmap.js';

let s: ReturnType<typeof scratch>;
beforeAll(() => {
  s = scratch('cs-usedmap-fat-');
});
afterAll(() => s.cleanup());

const SIZES: Record<number, string> = { 12: '2M', 16: '32M', 32: '80M' };

function mkfat(name: string, bits: number, extra: string[] = []): string {
  const img = join(s.dir, name);
  execFileSync('truncate', ['-s', SIZES[bits]!, img]);
  tool('mkfs.fat', ['-F', String(bits), '-n', `LBL${bits}`, ...extra, img]);
  return img;
}

/** Files of known sizes in two directories, through mtools (no mount). */
function fill(img: string, sizes: number[]): void {
  tool('mmd', ['-i', img, '::/d1', '::/d1/d2']);
  sizes.forEach((size, i) => {
    const src = join(s.dir, `src-${i}`);
    writeFileSync(src, randomBytes(size));
    tool('mcopy', ['-i', img, src, i % 3 === 0 ? `::/f${i}` : i % 3 === 1 ? `::/d1/f${i}` : `::/d1/d2/f${i}`]);
  });
}

interface FsckView {
  clusterBytes: number;
  dataStart: number;
  clusters: number;
  used: number;
}

function fsck(img: string): FsckView {
  const out = tool('fsck.fat', ['-n', '-v', img]);
  const num = (re: RegExp): number => Number(re.exec(out)![1]);
  return {
    clusterBytes: num(/(\d+) bytes per cluster/),
    dataStart: num(/Data area starts at byte (\d+)/),
    clusters: num(/(\d+) data clusters/),
    used: num(/(\d+)\/\d+ clusters/),
  };
}

/** Every cluster some file or directory's chain holds (mshowfat), FAT32's root chain included. */
function chains(img: string): [number, number][] {
  // mdir exits 1 on an empty file system.
  const listing = execFileSync('sh', ['-c', `mdir -/ -b -i "${img}" ::/ 2>/dev/null; true`], { encoding: 'utf8' });
  const paths = listing.split('\n').filter(Boolean).map((p) => p.replace(/\/$/, ''));
  const out: [number, number][] = [];
  for (const p of ['::/', ...paths]) {
    const line = tool('mshowfat', ['-i', img, p]);
    for (const m of line.matchAll(/<(\d+)(?:-(\d+))?>/g)) out.push([Number(m[1]), Number(m[2] ?? m[1])]);
  }
  return mergeRanges(out);
}

function complement(used: [number, number][], first: number, last: number): [number, number][] {
  const out: [number, number][] = [];
  let next = first;
  for (const [a, b] of used) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next <= last) out.push([next, last]);
  return out;
}

async function expectMatchesTools(img: string): Promise<void> {
  const map = await mapFile(img);
  const f = fsck(img);
  expect(map.blockSize).toBe(f.clusterBytes);
  // Free clusters (numbered from 2) as the map says, as mshowfat's chains say.
  const free = freeUnits(map, f.clusterBytes, f.dataStart, f.clusters).map(([a, b]) => [a + 2, b + 2]);
  expect(free).toEqual(complement(chains(img), 2, f.clusters + 1));
  expect(f.clusters - free.reduce((n, [a, b]) => n + b - a + 1, 0)).toBe(f.used);
  // Everything before the data area (boot sector, FATs, root directory) is used.
  expect(map.flat[0]).toBe(0);
  expect(map.flat[1]).toBeGreaterThanOrEqual(f.dataStart);
}

describe('FAT used maps match fsck.fat and mshowfat', () => {
  for (const bits of [12, 16, 32]) {
    it(`FAT${bits}`, async () => {
      const img = mkfat(`fat${bits}.img`, bits);
      await expectMatchesTools(img);
      fill(img, bits === 12 ? [100_000, 1, 513, 300_000, 4097] : [1 << 20, 1, 513, 3_000_000, 4097, 2 << 20]);
      await expectMatchesTools(img);
      tool('mdel', ['-i', img, '::/d1/f1']);
      await expectMatchesTools(img);
      const map = await mapFile(img);
      expect(map.fsType).toBe(`fat${bits}`);
      expect(map.label).toBe(`LBL${bits}`);
      expect(map.uuid).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
      expect(tool('blkid', ['-o', 'value', '-s', 'UUID', img]).trim()).toBe(map.uuid);
    });
  }

  it('FAT32 with 4096-byte sectors and one FAT', async () => {
    // 4 KiB clusters need 65525+ of them for FAT32: a 400 MiB image.
    const img = join(s.dir, 'fat32-4k.img');
    execFileSync('truncate', ['-s', '400M', img]);
    tool('mkfs.fat', ['-F', '32', '-S', '4096', '-f', '1', '-s', '1', img]);
    fill(img, [1 << 20, 5, 70_000]);
    await expectMatchesTools(img);
  });
});



function fsckNo(img: string): string {
  const r = execFileSync('sh', ['-c', `fsck.fat -n "${img}" 2>&1; true`], { encoding: 'utf8' });
  return r;
}

describe('FAT refusals', () => {
  for (const bits of [16, 32]) {
    it(`FAT${bits}: the boot sector's dirty bit (set by a mount) is refused as FS_DIRTY`, async () => {
      const img = mkfat(`dirty-boot${bits}.img`, bits);
      fill(img, [5000]);
      patch(img, bits === 32 ? 0x41 : 0x25, [1]);
      expect(fsckNo(img)).toMatch(/[Dd]irty bit/);
      const e = await mapError(img);
      expect(e.code).toBe('FS_DIRTY');
      expect(e.message).toMatch(/fsck\.fat.*copy it whole/);
    });

    it(`FAT${bits}: a FAT's clean bit cleared is refused as FS_DIRTY`, async () => {
      const img = mkfat(`dirty-fat${bits}.img`, bits);
      const f = fsck(img);
      const bps = readAt(img, 0x0b, 2).readUInt16LE(0);
      const reserved = readAt(img, 0x0e, 2).readUInt16LE(0);
      const fatBytes = (f.dataStart - reserved * bps - (bits === 16 ? 512 * 32 : 0)) / 2;
      for (const copy of [0, 1]) {
        const at = reserved * bps + copy * fatBytes + (bits === 16 ? 2 : 4);
        const entry = readAt(img, at, bits / 8);
        if (bits === 16) entry.writeUInt16LE(entry.readUInt16LE(0) & ~0x8000);
        else entry.writeUInt32LE(entry.readUInt32LE(0) & ~0x08000000);
        patch(img, at, entry);
      }
      expect((await mapError(img)).code).toBe('FS_DIRTY');
    });

    it(`FAT${bits}: FAT copies that differ are refused as FS_INCONSISTENT`, async () => {
      const img = mkfat(`differ${bits}.img`, bits);
      fill(img, [5000]);
      const bps = readAt(img, 0x0b, 2).readUInt16LE(0);
      const reserved = readAt(img, 0x0e, 2).readUInt16LE(0);
      const fatSectors = readAt(img, 0x16, 2).readUInt16LE(0) || readAt(img, 0x24, 4).readUInt32LE(0);
      // Cluster 20's entry in the second FAT only.
      patch(img, (reserved + fatSectors) * bps + 20 * (bits / 8), bits === 16 ? [0xff, 0xff] : [0xff, 0xff, 0xff, 0x0f]);
      expect(fsckNo(img)).toMatch(/FATs differ/);
      expect((await mapError(img)).code).toBe('FS_INCONSISTENT');
    });
  }

  it('a boot sector claiming more sectors than the image is refused; random damage never crashes', async () => {
    const img = mkfat('big.img', 16);
    patch(img, 0x20, [0, 0, 0, 0x10]);
    patch(img, 0x13, [0, 0]);
    expect((await mapError(img)).code).toBe('FS_INCONSISTENT');
    const fuzz = mkfat('fuzz.img', 32);
    fill(fuzz, [30_000]);
    const head = readAt(fuzz, 0, 512);
    let seed = 99;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 80; round++) {
      const d = Buffer.from(head);
      for (let k = 0; k < 4; k++) d[11 + rnd(80)] = rnd(256);
      patch(fuzz, 0, d);
      try {
        const map = await mapFile(fuzz);
        expect(map.usedBytes).toBeLessThanOrEqual(map.size);
      } catch (e) {
        expect((e as { exitStatus?: number }).exitStatus, String(e)).toBe(4);
      }
    }
  });
});

// This kernel has no vfat driver (NOTES: no modules): the files are written by mtools, and
// the map is read through a loop device, which the kernel serves differently from a file.
describeRoot('FAT used maps on a block device', () => {
  let dev = '';
  afterAll(() => {
    if (dev) execFileSync('losetup', ['-d', dev]);
  });

  it('the map of /dev/loopN matches fsck.fat and mshowfat', async () => {
    const img = mkfat('block.img', 32);
    fill(img, [300_000, 7_000_000, 1]);
    dev = tool('losetup', ['--find', '--show', img]).trim();
    const map = await mapFile(dev);
    const f = fsck(dev);
    const free = freeUnits(map, f.clusterBytes, f.dataStart, f.clusters).map(([a, b]) => [a + 2, b + 2]);
    expect(free).toEqual(complement(chains(img), 2, f.clusters + 1));
    expect(map.usedBytes).toBeGreaterThan(7_000_000);
  });
});
