// The station's deferred log: pino is loaded late, yet every record is written, in order,
// with the time it was made; a log path that cannot be written fails at once; a refused run
// (planning, the question) leaves no log file.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeferredLog } from '../../src/station/log.js';
import { UsageError } from '../../src/errors.js';
import { attachLoop, makeFile, runCli, scratch } from '../helpers/fixtures.js';
import { describeRoot } from '../helpers/root.js';

const lines = (path: string): { msg: string; time: number; level: number; job?: number; run: string }[] =>
  readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; time: number; level: number; job?: number; run: string });

describe('DeferredLog', () => {
  it('keeps records until pino is loaded, then writes them with the times they were made', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-log-'));
    const path = join(dir, 'sub', 'station.log');
    const log = new DeferredLog(path);
    log.info({ job: 1 }, 'job planned');
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 30));
    log.warn({ job: 1 }, 'target failed');
    expect(existsSync(path)).toBe(false); // nothing made before the run starts
    log.start();
    expect(readFileSync(path, 'utf8')).toBe(''); // the file exists once the run starts, empty until pino
    await log.load();
    log.info({ job: 1 }, 'job ended');
    await log.close();
    const got = lines(path);
    expect(got.map((l) => l.msg)).toEqual(['job planned', 'target failed', 'job ended']);
    expect(got.map((l) => l.level)).toEqual([30, 40, 30]);
    expect(got[0].time).toBeLessThanOrEqual(t1);
    expect(got[1].time - got[0].time).toBeGreaterThanOrEqual(25);
    expect(new Set(got.map((l) => l.run)).size).toBe(1);
  });

  it('writes every kept record on close even if pino was never loaded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-log-'));
    const path = join(dir, 'station.log');
    writeFileSync(path, '{"msg":"an earlier run"}\n');
    const log = new DeferredLog(path);
    log.info({ job: 2 }, 'job planned');
    log.start();
    await log.close();
    expect(readFileSync(path, 'utf8').split('\n')[0]).toBe('{"msg":"an earlier run"}'); // appended, not replaced
    expect(lines(path).slice(1).map((l) => [l.msg, l.job])).toEqual([['job planned', 2]]);
  });

  it('refuses a log path it cannot write, before anything runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-log-'));
    writeFileSync(join(dir, 'file'), '');
    const make = (): DeferredLog => new DeferredLog(join(dir, 'file', 'station.log'));
    expect(make).toThrow(UsageError);
    expect(make).toThrow(/cannot write the log .*: a folder on the way is a file: give --log a writable path/);
    expect(() => new DeferredLog(dir)).toThrow(/: it is a folder: /);
  });

  it('a FIFO put at the path between the check and the start is refused, not waited on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-log-'));
    const path = join(dir, 'station.log');
    const log = new DeferredLog(path);
    execFileSync('mkfifo', [path]);
    expect(() => log.start()).toThrow(/cannot write the log .*: it is a FIFO/);
  });
});

