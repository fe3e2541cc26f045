// Seeing and mounting partitions: `list` shows each drive's table with file systems (checked
// against sgdisk and blkid), `image info` shows an image's (raw, split, ZIP) as sgdisk -p reads
// the raw image, `image mount`/`image umount` and `restore --mount` show the files with their hashes.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { lastEvent, runCli, sh, useLoopScratch } from '../helpers/fixtures.js';
import { ourTable, sgdiskTable } from '../helpers/partition-tools.js';

const MiB = 1 << 20;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface ShownPartition {
  number: number;
  firstLba: number;
  lastLba: number;
  typeGuid?: string;
  guid?: string;
  name?: string;
  attributes?: string;
}
interface Shown {
  scheme: string;
  sectorSize: number;
  partitions: ShownPartition[];
  fs: Record<string, { type: string; label?: string }>;
}

/** blkid's reading of the file system at `offset` of `path` (TYPE and LABEL), the reference. */
function blkid(path: string, offset: number, size: number): { type?: string; label?: string } {
  const r = spawnSync('blkid', ['-p', '-O', String(offset), '-S', String(size), '-o', 'export', path], { encoding: 'utf8' });
  const kv = Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { type: kv.TYPE, label: kv.LABEL };
}

function mountedAt(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m?.startsWith(dir));
}

