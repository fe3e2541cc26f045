// `clonestation list` on real loop devices: identity, sectors, partitions, mounts, system.
import { afterAll, expect, it, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { describeRoot } from '../helpers/root.js';
import { attachPartitioned, makeFile, runCli, sh, useLoopScratch } from '../helpers/fixtures.js';

interface Listed {
  path: string;
  size: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  system: boolean;
  systemReasons: string[];
  inUse: boolean;
  partitions: { name: string; size: number; start: number }[];
  mounts: { mountPoint: string }[];
  loopBackingFile?: string;
}

describeRoot('clonestation list', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let mnt: string | undefined;
  afterAll(() => {
    if (mnt) spawnSync('umount', [mnt]);
  });

  it('shows loop devices with their sizes, sectors, partitions and mounts, and the system drive', () => {
    const plain = fx.loop(makeFile(join(fx.dir(), 'plain.img'), 12 << 20), 4096);
    const file = makeFile(join(fx.dir(), 'parted.img'), 32 << 20, 'zero');
    spawnSync('sfdisk', ['-q', file], { input: 'label: gpt\nstart=2048, size=8192, type=L\nstart=12288, type=L\n' });
    const disk = fx.track(attachPartitioned(file));
    sh('mkfs.ext4', ['-q', '-F', `${disk.dev}p2`]);
    mnt = join(fx.dir(), 'mnt');
    mkdirSync(mnt);
    sh('mount', [`${disk.dev}p2`, mnt]);

    const r = runCli(['list', '--loops', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const drives = (JSON.parse(r.stdout) as { drives: Listed[] }).drives;
    const p = drives.find((d) => d.path === plain.dev);
    expect(p).toMatchObject({ size: 12 << 20, logicalSectorSize: 4096, system: false, inUse: false, loopBackingFile: plain.file });
    const d = drives.find((x) => x.path === disk.dev);
    // as sfdisk itself reports them (it aligns the last partition's end)
    const table = JSON.parse(sh('sfdisk', ['-J', file])) as { partitiontable: { partitions: { start: number; size: number }[] } };
    expect(d?.partitions.map((x) => [x.start, x.size])).toEqual(table.partitiontable.partitions.map((x) => [x.start * 512, x.size * 512]));
    expect(d?.inUse).toBe(true);
    expect(d?.mounts.map((m) => m.mountPoint)).toEqual([mnt]);
    const root = sh('findmnt', ['-n', '-o', 'SOURCE', '/']);
    const sys = drives.find((x) => x.path === root);
    expect(sys?.system).toBe(true);
    expect(sys?.systemReasons).toContain('it holds /');
    // without --loops, loop devices are not shown; the table marks the system drive
    const human = runCli(['list']);
    expect(human.stdout).not.toContain(plain.dev);
    expect(human.stdout).toMatch(new RegExp(`${root}\\s.*SYSTEM`));
  });
});
