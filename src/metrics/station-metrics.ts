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
  /** the job's labels with each of JOB_STATES, in that order */
  stateLabels: (JobLabels & { state: string })[];
  /** the state and pass last set */
  state?: JobState;
  pass?: string;
  passLabels?: JobLabels & { pass: string };
  /** its drives' labels, and what they were made from */
  driveKey: string;
  drives: DriveLabels[];
  /** an ended job's target outcomes are set */
  outcomes?: boolean;
}

/** A target's outcome series, one per outcome (1 for the one it had). */
const OUTCOMES = ['done', 'failed', 'cancelled'] as const;

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
    // A job's series are kept from scrape to scrape and set again; only those whose labels
    // change (a new pass, another state, a job's drives) or whose job is dropped are removed.
    // Label sets are made once per job: a scrape allocates none for a job it knows
    // (bench/metrics.ts: update() took 0.63 ms a scrape of 16 jobs when every gauge was reset
    // and every label set made again).
    const byState = new Map<JobState, number>(JOB_STATES.map((s) => [s, 0]));
    for (const run of this.runs) {
      for (const job of run.jobs) {
        byState.set(job.state, (byState.get(job.state) ?? 0) + 1);
        const id = `${run.prefix}${job.id}`;
        if (this.dropped.has(id)) continue;
        const v = job.kind.view(job);
        let s = this.seen.get(id);
        if (!s) {
          const labels: JobLabels = { station: this.station, job_id: id, kind: job.kind.name };
          s = { processed: 0, lastDone: 0, samples: [], rate: 0, ended: false, labels, stateLabels: JOB_STATES.map((st) => ({ ...labels, state: st })), driveKey: '', drives: [] };
          this.seen.set(id, s);
        }
        const labels = s.labels;
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
        const endsNow = ended && !s.ended;
        if (endsNow) {
          s.ended = true;
          this.endedOrder.push(id);
          this.jobsEnded.inc({ station: this.station, kind: job.kind.name, state: job.state });
          this.duration.observe({ station: this.station, kind: job.kind.name, state: job.state }, v.elapsed);
        }
        if (job.state !== s.state) {
          for (let i = 0; i < JOB_STATES.length; i++) this.state.set(s.stateLabels[i], JOB_STATES[i] === job.state ? 1 : 0);
          s.state = job.state;
        }
        if (v.pass !== s.pass) {
          if (s.passLabels) this.pass.remove(s.passLabels);
          s.passLabels = v.pass ? { ...labels, pass: v.pass } : undefined;
          if (s.passLabels) this.pass.set(s.passLabels, 1);
          s.pass = v.pass;
        }
        this.size.set(labels, v.bytesTotal);
        this.done.set(labels, v.bytesDone);
        this.bad.set(labels, v.bytesBad);
        this.errors.set(labels, v.errors);
        this.throughput.set(labels, s.rate);
        this.elapsed.set(labels, v.elapsed);
        let key = '';
        for (const d of v.drives) key += `${d.role}\0${d.path}\0${d.model ?? ''}\0${d.serial ?? ''}\0`;
        if (key !== s.driveKey) {
          this.removeDrives(s);
          s.drives = v.drives.map((d) => ({ ...labels, role: d.role, drive: d.path, model: d.model ?? '', serial: d.serial ?? '' }));
          s.driveKey = key;
          s.outcomes = false;
          for (const dl of s.drives) this.driveInfo.set(dl, 1);
        }
        for (const dl of s.drives) {
          this.driveDone.set(dl, v.bytesDone);
          this.driveThroughput.set(dl, s.rate);
        }
        // an ended job's targets: each one's outcome and whether it was read back (its rows, read once)
        if (ended && !s.outcomes) {
          s.outcomes = true;
          const rows = job.kind.rows(job);
          let target = 0;
          for (const dl of s.drives) {
            if (dl.role !== 'target') continue;
            const row = rows.find((r) => r[1] === dl.drive) ?? rows[target];
            target++;
            const outcome = row?.[2] ?? job.state;
            for (const st of OUTCOMES) this.driveOutcome.set({ ...dl, state: st }, st === outcome ? 1 : 0);
            this.driveVerified.set(dl, row?.[5]?.startsWith('yes') ? 1 : 0);
          }
        }
      }
    }
    // ended jobs past the newest KEEP_ENDED_JOBS lose their series (the totals keep them)
    while (this.endedOrder.length > KEEP_ENDED_JOBS) {
      const id = this.endedOrder.shift() as string;
      const s = this.seen.get(id);
      if (s) {
        this.processed.remove(s.labels);
        for (const g of [this.size, this.done, this.bad, this.errors, this.throughput, this.elapsed]) g.remove(s.labels);
        for (const l of s.stateLabels) this.state.remove(l);
        if (s.passLabels) this.pass.remove(s.passLabels);
        this.removeDrives(s);
      }
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

  /** A job's drive series gone (its drives changed, or it is dropped). */
  private removeDrives(s: Seen): void {
    for (const dl of s.drives) {
      for (const g of [this.driveInfo, this.driveDone, this.driveThroughput, this.driveVerified]) g.remove(dl);
      if (s.outcomes && dl.role === 'target') for (const st of OUTCOMES) this.driveOutcome.remove({ ...dl, state: st });
    }
    s.drives = [];
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
