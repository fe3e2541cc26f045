// --used-only on loop devices (512 and 4096 sectors): a GPT disk with FAT, ext4 and NTFS file
// systems full of files of known hashes, backed up raw (a sparse file), ZIP and zstd reading only
// the used extents (the kernel's own read counter is the witness), restored onto targets full of
// 0xA5 (left so in free extents, zeroed with --zero-free), the file systems checked clean by
// their own tools and the files read back by them; a dirty file system refused with nothing
// written; a manifest with damaged extents refused.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createHash, randomFillSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { readAt, runCli, sh, useLoopScratch } from '../helpers/fixtures.js';

const MiB = 1 << 20;
const hash = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');


/** Sectors the kernel read from a block device so far (/sys/block/X/stat, field 3), in bytes. */
function bytesRead(dev: string): number {
  const f = readFileSync(`/sys/block/${dev.replace('/dev/', '')}/stat`, 'utf8').trim().split(/\s+/);
  return Number(f[2]) * 512;
}

function randomFile(path: string, size: number): string {
  const b = Buffer.alloc(size);
  randomFillSync(b);
  writeFileSync(path, b);
  return hash(b);
}

function fill(path: string, size: number, byte: number): void {
  const fd = openSync(path, 'w');
  try {
    const b = Buffer.alloc(MiB, byte);
    for (let at = 0; at < size; at += MiB) writeFileSync(fd, b);
  } finally {
    closeSync(fd);
  }
}

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'buffer', maxBuffer: 256 * MiB });
  return { status: r.status, out: r.stdout.toString('latin1') + r.stderr.toString('latin1') };
}

function runBuf(cmd: string, args: string[]): Buffer {
  const r = spawnSync(cmd, args, { maxBuffer: 256 * MiB });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout;
}

/** The free extents (image offsets) of a used-only manifest: the complement of its extents. */
function freeExtents(manifest: string): { offset: number; length: number }[] {
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as { range: { length: number }; usedOnly: { extents: number[] } };
  const out: { offset: number; length: number }[] = [];
  let at = 0;
  const x = m.usedOnly.extents;
  for (let i = 0; i < x.length; i += 2) {
    if (x[i]! > at) out.push({ offset: at, length: x[i]! - at });
    at = x[i]! + x[i + 1]!;
  }
  if (at < m.range.length) out.push({ offset: at, length: m.range.length - at });
  return out;
}

/** Whether every byte of `path` in the extents is `byte` (read independently of clonestation). */
function allBytes(path: string, extents: { offset: number; length: number }[], byte: number): boolean {
  for (const e of extents) {
    for (let at = 0; at < e.length; at += 8 * MiB) {
      const b = readAt(path, e.offset + at, Math.min(8 * MiB, e.length - at));
      if (b.some((v) => v !== byte)) return false;
    }
  }
  return true;
}

