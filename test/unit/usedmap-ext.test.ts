// ext2/3/4 used maps against dumpe2fs's free block lists, on images made here by mke2fs.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAt as patch, scratch } from '../helpers/fixtures.js';
import { debugfsWrite, dumpe2fsField, dumpe2fsFree, freeUnits, mapError, mapFile, tool } from '../helpers/usedmap.js';
import { describeRoot } from '../helpers/root.js';

let s: ReturnType<typeof scratch>;
beforeAll(() => {
  s = scratch('cs-usedmap-ext-');
});
afterAll(() => s.cleanup());

const FILES = [1 << 20, 3 * (1 << 20) + 12345, 700_000, 5000, 1, 8 << 20];

function mkfs(name: string, sizeMiB: number, args: string[], blocks?: number): string {
  const img = join(s.dir, name);
  execFileSync('truncate', ['-s', `${sizeMiB}M`, img]);
  tool('mke2fs', ['-q', '-F', ...args, img, ...(blocks ? [String(blocks)] : [])]);
  return img;
}

/** The map agrees with dumpe2fs block for block, and with the superblock's free count. */
async function expectMatchesDumpe2fs(img: string): Promise<void> {
  const map = await mapFile(img);
  const bs = Number(dumpe2fsField(img, 'Block size'));
  const blocks = Number(dumpe2fsField(img, 'Block count'));
  const free = Number(dumpe2fsField(img, 'Free blocks'));
  expect(map.fsSize).toBe(blocks * bs);
  // With bigalloc dumpe2fs ends each free range at the first block of its last cluster.
  const clusterBlocks = Number(/^Cluster size:\s+(\d+)$/m.exec(tool('dumpe2fs', ['-h', img]))?.[1] ?? bs) / bs;
  const expected = dumpe2fsFree(img).map(([a, b]) => [a, Math.min(blocks - 1, b + clusterBlocks - 1)]);
  expect(freeUnits(map, bs, 0, blocks)).toEqual(expected);
  expect(map.usedBytes).toBe((blocks - free) * bs + (map.size - map.fsSize));
  expect(map.uuid).toBe(dumpe2fsField(img, 'Filesystem UUID'));
}

