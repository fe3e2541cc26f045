// NTFS used maps against ntfs-3g's own view: its $Bitmap (ntfscat), free bytes (ntfscluster), flags (ntfsinfo).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAt, writeAt as patch, scratch } from '../helpers/fixtures.js';
import { describeRoot } from '../helpers/root.js';
import { bitmapRanges, freeUnits, mapError, mapFile, tool } from '../helpers/usedmap.js';

let s: ReturnType<typeof scratch>;
beforeAll(() => {
  s = scratch('cs-usedmap-ntfs-');
});
afterAll(() => s.cleanup());

function mkntfs(name: string, mib: number, extra: string[] = []): string {
  const img = join(s.dir, name);
  execFileSync('truncate', ['-s', `${mib}M`, img]);
  tool('mkntfs', ['-F', '-Q', '-L', 'NTLBL', ...extra, img]);
  return img;
}

function fill(img: string, sizes: number[]): void {
  sizes.forEach((size, i) => {
    const src = join(s.dir, `src-${i}`);
    writeFileSync(src, randomBytes(size));
    tool('ntfscp', [img, src, `/f${i}.bin`]);
  });
}

function info(img: string, field: string): string {
  const m = new RegExp(`^\\s*${field}:\\s*(.*)$`, 'm').exec(tool('ntfsinfo', ['-f', '-m', img]));
  if (!m) throw new Error(`ntfsinfo -m has no ${field}`);
  return m[1]!.trim();
}

/** The map's free clusters equal ntfs-3g's $Bitmap's clear bits; free bytes equal ntfscluster's. */
async function expectMatchesNtfs3g(img: string): Promise<void> {
  const map = await mapFile(img);
  const clusterBytes = Number(info(img, 'Cluster Size'));
  const clusters = Number(info(img, 'Volume Size in Clusters'));
  expect(map.blockSize).toBe(clusterBytes);
  const bitmap = execFileSync('ntfscat', [img, '$Bitmap'], { maxBuffer: 64 << 20 });
  expect(freeUnits(map, clusterBytes, 0, clusters)).toEqual(bitmapRanges(bitmap, clusters, false));
  const freeBytes = Number(/bytes of free space\s*:\s*(\d+)/.exec(tool('ntfscluster', ['-i', img]))![1]);
  const freeInMap = freeUnits(map, clusterBytes, 0, clusters).reduce((n, [a, b]) => n + (b - a + 1) * clusterBytes, 0);
  expect(freeInMap).toBe(freeBytes);
  expect(map.usedBytes).toBe(map.size - freeBytes);
}

describe('NTFS used maps match ntfs-3g', () => {
  for (const cluster of [512, 4096, 65536]) {
    it(`clusters of ${cluster} bytes, files written by ntfscp`, async () => {
      const img = mkntfs(`c${cluster}.img`, 96, ['-c', String(cluster)]);
      await expectMatchesNtfs3g(img);
      fill(img, [1 << 20, 1, 700, 5_000_000, 3 << 20]);
      await expectMatchesNtfs3g(img);
      const map = await mapFile(img);
      expect(map.fsType).toBe('ntfs');
      expect(map.label).toBe('NTLBL');
      expect(tool('blkid', ['-o', 'value', '-s', 'UUID', img]).trim()).toBe(map.uuid);
      expect(map.usedBytes).toBeGreaterThan(9_000_000);
    });
  }

  it('4096-byte sectors', async () => {
    const img = mkntfs('s4k.img', 64, ['-s', '4096', '-c', '4096']);
    fill(img, [2 << 20, 10]);
    await expectMatchesNtfs3g(img);
  });
});



/** Byte offset of MFT record `n` (the MFT's first run holds records 0-15), from ntfsinfo. */
function recordOffset(img: string, n: number): number {
  return Number(info(img, 'LCN of Data Attribute for FILE_MFT')) * Number(info(img, 'Cluster Size')) + n * Number(info(img, 'MFT Record Size'));
}

