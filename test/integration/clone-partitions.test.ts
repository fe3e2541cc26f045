// Whole-disk clones to larger and smaller drives (loop devices of 512- and 4096-byte sectors):
// the backup GPT moved to the end by default, --grow-last and --grow-fs, --fit and its refusals;
// sgdisk -v, sfdisk --verify and e2fsck -fn are the judges, and every byte we did not promise
// to change is compared with the source.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { lastEvent, readAt, runCli, sh, useLoopScratch } from '../helpers/fixtures.js';
import { ourTable, run, sfdiskJson, sfdiskVerify, sgdiskTable, sgdiskVerify } from '../helpers/partition-tools.js';

const MiB = 1 << 20;

/** Fills a file system in bytes [offset, offset+size) of `path` with a few files (through a loop at that offset). */
function mkfsAt(path: string, offset: number, size: number, fs: 'ext4' | 'vfat'): void {
  const loop = sh('losetup', ['--find', '--show', '--offset', String(offset), '--sizelimit', String(size), path]);
  try {
    sh(fs === 'ext4' ? 'mkfs.ext4' : 'mkfs.vfat', fs === 'ext4' ? ['-q', '-F', loop] : [loop]);
    if (fs === 'vfat') {
      // this kernel has no vfat driver: mtools writes the files
      sh('sh', ['-c', `head -c 3000000 /dev/urandom > ${loop}.tmp && mcopy -i ${loop} ${loop}.tmp ::/data.bin && rm ${loop}.tmp`]);
      return;
    }
    const mnt = sh('mktemp', ['-d']);
    sh('mount', [loop, mnt]);
    try {
      sh('dd', ['if=/dev/urandom', `of=${mnt}/data.bin`, 'bs=1M', 'count=3', 'status=none']);
      sh('sh', ['-c', `echo hello > ${mnt}/hello.txt`]);
    } finally {
      sh('umount', [mnt]);
      sh('rmdir', [mnt]);
    }
  } finally {
    sh('losetup', ['-d', loop]);
  }
}

function e2fsckClean(path: string, offset: number, size: number): { clean: boolean; out: string } {
  const loop = sh('losetup', ['--find', '--show', '--read-only', '--offset', String(offset), '--sizelimit', String(size), path]);
  try {
    const r = run('e2fsck', ['-fn', loop]);
    return { clean: r.status === 0, out: r.out };
  } finally {
    sh('losetup', ['-d', loop]);
  }
}

function expectClean(path: string): void {
  const sg = sgdiskVerify(path);
  expect(sg.clean, sg.out).toBe(true);
  const sf = sfdiskVerify(path);
  expect(sf.clean, sf.out).toBe(true);
}

