// Stations export Prometheus metrics while they copy real drives: /metrics and the textfile pass promtool check metrics, a real Prometheus scrapes a clone of loop devices, serve runs dropped job files in order and keeps serving between them; every job lands in the ledger.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRoot } from '../helpers/root.js';
import { cli, makeFile, sha256, useLoopScratch } from '../helpers/fixtures.js';
import { failingDrive, type FailingDrive } from '../helpers/failing-drive.js';

const MiB = 1024 * 1024;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function get(url: string): Promise<string | undefined> {
  try {
    const r = await fetch(url);
    return r.ok ? await r.text() : undefined;
  } catch {
    return undefined;
  }
}

/** Waits for `probe` to give a value (polling), at most `ms`. */
async function until<T>(probe: () => Promise<T | undefined> | T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(200);
  }
}

function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

function promtoolCheck(text: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function exited(c: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (c.exitCode !== null ? resolve(c.exitCode) : c.on('exit', (code) => resolve(code))));
}

describeRoot('metrics of a station (loop devices, a slow nbdkit drive, promtool, prometheus)', () => {
  const s = useLoopScratch({ beforeAll, afterAll });
  let slow: FailingDrive | undefined;
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    // the loop devices go even if the slow drive's teardown fails
    try {
      slow?.down();
    } finally {
      s.detachAll();
    }
  });

  it('a station cloning to loop devices: /metrics and the textfile pass promtool while it runs, Prometheus sees its throughput and final state, the ledger has the job', async () => {
    const dir = s.dir();
    // a slow source (every read 100 ms more, one at a time): the job runs for seconds, scraped every second
    const fd = join(dir, 'fd');
    mkdirSync(fd);
    slow = failingDrive({ dir: fd, size: 48 * MiB, bad: [], delayMs: 100 });
    const t1 = s.loop(makeFile(join(dir, 't1.img'), 48 * MiB, 'zero'));
    const t2 = s.loop(makeFile(join(dir, 't2.img'), 48 * MiB, 'zero'));
    const port = await freePort();
    const promPort = await freePort();
    const prom = join(dir, 'prom');
    mkdirSync(prom);
    writeFileSync(join(prom, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: clonestation\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`);
    const p = spawn('prometheus', [`--config.file=${join(prom, 'prometheus.yml')}`, `--storage.tsdb.path=${join(prom, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: 'ignore' });
    children.push(p);
    await until(() => get(`http://127.0.0.1:${promPort}/-/ready`), 30_000, 'prometheus to be ready');

    const textfile = join(dir, 'station.prom');
    const ledger = join(dir, 'ledger.jsonl');
    const station = spawn(process.execPath, [cli, 'clone', slow.dev, t1.dev, t2.dev, '--yes', '--no-ui', '--block-size', '1M', '--depth', '1', '--metrics', `127.0.0.1:${port}`, '--metrics-file', textfile, '--metrics-interval', '1', '--metrics-linger', '20', '--ledger', ledger], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(station);
    let stderr = '';
    station.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));

    // scraped while it copies: running, bytes moving, each drive with its identity
    const running = await until(async () => {
      const t = await get(`http://127.0.0.1:${port}/metrics`);
      return t && value(t, 'clonestation_job_state', { job_id: '1', state: 'running' }) === 1 && (value(t, 'clonestation_job_done_bytes', { job_id: '1' }) ?? 0) > 0 ? t : undefined;
    }, 60_000, 'the job to run');
    expect(value(running, 'clonestation_drive_info', { role: 'source', drive: slow.dev })).toBe(1);
    expect(value(running, 'clonestation_drive_info', { role: 'target', drive: t2.dev })).toBe(1);
    expect(value(running, 'clonestation_job_size_bytes', { job_id: '1', kind: 'clone' })).toBe(48 * MiB);
    const check = promtoolCheck(running);
    expect(check.out).toBe('');
    expect(check.status).toBe(0);
    // the textfile, while it runs: whole and accepted
    const file = await until(() => (existsSync(textfile) ? readFileSync(textfile, 'utf8') : undefined), 10_000, 'the textfile');
    expect(file).toContain('clonestation_job_state');
    expect(promtoolCheck(file).status).toBe(0);

    expect(await exited(station)).toBe(0);
    expect(stderr).toMatch(/2 target\(s\) good/);
    expect(sha256(t1.dev)).toBe(sha256(slow.image));
    // Prometheus scraped it: a non-zero throughput while it ran, done at the end
    const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
      const r = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      expect(r.status).toBe('success');
      return r.data.result;
    };
    const rate = await query('max_over_time(clonestation_job_throughput_bytes_per_second{job_id="1",kind="clone"}[5m])');
    expect(rate.length).toBe(1);
    expect(Number(rate[0].value[1])).toBeGreaterThan(0);
    const final = await query('last_over_time(clonestation_job_state{job_id="1",state="done"}[5m])');
    expect(final.map((r) => r.value[1])).toEqual(['1']);
    const total = await query('last_over_time(clonestation_job_processed_bytes_total{job_id="1"}[5m])');
    expect(Number(total[0].value[1])).toBeGreaterThanOrEqual(48 * MiB);
    // the textfile's last write is the final state
    const last = readFileSync(textfile, 'utf8');
    expect(value(last, 'clonestation_job_state', { job_id: '1', state: 'done' })).toBe(1);
    expect(value(last, 'clonestation_drive_outcome', { drive: t1.dev, state: 'done' })).toBe(1);
    expect(readdirSync(dir).filter((n) => n.includes('station.prom'))).toEqual(['station.prom']);
    // the ledger: one line, the job with its drives
    const lines = readFileSync(ledger, 'utf8').trim().split('\n');
    expect(lines.length).toBe(1);
    const rec = JSON.parse(lines[0]);
    expect(rec).toMatchObject({ kind: 'clone', outcome: 'done', job: 1, bytes: 48 * MiB, bytesBad: 0 });
    expect(rec.drives.map((d: { role: string; path: string }) => `${d.role} ${d.path}`)).toEqual([`source ${slow.dev}`, `target ${t1.dev}`, `target ${t2.dev}`]);
    p.kill('SIGTERM');
    await exited(p);
  });

  it('serve runs two job files dropped into its folder one after the other, serving metrics between them', async () => {
    const dir = s.dir();
    const src = s.loop(makeFile(join(dir, 'serve-src.img'), 16 * MiB));
    const a = s.loop(makeFile(join(dir, 'serve-a.img'), 16 * MiB, 'zero'));
    const b = s.loop(makeFile(join(dir, 'serve-b.img'), 16 * MiB, 'zero'));
    const watch = join(dir, 'jobs');
    mkdirSync(watch);
    const port = await freePort();
    const ledger = join(dir, 'serve-ledger.jsonl');
    const served = spawn(process.execPath, [cli, 'serve', '--watch', watch, '--metrics', `127.0.0.1:${port}`, '--ledger', ledger], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(served);
    let stderr = '';
    served.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    // up before any job: the station and its process, no job yet
    const idle = await until(() => get(`http://127.0.0.1:${port}/metrics`), 30_000, 'serve to listen');
    expect(value(idle, 'clonestation_station_jobs', { state: 'running' })).toBe(0);
    expect(idle).toContain('process_cpu_seconds_total');
    // two job files, written elsewhere and renamed in, the first one first
    const drop = (name: string, target: string): void => {
      const tmp = join(dir, `${name}.tmp`);
      writeFileSync(tmp, JSON.stringify({ jobs: [{ kind: 'clone', source: src.dev, targets: [target] }] }));
      renameSync(tmp, join(watch, name));
    };
    drop('1-first.json', a.dev);
    await sleep(50);
    drop('2-second.json', b.dev);
    await until(() => (readdirSync(join(watch, 'done')).filter((n) => n.endsWith('.report.json')).length === 2 ? true : undefined), 60_000, 'both job files done');
    // between jobs and after: still serving, both runs' jobs ended done
    const after = await until(() => get(`http://127.0.0.1:${port}/metrics`), 5000, 'metrics after the runs');
    expect(value(after, 'clonestation_job_state', { job_id: '1.1', state: 'done' })).toBe(1);
    expect(value(after, 'clonestation_job_state', { job_id: '2.1', state: 'done' })).toBe(1);
    expect(value(after, 'clonestation_jobs_ended_total', { kind: 'clone', state: 'done' })).toBe(2);
    expect(promtoolCheck(after).status).toBe(0);
    expect(readdirSync(join(watch, 'done')).sort()).toEqual(['1-first.json', '1-first.report.json', '2-second.json', '2-second.report.json']);
    expect(readdirSync(join(watch, 'running'))).toEqual([]);
    expect(sha256(a.dev)).toBe(sha256(src.file));
    expect(sha256(b.dev)).toBe(sha256(src.file));
    // one after the other, in the order dropped: the second started after the first ended
    const recs = readFileSync(ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(recs.map((r) => r.drives[1].path)).toEqual([a.dev, b.dev]);
    expect(Date.parse(recs[1].startedAt)).toBeGreaterThanOrEqual(Date.parse(recs[0].endedAt));
    const first = stderr.indexOf('1-first.json: done');
    expect(first).toBeGreaterThan(-1);
    expect(stderr.indexOf('run 2:')).toBeGreaterThan(first);
    // SIGTERM: it stops, gracefully
    served.kill('SIGTERM');
    expect(await exited(served)).toBe(0);
  });
  it('serve stops on SIGTERM mid-job: the job is cancelled, its file goes to failed/ with its report, the ledger says cancelled', async () => {
    const dir = s.dir();
    if (!slow) throw new Error('the slow drive of the first test is needed');
    const t = s.loop(makeFile(join(dir, 'term-t.img'), 48 * MiB, 'zero'));
    const watch = join(dir, 'term-jobs');
    mkdirSync(watch);
    const port = await freePort();
    const ledger = join(dir, 'term-ledger.jsonl');
    const served = spawn(process.execPath, [cli, 'serve', '--watch', watch, '--metrics', `127.0.0.1:${port}`, '--ledger', ledger, '--depth', '1', '--block-size', '1M'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(served);
    let stderr = '';
    served.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await until(() => get(`http://127.0.0.1:${port}/metrics`), 30_000, 'serve to listen');
    writeFileSync(join(dir, 'slow.tmp'), JSON.stringify({ jobs: [{ kind: 'clone', source: slow.dev, targets: [t.dev] }] }));
    renameSync(join(dir, 'slow.tmp'), join(watch, 'slow.json'));
    await until(async () => {
      const m = await get(`http://127.0.0.1:${port}/metrics`);
      return m && (value(m, 'clonestation_job_done_bytes', { job_id: '1.1' }) ?? 0) > 0 ? true : undefined;
    }, 30_000, 'the job to copy');
    served.kill('SIGTERM');
    expect(await exited(served)).toBe(130);
    expect(stderr).toMatch(/\[CANCELLED\]/);
    expect(readdirSync(join(watch, 'failed')).sort()).toEqual(['slow.json', 'slow.report.json']);
    expect(readdirSync(join(watch, 'running'))).toEqual([]);
    const report = JSON.parse(readFileSync(join(watch, 'failed', 'slow.report.json'), 'utf8'));
    expect(report.summary).toMatchObject({ jobs: 1, cancelled: 1 });
    const rec = JSON.parse(readFileSync(ledger, 'utf8').trim());
    expect(rec.outcome).toBe('cancelled');
    expect(rec.bytesDone).toBeLessThan(48 * MiB);
  });

  it('a rescue of a failing nbdkit drive to a loop device: Prometheus scrapes its job and sees bytes bad > 0, the ledger has the rescue with its bad bytes', async () => {
    const dir = s.dir();
    const fd = join(dir, 'failing');
    mkdirSync(fd);
    // 16 MiB, a bad 64 KiB area at 4 MiB, every read 20 ms more: a few seconds of rescue, scraped every second
    const failing = failingDrive({ dir: fd, size: 16 * MiB, bad: [{ offset: 4 * MiB, length: 64 * 1024 }], delayMs: 20 });
    try {
      const t = s.loop(makeFile(join(dir, 'rescue-t.img'), 16 * MiB, 'zero'));
      const port = await freePort();
      const promPort = await freePort();
      const prom = join(dir, 'prom-rescue');
      mkdirSync(prom);
      writeFileSync(join(prom, 'prometheus.yml'), `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: clonestation\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`);
      const p = spawn('prometheus', [`--config.file=${join(prom, 'prometheus.yml')}`, `--storage.tsdb.path=${join(prom, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: 'ignore' });
      children.push(p);
      await until(() => get(`http://127.0.0.1:${promPort}/-/ready`), 30_000, 'prometheus to be ready');
      const ledger = join(dir, 'rescue-ledger.jsonl');
      const textfile = join(dir, 'rescue.prom');
      const rescue = spawn(process.execPath, [cli, 'rescue', failing.dev, t.dev, join(dir, 'rescue.map'), '--yes', '--no-ui', '--metrics', `127.0.0.1:${port}`, '--metrics-file', textfile, '--metrics-linger', '20', '--ledger', ledger], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(rescue);
      let stderr = '';
      rescue.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      // scraped while it runs: the rescue job with its drives
      const running = await until(async () => {
        const m = await get(`http://127.0.0.1:${port}/metrics`);
        return m && value(m, 'clonestation_job_state', { job_id: '1', kind: 'rescue', state: 'running' }) === 1 ? m : undefined;
      }, 60_000, 'the rescue to run');
      expect(value(running, 'clonestation_drive_info', { role: 'source', drive: failing.dev })).toBe(1);
      expect(value(running, 'clonestation_drive_info', { role: 'target', drive: t.dev })).toBe(1);
      expect(promtoolCheck(running).status).toBe(0);
      expect(await exited(rescue)).toBe(0);
      expect(stderr).toMatch(/bad 64\.00 KiB in 1 area\(s\)/);
      const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
        const r = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
        expect(r.status).toBe('success');
        return r.data.result;
      };
      const bad = await query('max_over_time(clonestation_job_bad_bytes{job_id="1",kind="rescue"}[5m])');
      expect(bad.length).toBe(1);
      expect(Number(bad[0].value[1])).toBe(64 * 1024);
      const final = await query('last_over_time(clonestation_job_state{job_id="1",kind="rescue",state="done"}[5m])');
      expect(final.map((r) => r.value[1])).toEqual(['1']);
      const last = readFileSync(textfile, 'utf8');
      expect(promtoolCheck(last).status).toBe(0);
      expect(value(last, 'clonestation_job_bad_bytes', { job_id: '1', kind: 'rescue' })).toBe(64 * 1024);
      const rec = JSON.parse(readFileSync(ledger, 'utf8').trim());
      expect(rec).toMatchObject({ kind: 'rescue', outcome: 'done', bytes: 16 * MiB, bytesBad: 64 * 1024 });
      expect(rec.drives.map((d: { role: string; path: string }) => `${d.role} ${d.path}`)).toEqual([`source ${failing.dev}`, `target ${t.dev}`]);
      p.kill('SIGTERM');
      await exited(p);
    } finally {
      failing.down();
    }
  });
});
