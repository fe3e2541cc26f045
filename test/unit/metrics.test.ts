// The station's Prometheus metrics: names, labels and values read from jobs through their kind; the textfile's atomic write; ADDRESS:PORT.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { StationMetrics, KEEP_ENDED_JOBS } from '../../src/metrics/station-metrics.js';
import { writeAtomically } from '../../src/metrics/textfile.js';
import { parseListenAddress } from '../../src/metrics/address.js';
import type { JobKind, JobState, StationJob, SummaryRow } from '../../src/jobs/kind.js';
import type { JobView } from '../../dashboard/source.js';

const dir = mkdtempSync(join(tmpdir(), 'cs-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A job whose view is whatever the test sets: the metrics read only view() and rows() of its kind. */
function fakeJob(id: number, view: Partial<JobView>, rows: SummaryRow[] = []): StationJob & { v: JobView } {
  const v: JobView = { id, role: 'pair', drives: [], state: 'queued', pass: '', bytesDone: 0, bytesTotal: 100, bytesBad: 0, errors: 0, elapsed: 0, badAreas: false, canPause: true, ...view };
  const kind = { name: 'fake', view: () => v, rows: () => rows } as unknown as JobKind;
  const job = { id, kind, state: v.state, v, planned: {}, control: new SharedArrayBuffer(8), live: { notes: [] }, ringBytes: 0 } as unknown as StationJob & { v: JobView };
  return job;
}

function setState(j: StationJob & { v: JobView }, state: JobState): void {
  j.state = state;
  j.v.state = state;
}

/** The value of one series in the text format, by its name and labels as they appear. */
function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('StationMetrics', () => {
  it('names every series by Prometheus conventions and labels jobs and drives with bounded labels', async () => {
    const m = new StationMetrics({ station: 'bay-7', version: '1.2.3' });
    const j = fakeJob(1, {
      state: 'running',
      pass: 'copy',
      bytesDone: 40,
      errors: 2,
      bytesBad: 4096,
      elapsed: 3,
      drives: [
        { role: 'source', path: '/dev/sda', model: 'WD Blue', serial: 'S1' },
        { role: 'target', path: '/dev/sdb', model: 'WD Red', serial: 'T2' },
      ],
    });
    m.watch([j]);
    const text = await m.text();
    const job = { station: 'bay-7', job_id: '1', kind: 'fake' };
    expect(value(text, 'clonestation_job_state', { ...job, state: 'running' })).toBe(1);
    expect(value(text, 'clonestation_job_state', { ...job, state: 'queued' })).toBe(0);
    expect(value(text, 'clonestation_job_pass', { ...job, pass: 'copy' })).toBe(1);
    expect(value(text, 'clonestation_job_done_bytes', job)).toBe(40);
    expect(value(text, 'clonestation_job_size_bytes', job)).toBe(100);
    expect(value(text, 'clonestation_job_processed_bytes_total', job)).toBe(40);
    expect(value(text, 'clonestation_job_bad_bytes', job)).toBe(4096);
    expect(value(text, 'clonestation_job_errors', job)).toBe(2);
    expect(value(text, 'clonestation_drive_info', { ...job, role: 'target', drive: '/dev/sdb', model: 'WD Red', serial: 'T2' })).toBe(1);
    expect(value(text, 'clonestation_station_jobs', { station: 'bay-7', state: 'running' })).toBe(1);
    expect(value(text, 'clonestation_station_info', { station: 'bay-7', version: '1.2.3' })).toBe(1);
    expect(text).toContain('process_cpu_seconds_total');
    // Prometheus' own scrape labels are never ours: job and instance would be renamed
    expect(text).not.toMatch(/[{,]job="/);
    expect(text).not.toMatch(/[{,]instance="/);
    // counters end in _total, units are base units
    for (const line of text.split('\n').filter((l) => l.startsWith('# TYPE clonestation_'))) {
      const [, , name, type] = line.split(' ');
      if (type === 'counter') expect(name).toMatch(/_total$/);
      else expect(name).not.toMatch(/_total$/);
      expect(name).not.toMatch(/_(mb|kb|ms|minutes)\b/i);
    }
  });

  it('counts every pass into the processed total and sums up an ended job once', async () => {
    const m = new StationMetrics({ station: 's', processMetrics: false });
    const j = fakeJob(1, { state: 'running', pass: 'copy', drives: [{ role: 'target', path: '/dev/sdc' }] }, [['/dev/sda', '/dev/sdc', 'done', '100 B', '', 'yes', '']]);
    m.watch([j]);
    j.v.bytesDone = 100;
    await m.text();
    // the verify pass starts from 0 again
    setState(j, 'verifying');
    j.v.pass = 'verify';
    j.v.bytesDone = 30;
    let text = await m.text();
    expect(value(text, 'clonestation_job_processed_bytes_total', { job_id: '1' })).toBe(130);
    j.v.bytesDone = 100;
    setState(j, 'done');
    j.v.elapsed = 42;
    text = await m.text();
    expect(value(text, 'clonestation_job_processed_bytes_total', { job_id: '1' })).toBe(200);
    expect(value(text, 'clonestation_job_throughput_bytes_per_second', { job_id: '1' })).toBe(0);
    expect(value(text, 'clonestation_drive_outcome', { drive: '/dev/sdc', state: 'done' })).toBe(1);
    expect(value(text, 'clonestation_drive_outcome', { drive: '/dev/sdc', state: 'failed' })).toBe(0);
    expect(value(text, 'clonestation_drive_verified', { drive: '/dev/sdc' })).toBe(1);
    text = await m.text();
    expect(value(text, 'clonestation_jobs_ended_total', { kind: 'fake', state: 'done' })).toBe(1);
    expect(value(text, 'clonestation_job_duration_seconds_count', { kind: 'fake', state: 'done' })).toBe(1);
    expect(value(text, 'clonestation_job_duration_seconds_sum', { kind: 'fake', state: 'done' })).toBe(42);
  });

  it('gives a running job a throughput from what it did between two scrapes', () => {
    const m = new StationMetrics({ station: 's', processMetrics: false });
    const j = fakeJob(1, { state: 'running' });
    m.watch([j]);
    m.update(1000);
    j.v.bytesDone = 50_000_000;
    m.update(3000);
    const g = m.registry.getSingleMetric('clonestation_job_throughput_bytes_per_second');
    return (g?.get() as Promise<{ values: { value: number }[] }>).then((r) => expect(r.values[0].value).toBe(25_000_000));
  });

  it('keeps per-job series for the newest ended jobs only (labels stay bounded), the totals for all', async () => {
    const m = new StationMetrics({ station: 's', processMetrics: false });
    const n = KEEP_ENDED_JOBS + 10;
    for (let run = 0; run < n; run++) {
      const j = fakeJob(1, { state: 'done' });
      m.watch([j], `${run}.`);
      await m.text();
    }
    const text = await m.text();
    const ids = new Set([...text.matchAll(/clonestation_job_state\{[^}]*job_id="([^"]+)"/g)].map((x) => x[1]));
    expect(ids.size).toBe(KEEP_ENDED_JOBS);
    expect(ids.has(`${n - 1}.1`)).toBe(true);
    expect(ids.has('0.1')).toBe(false);
    expect(value(text, 'clonestation_jobs_ended_total', { state: 'done' })).toBe(n);
  });

  it('series are kept between scrapes and follow the job: a new pass or state replaces the old, new drives replace the old, a dropped job leaves none', async () => {
    const m = new StationMetrics({ station: 's', processMetrics: false });
    const j = fakeJob(1, { state: 'running', pass: 'copy', drives: [{ role: 'source', path: '/dev/sda' }, { role: 'target', path: '/dev/sdb' }] });
    m.watch([j], '1.');
    let text = await m.text();
    expect(value(text, 'clonestation_job_pass', { job_id: '1.1', pass: 'copy' })).toBe(1);
    j.v.pass = 'verify';
    setState(j, 'verifying');
    j.v.drives = [{ role: 'source', path: '/dev/sda' }, { role: 'target', path: '/dev/sdc', serial: 'N1' }];
    text = await m.text();
    expect(value(text, 'clonestation_job_pass', { job_id: '1.1', pass: 'copy' })).toBeUndefined();
    expect(value(text, 'clonestation_job_pass', { job_id: '1.1', pass: 'verify' })).toBe(1);
    expect(value(text, 'clonestation_job_state', { job_id: '1.1', state: 'running' })).toBe(0);
    expect(value(text, 'clonestation_job_state', { job_id: '1.1', state: 'verifying' })).toBe(1);
    expect(value(text, 'clonestation_drive_info', { drive: '/dev/sdb' })).toBeUndefined();
    expect(value(text, 'clonestation_drive_info', { drive: '/dev/sdc', serial: 'N1' })).toBe(1);
    setState(j, 'done');
    j.v.pass = '';
    await m.text();
    // enough later runs for this job to be dropped: none of its series is left
    for (let run = 2; run < KEEP_ENDED_JOBS + 3; run++) {
      m.watch([fakeJob(1, { state: 'done', drives: [{ role: 'target', path: `/dev/x${run}` }] })], `${run}.`);
      await m.text();
    }
    text = await m.text();
    expect(text.split('\n').filter((l) => l.includes('job_id="1.1"'))).toEqual([]);
    expect(text).not.toContain('/dev/sdc');
  });

  it('passes promtool check metrics', async () => {
    const m = new StationMetrics({ station: 'bay-1' });
    m.watch([fakeJob(1, { state: 'running', drives: [{ role: 'source', path: '/dev/sda', model: 'a "quoted" model\\', serial: 'x' }] }), fakeJob(2, { state: 'failed' })]);
    const text = await m.text();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(text.length).toBeGreaterThan(1000);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('writeAtomically', () => {
  it('replaces the file whole and leaves no temporary file', () => {
    const f = join(dir, 'station.prom');
    writeFileSync(f, 'old\n');
    writeAtomically(f, 'new 1\n');
    expect(readFileSync(f, 'utf8')).toBe('new 1\n');
    expect(readdirSync(dir).filter((n) => n.includes('station.prom'))).toEqual(['station.prom']);
  });

  it('leaves the old file as it was when the new one cannot be written', () => {
    const f = join(dir, 'kept.prom');
    writeFileSync(f, 'old\n');
    // a folder where the temporary file would go: nothing is written, the old file stays
    const tmp = join(dir, `.kept.prom.${process.pid}.tmp`);
    rmSync(tmp, { force: true });
    spawnSync('mkdir', [tmp]);
    expect(() => writeAtomically(f, 'new\n')).toThrow();
    expect(readFileSync(f, 'utf8')).toBe('old\n');
    rmSync(tmp, { recursive: true, force: true });
  });
});

describe('parseListenAddress', () => {
  it('reads ADDRESS:PORT', () => {
    expect(parseListenAddress('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress(':9464')).toEqual({ host: '::', port: 9464 });
    expect(parseListenAddress('station-3.lab:9464')).toEqual({ host: 'station-3.lab', port: 9464 });
  });
  it.each(['9464', '127.0.0.1', '127.0.0.1:99999', '[nope]:1', 'a b:1', '::1:9464'])('refuses %s (BAD_METRICS_ADDRESS)', (text) => {
    expect(() => parseListenAddress(text)).toThrow(expect.objectContaining({ code: 'BAD_METRICS_ADDRESS' }));
  });
});
