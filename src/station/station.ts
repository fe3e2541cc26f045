// The station: many jobs at once on a piscina pool of worker threads (see pool.ts for how many).
// Planning and every safety check happen here, on the main thread, before any job starts;
// the bytes move in the workers; progress is read from shared memory at our own pace.
import { existsSync } from 'node:fs';
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { destroyPool, startStationPool } from './pool.js';
import { compiledFile, workerFile } from '../worker-file.js';
import type { StationLog } from './log.js';
import { RefusedError } from '../errors.js';
import type { DriveInfo } from '../drive.js';
import { IdentityIndex, identityOf } from '../identity.js';
import { Phase, allocateControl, onEvents, requestCancel, requestPause, requestResume, type JobTask, type PhaseValue } from '../contract.js';
import { ResourceTable, driveResource, pathResource, type Resource } from './resources.js';
import { MemoryGate } from './ring.js';
import { RING_BUDGET_BYTES } from '../jobs/ring.js';
import { trace } from '../trace.js';
import { entryKind, kindsAsked, loadKinds } from '../jobs/index.js';
import type { JobEntry, JobResult, JobState, StationDefaults, StationJob } from '../jobs/kind.js';

export type { JobState, StationJob } from '../jobs/kind.js';

/**
 * One job as asked: its kind's fields (src/jobs/<kind>.ts), and `kind` (without it, a job
 * with a map is a rescue, any other a clone, as job files were before kinds).
 */
export interface StationJobInput {
  kind?: string;
  [field: string]: unknown;
}

export interface StationOptions extends Partial<StationDefaults> {
  maxParallel: number;
  logger?: StationLog;
  /** called once, when the first job has started (work that can wait, e.g. loading pino) */
  whenRunning?: () => void;
  /** workers the caller started already (startStationPool); the station owns them from now on */
  pool?: Piscina;
  /** files the run itself writes (--report, --log): no job may read or write them */
  outputs?: { path: string; what: string }[];
  /** ring memory (native rings and tap memory) all running jobs may hold at once; default RING_BUDGET_BYTES */
  ringBudget?: number;
  /** called on the main thread when a job that ran has ended, its result settled (the ledger) */
  onJobEnded?: (job: StationJob) => void;
}

/** The job state a worker's phase puts a job in (queued and finished leave it as it is). */
const phaseState: Partial<Record<PhaseValue, JobState>> = { [Phase.copying]: 'running', [Phase.catchingUp]: 'catching-up', [Phase.verifying]: 'verifying' };

/** Drives seen so far: one drive conflicts with another when they share a byte (identity.ts). */
class DriveIndex extends IdentityIndex<{ what: string; writes: boolean }> {
  addDrive(d: DriveInfo, what: string, writes: boolean): void {
    this.add(identityOf(d), { what, writes });
  }
  findDrive(d: DriveInfo, filter?: (o: { what: string; writes: boolean }) => boolean): { what: string; writes: boolean } | undefined {
    return this.find(identityOf(d), filter);
  }
}

export class Station {
  readonly jobs: StationJob[] = [];
  private pool: Piscina | undefined;
  /** opts.pool is used once: after close() it is gone */
  private givenPoolTaken = false;
  /** what every planned job reads and writes, by identity */
  private readonly resources = new ResourceTable();
  /** every planned job's drives, by identity */
  private readonly drives = new DriveIndex();
  private anyStarted = false;
  /** jobs planned whose checks that need every job planned have not run yet (validate()) */
  private unchecked: StationJob[] = [];

  constructor(private readonly opts: StationOptions) {
    const outputs = (opts.outputs ?? []).map((o) => pathResource(o.path, o.what, true));
    this.resources.claim(0, outputs);
  }

  /** What every job shares unless its entry says otherwise. */
  private get defaults(): StationDefaults {
    const { maxParallel: _m, logger: _l, whenRunning: _w, pool: _p, outputs: _o, ringBudget: _r, onJobEnded: _e, ...d } = this.opts;
    return { version: '0', commandLine: 'clonestation station', ...d };
  }

