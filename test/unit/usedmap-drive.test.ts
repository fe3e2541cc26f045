// Swap areas, detection, and whole-drive maps: partitions mapped by their file systems, all else used.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driveUsedMap, extentsOf, fileReader, type DriveUsedMap } from '../../src/usedmap/index.js';
import { writeAt as patch, scratch } from '../helpers/fixtures.js';
import { describeRoot } from '../helpers/root.js';
import { debugfsWrite, mapFile, tool } from '../helpers/usedmap.js';

let s: ReturnType<typeof scratch>;
beforeAll(() => {
  s = scratch('cs-usedmap-drive-');
});
afterAll(() => s.cleanup());

const MiB = 1 << 20;

function file(name: string, size: number): string {
  const p = join(s.dir, name);
  execFileSync('truncate', ['-s', String(size), p]);
  return p;
}


describe('swap', () => {
  it('only the header page is used; label and UUID as mkswap wrote them', async () => {
    const img = file('swap.img', 32 * MiB);
    tool('mkswap', ['-L', 'swaplbl', '-U', '2f1c1d9e-5b6a-4c3d-8e7f-0123456789ab', img]);
    const map = await mapFile(img);
    expect(map.fsType).toBe('swap');
    expect(extentsOf(map)).toEqual([{ offset: 0, length: 4096 }]);
    expect(map.usedBytes).toBe(4096);
    expect(map.label).toBe('swaplbl');
    expect(map.uuid).toBe(tool('blkid', ['-o', 'value', '-s', 'UUID', img]).trim());
  });

  it('a swap area smaller than its partition: the rest is used; a hibernation image maps whole', async () => {
    const img = file('swap-short.img', 32 * MiB);
    tool('mkswap', [img, String(8 * 1024)]); // 8 MiB, in KiB
    const map = await mapFile(img);
    expect(extentsOf(map)).toEqual([
      { offset: 0, length: 4096 },
      { offset: 8 * MiB, length: 24 * MiB },
    ]);
    patch(img, 4096 - 10, Buffer.from('S1SUSPEND\0'));
    const hib = await mapFile(img);
    expect(hib.usedBytes).toBe(32 * MiB);
    expect(hib.note).toMatch(/hibernation/);
  });
});

describe('detection', () => {
  it('random bytes and zeros are unknown and map whole; two signatures at once map whole', async () => {
    const rnd = join(s.dir, 'random.img');
    writeFileSync(rnd, randomBytes(2 * MiB));
    const zeros = file('zeros.img', 2 * MiB);
    for (const img of [rnd, zeros]) {
      const map = await mapFile(img);
      expect(map.fsType).toBe('unknown');
      expect(extentsOf(map)).toEqual([{ offset: 0, length: 2 * MiB }]);
    }
    // An ext4 with a FAT boot sector written over its first sector: blkid calls this ambiguous too.
    const both = file('both.img', 64 * MiB);
    tool('mke2fs', ['-q', '-F', '-t', 'ext4', both]);
    const fat = file('fat-src.img', 64 * MiB);
    tool('mkfs.fat', ['-F', '16', fat]);
    writeFileSync(join(s.dir, 'boot.bin'), execFileSync('head', ['-c', '512', fat]));
    execFileSync('dd', [`if=${join(s.dir, 'boot.bin')}`, `of=${both}`, 'conv=notrunc', 'status=none']);
    const map = await mapFile(both);
    expect(map.usedBytes).toBe(64 * MiB);
    expect(map.note).toMatch(/more than one/);
  });
});

/**
 * A 256 MiB drive image with an MBR: ext4, FAT32, swap, a partition of random bytes, and
 * gaps between them and at the end.
 */
function makeDrive(): { drive: string; parts: { start: number; size: number }[]; sources: string[] } {
  const drive = file('drive.img', 256 * MiB);
  const parts = [
    { start: 1 * MiB, size: 64 * MiB },
    { start: 66 * MiB, size: 80 * MiB },
    { start: 146 * MiB, size: 32 * MiB },
    { start: 180 * MiB, size: 32 * MiB },
  ];
  const table = parts.map((p) => `start=${p.start / 512}, size=${p.size / 512}, type=83`).join('\n');
  execFileSync('sfdisk', ['-q', drive], { input: `label: dos\n${table}\n` });
  const ext = file('p1.img', parts[0]!.size);
  tool('mke2fs', ['-q', '-F', '-t', 'ext4', ext]);
  debugfsWrite(ext, s.dir, [3 * MiB, 12345]);
  const fat = file('p2.img', parts[1]!.size);
  tool('mkfs.fat', ['-F', '32', fat]);
  const src = join(s.dir, 'fat-file');
  writeFileSync(src, randomBytes(2 * MiB));
  tool('mcopy', ['-i', fat, src, '::/x.bin']);
  const swap = file('p3.img', parts[2]!.size);
  tool('mkswap', [swap]);
  const junk = join(s.dir, 'p4.img');
  writeFileSync(junk, randomBytes(parts[3]!.size));
  const sources = [ext, fat, swap, junk];
  sources.forEach((img, i) => execFileSync('dd', [`if=${img}`, `of=${drive}`, 'bs=1M', `seek=${parts[i]!.start / MiB}`, 'conv=notrunc', 'status=none']));
  return { drive, parts, sources };
}

async function mapDrive(path: string, size: number, parts: { start: number; size: number }[]): Promise<DriveUsedMap> {
  const h = await open(path, 'r');
  try {
    return await driveUsedMap(fileReader(h), size, parts, { where: path });
  } finally {
    await h.close();
  }
}

