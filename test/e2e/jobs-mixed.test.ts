// One job file with a job of every kind (clone 1:2, rescue of a failing drive, backup,
// restore to two drives, verify), run at once on the dashboard under tmux, on loop devices
// of 512 and 4096-byte sectors and a real failing drive (nbdkit): every row on the
// dashboard, every target what it must hold, one report naming each job's kind.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { attachLoop, cli, makeFile, runCli, scratch, sha256, type Loop } from '../helpers/fixtures.js';
import { badSectors, failingDrive, type FailingDrive } from '../helpers/failing-drive.js';
import { hasTmux, TmuxSession } from '../helpers/tmux.js';

const MiB = 1 << 20;

describeRoot('a job file with one job of every kind, on the dashboard', () => {
  const s = scratch('cs-mixed-');
  const loops: Loop[] = [];
  let sick: FailingDrive | undefined;
  let t: TmuxSession | undefined;
  const loop = (name: string, size: number, sector: 512 | 4096 = 512, fill: 'random' | 'zero' = 'zero'): Loop => {
    const l = attachLoop(makeFile(join(s.dir, name), size, fill), sector);
    loops.push(l);
    return l;
  };
  beforeAll(() => {
    if (!hasTmux) throw new Error('tmux is not installed: run scripts/system-deps.sh as root');
  });
  afterAll(() => {
    t?.kill();
    for (const l of loops) l.detach();
    sick?.down();
    s.cleanup();
  });

  it('runs clone, rescue, backup, restore and verify at once; each ends as it must', async () => {
    const master = loop('master.img', 24 * MiB, 512, 'random');
    const c1 = loop('c1.img', 24 * MiB, 512);
    const c2 = loop('c2.img', 32 * MiB, 4096);
    mkdirSync(join(s.dir, 'sick'));
    sick = failingDrive({ dir: join(s.dir, 'sick'), size: 8 * MiB, bad: badSectors(512, [100, [3000, 8]]), fill: 'random' });
    const disk = loop('disk.img', 16 * MiB, 4096, 'random');
    // an image made earlier, restored to two drives; another, verified against its source
    const golden = makeFile(join(s.dir, 'golden-src.img'), 12 * MiB, 'random');
    expect(runCli(['backup', golden, join(s.dir, 'golden.img'), '--split', '4MiB', '--no-ui']).status).toBe(0);
    const r1 = loop('r1.img', 12 * MiB, 512);
    const r2 = loop('r2.img', 20 * MiB, 4096);
    const kept = loop('kept.img', 8 * MiB, 512, 'random');
    expect(runCli(['backup', kept.dev, join(s.dir, 'kept.zip'), '--no-ui']).status).toBe(0);
    const jobs = {
      jobs: [
        { kind: 'clone', source: master.dev, targets: [c1.dev, c2.dev] },
        { kind: 'rescue', source: sick.dev, targets: [join(s.dir, 'rescued.img')], map: join(s.dir, 'rescued.map') },
        { kind: 'backup', source: disk.dev, out: join(s.dir, 'disk.zip'), level: 1 },
        { kind: 'restore', image: join(s.dir, 'golden.img.001'), targets: [r1.dev, r2.dev] },
        { kind: 'verify', image: join(s.dir, 'kept.zip'), drive: kept.dev },
      ],
    };
    const file = join(s.dir, 'jobs.json');
    writeFileSync(file, JSON.stringify(jobs, null, 1));
    const report = join(s.dir, 'report.json');
    t = new TmuxSession(`${process.execPath} ${cli} run ${file} --yes --ui --report ${report}; echo EXIT=$?; sleep 120`, 200, 50);
    const ended = await t.waitFor(/every job has ended: q leaves/, 120_000);
    // a row per job, each by its kind, each done
    for (const [id, role] of [
      [1, '1:2'],
      [2, 'rescue'],
      [3, 'backup'],
      [4, 'restore 1:2'],
      [5, 'verify'],
    ] as const)
      expect(ended).toMatch(new RegExp(`│\\s+${id} ${role.replace(':', '\\:')}\\s.* done `));
    t.keys('q');
    const end = await t.waitFor(/EXIT=\d+/, 30_000);
    expect(end).toContain('EXIT=0');
    // (tmux folds the long summary line: compared with its folds joined)
    expect(end.replace(/\s+/g, ' ')).toMatch(/station: 5 of 5 job\(s\) done, 7 target\(s\) good, 0 failed/);

    // what each target holds
    const m = sha256(master.file);
    expect([sha256(c1.dev), sha256(c2.dev, 0, 24 * MiB)]).toEqual([m, m]);
    const g = sha256(golden);
    expect([sha256(r1.dev), sha256(r2.dev, 0, 12 * MiB)]).toEqual([g, g]);
    const unzipped = execFileSync('sh', ['-c', `unzip -p ${join(s.dir, 'disk.zip')} | sha256sum`], { encoding: 'utf8' }).split(' ')[0];
    expect(unzipped).toBe(sha256(disk.file));
    // the rescue read all but the bad sectors, and its map says which
    const map = readFileSync(join(s.dir, 'rescued.map'), 'utf8');
    expect(map).toMatch(/^0x[0-9A-F]+\s+0x[0-9A-F]+\s+-/im);
    const rescued = readFileSync(join(s.dir, 'rescued.img'));
    const truth = readFileSync(sick.image);
    expect(rescued.subarray(0, 100 * 512).equals(truth.subarray(0, 100 * 512))).toBe(true);
    expect(rescued.subarray(101 * 512, 3000 * 512).equals(truth.subarray(101 * 512, 3000 * 512))).toBe(true);
    expect(rescued.subarray(3008 * 512).equals(truth.subarray(3008 * 512))).toBe(true);

    const rep = JSON.parse(readFileSync(report, 'utf8')) as { jobs: { kind: string; state: string; targets: { state: string }[] }[] };
    expect(rep.jobs.map((j) => [j.kind, j.state])).toEqual([
      ['clone', 'done'],
      ['rescue', 'done'],
      ['backup', 'done'],
      ['restore', 'done'],
      ['verify', 'done'],
    ]);
    expect(rep.jobs.flatMap((j) => j.targets.map((x) => x.state))).toEqual(Array(7).fill('done'));
  });

  it('refuses conflicts across kinds before anything starts: an image written by one job and restored by another, a drive in two jobs', () => {
    const a = loop('ca.img', 4 * MiB, 512, 'random');
    const b = loop('cb.img', 4 * MiB, 512);
    const oneJob = /each drive can be in one job only|a drive cannot be written and read by two jobs/;
    const cases: [RegExp, unknown[]][] = [
      [/is the image of job 2 and the image of job 1/, [{ kind: 'backup', source: a.dev, out: join(s.dir, 'new.img'), split: '1MiB' }, { kind: 'restore', image: join(s.dir, 'new.img.001'), targets: [b.dev] }]],
      [oneJob, [{ kind: 'verify', image: join(s.dir, 'kept.zip'), drive: b.dev }, { kind: 'clone', source: a.dev, targets: [b.dev] }]],
      [oneJob, [{ kind: 'clone', source: a.dev, targets: [b.dev] }, { kind: 'backup', source: b.dev, out: join(s.dir, 'b.zip') }]],
    ];
    const before = sha256(b.dev);
    for (const [says, list] of cases) {
      const file = join(s.dir, 'conflict.json');
      writeFileSync(file, JSON.stringify({ jobs: list }));
      const r = runCli(['run', file, '--yes', '--no-ui']);
      expect(r.status, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/\[STATION_CONFLICT\]/);
      expect(r.stderr).toMatch(says);
    }
    expect(sha256(b.dev)).toBe(before);
    expect(execFileSync('ls', [s.dir], { encoding: 'utf8' })).not.toMatch(/new\.img|b\.zip/);
  });
});
