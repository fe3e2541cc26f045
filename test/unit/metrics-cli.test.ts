// Bad --metrics, --metrics-file, --ledger and serve arguments: one line, exit 2, a stable code, and no target written.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'cs-metrics-cli-'));
const src = join(dir, 'src.img');
const t1 = join(dir, 't1.img');
const t2 = join(dir, 't2.img');
let busy: Server;
let busyPort = 0;

beforeAll(async () => {
  writeFileSync(src, Buffer.alloc(1 << 20, 7));
  writeFileSync(t1, Buffer.alloc(1 << 20));
  writeFileSync(t2, Buffer.alloc(1 << 20));
  busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  busyPort = (busy.address() as { port: number }).port;
});
afterAll(() => {
  busy.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir, timeout: 60_000 });

describe('refused before anything is written', () => {
  const cases: [string, () => string[], string][] = [
    ['a port above 65535', () => ['clone', src, t1, t2, '--yes', '--no-ui', '--metrics', '127.0.0.1:99999'], 'BAD_METRICS_ADDRESS'],
    ['no port', () => ['clone', src, t1, t2, '--yes', '--no-ui', '--metrics', 'localhost'], 'BAD_METRICS_ADDRESS'],
    ['a port in use', () => ['clone', src, t1, t2, '--yes', '--no-ui', '--metrics', `127.0.0.1:${busyPort}`], 'BAD_METRICS_ADDRESS'],
    ['an address not on this machine', () => ['clone', src, t1, '--yes', '--no-ui', '--metrics', '10.255.255.254:9464'], 'BAD_METRICS_ADDRESS'],
    ['a metrics file that is a target', () => ['clone', src, t1, t2, '--yes', '--no-ui', '--metrics-file', t2], 'BAD_METRICS_FILE'],
    ['a ledger that is a target', () => ['clone', src, t1, t2, '--yes', '--no-ui', '--ledger', t1], 'BAD_LEDGER'],
    ['a job file with a bad "metrics"', () => {
      const f = join(dir, 'bad-metrics.json');
      writeFileSync(f, JSON.stringify({ metrics: 9464, jobs: [{ source: src, targets: [t1] }] }));
      return ['run', f, '--yes', '--no-ui'];
    }, 'BAD_JOBFILE'],
    ['serve with nothing to run', () => ['serve'], 'USAGE'],
    ['serve watching a folder that is not there', () => ['serve', '--watch', join(dir, 'nope')], 'BAD_WATCH_DIR'],
    ['serve watching a folder others can write', () => {
      const open = join(dir, 'open-jobs');
      mkdirSync(open);
      chmodSync(open, 0o777);
      return ['serve', '--watch', open];
    }, 'WATCH_DIR_OPEN'],
    ['a bad --metrics on a rescue', () => ['clone', src, t1, '--map', join(dir, 'm.map'), '--yes', '--metrics', 'localhost'], 'BAD_METRICS_ADDRESS'],
    ['a ledger that is the target of a rescue', () => ['rescue', src, t1, join(dir, 'm.map'), '--yes', '--ledger', t1], 'BAD_LEDGER'],
    ['a metrics file that is the map of a rescue', () => ['rescue', src, t1, join(dir, 'm2.map'), '--yes', '--metrics-file', join(dir, 'm2.map')], 'BAD_METRICS_FILE'],
    ['a metrics file that is a target of a restore', () => ['restore', join(dir, 'none.img'), t1, t2, '--yes', '--no-ui', '--metrics-file', t2], 'BAD_METRICS_FILE'],
    ['a port in use on a restore', () => ['restore', join(dir, 'none.img'), t1, '--yes', '--no-ui', '--metrics', `127.0.0.1:${busyPort}`], 'BAD_METRICS_ADDRESS'],
    ['a ledger that is the target of a 1:1 clone', () => ['clone', src, t1, '--yes', '--no-ui', '--ledger', t1], 'BAD_LEDGER'],
  ];
  it.each(cases.map(([name, args, code]) => [`${name}: exit ${code === 'WATCH_DIR_OPEN' ? 4 : 2}, one line, ${code}`, args, code] as const))('%s', (_title, args, code) => {
    const r = run(args());
    expect(r.stderr).toMatch(new RegExp(`^clonestation: [^\\n]+ \\[${code}\\]\\n$`));
    expect(r.status).toBe(code === 'WATCH_DIR_OPEN' ? 4 : 2);
    expect(readFileSync(t1).every((b) => b === 0)).toBe(true);
    expect(readFileSync(t2).every((b) => b === 0)).toBe(true);
  });
});

