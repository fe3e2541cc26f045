// A station's jobs as Prometheus metrics (prom-client): read from each job's view through its kind, at each scrape.
import { hostname } from 'node:os';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ENDED, type JobState, type StationJob } from '../jobs/kind.js';

/** Every state a job can be in: one series per job and state (1 for the state it is in). */
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'paused', 'catching-up', 'verifying', 'done', 'failed', 'cancelled'];

/** Ended jobs whose per-job series are kept (the newest); older ones live on in the totals only. */
export const KEEP_ENDED_JOBS = 64;

const JOB_LABELS = ['station', 'job_id', 'kind'] as const;
const DRIVE_LABELS = ['station', 'job_id', 'kind', 'role', 'drive', 'model', 'serial'] as const;
type JobLabels = Record<(typeof JOB_LABELS)[number], string>;
type DriveLabels = Record<(typeof DRIVE_LABELS)[number], string>;

/** What the metrics remember of a job between two scrapes. */
interface Seen {
  /** bytes of every pass so far (a pass that starts again from 0 adds to it) */
  processed: number;
  /** the view's bytesDone at the last scrape */
  lastDone: number;
  /** processed bytes at past scrapes (the last 10 s): the rate is taken over at least 1 s, whoever scrapes */
  samples: { at: number; processed: number }[];
  rate: number;
  ended: boolean;
  labels: JobLabels;
}

/** A station's metrics; `watch(jobs, prefix)` adds a run's jobs (serve adds one per job file). */
export class StationMetrics {
  readonly registry = new Registry();
  readonly station: string;
  private readonly runs: { jobs: readonly StationJob[]; prefix: string }[] = [];
  private readonly seen = new Map<string, Seen>();
  /** job ids in the order they ended: the oldest lose their series past KEEP_ENDED_JOBS */
  private readonly endedOrder: string[] = [];
  /** ended jobs whose series are gone (their run is forgotten once all its jobs are) */
  private readonly dropped = new Set<string>();
  private readonly state: Gauge<string>;
  private readonly pass: Gauge<string>;
  private readonly size: Gauge<string>;
  private readonly done: Gauge<string>;
  private readonly processed: Counter<string>;
  private readonly bad: Gauge<string>;
  private readonly errors: Gauge<string>;
  private readonly throughput: Gauge<string>;
  private readonly elapsed: Gauge<string>;
  private readonly driveInfo: Gauge<string>;
  private readonly driveThroughput: Gauge<string>;
  private readonly driveDone: Gauge<string>;
  private readonly driveOutcome: Gauge<string>;
  private readonly driveVerified: Gauge<string>;
  private readonly jobsEnded: Counter<string>;
  private readonly duration: Histogram<string>;
  private readonly stationJobs: Gauge<string>;