/** The drive's used extents built independently: gaps + each partition image's own map, shifted. */
async function expectedDrive(size: number, parts: { start: number; size: number }[], sources: string[]): Promise<{ offset: number; length: number }[]> {
  const pieces: { offset: number; length: number }[] = [];
  let pos = 0;
  for (const [i, p] of parts.entries()) {
    if (p.start > pos) pieces.push({ offset: pos, length: p.start - pos });
    pos = p.start + p.size;
    for (const e of extentsOf(await mapFile(sources[i]!))) pieces.push({ offset: e.offset + p.start, length: e.length });
  }
  if (pos < size) pieces.push({ offset: pos, length: size - pos });
  const out: { offset: number; length: number }[] = [];
  for (const e of pieces) {
    const last = out[out.length - 1];
    if (last && last.offset + last.length === e.offset) last.length += e.length;
    else out.push({ ...e });
  }
  return out;
}

describe('whole drives', () => {
  it('partition table, gaps and an unknown partition count as used; file systems by their maps', async () => {
    const { drive, parts, sources } = makeDrive();
    const map = await mapDrive(drive, 256 * MiB, parts);
    expect(map.partitions.map((p) => p.map.fsType)).toEqual(['ext4', 'fat32', 'swap', 'unknown']);
    expect(extentsOf(map)).toEqual(await expectedDrive(256 * MiB, parts, sources));
    const sum = map.partitions.reduce((n, p) => n + p.map.usedBytes, 0) + (256 - 64 - 80 - 32 - 32) * MiB;
    expect(map.usedBytes).toBe(sum);
    // 48 MiB of table and gaps + 32 MiB of unknown partition, and a few MiB of files and metadata.
    expect(map.usedBytes).toBeLessThan(100 * MiB);
    // An unpartitioned drive is one partition from 0; no partitions at all: everything used.
    const whole = await mapDrive(sources[0]!, 64 * MiB, [{ start: 0, size: 64 * MiB }]);
    expect(extentsOf(whole)).toEqual(extentsOf(await mapFile(sources[0]!)));
    expect((await mapDrive(drive, 256 * MiB, [])).usedBytes).toBe(256 * MiB);
  });

  it('overlapping or out-of-range partitions: used is the union, nothing past the drive', async () => {
    const { drive, parts, sources } = makeDrive();
    // The second entry starts inside the ext4 where no file system starts: all of it used. The
    // third runs past the drive's end (clipped), the fourth starts after it (ignored).
    const odd = [parts[0]!, { start: 2 * MiB, size: 10 * MiB }, { start: 250 * MiB, size: 100 * MiB }, { start: 300 * MiB, size: MiB }];
    const map = await mapDrive(drive, 256 * MiB, odd);
    expect(map.partitions.map((p) => [p.start, p.size, p.map.fsType])).toEqual([
      [1 * MiB, 64 * MiB, 'ext4'],
      [2 * MiB, 10 * MiB, 'unknown'],
      [250 * MiB, 6 * MiB, 'unknown'],
    ]);
    // Independently: a byte per KiB (the ext4 block here), used if any source says so.
    const units = new Uint8Array((256 * MiB) / 1024);
    const mark = (off: number, len: number): void => {
      units.fill(1, off / 1024, (off + len) / 1024);
    };
    mark(0, MiB);
    mark(2 * MiB, 10 * MiB);
    mark(65 * MiB, 191 * MiB);
    for (const e of extentsOf(await mapFile(sources[0]!))) mark(e.offset + MiB, e.length);
    const got = new Uint8Array(units.length);
    for (const e of extentsOf(map)) got.fill(1, e.offset / 1024, (e.offset + e.length) / 1024);
    expect(Buffer.from(got).equals(Buffer.from(units))).toBe(true);
    expect(map.usedBytes).toBe(units.reduce((n, v) => n + v, 0) * 1024);
  });

  it('a dirty file system in one partition refuses the drive and names the partition', async () => {
    const { drive, parts } = makeDrive();
    tool('debugfs', ['-w', '-R', 'ssv state 0', join(s.dir, 'p1.img')]);
    execFileSync('dd', [`if=${join(s.dir, 'p1.img')}`, `of=${drive}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
    let err: { code?: string; message: string; details?: Record<string, unknown> } | undefined;
    try {
      await mapDrive(drive, 256 * MiB, parts);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe('FS_DIRTY');
    expect(err?.message).toMatch(/drive\.img partition 1 \(at byte 1048576\)/);
    expect(err?.details?.partition).toBe(1);
  });
});

describeRoot('whole drives on a block device', () => {
  let dev = '';
  afterAll(() => {
    if (dev) spawnSync('losetup', ['-d', dev]);
  });

  it('the same map through /dev/loopN (4096-byte sectors) as through the image file', async () => {
    const { drive, parts, sources } = makeDrive();
    dev = tool('losetup', ['--find', '--show', '--sector-size', '4096', drive]).trim();
    const map = await mapDrive(dev, Number(tool('blockdev', ['--getsize64', dev]).trim()), parts);
    expect(extentsOf(map)).toEqual(await expectedDrive(256 * MiB, parts, sources));
    // The whole device read as one file system: an MBR is none, so all of it is used.
    const asOne = await mapFile(dev);
    expect([asOne.fsType, asOne.usedBytes]).toEqual(['unknown', 256 * MiB]);
  });
});
