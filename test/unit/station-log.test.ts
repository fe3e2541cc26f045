// The station's deferred log: pino is loaded late, yet every record is written, in order,
// with the time it was made; a log path that cannot be written fails at once.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeferredLog } from '../../src/station/log.js';
import { UsageError } from '../../src/errors.js';

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
    expect(readFileSync(path, 'utf8')).toBe(''); // the file exists at once, empty until pino
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
});