  constructor(o: { station?: string; version?: string; processMetrics?: boolean } = {}) {
    this.station = o.station ?? hostname();
    const r = [this.registry];
    const j = [...JOB_LABELS];
    const d = [...DRIVE_LABELS];
    this.state = new Gauge({ name: 'clonestation_job_state', help: 'The state a job is in: 1 for its state, 0 for the others', labelNames: [...j, 'state'], registers: r });
    this.pass = new Gauge({ name: 'clonestation_job_pass', help: "The job's current pass (copy, catch-up, verify, a rescue's pass): 1", labelNames: [...j, 'pass'], registers: r });
    this.size = new Gauge({ name: 'clonestation_job_size_bytes', help: 'Bytes the job moves in a pass', labelNames: j, registers: r });
    this.done = new Gauge({ name: 'clonestation_job_done_bytes', help: 'Bytes done in the current pass', labelNames: j, registers: r });
    this.processed = new Counter({ name: 'clonestation_job_processed_bytes_total', help: 'Bytes done in every pass so far (copy, catch-up, verify)', labelNames: j, registers: r });
    this.bad = new Gauge({ name: 'clonestation_job_bad_bytes', help: 'Bytes not read or not written (a rescue may recover some: a gauge)', labelNames: j, registers: r });
    this.errors = new Gauge({ name: 'clonestation_job_errors', help: 'Read or write errors (error areas of a rescue)', labelNames: j, registers: r });
    this.throughput = new Gauge({ name: 'clonestation_job_throughput_bytes_per_second', help: 'Bytes per second since the previous scrape (0 once ended)', labelNames: j, registers: r });
    this.elapsed = new Gauge({ name: 'clonestation_job_elapsed_seconds', help: 'Seconds since the job started (its duration once ended)', labelNames: j, registers: r });
    this.driveInfo = new Gauge({ name: 'clonestation_drive_info', help: "A job's drive with its identity: 1", labelNames: d, registers: r });
    this.driveDone = new Gauge({ name: 'clonestation_drive_done_bytes', help: "Bytes done in the current pass of the drive's job", labelNames: d, registers: r });
    this.driveThroughput = new Gauge({ name: 'clonestation_drive_throughput_bytes_per_second', help: "Bytes per second of the drive's job since the previous scrape", labelNames: d, registers: r });
    this.driveOutcome = new Gauge({ name: 'clonestation_drive_outcome', help: "An ended job's target outcome: 1 for its state (done, failed, cancelled)", labelNames: [...d, 'state'], registers: r });
    this.driveVerified = new Gauge({ name: 'clonestation_drive_verified', help: "An ended job's target: 1 read back and matched, 0 not verified", labelNames: d, registers: r });
    this.jobsEnded = new Counter({ name: 'clonestation_jobs_ended_total', help: 'Jobs ended, by kind and outcome', labelNames: ['station', 'kind', 'state'], registers: r });
    this.duration = new Histogram({
      name: 'clonestation_job_duration_seconds',
      help: 'How long ended jobs ran',
      labelNames: ['station', 'kind', 'state'],
      buckets: [1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400],
      registers: r,
    });
    this.stationJobs = new Gauge({ name: 'clonestation_station_jobs', help: "Jobs of the station's runs by state (per-job series are kept for running and the newest ended jobs)", labelNames: ['station', 'state'], registers: r });
    new Gauge({ name: 'clonestation_station_info', help: 'The station and its clonestation version: 1', labelNames: ['station', 'version'], registers: r }).set({ station: this.station, version: o.version ?? '0' }, 1);
    new Gauge({ name: 'clonestation_station_start_time_seconds', help: 'When the station started exporting, seconds since the epoch', labelNames: ['station'], registers: r }).set({ station: this.station }, Date.now() / 1000);
    if (o.processMetrics ?? true) {
      // the process's own (process_cpu_seconds_total, process_resident_memory_bytes, nodejs_*),
      // but for three gauges named like counters, which `promtool check metrics` rejects (their
      // twins without _total, by type, stay)
      // (the event loop's lag sampled every 100 ms, not prom-client's 10: measured idle, that
      // is 0.1% of a core instead of 0.35%; bench/metrics.ts)
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
      for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(n);
    }
  }

  /** Adds a run's jobs; their `job_id` label is `prefix` + the job's id (serve: "3.1" for run 3, job 1). */
  watch(jobs: readonly StationJob[], prefix = ''): void {
    this.runs.push({ jobs, prefix });
  }