describe('a refused station run leaves no log file', () => {
  const base = mkdtempSync(join(tmpdir(), 'cs-refused-'));
  const img = (name: string, size = 1 << 20): string => {
    const p = join(base, name);
    writeFileSync(p, Buffer.alloc(size, 7));
    return p;
  };
  /** a log folder of its own for one run; what is in it afterwards */
  const inLogDir = (args: string[]): { r: ReturnType<typeof runCli>; dir: string; files: () => string[] } => {
    const dir = mkdtempSync(join(base, 'logs-'));
    const r = runCli(args, undefined, { CLONESTATION_LOG_DIR: dir });
    return { r, dir, files: () => readdirSync(dir) };
  };

  it('STATION_CONFLICT (one target named in two jobs): exit 4, no log file', () => {
    const a = img('a.img');
    const b = img('b.img');
    const t = img('t.img');
    const { r, files } = inLogDir(['clone', '--pair', `${a}:${t}`, '--pair', `${b}:${t}`, '--yes', '--no-ui']);
    expect(r.status, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/\[STATION_CONFLICT\]/);
    expect(files()).toEqual([]);
  });

  it('a job file refused while planning (a missing source), and a bad job file: no log file', () => {
    const jobs = join(base, 'jobs.json');
    writeFileSync(jobs, JSON.stringify({ jobs: [{ source: join(base, 'missing.img'), targets: [join(base, 'out.img')] }] }));
    const missing = inLogDir(['run', jobs, '--yes', '--no-ui']);
    expect(missing.r.status, missing.r.stderr).not.toBe(0);
    expect(missing.r.stderr).toMatch(/^clonestation: .*\[[A-Z_]+\]$/m);
    expect(missing.files()).toEqual([]);
    writeFileSync(join(base, 'bad.json'), '{ not json');
    const bad = inLogDir(['run', join(base, 'bad.json'), '--no-ui']);
    expect(bad.r.status).toBe(2);
    expect(bad.r.stderr).toMatch(/\[BAD_JOBFILE\]/);
    expect(bad.files()).toEqual([]);
  });

  it('--log into a folder that does not exist yet: a refused run makes neither the folder nor the file', () => {
    const a = img('c.img');
    const log = join(base, 'new-folder', 'run.log');
    const u = img('u.img');
    const r = runCli(['clone', '--pair', `${a}:${u}`, '--pair', `${img('c2.img')}:${u}`, '--yes', '--no-ui', '--log', log]);
    expect(r.status, r.stderr).toBe(4);
    expect(existsSync(join(base, 'new-folder'))).toBe(false);
  });

  it('a run that starts is logged (the same command without the conflict)', () => {
    const a = img('d.img');
    const { r, files, dir } = inLogDir(['clone', '--pair', `${a}:${join(base, 'v.img')}`, '--yes', '--no-ui']);
    expect(r.status, r.stderr).toBe(0);
    expect(files()).toHaveLength(1);
    expect(readFileSync(join(dir, files()[0]), 'utf8')).toMatch(/"msg":"job ended"/);
    // the summary names the log, which exists
    expect(r.stderr).toContain(`log ${join(dir, files()[0])}`);
  });

  it('--log that can only be refused is refused up front, in words (exit 2, BAD_LOG): a folder, a device, a FIFO', () => {
    const a = img('e.img');
    const fifo = join(base, 'fifo');
    execFileSync('mkfifo', [fifo]);
    for (const [log, why] of [
      [base, 'it is a folder'],
      ['/dev/zero', 'it is a character device, not a regular file'],
      [fifo, 'it is a FIFO (named pipe), not a regular file'],
      [join(a, 'x.log'), 'a folder on the way is a file'],
    ]) {
      const r = runCli(['clone', '--pair', `${a}:${join(base, 'w.img')}`, '--yes', '--no-ui', '--log', log]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`cannot write the log ${log}: ${why}`);
      expect(r.stderr).toMatch(/\[BAD_LOG\]$/m);
      expect(existsSync(join(base, 'w.img'))).toBe(false);
    }
    expect(statSync('/dev/zero').isCharacterDevice()).toBe(true);
  });
});

describeRoot('a station refused at the question leaves no log file', () => {
  it('CONFIRMATION_REQUIRED (a block-device target, no terminal, no --yes): exit 4, no log file', () => {
    const s = scratch();
    const src = makeFile(join(s.dir, 'src.img'), 4 << 20);
    const dst = attachLoop(makeFile(join(s.dir, 'dst.img'), 4 << 20));
    try {
      const dir = mkdtempSync(join(s.dir, 'logs-'));
      const r = runCli(['clone', src, dst.dev, join(s.dir, 'second.img'), '--no-ui'], '', { CLONESTATION_LOG_DIR: dir });
      expect(r.status, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/\[CONFIRMATION_REQUIRED\]/);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      dst.detach();
      s.cleanup();
    }
  });
});