describe('ext used maps match dumpe2fs', () => {
  const cases: [string, number, string[]][] = [
    ['ext4 4096 flex_bg uninit 64bit', 1024, ['-t', 'ext4', '-b', '4096']],
    ['ext4 1024 flex_bg uninit', 256, ['-t', 'ext4', '-b', '1024']],
    ['ext4 ^flex_bg 1024', 256, ['-t', 'ext4', '-b', '1024', '-O', '^flex_bg']],
    ['ext4 ^64bit (32-byte descriptors)', 512, ['-t', 'ext4', '-b', '4096', '-O', '^64bit']],
    ['ext4 ^uninit_bg (every bitmap on disk, gdt_csum off)', 512, ['-t', 'ext4', '-b', '4096', '-O', '^metadata_csum,^uninit_bg']],
    ['ext4 uninit_bg with crc16 descriptors', 512, ['-t', 'ext4', '-b', '4096', '-O', '^metadata_csum,uninit_bg']],
    ['ext4 meta_bg', 512, ['-t', 'ext4', '-b', '1024', '-O', 'meta_bg,^resize_inode']],
    ['ext4 sparse_super2', 512, ['-t', 'ext4', '-b', '4096', '-O', 'sparse_super2']],
    ['ext4 bigalloc', 512, ['-t', 'ext4', '-b', '4096', '-O', 'bigalloc', '-C', '16384']],
    ['ext4 bigalloc 1024 ^flex_bg (block 0 outside the clusters)', 512, ['-t', 'ext4', '-b', '1024', '-O', 'bigalloc,^flex_bg', '-C', '8192']],
    ['ext4 65536-byte blocks', 600, ['-t', 'ext4', '-b', '65536']],
    ['ext4 2048-byte blocks', 256, ['-t', 'ext4', '-b', '2048']],
    ['ext4 meta_bg ^flex_bg 4096', 512, ['-t', 'ext4', '-b', '4096', '-O', 'meta_bg,^resize_inode,^flex_bg']],
    ['ext4 uninit_bg ^flex_bg (crc16, bitmaps in their own groups)', 512, ['-t', 'ext4', '-b', '4096', '-O', '^metadata_csum,uninit_bg,^flex_bg']],
    ['ext4 sparse_super2 with one backup, 1024', 512, ['-t', 'ext4', '-b', '1024', '-O', 'sparse_super2', '-E', 'num_backup_sb=1']],
    ['ext4 without a journal', 256, ['-t', 'ext4', '-O', '^has_journal']],
    ['ext3', 256, ['-t', 'ext3']],
    ['ext2 ^sparse_super', 128, ['-t', 'ext2', '-b', '1024', '-O', '^sparse_super,^resize_inode']],
  ];
  for (const [name, mib, args] of cases) {
    it(name, async () => {
      const img = mkfs(`${name.replace(/\W+/g, '_')}.img`, mib, ['-L', 'lbl', ...args]);
      await expectMatchesDumpe2fs(img);
      const before = await mapFile(img);
      debugfsWrite(img, s.dir, FILES);
      await expectMatchesDumpe2fs(img);
      const after = await mapFile(img);
      expect(after.label).toBe('lbl');
      expect(after.fsType).toBe(args[1]);
      // The files' bytes are in use now (plus their extent blocks and directory growth).
      expect(after.usedBytes - before.usedBytes).toBeGreaterThanOrEqual(FILES.reduce((a, b) => a + Math.ceil(b / 4096) * 4096, 0) - FILES.length * 16384);
    });
  }

  it('rebuilds BLOCK_UNINIT groups: their backup superblocks and descriptors count as used', async () => {
    const img = mkfs('uninit.img', 2048, ['-t', 'ext4', '-b', '4096']);
    debugfsWrite(img, s.dir, [2 << 20]);
    const text = tool('dumpe2fs', [img]);
    const groups = text.split(/\n(?=Group \d+:)/).filter((g) => g.startsWith('Group '));
    const uninitWithBackup = groups.filter((g) => g.includes('BLOCK_UNINIT') && /Backup superblock at (\d+)/.test(g));
    expect(uninitWithBackup.length).toBeGreaterThan(0);
    const map = await mapFile(img);
    for (const g of uninitWithBackup) {
      const sb = Number(/Backup superblock at (\d+)/.exec(g)![1]);
      const gdt = /Group descriptors at (\d+)-(\d+)/.exec(g)!;
      for (const blk of [sb, Number(gdt[1]), Number(gdt[2])]) {
        const off = blk * 4096;
        let inside = false;
        for (let i = 0; i < map.flat.length; i += 2) if (map.flat[i]! <= off && off < map.flat[i]! + map.flat[i + 1]!) inside = true;
        expect(inside, `block ${blk} of ${g.split('\n')[0]}`).toBe(true);
      }
    }
    // ...and the on-disk bitmaps of those groups are all zeros: the rebuild is what found them.
    await expectMatchesDumpe2fs(img);
  });

  it('an external journal device maps whole (no block bitmaps of its own)', async () => {
    const img = mkfs('journal-dev.img', 64, ['-O', 'journal_dev', '-b', '4096']);
    const map = await mapFile(img);
    expect([map.fsType, map.usedBytes, map.note]).toEqual(['unknown', 64 << 20, expect.stringMatching(/journal device/)]);
  });

  it('a partition larger than its file system: the rest counts as used', async () => {
    const img = mkfs('short.img', 64, ['-t', 'ext4', '-b', '4096'], 10000);
    const map = await mapFile(img);
    expect(map.fsSize).toBe(10000 * 4096);
    expect(map.flat[map.flat.length - 2]! + map.flat[map.flat.length - 1]!).toBe(64 << 20);
    await expectMatchesDumpe2fs(img);
  });
});


function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