describeRoot('whole-disk clone to a drive of another size', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let seq = 0;

  function disk(size: number, ss: 512 | 4096): { dev: string; file: string } {
    const file = join(fx.dir(), `d${seq++}.img`);
    sh('truncate', ['-s', String(size), file]);
    return { dev: fx.loop(file, ss).dev, file };
  }

  /** A GPT by sgdisk: an ESP with vfat, then a Linux partition with ext4 to the end (or 24 MiB). */
  async function gptSource(ss: 512 | 4096, lastToEnd = true): Promise<{ dev: string; file: string }> {
    const d = disk(64 * MiB, ss);
    sh('sgdisk', ['-n1:0:+16M', '-t1:ef00', '-c1:EFI system', `-n2:0:${lastToEnd ? '0' : '+24M'}`, '-t2:8300', '-c2:root', '-A2:set:2', '-A2:set:60', d.dev]);
    const t = await ourTable(d.dev);
    mkfsAt(d.dev, t.partitions[0].start, t.partitions[0].size, 'vfat');
    mkfsAt(d.dev, t.partitions[1].start, t.partitions[1].size, 'ext4');
    return d;
  }

  for (const ss of [512, 4096] as const) {
    it(`a GPT disk (${ss}-byte sectors) to a larger drive: backup GPT at the end, checkers clean, every other byte as the source`, async () => {
      const src = await gptSource(ss);
      const dst = disk(96 * MiB, ss);
      const r = runCli(['clone', src.dev, dst.dev, '--yes', '--json', '--verify']);
      expect(r.status, r.stderr).toBe(0);
      const done = lastEvent(r, 'done') as { adjusted?: string[]; verified: boolean };
      expect(done.verified).toBe(true);
      expect(done.adjusted?.join(' ')).toMatch(/backup GPT was moved/);
      expectClean(dst.dev);
      const sg = sgdiskTable(dst.dev);
      const before = sgdiskTable(src.dev);
      expect(sg.partitions).toEqual(before.partitions);
      expect(sg.lastUsable).toBe((96 * MiB) / ss - 1 - 1 - (16384 / ss));
      // changed: LBA 0 (protective MBR), LBA 1 (primary header), the old backup header (zeroed), the new backup at the end
      const srcSize = 64 * MiB;
      expect(readAt(dst.dev, 2 * ss, srcSize - 3 * ss).equals(readAt(src.dev, 2 * ss, srcSize - 3 * ss))).toBe(true);
      expect(readAt(dst.dev, 0, 446).equals(readAt(src.dev, 0, 446))).toBe(true);
      expect(readAt(dst.dev, srcSize - ss, ss).equals(Buffer.alloc(ss))).toBe(true);
      for (const p of sg.partitions) {
        const off = p.firstLba * ss;
        const len = (p.lastLba - p.firstLba + 1) * ss;
        expect(readAt(dst.dev, off, len).equals(readAt(src.dev, off, len))).toBe(true);
      }
    });

    it(`--grow-last --grow-fs (${ss}-byte sectors): the ext4 partition and its file system fill the larger drive, e2fsck clean`, async () => {
      const src = await gptSource(ss);
      const dst = disk(96 * MiB, ss);
      const r = runCli(['clone', src.dev, dst.dev, '--yes', '--json', '--verify', '--grow-last', '--grow-fs']);
      expect(r.status, r.stderr).toBe(0);
      expectClean(dst.dev);
      const before = sgdiskTable(src.dev).partitions;
      const after = sgdiskTable(dst.dev);
      expect(after.partitions[1]).toEqual({ ...before[1], lastLba: after.lastUsable });
      expect(after.partitions[0]).toEqual(before[0]);
      const p = after.partitions[1];
      const len = (p.lastLba - p.firstLba + 1) * ss;
      const fsck = e2fsckClean(dst.dev, p.firstLba * ss, len);
      expect(fsck.clean, fsck.out).toBe(true);
      const blocks = /Block count:\s+(\d+)/.exec(sh('dumpe2fs', ['-h', sh('losetup', ['--find', '--show', '--read-only', '--offset', String(p.firstLba * ss), '--sizelimit', String(len), dst.dev])]));
      sh('sh', ['-c', `losetup -j ${dst.dev} -O NAME -n | xargs -r -n1 losetup -d`]);
      expect(Number(blocks?.[1]) * 4096).toBeGreaterThan(len - 4096 * 2);
      const done = lastEvent(r, 'done') as { adjusted: string[] };
      expect(done.adjusted.join(' ')).toMatch(/grown .*resize2fs/);
    });
  }

  it('an MBR disk with --grow-last --grow-fs: the last primary and its ext4 grow, sfdisk --verify clean', async () => {
    const src = disk(64 * MiB, 512);
    expect(run('sfdisk', ['-q', src.dev], 'label: dos\nsize=16M, type=c, bootable\ntype=83\n').status).toBe(0);
    const t = await ourTable(src.dev);
    mkfsAt(src.dev, t.partitions[1].start, t.partitions[1].size, 'ext4');
    const dst = disk(80 * MiB, 512);
    const r = runCli(['clone', src.dev, dst.dev, '--yes', '--json', '--verify', '--grow-last', '--grow-fs']);
    expect(r.status, r.stderr).toBe(0);
    const sf = sfdiskVerify(dst.dev);
    expect(sf.clean, sf.out).toBe(true);
    const j = sfdiskJson(dst.dev);
    expect(j.partitions[1].start + j.partitions[1].size).toBe((80 * MiB) / 512);
    expect({ ...j.partitions[0], node: '' }).toEqual({ ...sfdiskJson(src.dev).partitions[0], node: '' });
    const fsck = e2fsckClean(dst.dev, j.partitions[1].start * 512, j.partitions[1].size * 512);
    expect(fsck.clean, fsck.out).toBe(true);
  });

  it('a smaller drive: refused without --fit, refused naming the partition that does not fit, copied and fixed with --fit', async () => {
    const src = await gptSource(512, false); // partition 2 ends at 41 MiB
    const small = disk(48 * MiB, 512);
    const tiny = disk(32 * MiB, 512);
    const before = readAt(small.dev, 0, 48 * MiB);
    let r = runCli(['clone', src.dev, small.dev, '--yes']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/--fit.*\[TARGET_TOO_SMALL\]/);
    r = runCli(['clone', src.dev, tiny.dev, '--yes', '--fit']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/partition 2 \("root"\).*\[TARGET_TOO_SMALL\]/);
    expect(readAt(small.dev, 0, 48 * MiB).equals(before)).toBe(true);
    r = runCli(['clone', src.dev, small.dev, '--yes', '--json', '--fit', '--verify']);
    expect(r.status, r.stderr).toBe(0);
    expectClean(small.dev);
    const sg = sgdiskTable(small.dev);
    expect(sg.partitions).toEqual(sgdiskTable(src.dev).partitions);
    for (const p of sg.partitions) {
      const off = p.firstLba * 512;
      const len = (p.lastLba - p.firstLba + 1) * 512;
      expect(readAt(small.dev, off, len).equals(readAt(src.dev, off, len))).toBe(true);
    }
    const fsck = e2fsckClean(small.dev, sg.partitions[1].firstLba * 512, (sg.partitions[1].lastLba - sg.partitions[1].firstLba + 1) * 512);
    expect(fsck.clean, fsck.out).toBe(true);
  });

  it('an MBR disk with logical partitions to a smaller drive with --fit: the extended container shrunk, sfdisk --verify clean, the logicals intact', async () => {
    const src = disk(64 * MiB, 512);
    expect(run('sfdisk', ['-q', src.dev], 'label: dos\nsize=8M, type=c, bootable\ntype=5\nsize=8M, type=83\nsize=8M, type=82\n').status).toBe(0);
    const t = await ourTable(src.dev);
    mkfsAt(src.dev, t.partitions.find((p) => p.number === 5)!.start, 8 * MiB, 'ext4');
    const dst = disk(40 * MiB, 512);
    const r = runCli(['clone', src.dev, dst.dev, '--yes', '--json', '--verify', '--fit']);
    expect(r.status, r.stderr).toBe(0);
    const sf = sfdiskVerify(dst.dev);
    expect(sf.clean, sf.out).toBe(true);
    const after = sfdiskJson(dst.dev).partitions;
    const before = sfdiskJson(src.dev).partitions;
    expect(after.filter((p) => p.type !== '5').map((p) => [p.start, p.size, p.type])).toEqual(before.filter((p) => p.type !== '5').map((p) => [p.start, p.size, p.type]));
    const ext = after.find((p) => p.type === '5');
    expect(ext && ext.start + ext.size).toBe((40 * MiB) / 512);
    for (const p of t.partitions.filter((x) => x.kind !== 'extended')) expect(readAt(dst.dev, p.start, p.size).equals(readAt(src.dev, p.start, p.size))).toBe(true);
  });

  it('one master to two larger drives of different sizes (a station job): each gets its own backup GPT at its end', async () => {
    const src = await gptSource(512);
    const a = disk(80 * MiB, 512);
    const b = disk(96 * MiB, 512);
    const r = runCli(['clone', src.dev, a.dev, b.dev, '--yes', '--no-ui', '--grow-last']);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    for (const [d, size] of [[a, 80], [b, 96]] as const) {
      expectClean(d.dev);
      const sg = sgdiskTable(d.dev);
      expect(sg.partitions[1].lastLba).toBe(sg.lastUsable);
      expect(sg.lastUsable).toBe((size * MiB) / 512 - 34);
    }
  });
});