describe('with metrics, the station runs as without', () => {
  it('a 1:1 clone with --metrics-file is a station of one job: copied, the file has its final state, the ledger its line', () => {
    const prom = join(dir, 'one.prom');
    const ledger = join(dir, 'one.jsonl');
    const r = run(['clone', src, t1, '--yes', '--no-ui', '--metrics-file', prom, '--ledger', ledger]);
    expect(r.stderr).toMatch(/1 of 1 job\(s\) done/);
    expect(r.status).toBe(0);
    expect(readFileSync(t1).equals(readFileSync(src))).toBe(true);
    const text = readFileSync(prom, 'utf8');
    expect(text).toMatch(/^clonestation_job_state\{station="[^"]+",job_id="1",kind="clone",state="done"\} 1$/m);
    expect(text).toMatch(/^clonestation_jobs_ended_total\{station="[^"]+",kind="clone",state="done"\} 1$/m);
    const rec = JSON.parse(readFileSync(ledger, 'utf8'));
    expect(rec).toMatchObject({ kind: 'clone', outcome: 'done', bytes: 1 << 20, bytesDone: 1 << 20 });
    writeFileSync(t1, Buffer.alloc(1 << 20));
  });
  it("without --ledger the station's default ledger gets the line ($CLONESTATION_LEDGER); --no-ledger writes none", () => {
    const def = join(dir, 'default-ledger.jsonl');
    const env = { ...process.env, CLONESTATION_LEDGER: def };
    const one = spawnSync(process.execPath, [cli, 'clone', '--pair', `${src}:${t2}`, '--yes', '--no-ui'], { encoding: 'utf8', cwd: dir, env });
    expect(one.status).toBe(0);
    const none = spawnSync(process.execPath, [cli, 'clone', '--pair', `${src}:${t2}`, '--yes', '--no-ui', '--no-ledger'], { encoding: 'utf8', cwd: dir, env });
    expect(none.status).toBe(0);
    const lines = readFileSync(def, 'utf8').trim().split('\n');
    expect(lines.length).toBe(1);
    expect(JSON.parse(lines[0]).drives.map((d: { path: string }) => d.path)).toEqual([src, t2]);
    writeFileSync(t2, Buffer.alloc(1 << 20));
  });
  it('a job file\'s "metrics" serves /metrics for the run (port 0: one the system picks, said on stderr)', () => {
    const f = join(dir, 'with-metrics.json');
    writeFileSync(f, JSON.stringify({ metrics: '127.0.0.1:0', jobs: [{ source: src, targets: [t2] }] }));
    const r = run(['run', f, '--yes', '--no-ui', '--no-ledger']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^metrics: http:\/\/127\.0\.0\.1:[1-9]\d*\/metrics$/m);
    writeFileSync(t2, Buffer.alloc(1 << 20));
  });
  it('serve with job files on its command line (no --watch) runs them in order, leaves them where they are, and ends', () => {
    const f1 = join(dir, 'serve-1.json');
    const f2 = join(dir, 'serve-2.json');
    writeFileSync(f1, JSON.stringify({ jobs: [{ source: src, targets: [t1] }] }));
    writeFileSync(f2, JSON.stringify({ jobs: [{ source: src, targets: [t2] }] }));
    const r = run(['serve', f1, f2, '--no-ledger', '--metrics', '127.0.0.1:0']);
    expect(r.status).toBe(0);
    expect(r.stderr.indexOf(`serve: run 1: ${f1}`)).toBeGreaterThan(-1);
    expect(r.stderr.indexOf(`serve: run 2: ${f2}`)).toBeGreaterThan(r.stderr.indexOf(`serve: ${f1}: done`));
    expect(r.stderr).toMatch(/serve: 2 job file\(s\) run, 0 failed/);
    expect(readFileSync(t1).equals(readFileSync(src))).toBe(true);
    expect(readFileSync(t2).equals(readFileSync(src))).toBe(true);
    expect(readFileSync(f1, 'utf8')).toContain(t1);
    // a file that fails: serve goes on with the next, and ends with JOBS_FAILED
    const bad = join(dir, 'serve-bad.json');
    writeFileSync(bad, '{"jobs": [');
    const r2 = run(['serve', bad, f1, '--no-ledger']);
    expect(r2.stderr).toMatch(new RegExp(`serve: ${f1}: done`));
    expect(r2.stderr).toMatch(/\[JOBS_FAILED\]\n$/);
    expect(r2.status).toBe(1);
    writeFileSync(t1, Buffer.alloc(1 << 20));
    writeFileSync(t2, Buffer.alloc(1 << 20));
  });
});