  /**
   * Starts the worker threads now, so they boot while the main thread plans and asks, not
   * after; a pool the caller started even earlier (opts.pool) is used as it is. close() must
   * follow.
   */
  warmUp(jsWork = this.jobs.some((j) => j.planned.jsWork), jobs = this.jobs.length): void {
    if (this.pool) return;
    this.pool = this.opts.pool && !this.givenPoolTaken ? this.opts.pool : startStationPool({ jobs, jsWork, maxParallel: this.opts.maxParallel, hash: this.opts.hash });
    this.givenPoolTaken = true;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await destroyPool(pool);
  }

  /**
   * Plans a job through its kind (ranges, sizes and every refusal), then refuses a drive
   * written by two jobs or written by one while another reads it, and a file two jobs touch
   * when one writes it.
   */
  async add(input: StationJobInput): Promise<StationJob> {
    await loadKinds(kindsAsked([input]));
    const { kind, entry } = entryKind(input);
    const id = this.jobs.length + 1;
    // Names not made yet (an image another job of this run writes) are compared before the
    // kind plans: restoring or verifying it is a conflict, not a missing image.
    const unmade: Resource[] = [];
    for (const [field, f] of Object.entries(kind.fields)) {
      const v = entry[field];
      const paths = f.type === 'path' && typeof v === 'string' ? [v] : f.type === 'paths' && Array.isArray(v) ? (v as string[]) : [];
      for (const p of paths) if (!existsSync(p)) unmade.push(pathResource(p, f.type === 'paths' ? `a ${field.replace(/s$/, '')}` : `the ${field}`, f.writes ?? false));
    }
    this.resources.claim(id, unmade, { dryRun: true });
    const planned = await kind.plan(entry, this.defaults, id);
    // Drives by identity (identity.ts): loops over one file, stacked loops, overlapping
    // ranges are one drive; every earlier job's drives are in this.drives.
    for (const t of planned.touches) {
      if (t.file || !t.drive) continue;
      if (t.writes) {
        const other = this.drives.findDrive(t.drive);
        if (other) throw new RefusedError('STATION_CONFLICT', `${t.path} is already ${other.what}: each drive can be in one job only`);
      } else {
        const written = this.drives.findDrive(t.drive, (o) => o.writes);
        if (written) throw new RefusedError('STATION_CONFLICT', `${t.path} is ${written.what}: a drive cannot be written and read by two jobs`);
      }
    }
    // Everything this job reads and writes, compared by identity with every earlier job's
    // (a table by key: the cost of a job does not grow with the number of jobs).
    const touched: Resource[] = planned.touches.map((t) => (t.file ? pathResource(t.path, t.what, t.writes, { ownsFamily: t.ownsFamily }) : driveResource(t.path, t.drive, t.what, t.writes)));
    this.resources.claim(id, touched);
    for (const t of planned.touches) if (!t.file && t.drive) this.drives.addDrive(t.drive, `${t.what} of job ${id}`, t.writes);
    const job: StationJob = { id, kind, planned, state: 'queued', control: allocateControl(), live: { notes: [] }, ringBytes: 0 };
    this.jobs.push(job);
    this.unchecked.push(job);
    this.opts.logger?.info({ job: id, kind: kind.name, source: planned.source.path, targets: planned.targets.map((t) => t.path), bytes: planned.length }, 'job planned');
    return job;
  }

  /**
   * The checks that need every job planned (a map must load: BAD_MAP), after the jobs'
   * resources are compared, so a map that is another job's drive or file is a
   * STATION_CONFLICT, not a malformed map; and each job's ring, cut to the job and to its
   * share of the budget among the jobs that can run at once. run() calls it too.
   */
  validate(): void {
    const budget = this.opts.ringBudget ?? RING_BUDGET_BYTES;
    const share = Math.floor(budget / Math.max(1, Math.min(this.opts.maxParallel, this.jobs.length)));
    for (const j of this.jobs) j.ringBytes = j.planned.fitRing(share);
    for (const j of this.unchecked) j.planned.check?.();
    this.unchecked = [];
  }

