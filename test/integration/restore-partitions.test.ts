// Whole-disk restores (raw, split, ZIP; one target and many) to drives larger and smaller than
// the image: the backup GPT moved to the end, --grow-last --grow-fs, --fit; sgdisk -v, sfdisk
// --verify and e2fsck -fn judge the result, and the partitions' bytes are the image's.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { lastEvent, readAt, runCli, sh, useLoopScratch } from '../helpers/fixtures.js';
import { ourTable, run, sfdiskVerify, sgdiskTable, sgdiskVerify } from '../helpers/partition-tools.js';

const MiB = 1 << 20;

function expectClean(path: string): void {
  const sg = sgdiskVerify(path);
  expect(sg.clean, sg.out).toBe(true);
  const sf = sfdiskVerify(path);
  expect(sf.clean, sf.out).toBe(true);
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

describeRoot('whole-disk restore to a drive of another size', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let seq = 0;
  let src = '';
  const images: Record<string, string> = {};

  function disk(size: number): string {
    const file = join(fx.dir(), `d${seq++}.img`);
    sh('truncate', ['-s', String(size), file]);
    return fx.loop(file, 512).dev;
  }

  beforeAll(async () => {
    // a GPT disk: an ESP and an ext4 partition ending at 41 MiB of 64 (so --fit can shrink it)
    src = disk(64 * MiB);
    sh('sgdisk', ['-n1:0:+16M', '-t1:ef00', '-c1:EFI system', '-n2:0:+24M', '-t2:8300', '-c2:root', '-A2:set:2', src]);
    const t = await ourTable(src);
    const loop = sh('losetup', ['--find', '--show', '--offset', String(t.partitions[1].start), '--sizelimit', String(t.partitions[1].size), src]);
    sh('mkfs.ext4', ['-q', '-F', loop]);
    sh('dd', ['if=/dev/urandom', `of=${loop}`, 'bs=1M', 'seek=8', 'count=4', 'conv=notrunc', 'status=none']);
    sh('losetup', ['-d', loop]);
    // the random bytes sit in the ext4's free space: fsck clean still
    for (const [name, extra] of [['raw', []], ['split', ['--split', '20MiB']], ['zip', []]] as const) {
      const out = join(fx.dir(), name === 'zip' ? 'disk.zip' : `disk-${name}.img`);
      const r = runCli(['backup', src, out, '--json', ...extra]);
      expect(r.status, r.stderr).toBe(0);
      images[name] = out;
    }
  });

  for (const kind of ['raw', 'split', 'zip'] as const) {
    it(`${kind} image to a larger drive: backup GPT at the end, checkers clean, the manifest checked`, () => {
      const dst = disk(96 * MiB);
      const r = runCli(['restore', images[kind], dst, '--yes', '--json']);
      expect(r.status, r.stderr).toBe(0);
      const done = lastEvent(r, 'done') as { adjusted?: string[]; checked?: string };
      expect(done.checked).toBe('sha256');
      expect(done.adjusted?.join(' ')).toMatch(/backup GPT was moved/);
      expectClean(dst);
      expect(sgdiskTable(dst).partitions).toEqual(sgdiskTable(src).partitions);
      // every byte of the image but LBA 0, 1 and the old backup header (zeroed) is as it was
      expect(readAt(dst, 1024, 64 * MiB - 1536).equals(readAt(src, 1024, 64 * MiB - 1536))).toBe(true);
    });
  }

  it('--grow-last --grow-fs from a ZIP image: the ext4 fills the drive, e2fsck clean', () => {
    const dst = disk(80 * MiB);
    const r = runCli(['restore', images.zip, dst, '--yes', '--json', '--grow-last', '--grow-fs']);
    expect(r.status, r.stderr).toBe(0);
    expectClean(dst);
    const p = sgdiskTable(dst).partitions[1];
    expect(p.lastLba).toBe((80 * MiB) / 512 - 34);
    const fsck = e2fsckClean(dst, p.firstLba * 512, (p.lastLba - p.firstLba + 1) * 512);
    expect(fsck.clean, fsck.out).toBe(true);
  });

  it('a smaller drive: refused without --fit, restored with it (raw)', () => {
    const dst = disk(48 * MiB);
    let r = runCli(['restore', images.raw, dst, '--yes']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/--fit.*\[TARGET_TOO_SMALL\]/);
    r = runCli(['restore', images.raw, dst, '--yes', '--json', '--fit']);
    expect(r.status, r.stderr).toBe(0);
    // the whole-image hash cannot be checked; each partition's is
    expect(r.events.some((e) => e.event === 'note' && /partitions 1, 2 match the manifest's sha256/.test(String(e.message)))).toBe(true);
    expectClean(dst);
    const parts = sgdiskTable(dst).partitions;
    expect(parts).toEqual(sgdiskTable(src).partitions);
    // a byte of partition 2 damaged in the image: --fit's partition check catches it
    const at = parts[1].firstLba * 512 + 777;
    const fd = openSync(images.raw, 'r+');
    const old = readAt(images.raw, at, 1);
    try {
      writeSync(fd, Buffer.from([old[0] ^ 0x5a]), 0, 1, at);
      const bad = runCli(['restore', images.raw, disk(48 * MiB), '--yes', '--fit']);
      expect(bad.status).toBe(5);
      expect(bad.stderr).toMatch(/partition 2 .* differs from the manifest.*\[VERIFY_MISMATCH\]/);
    } finally {
      writeSync(fd, old, 0, 1, at);
      closeSync(fd);
    }
    const p = parts[1];
    const len = (p.lastLba - p.firstLba + 1) * 512;
    expect(readAt(dst, p.firstLba * 512, len).equals(readAt(src, p.firstLba * 512, len))).toBe(true);
  });

  it('one image to two larger drives of different sizes: each gets its backup GPT at its own end', () => {
    const a = disk(72 * MiB);
    const b = disk(96 * MiB);
    const r = runCli(['restore', images.split, a, b, '--yes', '--json', '--grow-last']);
    expect(r.status, r.stderr).toBe(0);
    const done = lastEvent(r, 'done') as { targets: { adjusted?: string[]; verified: boolean }[] };
    for (const [dev, size] of [[a, 72], [b, 96]] as const) {
      expectClean(dev);
      expect(sgdiskTable(dev).partitions[1].lastLba).toBe((size * MiB) / 512 - 34);
    }
    expect(done.targets.every((t) => t.adjusted?.some((n) => /grown/.test(n)))).toBe(true);
  });
});
