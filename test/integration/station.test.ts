// The station on real devices: 8 jobs at once, one with a failing source, one with a target
// that fails every write, one 1:N job with a slow target. Every other target must be a
// byte-identical copy, every failure reported with its reason and offset.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { lastEvent, makeFile, runCli, sh, sha256, useLoopScratch } from '../helpers/fixtures.js';
import { badSectors, failingDrive as startDrive, type FailingDrive, type FailingDriveOptions } from '../helpers/failing-drive.js';
import { fullTarget, slowTarget, type SlowTarget } from '../helpers/slow-target.js';

interface TargetReport {
  path: string;
  state: string;
  code?: string;
  reason?: string;
  offset?: number;
  verified: boolean;
  detachedAt?: number;
}
interface JobReport {
  id: number;
  state: string;
  source: { path: string };
  targets: TargetReport[];
  hashes?: Record<string, string>;
  hashNote?: string;
}

describeRoot('station: many jobs at once', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  const nbd: (SlowTarget | FailingDrive)[] = [];
  afterAll(() => {
    for (const n of nbd) n.down();
  });
  const failingDrive = (o: FailingDriveOptions): FailingDrive => {
    mkdirSync(o.dir, { recursive: true });
    const d = startDrive(o);
    nbd.push(d);
    return d;
  };

  it('runs 8 jobs: failures stay in their own job, every other target is an exact copy', () => {
    const MiB = 1 << 20;
    const size = 16 * MiB;
    // five plain pairs on loop devices (two with 4096-byte sectors)
    const pairs = [0, 1, 2, 3, 4].map((i) => ({
      src: fx.loop(makeFile(join(fx.dir(), `p${i}-src.img`), size), i < 2 ? 4096 : 512),
      dst: fx.loop(makeFile(join(fx.dir(), `p${i}-dst.img`), size, 'zero'), i < 2 ? 4096 : 512),
    }));
    // a failing source
    const sick = failingDrive({ dir: join(fx.dir(), 'sick'), size, sectorSize: 512, bad: badSectors(512, [20000]) });
    const sickDst = fx.loop(makeFile(join(fx.dir(), 'sick-dst.img'), size, 'zero'));
    // a target that fails every write
    const full = fullTarget(join(fx.dir(), 'full'), size);
    nbd.push(full);
    const fullSrc = fx.loop(makeFile(join(fx.dir(), 'full-src.img'), size));
    // one master to three targets, one of them slow (a few MB/s after nbdkit's burst)
    const master = fx.loop(makeFile(join(fx.dir(), 'master.img'), size));
    const fast = [0, 1].map((i) => fx.loop(makeFile(join(fx.dir(), `fast-${i}.img`), size, 'zero')));
    const slow = slowTarget(join(fx.dir(), 'slow'), size, 4_000_000);
    nbd.push(slow);

    const jobfile = join(fx.dir(), 'station.json');
    writeFileSync(
      jobfile,
      JSON.stringify({
        maxParallel: 8,
        jobs: [
          ...pairs.map((p) => ({ source: p.src.dev, targets: [p.dst.dev] })),
          { source: sick.dev, targets: [sickDst.dev] },
          { source: fullSrc.dev, targets: [full.dev] },
          { source: master.dev, targets: [fast[0].dev, slow.dev, fast[1].dev] },
        ],
      }),
    );
    const report = join(fx.dir(), 'report.json');
    const log = join(fx.dir(), 'station.log');
    // A 4 MiB window (4 slots of 1 MiB) on a 16 MiB drive: the slow target fills it and
    // must leave the shared stream. (The default 64 MiB window would hold the whole drive.)
    const r = runCli(['run', jobfile, '--yes', '--json', '--report', report, '--log', log, '--block-size', '1MiB', '--depth', '4', '--hash', 'sha256,xxh3']);
    expect(r.status, r.stderr + r.stdout.slice(-3000)).toBe(1);
    expect(lastEvent(r, 'error')?.code, r.stderr.slice(-3000)).toBe('JOBS_FAILED');
    const jobs = (JSON.parse(readFileSync(report, 'utf8')) as { jobs: JobReport[] }).jobs;
    expect(jobs).toHaveLength(8);

    // the good pairs: exact copies
    for (const [i, p] of pairs.entries()) {
      expect(jobs[i].state).toBe('done');
      expect(sha256(p.dst.file)).toBe(sha256(p.src.file));
      // hashed on the fly, from the ring, as the bytes went by
      expect(jobs[i].hashes?.sha256).toBe(sha256(p.src.file));
    }
    // a source that failed has no hash (a hash of part of it would be wrong)
    expect(jobs[5].hashes).toBeUndefined();
    expect(jobs[5].hashNote).toMatch(/hashed \d+ of/);
    // the failing source: its job failed with the offset of the bad sector
    expect(jobs[5].state).toBe('failed');
    expect(jobs[5].targets[0]).toMatchObject({ state: 'failed', code: 'READ_FAILED' });
    expect(jobs[5].targets[0].offset).toBeLessThanOrEqual(20000 * 512);
    // the dying target: failed after retries, with its reason and offset
    expect(jobs[6].state).toBe('failed');
    expect(jobs[6].targets[0]).toMatchObject({ state: 'failed', code: 'TARGET_FULL' });
    expect(typeof jobs[6].targets[0].offset).toBe('number');
    // 1:N with a slow target: all three good and verified; the slow one caught up alone
    expect(jobs[7].state, JSON.stringify(jobs[7].targets)).toBe('done');
    expect(jobs[7].targets.map((t) => [t.state, t.verified])).toEqual([
      ['done', true],
      ['done', true],
      ['done', true],
    ]);
    expect(jobs[7].targets[1].detachedAt).toBeDefined();
    // the fast targets were finished (written and synced) before the slow one caught up
    const written = jobs[7].targets.map((t) => (t as TargetReport & { writtenSeconds: number }).writtenSeconds);
    expect(written[0]).toBeLessThan(written[1]);
    expect(written[2]).toBeLessThan(written[1]);
    for (const f of fast) expect(sha256(f.file)).toBe(sha256(master.file));
    // the slow target's slots moved to spare ring buffers while the taps still read them
    expect(jobs[7].hashes?.sha256).toBe(sha256(master.file));
    expect(jobs[7].hashes?.xxh3).toMatch(/^[0-9a-f]{16}$/);
    // the log has the story
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
    expect(lines.filter((l) => l.msg === 'job ended')).toHaveLength(8);
  });

  it('refuses a drive named in two jobs, before anything is written', () => {
    const a = fx.loop(makeFile(join(fx.dir(), 'c-a.img'), 1 << 20));
    const b = fx.loop(makeFile(join(fx.dir(), 'c-b.img'), 1 << 20));
    const c = fx.loop(makeFile(join(fx.dir(), 'c-c.img'), 1 << 20));
    const before = sha256(b.file);
    const r = runCli(['clone', '--pair', `${a.dev}:${b.dev}`, '--pair', `${c.dev}:${b.dev}`, '--yes', '--json']);
    expect(r.status).toBe(4);
    expect(lastEvent(r, 'error')?.code).toBe('STATION_CONFLICT');
    const r2 = runCli(['clone', '--pair', `${a.dev}:${b.dev}`, '--pair', `${b.dev}:${c.dev}`, '--yes', '--json']);
    expect(r2.status).toBe(4);
    expect(sha256(b.file)).toBe(before);
  });

  it('applies --offset, --length and --target-offset to every --pair job', () => {
    const mib = 1 << 20;
    const pairs = [0, 1].map((i) => ({
      src: fx.loop(makeFile(join(fx.dir(), `r-src${i}.img`), 4 * mib)),
      dst: fx.loop(makeFile(join(fx.dir(), `r-dst${i}.img`), 4 * mib)),
    }));
    const before = pairs.map((p) => readFileSync(p.dst.file));
    const r = runCli(['clone', ...pairs.flatMap((p) => ['--pair', `${p.src.dev}:${p.dst.dev}`]), '--offset', '1MiB', '--length', '1MiB', '--target-offset', '2MiB', '--yes', '--json']);
    expect(r.status, r.stderr).toBe(0);
    pairs.forEach((p, i) => {
      const want = Buffer.from(before[i]);
      readFileSync(p.src.file).copy(want, 2 * mib, mib, 2 * mib);
      // exactly the range moved, and nothing else of the target changed
      expect(readFileSync(p.dst.file).equals(want), `pair ${i + 1}`).toBe(true);
    });
  });

  it('logs every run by default (the last 100 kept), not with --no-log, and goes on without one where it cannot write', () => {
    const a = fx.loop(makeFile(join(fx.dir(), 'l-a.img'), 1 << 20));
    const b = fx.loop(makeFile(join(fx.dir(), 'l-b.img'), 1 << 20, 'zero'));
    const logs = join(fx.dir(), 'run-logs');
    const env = { CLONESTATION_LOG_DIR: logs };
    mkdirSync(logs, { recursive: true });
    // 100 older run logs and a file that is not one: the oldest log goes, the other file stays
    for (let i = 0; i < 100; i++) writeFileSync(join(logs, `station-2020-01-01T00-00-${String(i).padStart(2, '0')}-000Z-1.log`), '');
    writeFileSync(join(logs, 'notes.txt'), 'mine');
    const r = runCli(['clone', '--pair', `${a.dev}:${b.dev}`, '--yes', '--json'], undefined, env);
    expect(r.status, r.stderr).toBe(0);
    const done = lastEvent(r, 'done') as { log?: string };
    expect(done.log).toMatch(/run-logs\/station-\d{4}-.*\.log$/);
    const lines = readFileSync(done.log!, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(lines).toContain('job planned');
    expect(lines).toContain('job ended');
    const names = readdirSync(logs);
    expect(names.filter((n) => n.startsWith('station-'))).toHaveLength(100);
    expect(names).not.toContain('station-2020-01-01T00-00-00-000Z-1.log');
    expect(names).toContain('notes.txt');

    const quiet = runCli(['clone', '--pair', `${a.dev}:${b.dev}`, '--yes', '--json', '--no-log'], undefined, env);
    expect(quiet.status).toBe(0);
    expect((lastEvent(quiet, 'done') as { log?: string }).log).toBeUndefined();
    expect(readdirSync(logs).filter((n) => n.startsWith('station-'))).toHaveLength(100);

    const blocked = join(fx.dir(), 'a-file');
    writeFileSync(blocked, '');
    const nowhere = runCli(['clone', '--pair', `${a.dev}:${b.dev}`, '--yes', '--json'], undefined, { CLONESTATION_LOG_DIR: join(blocked, 'logs') });
    expect(nowhere.status, nowhere.stderr).toBe(0);
    expect(nowhere.stdout).toMatch(/no log of this run: .* is not writable/);
    expect(sha256(b.file)).toBe(sha256(a.file));
  });

  it('rejects a malformed job file with exit 2', () => {
    const f = join(fx.dir(), 'bad.json');
    for (const text of [
      '{',
      '{"jobs": []}',
      '{"jobs": [{"source": "/x"}]}',
      '{"jobs": [{"source": "/x", "targets": ["/y"], "colour": "red"}]}',
      '{"jobs": [{"source": "/x", "targets": ["/y", "/z"], "map": "/m"}]}',
      '{"jobs": [{"source": "/x", "targets": ["/y"]}], "maxparallel": 2}',
    ]) {
      writeFileSync(f, text);
      const r = runCli(['run', f, '--json']);
      expect(r.status, text).toBe(2);
      expect(lastEvent(r, 'error')?.code).toBe('BAD_JOBFILE');
    }
    // a FIFO nobody writes and an endless device: refused at once, unread (one line, no stack)
    const fifo = join(fx.dir(), 'jobs.fifo');
    sh('mkfifo', [fifo]);
    for (const path of [fifo, '/dev/zero']) {
      const r = runCli(['run', path]);
      expect(r.status, path).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^clonestation: job file .*: it is a (FIFO|character device).*, not a regular file: give the path of a file \[BAD_JOBFILE\]$/m);
    }
  });

  it('stops every job on SIGINT: exit 130, targets reported cancelled', async () => {
    const size = 32 << 20;
    const a = fx.loop(makeFile(join(fx.dir(), 'i-a.img'), size));
    const slowOne = slowTarget(join(fx.dir(), 'i-slow'), size, 2_000_000);
    nbd.push(slowOne);
    const b = fx.loop(makeFile(join(fx.dir(), 'i-b.img'), size));
    const bDst = fx.loop(makeFile(join(fx.dir(), 'i-b-dst.img'), size, 'zero'));
    const report = join(fx.dir(), 'i-report.json');
    const { spawn } = await import('node:child_process');
    const { cli } = await import('../helpers/fixtures.js');
    const child = spawn(process.execPath, [cli, 'clone', '--pair', `${a.dev}:${slowOne.dev}`, '--pair', `${b.dev}:${bDst.dev}`, '--yes', '--json', '--report', report, '--block-size', '1MiB']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((res) => setTimeout(res, 1500));
    child.kill('SIGINT');
    const status = await new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    expect(status, out).toBe(130);
    expect(out).toContain('"code":"CANCELLED"');
    const jobs = (JSON.parse(readFileSync(report, 'utf8')) as { jobs: JobReport[] }).jobs;
    expect(jobs[0].state).toBe('cancelled');
    expect(jobs[0].targets[0].state).toBe('cancelled');
  });

  it('runs a job with a map (a rescue of a real failing drive) beside a clone, both exact', () => {
    const size = 8 << 20;
    const sick = failingDrive({ dir: join(fx.dir(), 'm-sick'), size, sectorSize: 512, bad: badSectors(512, [100, [5000, 3], 9000]) });
    const rescued = join(fx.dir(), 'm-rescued.img');
    const map = join(fx.dir(), 'm-rescued.map');
    const src = fx.loop(makeFile(join(fx.dir(), 'm-src.img'), size));
    const dst = fx.loop(makeFile(join(fx.dir(), 'm-dst.img'), size, 'zero'));
    const jobfile = join(fx.dir(), 'mixed.json');
    writeFileSync(jobfile, JSON.stringify({ jobs: [{ source: sick.dev, targets: [rescued], map }, { source: src.dev, targets: [dst.dev] }] }));
    const report = join(fx.dir(), 'mixed-report.json');
    const r = runCli(['run', jobfile, '--yes', '--json', '--report', report]);
    expect(r.status, r.stderr + r.stdout.slice(-2000)).toBe(0);
    const jobs = (JSON.parse(readFileSync(report, 'utf8')) as { jobs: (JobReport & { rescue: { badBytes: number; badAreas: number } })[] }).jobs;
    expect(jobs[0].state).toBe('done');
    expect(jobs[0].rescue).toMatchObject({ badBytes: 5 * 512, badAreas: 3 });
    // the map is ddrescue's format and says exactly what was injected
    const bad = readFileSync(map, 'utf8')
      .split('\n')
      .filter((l) => /^0x[0-9A-F]+\s+0x[0-9A-F]+\s+-$/.test(l))
      .map((l) => l.split(/\s+/).map((x) => Number(x)).slice(0, 2));
    expect(bad).toEqual(sick.bad.map((b) => [b.offset, b.length]));
    expect(sha256(dst.file)).toBe(sha256(src.file));
  });

  it("refuses a job file whose rescue map is another job's drive or file, before anything is written", () => {
    const size = 1 << 20;
    const d = join(fx.dir(), 'conflict');
    mkdirSync(d);
    const a = fx.loop(makeFile(join(d, 'a.img'), size));
    const b = fx.loop(makeFile(join(d, 'b.img'), size));
    const c = fx.loop(makeFile(join(d, 'c.img'), size));
    const file = makeFile(join(d, 'f.img'), size);
    linkSync(file, join(d, 'f-link.img'));
    const rescue = (map: string): object => ({ source: c.dev, targets: [join(d, 'rescued.img')], map });
    const cases: { name: string; jobs: object[] }[] = [
      { name: "the map is another job's target device", jobs: [{ source: a.dev, targets: [b.dev] }, rescue(b.dev)] },
      { name: "the map is another job's source device", jobs: [{ source: a.dev, targets: [b.dev] }, rescue(a.dev)] },
      { name: "a later job's target is the map (a new file)", jobs: [rescue(join(d, 'new.map')), { source: a.dev, targets: [join(d, 'sub', '..', 'new.map')] }] },
      { name: "the map is a hard link of another job's target file", jobs: [{ source: a.dev, targets: [file] }, rescue(join(d, 'f-link.img'))] },
      { name: "a target is the map's crash journal", jobs: [rescue(join(d, 'j.map')), { source: a.dev, targets: [join(d, 'j.map.journal-1')] }] },
      { name: 'two jobs share one map', jobs: [rescue(join(d, 'same.map')), { source: a.dev, targets: [join(d, 'other.img')], map: join(d, 'same.map') }] },
    ];
    mkdirSync(join(d, 'sub'));
    const hashes = (): Record<string, string> => Object.fromEntries([a.file, b.file, c.file, file].map((f) => [f, sha256(f)]));
    const before = hashes();
    const listing = readdirSync(d).sort();
    for (const { name, jobs } of cases) {
      const jobfile = join(fx.dir(), 'conflict.json');
      writeFileSync(jobfile, JSON.stringify({ jobs }));
      const r = runCli(['run', jobfile, '--yes', '--json', '--no-log']);
      expect(r.status, `${name}: ${r.stdout}${r.stderr}`).toBe(4);
      expect(lastEvent(r, 'error')?.code, name).toBe('STATION_CONFLICT');
      expect(hashes(), name).toEqual(before);
      expect(readdirSync(d).sort(), name).toEqual(listing);
    }
    expect(existsSync(join(d, 'rescued.img'))).toBe(false);
  });

  it('plans and runs a job file of 2,000 tiny file jobs to the end, every target exact', () => {
    const d = join(fx.dir(), 'many');
    mkdirSync(d);
    const n = 2000;
    const jobs = Array.from({ length: n }, (_, i) => {
      const data = Buffer.alloc(4096 + (i % 3) * 512, i % 251);
      data.writeUInt32LE(i, 0);
      writeFileSync(join(d, `s${i}`), data);
      return { source: join(d, `s${i}`), targets: [join(d, `t${i}`)] };
    });
    const jobfile = join(fx.dir(), 'many.json');
    writeFileSync(jobfile, JSON.stringify({ jobs }));
    const report = join(fx.dir(), 'many-report.json');
    const r = runCli(['run', jobfile, '--yes', '--no-log', '--report', report]); // (no --json: its done event holds the whole report)
    expect(r.status, r.stderr + r.stdout.slice(-2000)).toBe(0);
    const summary = (JSON.parse(readFileSync(report, 'utf8')) as { summary: { jobs: number; done: number; targetsDone: number } }).summary;
    expect(summary).toMatchObject({ jobs: n, done: n, targetsDone: n });
    for (let i = 0; i < n; i++) expect(readFileSync(join(d, `t${i}`)).equals(readFileSync(join(d, `s${i}`))), `t${i}`).toBe(true);
  });
});