  pause(job: StationJob): void {
    requestPause(job.control);
    if (job.state === 'running') job.state = 'paused';
  }
  resume(job: StationJob): void {
    requestResume(job.control);
    if (job.state === 'paused') job.state = 'running';
  }
  cancel(job: StationJob): void {
    requestCancel(job.control);
    if (job.state === 'queued') job.state = 'cancelled';
  }
  cancelAll(): void {
    for (const j of this.jobs) this.cancel(j);
  }

  /** Runs every planned job, at most maxParallel at once; resolves when all have ended. */
  async run(signal?: AbortSignal): Promise<StationJob[]> {
    this.validate();
    // each kind prepares what it writes (a clone's new files as NAME.partial; a rescue
    // prepares its own target, never truncating what an earlier run wrote)
    for (const j of this.jobs) j.planned.prepare?.();
    this.warmUp();
    const onAbort = (): void => this.cancelAll();
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted) onAbort();
    trace('station: targets prepared, jobs queued');
    // maxParallel runners take the jobs in order, each once its ring fits the budget: the
    // pool's queue, the ports and the rings in use stay bounded by maxParallel, not by the
    // number of jobs.
    const gate = new MemoryGate(this.opts.ringBudget ?? RING_BUDGET_BYTES);
    let next = 0;
    const runner = async (): Promise<void> => {
      while (next < this.jobs.length) {
        const j = this.jobs[next++];
        if (j.state === 'cancelled') continue;
        await gate.take(j.ringBytes);
        try {
          await this.runOne(j);
        } finally {
          gate.give(j.ringBytes);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, Math.min(this.opts.maxParallel, this.jobs.length)) }, runner));
    } finally {
      signal?.removeEventListener('abort', onAbort);
      trace('station: every job ended, closing the pool');
      await this.close();
      trace('station: pool closed');
    }
    return this.jobs;
  }

  private async runOne(job: StationJob): Promise<void> {
    if (job.state === 'cancelled') return;
    const { port1, port2 } = new MessageChannel();
    const target = (i: number): string | undefined => job.planned.targets[i]?.path;
    onEvents(port2, {
      // progress and a map, kept for displays; nothing is logged
      progress: (m) => Object.assign(job.live, { done: m.done, total: m.total, pass: m.pass, bytesBad: m.bytesBad }),
      map: (m) => Object.assign(job.live, { map: m.map, pass: m.pass || job.live.pass }),
      phase: (m) => {
        if (!this.anyStarted) {
          this.anyStarted = true;
          this.opts.whenRunning?.();
        }
        job.startedAt ??= Date.now();
        const st = phaseState[m.phase];
        if (st && job.state !== 'paused') job.state = st;
        this.opts.logger?.info({ job: job.id, state: job.state }, 'job state');
      },
      written: (m) => this.opts.logger?.info({ job: job.id, target: target(m.index), seconds: m.seconds }, 'target written'),
      'target-failed': (m) => this.opts.logger?.warn({ job: job.id, target: target(m.index), code: m.code, reason: m.reason }, 'target failed'),
      // a job's notes are for a terminal run; the station's log has its own records
      note: () => {},
    });
    try {
      const task: JobTask = { module: compiledFile(job.kind.module), payload: job.planned.payload, control: job.control, counters: job.planned.counters, port: port1 };
      const result = (await this.pool?.run(task, { transferList: [port1], filename: workerFile('job-task') })) as JobResult;
      job.planned.settle?.(result);
      job.result = result;
      job.state = result.state;
      if (result.state !== 'done' && result.reason) job.error = result.reason;
    } catch (e) {
      job.state = 'failed';
      job.error = e instanceof Error ? e.message : String(e);
    } finally {
      job.endedAt = Date.now();
      port2.close();
      // (a rescue's compact map is for displays, not the log)
      const { map: _map, ...result } = (job.result ?? {}) as JobResult & { map?: unknown };
      this.opts.logger?.info({ job: job.id, state: job.state, result, error: job.error }, 'job ended');
      try {
        this.opts.onJobEnded?.(job);
      } catch (e) {
        this.opts.logger?.warn({ job: job.id, error: e instanceof Error ? e.message : String(e) }, 'job ended: its hook failed');
      }
    }
  }
}
