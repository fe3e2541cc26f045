// `clonestation bench` on loop devices and test files (root): read tests leave a drive
// byte-identical and read what they say, write tests are refused where clone refuses and
// write only the range, a test file is removed, --json is fio's shape, 4 drives at once.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { spawnSync } from 'node:child_process';
import { cli, makeFile, runCli, sh, sha256, umountWhenFree, useLoopScratch } from '../helpers/fixtures.js';

const MiB = 1 << 20;
/** short tests: the figures are not what is checked here */
const quick = ['--profile', 'quick', '--runtime', '0.3', '--ramp', '0', '--no-ui'];

/** Sectors read and written as the kernel counts them (/sys/block/NAME/stat fields 3 and 7). */
function sectors(dev: string): { read: number; written: number } {
  const f = readFileSync(`/sys/block/${dev.replace('/dev/', '')}/stat`, 'utf8').trim().split(/\s+/).map(Number);
  return { read: f[2], written: f[6] };
}

describeRoot('clonestation bench on loop devices', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });

  it('read tests write nothing, and the kernel counts at least the bytes the report says were read', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'r.img'), 64 * MiB), 4096);
    const before = sha256(d.file);
    const s0 = sectors(d.dev);
    const report = join(fx.dir(), 'r.json');
    const r = runCli(['bench', d.dev, '--read-only', ...quick, '--report', report]);
    expect(r.status, r.stderr).toBe(0);
    const s1 = sectors(d.dev);
    expect(s1.written - s0.written).toBe(0);
    expect(sha256(d.file)).toBe(before);
    const job = (JSON.parse(readFileSync(report, 'utf8')) as { jobs: { kind: string; drive: Record<string, unknown>; tests: { test: { name: string }; read?: { bytes: number; iops: number; lat: { percentiles: { percent: number }[] } }; write?: unknown }[] }[] }).jobs[0];
    expect(job.kind).toBe('bench');
    expect(job.drive).toMatchObject({ path: d.dev, kind: 'block', logicalSectorSize: 4096 });
    expect(job.tests.map((t) => t.test.name)).toEqual(['SEQ1M Q8T1 read', 'SEQ1M Q1T1 read', 'RND4K Q32T1 read', 'RND4K Q1T1 read']);
    const readBytes = job.tests.reduce((a, t) => a + (t.read?.bytes ?? 0), 0);
    for (const t of job.tests) {
      expect(t.write).toBeUndefined();
      expect(t.read!.iops).toBeGreaterThan(0);
      expect(t.read!.lat.percentiles.map((p) => p.percent)).toEqual([50, 90, 99, 99.9, 99.99]);
    }
    // counted reads (after the ramp) are a part of what the kernel saw
    expect((s1.read - s0.read) * 512).toBeGreaterThanOrEqual(readBytes);
    // the comparison on stdout
    expect(r.stdout).toMatch(/RND4K Q1T1 read\s+[\d.]+ MB\/s \d+ IOPS p99/);
  });

  it('write tests write only the range asked, with --yes; without it and no terminal they are refused', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'w.img'), 48 * MiB));
    const head = sha256(d.file, 0, 8 * MiB);
    const tail = sha256(d.file, 24 * MiB);
    const refused = runCli(['bench', d.dev, ...quick, '--offset', '8MiB', '--size', '16MiB']);
    expect(refused.status).toBe(4);
    expect(refused.stderr).toMatch(/\[CONFIRMATION_REQUIRED\]/);
    const middle = sha256(d.file, 8 * MiB, 16 * MiB);
    const r = runCli(['bench', d.dev, ...quick, '--offset', '8MiB', '--size', '16MiB', '--test', 'rw=randwrite,bs=4k,qd=8', '--test', 'rw=write,bs=1m,qd=2', '--yes']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(d.file, 0, 8 * MiB)).toBe(head);
    expect(sha256(d.file, 24 * MiB)).toBe(tail);
    expect(sha256(d.file, 8 * MiB, 16 * MiB)).not.toBe(middle);
  });

  it('preconditions (fill, then random-write rounds until steady by SNIA) before it measures, and reports the rounds', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'p.img'), 32 * MiB, 'zero'));
    const report = join(fx.dir(), 'p.json');
    const r = runCli(['bench', d.dev, ...quick, '--precondition', '--test', 'rw=randwrite,bs=4k,qd=8', '--yes', '--report', report]);
    expect(r.status, r.stderr).toBe(0);
    const job = (JSON.parse(readFileSync(report, 'utf8')) as { jobs: { precondition: { filledBytes: number; rounds: number[]; steady: boolean }; notes: string[] }[] }).jobs[0];
    expect(job.precondition.filledBytes).toBe(32 * MiB);
    expect(job.precondition.rounds.length).toBeGreaterThanOrEqual(job.precondition.steady ? 5 : 25);
    for (const iops of job.precondition.rounds) expect(iops).toBeGreaterThan(0);
    // not steady within 25 rounds is said, not hidden
    expect(job.notes.some((n) => /without steady IOPS/.test(n))).toBe(!job.precondition.steady);
    // the zeros it started with are gone: the fill wrote every byte
    expect(readFileSync(d.file).subarray(0, 1 << 20).some((b) => b !== 0)).toBe(true);
  });

  it('refuses write tests on a mounted drive and on the system disk, writing nothing', () => {
    const file = makeFile(join(fx.dir(), 'm.img'), 32 * MiB, 'zero');
    const d = fx.loop(file);
    sh('mkfs.ext4', ['-q', '-F', d.dev]);
    const mnt = join(fx.dir(), 'mnt');
    sh('mkdir', ['-p', mnt]);
    sh('mount', ['-o', 'ro', d.dev, mnt]);
    try {
      const before = sha256(file);
      const r = runCli(['bench', d.dev, ...quick, '--yes']);
      expect(r.status, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/\[TARGET_MOUNTED\]/);
      expect(sha256(file)).toBe(before);
      // reading a mounted drive is allowed: reads never write
      const ro = runCli(['bench', d.dev, ...quick, '--read-only']);
      expect(ro.status, ro.stderr).toBe(0);
      expect(sha256(file)).toBe(before);
    } finally {
      umountWhenFree(mnt);
    }
    const rootDev = sh('findmnt', ['-n', '-o', 'SOURCE', '/']);
    if (rootDev.startsWith('/dev/')) {
      const sys = runCli(['bench', rootDev, ...quick, '--yes']);
      expect(sys.status, sys.stderr).toBe(4);
      expect(sys.stderr).toMatch(/\[(SYSTEM_DRIVE|TARGET_MOUNTED)\]/);
    }
  });

  it('makes, tests and removes a test file; --json is one fio-shaped document for 4 drives at once', () => {
    const tf = join(fx.dir(), 'testfile.bin');
    const r = runCli(['bench', tf, ...quick, '--size', '32MiB', '--test', 'rw=randread,bs=4k,qd=4', '--test', 'rw=randwrite,bs=4k,qd=4']);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(tf)).toBe(false);
    const drives = [512, 4096, 512, 4096].map((sector, i) => fx.loop(makeFile(join(fx.dir(), `j${i}.img`), 32 * MiB), sector as 512 | 4096));
    // (not runCli: that reads --json output as JSON lines; fio's is one document)
    const j = spawnSync(process.execPath, [cli, 'bench', ...drives.map((d) => d.dev), ...quick, '--read-only', '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(j.status, j.stderr).toBe(0);
    const doc = JSON.parse(j.stdout) as { jobs: { jobname: string; 'job options': { filename: string }; read: { bw: number; bw_bytes: number; iops: number; clat_ns: { mean: number; percentile: Record<string, number> } } }[]; clonestation: { jobs: { state: string }[] } };
    expect(doc.jobs).toHaveLength(16);
    expect(new Set(doc.jobs.map((x) => x['job options'].filename))).toEqual(new Set(drives.map((d) => d.dev)));
    for (const x of doc.jobs) {
      expect(x.read.iops).toBeGreaterThan(0);
      expect(x.read.bw).toBe(Math.floor(x.read.bw_bytes / 1024));
      expect(x.read.clat_ns.mean).toBeGreaterThan(0);
      expect(x.read.clat_ns.percentile['99.000000']).toBeGreaterThan(0);
    }
    expect(doc.clonestation.jobs.map((x) => x.state)).toEqual(['done', 'done', 'done', 'done']);
  });
});