describeRoot('seeing and mounting partitions', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let seq = 0;
  let src = '';
  let srcFile = '';
  const files: Record<string, string> = {};
  const images: Record<string, string> = {};
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) if (existsSync(join(d, '.clonestation-mounts.json'))) runCli(['image', 'umount', d]);
  });

  function disk(size: number): { dev: string; file: string } {
    const file = join(fx.dir(), `d${seq++}.img`);
    sh('truncate', ['-s', String(size), file]);
    return { dev: fx.loop(file, 512).dev, file };
  }

  function emptyDir(): string {
    const d = join(fx.dir(), `m${seq++}`);
    mkdirSync(d);
    dirs.push(d);
    return d;
  }

  beforeAll(async () => {
    const d = disk(64 * MiB);
    src = d.dev;
    srcFile = d.file;
    sh('sgdisk', ['-n1:0:+16M', '-t1:ef00', '-c1:EFI system', '-n2:0:+32M', '-t2:8300', '-c2:root', '-A2:set:2', '-n3:0:+8M', '-t3:8200', '-c3:swap', src]);
    const t = await ourTable(src);
    const at = (n: number, cmd: (loop: string) => void): void => {
      const p = t.partitions[n - 1];
      const loop = sh('losetup', ['--find', '--show', '--offset', String(p.start), '--sizelimit', String(p.size), src]);
      try {
        cmd(loop);
      } finally {
        sh('losetup', ['-d', loop]);
      }
    };
    at(1, (l) => sh('mkfs.vfat', ['-n', 'ESP', l]));
    at(2, (l) => {
      sh('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', l]);
      const mnt = join(fx.dir(), 'fill');
      mkdirSync(mnt);
      sh('mount', [l, mnt]);
      try {
        mkdirSync(join(mnt, 'etc'));
        files['etc/hostname'] = 'station\n';
        files['data.bin'] = createHash('sha512').update('x').digest('hex').repeat(5000);
        for (const [f, c] of Object.entries(files)) writeFileSync(join(mnt, f), c);
      } finally {
        sh('umount', [mnt]);
      }
    });
    at(3, (l) => sh('mkswap', ['-L', 'swp', l]));
    for (const [name, out, extra] of [
      ['raw', 'v.img', []],
      ['split', 'v-s.img', ['--split', '20MiB']],
      ['zip', 'v.zip', []],
      ['zstd', 'v.img.zst', []],
    ] as const) {
      const path = join(fx.dir(), out);
      const r = runCli(['backup', src, path, '--json', ...extra]);
      expect(r.status, r.stderr).toBe(0);
      images[name] = path;
    }
  });

  function expectAsSgdiskAndBlkid(shown: Shown, rawPath: string): void {
    const sg = sgdiskTable(rawPath);
    expect(shown.scheme).toBe('gpt');
    expect(shown.partitions.map((p) => ({ number: p.number, typeGuid: p.typeGuid, guid: p.guid, firstLba: p.firstLba, lastLba: p.lastLba, attributes: p.attributes, name: p.name }))).toEqual(sg.partitions);
    for (const p of shown.partitions) {
      const b = blkid(rawPath, p.firstLba * 512, (p.lastLba - p.firstLba + 1) * 512);
      expect(shown.fs[String(p.number)], `partition ${p.number}`).toEqual({ type: b.type, ...(b.label ? { label: b.label } : {}) });
    }
  }

  it('list shows the table of each drive: partitions as sgdisk reads them, file systems as blkid does', () => {
    const r = runCli(['list', '--loops', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const drives = (lastEvent(r, 'drives') as { drives: { path: string; table?: Shown }[] }).drives;
    const mine = drives.find((d) => d.path === src);
    expect(mine?.table).toBeDefined();
    expectAsSgdiskAndBlkid(mine?.table as Shown, src);
    const text = runCli(['list', '--loops']);
    expect(text.stdout).toContain(`${src}:`);
    expect(text.stdout).toMatch(/2\s+\d+s\s+\d+s\s+32\.00 MiB\s+Linux filesystem\s+root\s+ext4 "rootfs"/);
  });

  for (const kind of ['raw', 'split', 'zip', 'zstd'] as const) {
    it(`image info on a ${kind} image agrees with sgdisk -p and blkid on the raw image`, () => {
      const r = runCli(['image', 'info', images[kind], '--json']);
      expect(r.status, r.stderr).toBe(0);
      const info = lastEvent(r, 'image') as { table: Shown & { problems: unknown[] }; size: number };
      expect(info.size).toBe(64 * MiB);
      expect(info.table.problems).toEqual([]);
      expectAsSgdiskAndBlkid(info.table, images.raw);
      const text = runCli(['image', 'info', images[kind]]);
      expect(text.stdout).toMatch(/GPT, disk GUID [0-9A-F-]{36}, 512-byte sectors/);
    });
  }

  it('image mount shows the files with their hashes read-only; image umount undoes every mount and loop', () => {
    const dir = emptyDir();
    const r = runCli(['image', 'mount', images.raw, dir, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const res = lastEvent(r, 'mounted') as { mounted: { number: number; type: string; readOnly: boolean }[]; skipped: { number: number; reason: string }[] };
    expect(res.mounted.find((m) => m.number === 2)).toMatchObject({ type: 'ext4', readOnly: true });
    expect(res.skipped.find((s) => s.number === 3)?.reason).toMatch(/swap/);
    for (const [f, c] of Object.entries(files)) expect(sha(readFileSync(join(dir, '2', f)))).toBe(sha(Buffer.from(c)));
    expect(spawnSync('touch', [join(dir, '2', 'new')]).status).not.toBe(0);
    const u = runCli(['image', 'umount', dir]);
    expect(u.status, u.stderr).toBe(0);
    expect(mountedAt(dir)).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
    expect(sh('losetup', ['-j', images.raw])).toBe('');
    // the image is as the backup made it
    const v = runCli(['verify', images.raw]);
    expect(v.status, v.stderr).toBe(0);
  });

  it('image umount after a hand umount leaves alone a drive that got the freed loop number', () => {
    const dir = emptyDir();
    const r = runCli(['image', 'mount', images.raw, dir, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const ext = (lastEvent(r, 'mounted') as { mounted: { number: number; loop: string }[] }).mounted.find((m) => m.number === 2);
    if (!ext) throw new Error('partition 2 was not mounted');
    // unmounted and detached by hand; the number goes to another drive at once
    sh('umount', [join(dir, '2')]);
    sh('losetup', ['-d', ext.loop]);
    const other = join(fx.dir(), `other${seq++}.img`);
    sh('truncate', ['-s', String(MiB), other]);
    const taken = spawnSync('losetup', [ext.loop, other]).status === 0;
    try {
      const u = runCli(['image', 'umount', dir]);
      expect(u.status, u.stderr).toBe(0);
      expect(readdirSync(dir)).toEqual([]);
      if (taken) expect(sh('losetup', ['-n', '-O', 'BACK-FILE', ext.loop])).toBe(other);
    } finally {
      if (taken) spawnSync('losetup', ['-d', ext.loop]);
    }
    expect(sh('losetup', ['-j', images.raw])).toBe('');
  });

  it('restore --mount (from a ZIP) mounts the restored partitions read-only, --mount-rw read-write', () => {
    const dst = disk(64 * MiB);
    const dir = emptyDir();
    let r = runCli(['restore', images.zip, dst.dev, '--yes', '--json', '--mount', dir]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`mounted read-only at ${join(dir, '2')}`);
    for (const [f, c] of Object.entries(files)) expect(sha(readFileSync(join(dir, '2', f)))).toBe(sha(Buffer.from(c)));
    expect(runCli(['image', 'umount', dir]).status).toBe(0);
    r = runCli(['restore', images.raw, dst.dev, '--partition', '2', '--yes', '--json', '--mount', dir, '--mount-rw']);
    expect(r.status, r.stderr).toBe(0);
    writeFileSync(join(dir, '2', 'new.txt'), 'written\n');
    expect(runCli(['image', 'umount', dir]).status).toBe(0);
    expect(mountedAt(dir)).toEqual([]);
    // a folder that is not empty is refused before anything is written
    writeFileSync(join(dir, 'x'), '');
    const before = sha(readFileSync(dst.file));
    r = runCli(['restore', images.raw, dst.dev, '--yes', '--mount', dir]);
    expect(r.status).toBe(2);
    expect(sha(readFileSync(dst.file))).toBe(before);
    void srcFile;
  });
});