describeRoot('--used-only: backup, restore and verify read and write only the used blocks', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  const files: Record<string, string> = {};
  let disk = '';
  let src = '';
  const size = 112 * MiB;
  // partitions (512-byte sectors): 1 FAT 24 MiB at 1 MiB, 2 ext4 40 MiB at 25 MiB, 3 NTFS 40 MiB at 65 MiB
  const P = { fat: { start: 1 * MiB, size: 24 * MiB }, ext: { start: 25 * MiB, size: 40 * MiB }, ntfs: { start: 65 * MiB, size: 40 * MiB } };

  function buildDisk(path: string): void {
    const dir = fx.dir();
    fill(path, size, 0x5a); // old data everywhere: free blocks hold it, so "free" is not "zero"
    sh('sgdisk', ['-Z', path]);
    sh('sgdisk', ['-n1:2048:+24M', '-t1:0700', '-n2:0:+40M', '-t2:8300', '-n3:0:+40M', '-t3:0700', path]);
    // each file system made in a file of its own, then written into its partition
    const fat = join(dir, 'fat.fs');
    fill(fat, P.fat.size, 0x5a);
    sh('mkfs.vfat', ['-F', '16', fat]);
    for (let i = 0; i < 4; i++) {
      files[`fat/f${i}.bin`] = randomFile(join(dir, `f${i}.bin`), (1 + i) * MiB + 777);
      sh('mcopy', ['-i', fat, join(dir, `f${i}.bin`), `::f${i}.bin`]);
    }
    const tree = join(dir, 'tree');
    sh('mkdir', ['-p', tree]);
    for (let i = 0; i < 5; i++) files[`ext/e${i}.bin`] = randomFile(join(tree, `e${i}.bin`), (2 + i) * MiB + 4321);
    const ext = join(dir, 'ext.fs');
    fill(ext, P.ext.size, 0x5a);
    sh('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, ext]);
    const ntfs = join(dir, 'ntfs.fs');
    fill(ntfs, P.ntfs.size, 0x5a);
    sh('mkntfs', ['-F', '-Q', '-q', '-s', '512', '-p', String(P.ntfs.start / 512), ntfs]);
    for (let i = 0; i < 3; i++) {
      files[`ntfs/n${i}.bin`] = randomFile(join(dir, `n${i}.bin`), (3 + i) * MiB + 99);
      sh('ntfscp', ['-f', ntfs, join(dir, `n${i}.bin`), `/n${i}.bin`]);
    }
    for (const [fs, p] of [[fat, P.fat], [ext, P.ext], [ntfs, P.ntfs]] as const)
      sh('dd', [`if=${fs}`, `of=${path}`, 'bs=1M', `seek=${p.start / MiB}`, 'conv=notrunc', 'status=none']);
  }

  /** Each file system of a disk (file or device) checked clean by its tool, each file read back by it. */
  function checkDisk(path: string): void {
    const dir = fx.dir();
    const part = (name: string, p: { start: number; size: number }): string => {
      const out = join(dir, `check-${name}.fs`);
      sh('dd', [`if=${path}`, `of=${out}`, 'iflag=skip_bytes,count_bytes', `skip=${p.start}`, `count=${p.size}`, 'bs=1M', 'status=none']);
      return out;
    };
    const fat = part('fat', P.fat);
    const fsckFat = run('fsck.vfat', ['-n', fat]);
    expect(fsckFat.status, fsckFat.out).toBe(0);
    const ext = part('ext', P.ext);
    const fsckExt = run('e2fsck', ['-fn', ext]);
    expect(fsckExt.status, fsckExt.out).toBe(0);
    const ntfs = part('ntfs', P.ntfs);
    const fsckNtfs = run('ntfsfix', ['-n', ntfs]);
    expect(fsckNtfs.status, fsckNtfs.out).toBe(0);
    for (const [name, want] of Object.entries(files)) {
      const [fs, file] = name.split('/') as [string, string];
      const got = fs === 'fat' ? runBuf('mtype', ['-i', fat, `::${file}`]) : fs === 'ext' ? runBuf('debugfs', ['-R', `cat /${file}`, ext]) : runBuf('ntfscat', [ntfs, `/${file}`]);
      expect(hash(got), name).toBe(want);
    }
  }

  beforeAll(() => {
    disk = join(fx.dir(), 'disk.img');
    buildDisk(disk);
    src = fx.loop(disk, 512, true).dev;
  });

  const images = (): Record<string, string> => ({ raw: join(fx.dir(), 'u.img'), zip: join(fx.dir(), 'u.zip'), zstd: join(fx.dir(), 'u.img.zst') });

  it('the source disk is what the test thinks: clean file systems, files readable', () => {
    checkDisk(disk);
  });

  it('backs up raw, zip and zstd reading only the used extents; the raw image is sparse; every manifest has the same hash of the image as restored', () => {
    const hashes: string[] = [];
    for (const [kind, out] of Object.entries(images())) {
      const before = bytesRead(src);
      const r = runCli(['backup', '--used-only', src, out, '--json']);
      expect(r.status, r.stderr).toBe(0);
      const read = bytesRead(src) - before;
      const m = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8')) as { usedOnly: { usedBytes: number; extents: number[] }; hashes: { sha256: string }; complete: boolean };
      expect(m.complete).toBe(true);
      // the files are ~40 MiB of the 112: the used extents (plus metadata) are well under the whole
      expect(m.usedOnly.usedBytes).toBeGreaterThan(40 * MiB);
      expect(m.usedOnly.usedBytes).toBeLessThan(size * 0.75);
      // the kernel's count: the used extents and the maps' metadata reads, not the whole drive
      expect(read, kind).toBeLessThan(m.usedOnly.usedBytes + 16 * MiB);
      expect(read).toBeGreaterThanOrEqual(m.usedOnly.usedBytes);
      hashes.push(m.hashes.sha256);
      if (kind === 'raw') {
        const st = statSync(out);
        expect(st.size).toBe(size);
        expect(st.blocks * 512).toBeLessThan(size * 0.75);
        expect(st.blocks * 512).toBeGreaterThanOrEqual(m.usedOnly.usedBytes - 4 * MiB);
        // the hash is of the file as it reads (holes as zeros), taken by another tool
        expect(sh('sha256sum', [out]).split(' ')[0]).toBe(m.hashes.sha256);
        // the free extents are holes of zeros; the used ones are the source's bytes
        expect(allBytes(out, freeExtents(`${out}.manifest.json`), 0)).toBe(true);
      }
    }
    expect(new Set(hashes).size).toBe(1);
    // zstd -d gives the same bytes
    const z = images().zstd;
    expect(hash(runBuf('zstd', ['-dc', z]))).toBe(hashes[0]);
  });

  it('restores each image onto a target of 0xA5: the file systems are clean, the files the same, free extents left as they were', () => {
    for (const [kind, image] of Object.entries(images())) {
      const t = join(fx.dir(), `t-${kind}.img`);
      fill(t, size, 0xa5);
      const dev = fx.loop(t).dev;
      const r = runCli(['restore', '--yes', image, dev]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/matches the manifest/);
      checkDisk(t);
      const free = freeExtents(`${image}.manifest.json`);
      expect(free.length).toBeGreaterThan(0);
      expect(allBytes(t, free, 0xa5), kind).toBe(true);
      // verify compares the used extents only: it agrees
      const v = runCli(['verify', image, t]);
      expect(v.status, v.stderr).toBe(0);
      // --zero-free is not true of this target: a free byte differs, so that verify fails
      expect(runCli(['verify', '--zero-free', image, t]).status).toBe(5);
    }
  });

  it('--zero-free zeroes the free extents: the target is the image byte for byte', () => {
    for (const [kind, image] of Object.entries(images())) {
      const t = join(fx.dir(), `z-${kind}.img`);
      fill(t, size, 0xa5);
      const r = runCli(['restore', '--yes', '--zero-free', image, t]);
      expect(r.status, r.stderr).toBe(0);
      const m = JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8')) as { hashes: { sha256: string } };
      expect(sh('sha256sum', [t]).split(' ')[0], kind).toBe(m.hashes.sha256);
      expect(runCli(['verify', '--zero-free', image, t]).status).toBe(0);
    }
    // a drive: the used extents written, the free ones zeroed by the drive itself (BLKZEROOUT)
    for (const [kind, image] of Object.entries(images())) {
      const t = join(fx.dir(), `zd-${kind}.img`);
      fill(t, size, 0xa5);
      const dev = fx.loop(t).dev;
      const r = runCli(['restore', '--yes', '--zero-free', image, dev]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/of free blocks zeroed \(--zero-free\)/);
      const m = JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8')) as { hashes: { sha256: string } };
      expect(sh('sha256sum', [dev]).split(' ')[0], kind).toBe(m.hashes.sha256);
      expect(runCli(['verify', '--zero-free', image, dev]).status).toBe(0);
    }
  });

  it('clone --used-only 1:1 and 1:N onto drives of 0xA5: only used extents read, file systems clean, free blocks left as they were; --verify agrees', () => {
    const raw = images().raw;
    const free = freeExtents(`${raw}.manifest.json`);
    const used = JSON.parse(readFileSync(`${raw}.manifest.json`, 'utf8')) as { usedOnly: { usedBytes: number }; hashes: { sha256: string } };
    for (const n of [1, 2]) {
      const files = Array.from({ length: n }, (_, i) => join(fx.dir(), `c${n}-${i}.img`));
      const devs = files.map((f) => {
        fill(f, size, 0xa5);
        return fx.loop(f).dev;
      });
      const before = bytesRead(src);
      // 1:1 without --verify: the kernel's count is the copy's reads; 1:N verifies (a second read of the used extents)
      const r = runCli(['clone', '--used-only', '--hash', 'sha256', '--yes', src, ...devs, ...(n > 1 ? ['--verify', '--no-log'] : [])]);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      const read = bytesRead(src) - before;
      expect(read).toBeGreaterThanOrEqual(n * used.usedOnly.usedBytes);
      expect(read).toBeLessThan(n * used.usedOnly.usedBytes + 16 * MiB);
      if (n === 1) expect(r.stdout + r.stderr).toContain(used.hashes.sha256);
      if (n === 1) expect(r.stdout + r.stderr).toMatch(/cloned the [\d.]+ MiB used of [\d.]+ MiB/);
      // the image (made with --used-only) and each target agree on the used extents
      for (const d of devs) expect(runCli(['verify', raw, d]).status).toBe(0);
      for (const f of files) {
        checkDisk(f);
        expect(allBytes(f, free, 0xa5)).toBe(true);
      }
    }
  });

  it('clone --used-only --zero-free: every target is the image as restored, byte for byte', () => {
    const raw = images().raw;
    const want = (JSON.parse(readFileSync(`${raw}.manifest.json`, 'utf8')) as { hashes: { sha256: string } }).hashes.sha256;
    const files = [0, 1].map((i) => join(fx.dir(), `cz-${i}.img`));
    const devs = files.map((f) => {
      fill(f, size, 0xa5);
      return fx.loop(f).dev;
    });
    const r = runCli(['clone', '--used-only', '--zero-free', '--yes', '--no-log', src, ...devs]);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    for (const f of files) expect(sh('sha256sum', [f]).split(' ')[0]).toBe(want);
    // --zero-free without --used-only is a usage error
    const bad = runCli(['clone', '--zero-free', '--yes', src, devs[0]!]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a split raw image keeps its free extents as holes in every part, and restores', () => {
    const out = join(fx.dir(), 'split.img');
    const b = runCli(['backup', '--used-only', '--split', '16MiB', src, out]);
    expect(b.status, b.stderr).toBe(0);
    const parts = readdirSync(fx.dir()).filter((n) => /^split\.img\.\d{3}$/.test(n));
    expect(parts.length).toBe(Math.ceil(size / (16 * MiB)));
    const m = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8')) as { usedOnly: { usedBytes: number }; hashes: { sha256: string } };
    const allocated = parts.reduce((n, p) => n + statSync(join(fx.dir(), p)).blocks * 512, 0);
    expect(allocated).toBeLessThan(size * 0.75);
    // the parts, read in order, are the image as restored
    expect(sh('sh', ['-c', `cat ${parts.map((p) => join(fx.dir(), p)).join(' ')} | sha256sum`]).split(' ')[0]).toBe(m.hashes.sha256);
    const t = join(fx.dir(), 'split-target.img');
    fill(t, size, 0xa5);
    const r = runCli(['restore', '--yes', out, t]);
    expect(r.status, r.stderr).toBe(0);
    checkDisk(t);
    expect(allBytes(t, freeExtents(`${out}.manifest.json`), 0xa5)).toBe(true);
  });

  it('a used-only image whose manifest extents are damaged is refused (IMAGE_CORRUPT), the target untouched', () => {
    const image = images().raw;
    const mPath = `${image}.manifest.json`;
    const good = readFileSync(mPath, 'utf8');
    const t = join(fx.dir(), 'bad-target.img');
    fill(t, size, 0xa5);
    try {
      for (const mutate of [
        (x: number[]) => x.slice(0, -1), // odd count
        (x: number[]) => [x[2]!, x[3]!, x[0]!, x[1]!, ...x.slice(4)], // not sorted
        (x: number[]) => [...x.slice(0, -1), x[x.length - 1]! + size], // past the end
        (x: number[]) => [x[0]!, x[1]! + x[3]! + x[2]!, ...x.slice(2)], // overlapping
      ]) {
        const m = JSON.parse(good) as { usedOnly: { extents: number[]; usedBytes: number } };
        m.usedOnly.extents = mutate(m.usedOnly.extents);
        writeFileSync(mPath, JSON.stringify(m));
        const r = runCli(['restore', '--yes', image, t]);
        expect(r.status, r.stderr).not.toBe(0);
        expect(r.stderr).toMatch(/IMAGE_CORRUPT/);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(runCli(['verify', image]).stderr).toMatch(/IMAGE_CORRUPT/);
      }
    } finally {
      writeFileSync(mPath, good);
    }
    expect(allBytes(t, [{ offset: 0, length: size }], 0xa5)).toBe(true);
  });

  it('a dirty file system is refused (FS_DIRTY, exit 4) with nothing written', () => {
    const dirty = join(fx.dir(), 'dirty.img');
    sh('cp', [disk, dirty]);
    const ext = join(fx.dir(), 'dirty-ext.fs');
    sh('dd', [`if=${disk}`, `of=${ext}`, 'iflag=skip_bytes,count_bytes', `skip=${P.ext.start}`, `count=${P.ext.size}`, 'bs=1M', 'status=none']);
    sh('debugfs', ['-w', '-R', 'ssv state 0', ext]);
    sh('dd', [`if=${ext}`, `of=${dirty}`, 'bs=1M', `seek=${P.ext.start / MiB}`, 'conv=notrunc', 'status=none']);
    const out = join(fx.dir(), 'dirty-out.img');
    const r = runCli(['backup', '--used-only', dirty, out]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/FS_DIRTY/);
    expect(r.stderr).toMatch(/partition 2/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(fx.dir()).filter((n) => n.startsWith('dirty-out'))).toEqual([]);
    // in a station it is refused while the jobs are planned: no job starts, not even the clean one's
    const pair = runCli(['backup', '--used-only', '--pair', `${disk}:${join(fx.dir(), 'dirty-pair-clean.img')}`, '--pair', `${dirty}:${join(fx.dir(), 'dirty-pair.img')}`, '--no-log']);
    expect(pair.status, pair.stderr).toBe(4);
    expect(pair.stderr).toMatch(/FS_DIRTY/);
    expect(readdirSync(fx.dir()).filter((n) => n.startsWith('dirty-pair'))).toEqual([]);
    // clone --used-only refuses it before writing the target
    const t = join(fx.dir(), 'dirty-target.img');
    fill(t, size, 0xa5);
    const c = runCli(['clone', '--used-only', '--yes', dirty, t]);
    expect(c.status).toBe(4);
    expect(c.stderr).toMatch(/FS_DIRTY/);
    expect(allBytes(t, [{ offset: 0, length: size }], 0xa5)).toBe(true);
    // without --used-only it is copied whole
    expect(runCli(['backup', dirty, out]).status).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  it('a whole unpartitioned ext4 on a 4096-byte-sector drive round-trips (backup raw and zstd, restore, e2fsck)', () => {
    const dir = fx.dir();
    const tree = join(dir, 'tree4k');
    sh('mkdir', ['-p', tree]);
    const want: Record<string, string> = {};
    for (let i = 0; i < 3; i++) want[`w${i}.bin`] = randomFile(join(tree, `w${i}.bin`), (4 + i) * MiB + 5);
    const f = join(dir, 'whole4k.img');
    fill(f, 64 * MiB, 0x5a);
    sh('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, f]);
    const dev = fx.loop(f, 4096, true).dev;
    for (const out of [join(dir, 'w4k.img'), join(dir, 'w4k.img.zst')]) {
      const b = runCli(['backup', '--used-only', dev, out]);
      expect(b.status, b.stderr).toBe(0);
      const t = join(dir, `w4k-target-${out.endsWith('.zst') ? 'zst' : 'raw'}.img`);
      fill(t, 64 * MiB, 0xa5);
      const tdev = fx.loop(t, 4096).dev;
      const r = runCli(['restore', '--yes', out, tdev]);
      expect(r.status, r.stderr).toBe(0);
      const fsck = run('e2fsck', ['-fn', t]);
      expect(fsck.status, fsck.out).toBe(0);
      for (const [name, h] of Object.entries(want)) expect(hash(runBuf('debugfs', ['-R', `cat /${name}`, t]))).toBe(h);
      expect(allBytes(t, freeExtents(`${out}.manifest.json`), 0xa5)).toBe(true);
    }
  });
});