describe('ext refusals', () => {
  const fresh = (name: string, extra: string[] = []): string => {
    const img = mkfs(name, 128, ['-t', 'ext4', '-b', '1024', ...extra]);
    debugfsWrite(img, s.dir, [100_000]);
    return img;
  };

  it('a file system not cleanly unmounted (state 0) is refused as FS_DIRTY', async () => {
    const img = fresh('dirty.img');
    tool('debugfs', ['-w', '-R', 'ssv state 0', img]);
    const e = await mapError(img);
    expect(e.code).toBe('FS_DIRTY');
    expect(e.exitStatus).toBe(4);
    expect(e.message).toMatch(/dirty\.img.*e2fsck.*copy it whole/);
  });

  it('errors recorded (state 3) and a journal to replay are refused as FS_DIRTY', async () => {
    const a = fresh('errors.img');
    tool('debugfs', ['-w', '-R', 'ssv state 3', a]);
    expect((await mapError(a)).code).toBe('FS_DIRTY');
    const b = fresh('recover.img');
    tool('debugfs', ['-w', '-R', 'feature needs_recovery', b]);
    const e = await mapError(b);
    expect(e.code).toBe('FS_DIRTY');
    expect(e.message).toMatch(/journal/);
  });

  it('a group free count that disagrees with its bitmap is refused as FS_INCONSISTENT', async () => {
    const img = fresh('badgroup.img');
    tool('debugfs', ['-w', '-R', 'set_bg 1 free_blocks_count 17', img]);
    tool('debugfs', ['-w', '-R', 'set_bg 1 checksum calc', img]);
    const e = await mapError(img);
    expect(e.code).toBe('FS_INCONSISTENT');
    expect(e.message).toMatch(/group 1/);
    expect(() => execFileSync('e2fsck', ['-fn', img], { stdio: 'pipe' })).toThrow();
  });

  it('a superblock free count that disagrees with the bitmaps is refused as FS_INCONSISTENT', async () => {
    const img = fresh('badsb.img');
    tool('debugfs', ['-w', '-R', 'ssv free_blocks_count 12', img]);
    expect((await mapError(img)).code).toBe('FS_INCONSISTENT');
  });

  it('a superblock with a wrong checksum, a huge block count or block size is refused, not a crash', async () => {
    const csum = fresh('csum.img');
    patch(csum, 1024 + 0x78, Buffer.from('tampered'));
    expect((await mapError(csum)).message).toMatch(/checksum/);
    for (const [field, value] of [
      [0x04, 0xffffffff],
      [0x18, 40],
      [0x20, 8],
      [0x20, 0],
      [0x28, 0xffffffff],
    ] as const) {
      const img = fresh(`field-${field}-${value}.img`, ['-O', '^metadata_csum']);
      patch(img, 1024 + field, u32(value));
      const e = await mapError(img);
      expect(e.code, `field 0x${field.toString(16)} = ${value}: ${e.message}`).toBe('FS_INCONSISTENT');
    }
  });

  it('a descriptor pointing outside the file system is refused', async () => {
    const img = fresh('baddesc.img', ['-O', '^metadata_csum,^uninit_bg']);
    // Group 0's descriptor is the first entry of block 2 (1024-byte blocks): its block bitmap.
    patch(img, 2 * 1024, u32(0x7fffffff));
    expect((await mapError(img)).code).toBe('FS_INCONSISTENT');
  });

  it('random damage to the first 64 KiB gives a map or a refusal, never another error', async () => {
    const img = fresh('fuzz.img', ['-O', '^metadata_csum,^uninit_bg']);
    const fd = openSync(img, 'r');
    const head = Buffer.alloc(65536);
    readSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 60; round++) {
      const damaged = Buffer.from(head);
      for (let k = 0; k < 8; k++) damaged[1024 + rnd(round % 2 ? 1024 : 4096)] = rnd(256);
      patch(img, 0, damaged);
      try {
        const map = await mapFile(img);
        expect(map.usedBytes).toBeLessThanOrEqual(map.size);
      } catch (e) {
        expect((e as { exitStatus?: number }).exitStatus, String(e)).toBe(4);
      }
    }
  });
});

describeRoot('ext used maps on a block device written by the kernel', () => {
  let dev = '';
  let mnt = '';
  afterAll(() => {
    if (mnt) execFileSync('sh', ['-c', `umount ${mnt} 2>/dev/null; true`]);
    if (dev) execFileSync('losetup', ['-d', dev]);
  });

  it('a mounted-then-unmounted ext4 maps as dumpe2fs says, read through /dev/loopN', async () => {
    const img = mkfs('kernel.img', 512, ['-t', 'ext4', '-b', '4096']);
    dev = tool('losetup', ['--find', '--show', img]).trim();
    mnt = join(s.dir, 'mnt');
    execFileSync('mkdir', ['-p', mnt]);
    execFileSync('mount', [dev, mnt]);
    // While mounted, the kernel keeps needs_recovery set on disk: refused.
    const whileMounted = await mapError(dev);
    expect(whileMounted.code).toBe('FS_DIRTY');
    expect(whileMounted.message).toMatch(/journal to replay \(it is mounted/);
    for (const [i, mib] of [3, 17, 40].entries()) execFileSync('dd', ['if=/dev/urandom', `of=${join(mnt, `f${i}`)}`, 'bs=1M', `count=${mib}`, 'status=none']);
    execFileSync('umount', [mnt]);
    mnt = '';
    const map = await mapFile(dev);
    expect(map.usedBytes).toBeGreaterThan(60 << 20);
    await expectMatchesDumpe2fs(dev);
  });
});
