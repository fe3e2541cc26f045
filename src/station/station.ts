// The station: many jobs at once on a piscina pool of worker threads (see pool.ts for how many).
// Planning and every safety check happen here, on the main thread, before any job starts;
// the bytes move in the workers; progress is read from shared memory at our own pace.
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { destroyPool, startStationPool } from './pool.js';
import { workerFile } from '../worker-file.js';
import type { StationLog } from './log.js';
import { RefusedError } from '../errors.js';
import { planClone, prepareFileTarget, type ClonePlan } from '../clone.js';
import { DEFAULT_BLOCK_SIZE, DEFAULT_DEPTH } from '../engine.js';
import type { DriveInfo } from '../drive.js';
import { IdentityIndex, identityOf } from '../identity.js';
import type { Backend } from '../native.js';
import {
  Phase,
  allocateControl,
  allocateCounters,
  onEvents,
  readCounters,
  requestCancel,
  requestPause,
  requestResume,
  type CloneJobSpec,
  type CloneTask,
  type CloneTaskResult,
  type PhaseValue,
  type ProgressSnapshot,
  type RescueTask,
  type RescueTaskResult,
} from '../contract.js';
import { resolve } from 'node:path';
import { rmSync } from 'node:fs';
import { checkPartial, partialPath, publishPartial } from '../partial.js';
import { checkMapPath } from '../rescue/mapfile.js';
import { UsageError } from '../errors.js';
import { ResourceTable, driveResource, pathResource, type Resource } from './resources.js';
import { MemoryGate, ringShape, RING_BUDGET_BYTES } from './ring.js';
import type { HashAlgorithm } from '../image/hash.js';
import type { MapSnapshot } from '../rescue/snapshot.js';
import { trace } from '../trace.js';

export type JobState = 'queued' | 'running' | 'paused' | 'catching-up' | 'verifying' | 'done' | 'failed' | 'cancelled';

export interface StationJobInput {
  source: string;
  targets: string[];
  offset?: string;
  length?: string;
  targetOffset?: string;
  /** a rescue: error-tolerant and resumable with this ddrescue map (one target only) */
  map?: string;
  /** test mode for a rescue job, like ddrescue's -H: reads fail where this map is not + (the demo; not in job files) */
  simulateErrors?: string;
}

export interface StationOptions {
  maxParallel: number;
  blockSize?: number;
  depth?: number;
  backend?: Backend;
  direct?: boolean;
  /** default: on for 1:N jobs, off for 1:1 */
  verify?: boolean;
  lagMs?: number;
  retries?: number;
  logger?: StationLog;
  /** called once, when the first job has started (work that can wait, e.g. loading pino) */
  whenRunning?: () => void;
  /** hashes of every clone job's bytes, on the fly (taps on the shared copy) */
  hash?: HashAlgorithm[];
  /** written into the maps of rescue jobs */
  version?: string;
  commandLine?: string;
  /** bytes/s per clone job (the demo's --throttle, so there is time to watch); 0: none */
  maxRate?: number;
  /** workers the caller started already (startStationPool); the station owns them from now on */
  pool?: Piscina;
  /** files the run itself writes (--report, --log): no job may read or write them */
  outputs?: { path: string; what: string }[];
  /** ring memory (native rings and tap memory) all running jobs may hold at once; default RING_BUDGET_BYTES */
  ringBudget?: number;
}

/** What a rescue job's worker last told about it (progress and a compact map), for displays. */
export interface RescueLive {
  done: number;
  total: number;
  pass: string;
  bytesBad: number;
  map?: MapSnapshot;
}

export interface StationJob {
  id: number;
  source: DriveInfo;
  /** `partial`: a new file, written under this name until it is complete */
  targets: { path: string; drive: DriveInfo | undefined; partial?: string }[];
  plan: ClonePlan;
  spec: CloneJobSpec;
  state: JobState;
  counters: { copy: SharedArrayBuffer; catchUp: SharedArrayBuffer; verify: SharedArrayBuffer };
  control: SharedArrayBuffer;
  startedAt?: number;
  endedAt?: number;
  result?: CloneTaskResult;
  /** jobs with a map */
  map?: string;
  simulateErrors?: string;
  rescue?: RescueTaskResult;
  live?: RescueLive;
  error?: string;
  /** ring memory this job holds at most while it runs (its share of the station's ring budget; set by validate()) */
  ringBytes: number;
  /** the ring asked for, before validate() cut it */
  asked: { blockSize: number; depth: number; verifyDepth: number };
}