describe('NTFS refusals', () => {
  it('a volume marked dirty is refused as FS_DIRTY, and maps again after ntfsfix -d', async () => {
    const img = mkntfs('dirty.img', 64);
    fill(img, [100_000]);
    // $Volume (record 3): walk its attributes to $VOLUME_INFORMATION (0x70); flags at value + 10.
    const rec = recordOffset(img, 3);
    const r = readAt(img, rec, 1024);
    let a = r.readUInt16LE(0x14);
    while (r.readUInt32LE(a) !== 0x70) a += r.readUInt32LE(a + 4);
    const flagsAt = rec + a + r.readUInt16LE(a + 0x14) + 10;
    // ...and in $MFTMirr's copy of record 3, as chkdsk would leave it.
    const mirror = Number(info(img, 'LCN of Data Attribute for File_MFTMirr')) * Number(info(img, 'Cluster Size')) + 3 * Number(info(img, 'MFT Record Size'));
    patch(img, flagsAt, [1, 0]);
    patch(img, mirror + (flagsAt - rec), [1, 0]);
    expect(info(img, 'Volume Flags')).toMatch(/0x0001|DIRTY/);
    const e = await mapError(img);
    expect(e.code).toBe('FS_DIRTY');
    expect(e.message).toMatch(/chkdsk.*copy it whole/);
    tool('ntfsfix', ['-d', img]);
    await expectMatchesNtfs3g(img);
  });

  it('a torn MFT record, a $MFT outside the volume and random boot sector damage are refused, not a crash', async () => {
    const img = mkntfs('torn.img', 64);
    const rec6 = recordOffset(img, 6);
    patch(img, rec6 + 510, [0x12, 0x34]);
    const e = await mapError(img);
    expect(e.code).toBe('FS_INCONSISTENT');
    expect(e.message).toMatch(/record 6/);

    const far = mkntfs('far.img', 64);
    patch(far, 0x30, [0, 0, 0, 0, 0, 0, 0x10, 0]);
    expect((await mapError(far)).code).toBe('FS_INCONSISTENT');

    // Record 3 ($Volume) changed in the MFT only: ntfs-3g refuses the volume, so do we.
    const split = mkntfs('split.img', 64);
    const r3 = recordOffset(split, 3);
    patch(split, r3 + 0x100, [readAt(split, r3 + 0x100, 1)[0]! ^ 0xff]);
    expect(spawnSync('ntfsinfo', ['-f', '-m', split]).status).not.toBe(0);
    expect((await mapError(split)).message).toMatch(/MFTMirr/);

    const fuzz = mkntfs('fuzz.img', 64);
    const head = readAt(fuzz, 0, 512);
    const mftAt = recordOffset(fuzz, 0);
    const mft = readAt(fuzz, mftAt, 8192);
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 80; round++) {
      const d = Buffer.from(head);
      const m = Buffer.from(mft);
      if (round % 2) for (let k = 0; k < 3; k++) d[11 + rnd(70)] = rnd(256);
      else for (let k = 0; k < 6; k++) m[rnd(m.length)] = rnd(256);
      patch(fuzz, 0, d);
      patch(fuzz, mftAt, m);
      try {
        const map = await mapFile(fuzz);
        expect(map.usedBytes).toBeLessThanOrEqual(map.size);
      } catch (err) {
        expect((err as { exitStatus?: number }).exitStatus, String(err)).toBe(4);
      }
      patch(fuzz, 0, head);
      patch(fuzz, mftAt, mft);
    }
  });
});

describeRoot('NTFS used maps of a volume written through ntfs-3g', () => {
  let dev = '';
  let mnt = '';
  afterAll(() => {
    if (mnt) spawnSync('umount', [mnt]);
    if (dev) spawnSync('losetup', ['-d', dev]);
  });

  it('mounted with ntfs-3g on a loop device, filled, unmounted: /dev/loopN maps as ntfs-3g says', async () => {
    const img = mkntfs('mounted.img', 256);
    dev = tool('losetup', ['--find', '--show', img]).trim();
    mnt = join(s.dir, 'mnt');
    mkdirSync(mnt, { recursive: true });
    execFileSync('ntfs-3g', [dev, mnt]);
    for (const [i, mib] of [5, 33, 1].entries()) execFileSync('dd', ['if=/dev/urandom', `of=${join(mnt, `f${i}`)}`, 'bs=1M', `count=${mib}`, 'status=none']);
    execFileSync('umount', [mnt]);
    mnt = '';
    const map = await mapFile(dev);
    expect(map.usedBytes).toBeGreaterThan(39 << 20);
    await expectMatchesNtfs3g(dev);
  });
});