  /** Reads every job's view now (the scrape calls it). */
  update(now = Date.now()): void {
    // gauges are rebuilt from the jobs at every scrape: a job's old state or pass goes away
    for (const g of [this.state, this.pass, this.size, this.done, this.bad, this.errors, this.throughput, this.elapsed, this.driveInfo, this.driveDone, this.driveThroughput, this.driveOutcome, this.driveVerified, this.stationJobs]) g.reset();
    const byState = new Map<JobState, number>(JOB_STATES.map((s) => [s, 0]));
    for (const run of this.runs) {
      for (const job of run.jobs) {
        byState.set(job.state, (byState.get(job.state) ?? 0) + 1);
        const id = `${run.prefix}${job.id}`;
        if (this.dropped.has(id)) continue;
        const labels: JobLabels = { station: this.station, job_id: id, kind: job.kind.name };
        const v = job.kind.view(job);
        let s = this.seen.get(id);
        if (!s) {
          s = { processed: 0, lastDone: 0, samples: [], rate: 0, ended: false, labels };
          this.seen.set(id, s);
        }
        // a new pass starts from 0: what the previous one did stays counted
        const delta = v.bytesDone >= s.lastDone ? v.bytesDone - s.lastDone : v.bytesDone;
        this.processed.inc(labels, delta);
        s.processed += delta;
        s.lastDone = v.bytesDone;
        const ended = ENDED.has(job.state);
        if (ended) s.rate = 0;
        else {
          // over the newest sample at least 1 s old (else the oldest, if 0.2 s old): several
          // scrapers at once (Prometheus, the textfile) do not shorten each other's window
          while (s.samples.length > 1 && now - s.samples[1].at >= 1000) s.samples.shift();
          const base = s.samples[0];
          if (base && now - base.at >= 200) s.rate = (s.processed - base.processed) / ((now - base.at) / 1000);
          if (s.samples.length < 64) s.samples.push({ at: now, processed: s.processed });
        }
        if (ended && !s.ended) {
          s.ended = true;
          this.endedOrder.push(id);
          this.jobsEnded.inc({ station: this.station, kind: job.kind.name, state: job.state });
          this.duration.observe({ station: this.station, kind: job.kind.name, state: job.state }, v.elapsed);
        }
        for (const st of JOB_STATES) this.state.set({ ...labels, state: st }, st === job.state ? 1 : 0);
        if (v.pass) this.pass.set({ ...labels, pass: v.pass }, 1);
        this.size.set(labels, v.bytesTotal);
        this.done.set(labels, v.bytesDone);
        this.bad.set(labels, v.bytesBad);
        this.errors.set(labels, v.errors);
        this.throughput.set(labels, s.rate);
        this.elapsed.set(labels, v.elapsed);
        // an ended job's rows: each target's outcome and whether it was read back
        const rows = ended ? job.kind.rows(job) : [];
        let target = 0;
        for (const drive of v.drives) {
          const dl: DriveLabels = { ...labels, role: drive.role, drive: drive.path, model: drive.model ?? '', serial: drive.serial ?? '' };
          this.driveInfo.set(dl, 1);
          this.driveDone.set(dl, v.bytesDone);
          this.driveThroughput.set(dl, s.rate);
          if (drive.role !== 'target' || !ended) continue;
          const row = rows.find((r) => r[1] === drive.path) ?? rows[target];
          target++;
          const outcome = row?.[2] ?? job.state;
          for (const st of ['done', 'failed', 'cancelled']) this.driveOutcome.set({ ...dl, state: st }, st === outcome ? 1 : 0);
          this.driveVerified.set(dl, row?.[5]?.startsWith('yes') ? 1 : 0);
        }
      }
    }
    // ended jobs past the newest KEEP_ENDED_JOBS lose their series (the totals keep them)
    while (this.endedOrder.length > KEEP_ENDED_JOBS) {
      const id = this.endedOrder.shift() as string;
      const s = this.seen.get(id);
      if (s) this.processed.remove(s.labels);
      this.seen.delete(id);
      this.dropped.add(id);
    }
    // a run whose jobs are all dropped is forgotten
    for (let i = this.runs.length - 1; i >= 0; i--) {
      const run = this.runs[i];
      if (!run.jobs.every((j) => this.dropped.has(`${run.prefix}${j.id}`))) continue;
      for (const j of run.jobs) this.dropped.delete(`${run.prefix}${j.id}`);
      this.runs.splice(i, 1);
    }
    for (const [st, n] of byState) this.stationJobs.set({ station: this.station, state: st }, n);
  }

  /** The text exposition format, read now. */
  async text(): Promise<string> {
    this.update();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