/** The job state a worker's phase puts a job in (queued and finished leave it as it is). */
const phaseState: Partial<Record<PhaseValue, JobState>> = { [Phase.copying]: 'running', [Phase.catchingUp]: 'catching-up', [Phase.verifying]: 'verifying' };

/** Drives seen so far: one drive conflicts with another when they share a byte (identity.ts). */
class DriveIndex extends IdentityIndex<string> {
  addDrive(d: DriveInfo, what: string): void {
    this.add(identityOf(d), what);
  }
  findDrive(d: DriveInfo, filter?: (what: string) => boolean): string | undefined {
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
  /** maps of jobs planned but not loaded yet (validate()) */
  private unchecked: { path: string; given: string; deviceSize: number }[] = [];

  constructor(private readonly opts: StationOptions) {
    const outputs = (opts.outputs ?? []).map((o) => pathResource(o.path, o.what, true));
    this.resources.claim(0, outputs);
  }

  /**
   * Starts the worker threads now, so they boot while the main thread plans and asks, not
   * after; a pool the caller started even earlier (opts.pool) is used as it is. close() must
   * follow.
   */
  warmUp(jobs: readonly { map?: string }[] = this.jobs): void {
    if (this.pool) return;
    this.pool = this.opts.pool && !this.givenPoolTaken ? this.opts.pool : startStationPool({ jobs, maxParallel: this.opts.maxParallel, hash: this.opts.hash });
    this.givenPoolTaken = true;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await destroyPool(pool);
  }

  /**
   * Plans a job: ranges, sizes and every refusal for each target (as `clone` does), and
   * no drive written by two jobs or written by one while another reads it.
   */
  add(input: StationJobInput): StationJob {
    if (input.targets.length === 0) throw new RefusedError('USAGE', 'a job needs at least one target');
    const plans = input.targets.map((target) =>
      planClone({ source: input.source, target, offset: input.offset, length: input.length, targetOffset: input.targetOffset, blockSize: this.opts.blockSize, depth: this.opts.depth, backend: this.opts.backend, direct: this.opts.direct }),
    );
    // Drives by identity (identity.ts): loops over one file, stacked loops, overlapping
    // ranges are one drive; every earlier job's drives are in this.drives.
    const source = plans[0].source;
    const written = this.drives.findDrive(source, (what) => what.startsWith('a target'));
    if (written) throw new RefusedError('STATION_CONFLICT', `${input.source} is ${written}: a drive cannot be written and read by two jobs`);
    const mine = new DriveIndex();
    for (const p of plans) {
      if (!p.target) continue;
      const other = this.drives.findDrive(p.target);
      if (other) throw new RefusedError('STATION_CONFLICT', `${p.targetPath} is already ${other}: each drive can be in one job only`);
      const twice = mine.findDrive(p.target);
      if (twice) throw new RefusedError('STATION_CONFLICT', `${p.targetPath} is named twice as a target (also ${twice})`);
      mine.addDrive(p.target, p.targetPath);
    }
    const plan = plans[0];
    const id = this.jobs.length + 1;
    // Everything this job reads and writes, compared by identity with every earlier job's
    // (a table by key: the cost of a job does not grow with the number of jobs).
    const touched: Resource[] = [driveResource(input.source, source, 'the source', false)];
    for (const p of plans) touched.push(driveResource(p.targetPath, p.target, 'a target', true));
    if (input.map !== undefined) {
      if (input.targets.length !== 1) throw new UsageError(`a job with a map rescues to one target, not ${input.targets.length}`, 'USAGE');
      touched.push(pathResource(input.map, 'the map', true, { ownsFamily: true }));
    }
    if (input.simulateErrors !== undefined) touched.push(pathResource(input.simulateErrors, 'the error map', false));
    this.resources.claim(id, touched);
    this.drives.addDrive(source, `the source of job ${id}`);
    for (const p of plans) if (p.target) this.drives.addDrive(p.target, `a target of job ${id}`);
    const verify = this.opts.verify ?? input.targets.length > 1;
    const lagMs = this.opts.lagMs ?? 50;
    // The ring asked for; validate() cuts it to the job and to its share of the budget.
    // One master to many: the ring is the window targets may drift apart by. 16 slots
    // (64 MiB at the default block size) absorb a target's hiccups by themselves, so a
    // target that still fills the whole window alone is slow, and leaves after a short
    // grace (lagMs) instead of pacing everyone.
    const asked = {
      blockSize: this.opts.blockSize ?? DEFAULT_BLOCK_SIZE,
      depth: this.opts.depth ?? (input.targets.length > 1 ? Math.max(DEFAULT_DEPTH, 16) : DEFAULT_DEPTH),
      verifyDepth: this.opts.depth ?? DEFAULT_DEPTH,
    };
    const job: StationJob = {
      id,
      source,
      targets: plans.map((p) => ({ path: p.targetPath, drive: p.target })),
      plan,
      spec: {
        source: input.source,
        targets: input.targets,
        offset: plan.range.offset,
        length: plan.range.length,
        targetDelta: plan.targetOffset - plan.range.offset,
        ...asked,
        backend: this.opts.backend ?? 'auto',
        direct: this.opts.direct ?? true,
        verify,
        lagMs,
        retries: this.opts.retries ?? 2,
        hash: this.opts.hash,
        maxRate: this.opts.maxRate,
      },
      state: 'queued',
      counters: { copy: allocateCounters(input.targets.length), catchUp: allocateCounters(1), verify: allocateCounters(input.targets.length) },
      control: allocateControl(),
      map: input.map !== undefined ? resolve(input.map) : undefined,
      simulateErrors: input.simulateErrors,
      ringBytes: 0,
      asked,
    };
    if (input.map !== undefined) this.unchecked.push({ path: resolve(input.map), given: input.map, deviceSize: source.size });
    this.jobs.push(job);
    this.opts.logger?.info({ job: job.id, source: input.source, targets: input.targets, range: plan.range }, 'job planned');
    return job;
  }

  /**
   * The checks that need every job planned: each existing map must load (BAD_MAP). After the
   * jobs' resources are compared, so a map that is another job's drive or file is a
   * STATION_CONFLICT, not a malformed map. run() calls it too.
   */
  validate(): void {
    // Each job's ring, cut to the job (a 4 KiB job needs one 4 KiB slot, not 16 MiB of
    // them) and to its share of the budget among the jobs that can run at once.
    const budget = this.opts.ringBudget ?? RING_BUDGET_BYTES;
    const share = Math.floor(budget / Math.max(1, Math.min(this.opts.maxParallel, this.jobs.length)));
    for (const j of this.jobs) {
      const ring = ringShape({
        length: j.spec.length,
        targets: j.spec.targets.length,
        blockSize: j.asked.blockSize,
        blockSizeGiven: this.opts.blockSize !== undefined,
        depth: j.asked.depth,
        verifyDepth: j.asked.verifyDepth,
        verify: j.spec.verify,
        hash: Boolean(j.spec.hash?.length),
        share,
      });
      j.spec.blockSize = ring.blockSize;
      j.spec.depth = ring.depth;
      j.spec.verifyDepth = ring.verifyDepth;
      j.ringBytes = ring.bytes;
    }
    // A map that will not load is refused now, before any job starts (a regular file or a
    // new name: a FIFO, device or folder is refused, never read).
    for (const m of this.unchecked) checkMapPath(m.given, m.deviceSize);
    this.unchecked = [];
  }

  /** Every job's progress from shared memory: cheap, any time, any rate. */
  progress(job: StationJob): { phase: JobState; copy: ProgressSnapshot; verify: ProgressSnapshot } {
    return { phase: job.state, copy: readCounters(job.counters.copy, job.spec.length), verify: readCounters(job.counters.verify, job.spec.length) };
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
    // (a rescue prepares its own target: it must never truncate what an earlier run wrote)
    // A new file is written as NAME.partial and renamed once written and verified (as a
    // single clone does, src/partial.ts): an interrupted station leaves no complete-looking
    // file under the name asked for.
    for (const j of this.jobs.filter((x) => !x.map)) {
      j.targets.forEach((t, i) => {
        if (t.drive?.kind === 'block') return;
        let path = t.path;
        if (!t.drive) {
          t.partial = partialPath(t.path);
          checkPartial(t.partial);
          // a .partial left by an interrupted run is ours (checkPartial): started afresh
          rmSync(t.partial, { force: true });
          path = j.spec.targets[i] = t.partial;
        }
        prepareFileTarget({ ...j.plan, target: t.drive, targetPath: path });
      });
    }
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

  /** New files take their names once written (and verified, when asked); others keep `.partial` and say so. */
  private publishTargets(job: StationJob, result: CloneTaskResult): void {
    job.targets.forEach((t, i) => {
      const o = result.targets[i];
      if (!t.partial || !o) return;
      if (o.state === 'done' && (!job.spec.verify || o.verified)) {
        try {
          publishPartial(t.partial, t.path);
          o.path = t.path;
          job.spec.targets[i] = t.path;
        } catch (e) {
          o.state = 'failed';
          o.code = (e as { code?: string }).code ?? 'WRITE_FAILED';
          o.reason = e instanceof Error ? e.message : String(e);
        }
      } else {
        o.reason = `${o.reason ?? o.state}; ${t.path} was not created: the incomplete copy is ${t.partial}`;
      }
    });
    if (result.state === 'done' && result.targets.some((o) => o.state !== 'done')) result.state = 'failed';
  }

  private async runOne(job: StationJob): Promise<void> {
    if (job.state === 'cancelled') return;
    const { port1, port2 } = new MessageChannel();
    const noLive: RescueLive = { done: 0, total: job.spec.length, pass: '', bytesBad: 0 };
    onEvents(port2, {
      // a rescue's progress and map, kept for displays; nothing is logged
      progress: (m) => void (job.live = { ...(job.live ?? noLive), done: m.done, total: m.total, pass: m.pass, bytesBad: m.bytesBad }),
      map: (m) => {
        const live = job.live ?? noLive;
        job.live = { ...live, map: m.map, pass: m.pass || live.pass };
      },
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
      written: (m) => this.opts.logger?.info({ job: job.id, target: job.spec.targets[m.index], seconds: m.seconds }, 'target written'),
      'target-failed': (m) => this.opts.logger?.warn({ job: job.id, target: job.spec.targets[m.index], code: m.code, reason: m.reason }, 'target failed'),
      // a rescue's notes are for a terminal run; the station's log has its own records
      note: () => {},
    });
    try {
      if (job.map) {
        const task: RescueTask = {
          options: {
            source: job.spec.source,
            target: job.spec.targets[0],
            mapPath: job.map,
            offset: String(job.spec.offset),
            length: String(job.spec.length),
            targetOffset: String(job.spec.offset + job.spec.targetDelta),
            depth: this.opts.depth,
            backend: this.opts.backend,
            direct: this.opts.direct,
            simulateErrors: job.simulateErrors,
            version: this.opts.version ?? '0',
            commandLine: this.opts.commandLine ?? 'clonestation station',
          },
          control: job.control,
          port: port1,
        };
        job.rescue = (await this.pool?.run(task, { transferList: [port1], filename: workerFile('rescue-task') })) as RescueTaskResult;
        job.state = job.rescue.state;
        if (job.rescue.map) job.live = { ...(job.live ?? noLive), map: job.rescue.map };
        if (job.rescue.reason && job.rescue.state !== 'done') job.error = job.rescue.reason;
        return;
      }
      const task: CloneTask = { spec: job.spec, copyCounters: job.counters.copy, catchUpCounters: job.counters.catchUp, verifyCounters: job.counters.verify, control: job.control, port: port1 };
      job.result = (await this.pool?.run(task, { transferList: [port1] })) as CloneTaskResult;
      this.publishTargets(job, job.result);
      job.state = job.result.state === 'done' ? 'done' : job.result.state;
    } catch (e) {
      job.state = 'failed';
      job.error = e instanceof Error ? e.message : String(e);
    } finally {
      job.endedAt = Date.now();
      port2.close();
      this.opts.logger?.info({ job: job.id, state: job.state, targets: job.result?.targets, error: job.error }, 'job ended');
    }
  }
}
