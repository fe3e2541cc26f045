// The rescue policy over the engine, after GNU ddrescue's rescuebook: which areas to read,
// in which order, with what chunk size, and what a failure makes of an area. The engine
// reads; this decides. Every status change goes into the Mapbook, and the map is saved
// through the owner's `save` callback (which also rotates the crash journal).
import { existsSync } from 'node:fs';
import { EngineJob } from '../engine.js';
import { IoError } from '../errors.js';
import { intersectExtents, subtractExtent, type Extent } from '../extent.js';
import type { Backend, NativeChunkError } from '../native.js';
import type { Mapbook } from './mapbook.js';
import type { BlockStatus, PassStatus } from './mapfile.js';
import { RateMeter, type ProgressView } from '../progress.js';

export interface RescuePolicy {
  sectorSize: number;
  /** bytes read at once in the copy passes (ddrescue's cluster: 128 sectors by default) */
  cluster: number;
  depth: number;
  backend: Backend;
  direct: boolean;
  /** copy passes start backwards */
  reverse: boolean;
  /** retry passes over bad sectors, alternating direction */
  retries: number;
  /** bytes/s; slower good areas are skipped in the skipping passes and read later (0: off) */
  minReadRate: number;
  /** seconds since the last good read before giving up (0: never) */
  timeout: number;
  /** error areas (non-trimmed, non-scraped, bad) allowed before giving up */
  maxErrors: number;
  /** first skip after an error; doubles on each error, resets on good reads */
  skipInitial: number;
  skipMax: number;
  /** seconds of nothing but failing reads before the drive counts as gone */
  goneAfter: number;
  /** seconds between map saves while reading (also saved at every stop) */
  saveInterval: number;
}

export interface RescueIo {
  source: string;
  target: string;
  /** target offset = source offset + delta */
  delta: number;
  /** test mode: reads overlapping these fail with EIO */
  simulateBad?: Extent[];
  /** rescue only inside these extents (the + blocks of a domain map) */
  domain: Extent[];
}

export interface RescueHooks {
  /** saves the map, first rotating the journals of the jobs still running */
  save(running?: readonly EngineJob[]): void;
  journal(): string;
  progress(view: ProgressView & { pass: string }): void;
  note(message: string, fields?: Record<string, unknown>): void;
  signal?: AbortSignal;
  /** the operator paused the rescue (the dashboard's p): no reads until it turns false */
  paused?: () => boolean;
}

export type StopReason = 'finished' | 'cancelled' | 'timeout' | 'max-errors' | 'drive-gone';

export interface PassRecord {
  name: string;
  seconds: number;
  bytesRescued: number;
}

/** Blocks of `statuses`, clipped to the domain. */
export function areas(book: Mapbook, statuses: readonly BlockStatus[], domain: Extent[]): Extent[] {
  return intersectExtents(book.extents(statuses), domain);
}

/** Pieces of `size` bytes covering `e`, aligned to multiples of `size` from 0 (like ddrescue's clusters). */
function clusters(e: Extent, size: number): Extent[] {
  const out: Extent[] = [];
  let off = e.offset;
  const end = e.offset + e.length;
  while (off < end) {
    const next = Math.min(end, (Math.floor(off / size) + 1) * size);
    out.push({ offset: off, length: next - off });
    off = next;
  }
  return out;
}

const goneCodes = new Set(['ENODEV', 'ENXIO', 'ENOMEDIUM']);

export class DriveGoneError extends IoError {
  constructor(source: string, why: string) {
    super('DRIVE_GONE', `source ${source} has gone away (${why}): the map is saved; reconnect the drive and rerun the same command to resume (or add --wait-for-return)`, {
      source,
      why,
    });
  }
}

export class Rescuebook {
  readonly passes: PassRecord[] = [];
  private skip: number;
  private lastGood = Date.now();
  private lastSave = Date.now();
  private stopReason: StopReason | undefined;
  private readonly start = process.hrtime.bigint();
  private readonly meter = new RateMeter();
  /** areas a skipping pass jumped over; they stay non-tried for the next pass */
  private skipped: Extent[] = [];
  /** engine jobs running now (trimming runs several at once); a map save rotates them all */
  private readonly running = new Set<EngineJob>();

  constructor(
    readonly book: Mapbook,
    private readonly policy: RescuePolicy,
    private io: RescueIo,
    private readonly hooks: RescueHooks,
  ) {
    this.skip = policy.skipInitial;
  }

  get reason(): StopReason | undefined {
    return this.stopReason;
  }

  /** The same drive came back under `path`: continue there. */
  resumeAt(path: string): void {
    this.io = { ...this.io, source: path };
    this.stopReason = undefined;
    this.lastGood = Date.now();
  }

  private elapsed(): number {
    return Number(process.hrtime.bigint() - this.start) / 1e9;
  }

  private errorAreas(): number {
    return this.book.areaCount('*') + this.book.areaCount('/') + this.book.areaCount('-');
  }

  private passDomain(): Extent[] {
    return this.skipped.reduce(subtractExtent, this.io.domain);
  }

  /**
   * Runs every phase that has work left, in ddrescue's order: three copy passes (forward
   * with skipping, backward with skipping, forward without), trim, scrape, retries. A
   * resumed rescue simply finds less work: each phase reads only blocks of its status.
   */
  async run(): Promise<StopReason> {
    const fwd = this.policy.reverse ? 'backward' : 'forward';
    const back = this.policy.reverse ? 'forward' : 'backward';
    const phases: { name: string; status: BlockStatus; pass: PassStatus; run: () => Promise<void> }[] = [
      { name: 'copy 1', status: '?', pass: '?', run: () => this.copyPass('copy 1', fwd, true) },
      { name: 'copy 2', status: '?', pass: '?', run: () => this.copyPass('copy 2', back, true) },
      { name: 'copy 3', status: '?', pass: '?', run: () => this.copyPass('copy 3', fwd, false) },
      { name: 'trim', status: '*', pass: '*', run: () => this.trimPass() },
      { name: 'scrape', status: '/', pass: '/', run: () => this.sectorPass('scrape', '/', 'forward') },
    ];
    for (let r = 1; r <= this.policy.retries; r++)
      phases.push({ name: `retry ${r}`, status: '-', pass: '-', run: () => this.sectorPass(`retry ${r}`, '-', r % 2 ? 'backward' : 'forward') });

    for (const [i, p] of phases.entries()) {
      const work = areas(this.book, [p.status], this.io.domain);
      if (work.length === 0) continue;
      const t0 = this.elapsed();
      const before = this.book.totals()['+'];
      this.book.current = { pos: work[0].offset, status: p.pass, pass: i + 1 };
      this.skipped = [];
      this.hooks.note(`pass ${p.name}: ${work.length} area(s), ${work.reduce((sum, e) => sum + e.length, 0)} bytes`, { pass: p.name });
      await p.run();
      this.skipped = [];
      this.passes.push({ name: p.name, seconds: this.elapsed() - t0, bytesRescued: this.book.totals()['+'] - before });
      this.hooks.save();
      if (this.stopReason) return this.stopReason;
    }
    this.book.current = { pos: this.book.size, status: '+', pass: this.book.current.pass };
    this.hooks.save();
    return 'finished';
  }

  /** Copy passes: non-tried areas in clusters; with `skipping`, an error or a slow area jumps ahead. */
  private async copyPass(name: string, dir: 'forward' | 'backward', skipping: boolean): Promise<void> {
    while (!this.stopReason) {
      const todo = areas(this.book, ['?'], this.passDomain());
      if (todo.length === 0) return;
      const list: Extent[] = [];
      for (const a of dir === 'forward' ? todo : [...todo].reverse()) {
        const cs = clusters(a, this.policy.cluster);
        list.push(...(dir === 'forward' ? cs : cs.reverse()));
        if (list.length >= 65536) break; // a bounded batch; the loop comes back for the rest
      }
      // Skipping passes stop at the first failure (chunks in flight still land); the rest
      // of the batch stays non-tried.
      const r = await this.batch(list, this.policy.cluster, skipping, '*', name);
      if (this.stopReason) return;
      if (!skipping) continue;
      const at = r.firstError !== undefined ? (dir === 'forward' ? r.firstErrorEnd : r.firstError) : r.slowAt;
      if (at === undefined) {
        this.skip = this.policy.skipInitial;
        continue;
      }
      const size = Math.max(this.policy.sectorSize, Math.floor(this.skip / this.policy.sectorSize) * this.policy.sectorSize);
      this.skipped.push(dir === 'forward' ? { offset: at, length: size } : { offset: Math.max(0, at - size), length: Math.min(size, at) });
      this.skip = Math.min(this.skip * 2, this.policy.skipMax);
    }
  }

  /**
   * Trimming: each non-trimmed block, sector by sector in from both edges until an error.
   * Within a block one read at a time (adjacent reads in flight would be merged by the
   * block layer, and a merged request fails whole); different blocks at the same time,
   * since two non-trimmed blocks are never adjacent (the map merges equal neighbours).
   */
  private async trimPass(): Promise<void> {
    const queue = areas(this.book, ['*'], this.io.domain);
    const lanes = Math.max(1, Math.min(this.policy.depth, queue.length));
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (let blk = queue.shift(); blk && !this.stopReason; blk = queue.shift()) await this.trimBlock(blk);
      }),
    );
  }

  private async trimBlock(blk: Extent): Promise<void> {
    const ss = this.policy.sectorSize;
    const end = blk.offset + blk.length;
    const lead = await this.batch(clusters(blk, ss), ss, true, '-', 'trim', 1, false);
    if (this.stopReason || lead.firstError === undefined) return; // every sector read: all finished
    const inner = { offset: lead.firstErrorEnd as number, length: end - (lead.firstErrorEnd as number) };
    if (inner.length <= 0) return;
    const tail = await this.batch(clusters(inner, ss).reverse(), ss, true, '-', 'trim', 1, false);
    if (this.stopReason) return;
    // what lies between the two failing edges is left for scraping
    if (tail.firstError !== undefined && tail.firstError > inner.offset) this.book.set(inner.offset, tail.firstError - inner.offset, '/');
  }

  /**
   * Scraping and retrying: every sector of the blocks with `status`; failures are bad
   * sectors. One read at a time, as trimming: the block layer merges adjacent reads in
   * flight, and a merged request with one bad sector fails whole, which would record its
   * good neighbours as bad.
   */
  private async sectorPass(name: string, status: BlockStatus, dir: 'forward' | 'backward'): Promise<void> {
    const ss = this.policy.sectorSize;
    const todo = areas(this.book, [status], this.io.domain);
    const list: Extent[] = [];
    for (const a of dir === 'forward' ? todo : [...todo].reverse()) {
      const cs = clusters(a, ss);
      list.push(...(dir === 'forward' ? cs : cs.reverse()));
    }
    if (list.length > 0) await this.batch(list, ss, false, '-', name, 1);
  }

  /** `exclusive: false` for the jobs that run side by side (trimming): O_EXCL is per open. */
  private engineJob(list: Extent[], chunk: number, stopAtError: boolean, depth: number, journal: boolean, exclusive = true): EngineJob {
    return new EngineJob({
      mode: 'copy',
      source: { path: this.io.source, direct: this.policy.direct },
      targets: [{ path: this.io.target, direct: this.policy.direct, exclusive, delta: this.io.delta }],
      extents: list,
      blockSize: Math.max(4096, Math.ceil(chunk / 4096) * 4096),
      depth,
      backend: this.policy.backend,
      stopOnReadError: stopAtError,
      sync: true,
      reportDone: true,
      journalPath: journal ? this.hooks.journal() : undefined,
      simulateBad: this.io.simulateBad,
    });
  }

  /**
   * One engine job over `list`; its outcome goes into the map: finished chunks '+', failed
   * ones `failStatus`. With `stopAtError` the job stops at the first failure. Watches the
   * read rate, the timeout and the drive's presence; saves the map on schedule.
   */
  private async batch(
    list: Extent[],
    chunk: number,
    stopAtError: boolean,
    failStatus: BlockStatus,
    pass: string,
    depth = this.policy.depth,
    exclusive = true,
  ): Promise<{ firstError?: number; firstErrorEnd?: number; slowAt?: number }> {
    await this.whilePaused();
    const job = this.engineJob(list, chunk, stopAtError, depth, true, exclusive);
    this.running.add(job);
    let jobPaused = false;
    let pausedAt = 0;
    let slowAt: number | undefined;
    let slowSince: number | undefined;
    let lastRead = 0;
    const onAbort = (): void => {
      this.stopReason = 'cancelled';
      job.cancel();
    };
    this.hooks.signal?.addEventListener('abort', onAbort);
    if (this.hooks.signal?.aborted) onAbort();
    const tick = (): void => {
      this.apply(job.takeDone());
      const snap = job.snapshot();
      const now = Date.now();
      // A pause stops the engine job where it is; the time paused does not count towards
      // the timeout, the drive-gone limit or the read rate.
      const paused = this.hooks.paused?.() ?? false;
      if (paused !== jobPaused) {
        jobPaused = paused;
        if (paused) {
          job.pause();
          pausedAt = now;
        } else {
          job.resume();
          this.lastGood += now - pausedAt;
          slowSince = undefined;
          lastRead = snap.bytesRead;
        }
      }
      if (paused) {
        this.showProgress(pass);
        return;
      }
      // min-read-rate: in a skipping pass, a slow good area is left for a later pass
      if (this.policy.minReadRate > 0 && stopAtError && pass.startsWith('copy') && slowAt === undefined) {
        if ((snap.bytesRead - lastRead) * 4 < this.policy.minReadRate) {
          slowSince ??= now;
          // two ticks in a row: one slow tick can be a hiccup
          if (now - slowSince >= 500) {
            slowAt = snap.position;
            job.cancel();
          }
        } else slowSince = undefined;
      }
      lastRead = snap.bytesRead;
      if (this.limitsReached(now, snap.readErrors > 0)) job.cancel();
      if (now - this.lastSave >= this.policy.saveInterval * 1000) {
        this.lastSave = now;
        this.hooks.save([...this.running]);
      }
      this.showProgress(pass);
    };
    const timer = setInterval(tick, 250);
    let outcome;
    try {
      outcome = await job.run();
    } finally {
      clearInterval(timer);
      this.hooks.signal?.removeEventListener('abort', onAbort);
      this.running.delete(job);
    }
    this.apply(job.takeDone());
    const reads = outcome.errors.filter((e) => e.target < 0 && e.op === 'read');
    const write = outcome.errors.find((e) => e.target >= 0);
    if (write) {
      this.hooks.save();
      throw new IoError('WRITE_FAILED', `writing target ${this.io.target} failed at offset ${write.offset + this.io.delta} (${write.code}): the map is saved; choose a working target and resume`, {
        offset: write.offset + this.io.delta,
        errno: write.code,
      });
    }
    if (outcome.fatal) {
      this.hooks.save();
      throw new IoError('ENGINE_FAILED', `the rescue could not continue (${outcome.fatal.message}): the map is saved; rerun to resume`);
    }
    // Before believing the errors, make sure the drive is still there: if a sector we
    // already read fails too, these errors say nothing about the media.
    if (reads.length > 0 && !(await this.alive(reads))) {
      this.stopReason = 'drive-gone';
      return {};
    }
    // Several clusters failing together is what a merged request looks like: the block
    // layer joins adjacent reads in flight, and one bad sector fails them all. Read them
    // again one at a time before any of them goes to sector-by-sector trimming.
    const failed = failStatus === '*' && reads.length > 1 ? await this.isolate(reads, chunk) : reads;
    for (const e of failed) this.book.set(e.offset, e.length, failStatus);
    if (failed.length > 0 && this.errorAreas() > this.policy.maxErrors) this.stopReason ??= 'max-errors';
    this.limitsReached(Date.now(), failed.length > 0);
    this.showProgress(pass);
    if (failed.length === 0) return { slowAt };
    const first = failed.reduce((m, e) => (e.offset < m.offset ? e : m));
    const last = failed.reduce((m, e) => (e.offset > m.offset ? e : m));
    // forward passes continue after the failure nearest their start; backward before it
    return { firstError: first.offset, firstErrorEnd: last.offset + last.length, slowAt };
  }

  /** Waits while the operator has paused the rescue (between engine jobs: trimming runs many). */
  private async whilePaused(): Promise<void> {
    if (!this.hooks.paused?.()) return;
    const t0 = Date.now();
    while (this.hooks.paused() && !this.hooks.signal?.aborted) await new Promise((r) => setTimeout(r, 100));
    this.lastGood += Date.now() - t0;
  }

  /** Re-reads failed chunks one at a time; returns those that fail on their own. */
  private async isolate(reads: NativeChunkError[], chunk: number): Promise<NativeChunkError[]> {
    const job = this.engineJob(
      [...reads].sort((a, b) => a.offset - b.offset).map((e) => ({ offset: e.offset, length: e.length })),
      chunk,
      false,
      1,
      true,
    );
    const out = await job.run();
    this.apply(job.takeDone());
    if (out.errors.some((e) => e.target >= 0) || out.fatal) return reads; // let the caller's checks speak
    return out.errors.filter((e) => e.target < 0 && e.op === 'read');
  }

  private showProgress(pass: string): void {
    const t = this.totals();
    this.hooks.progress({ phase: 'copy', pass, done: t.rescued, total: this.book.size, elapsed: this.elapsed(), rate: this.meter.sample(this.elapsed(), t.rescued), bytesBad: t.bad });
  }

  totals(): { rescued: number; bad: number } {
    const t = this.book.totals();
    return { rescued: t['+'], bad: t['-'] };
  }

  private apply(done: Extent[]): void {
    for (const d of done) this.book.set(d.offset, d.length, '+');
    if (done.length > 0) this.lastGood = Date.now();
  }

  /** Timeout, and the drive-gone time limit of nothing but errors. */
  private limitsReached(now: number, hadErrors: boolean): boolean {
    if (this.policy.timeout > 0 && now - this.lastGood > this.policy.timeout * 1000) this.stopReason ??= 'timeout';
    if (hadErrors && now - this.lastGood > this.policy.goneAfter * 1000) this.stopReason ??= 'drive-gone';
    return this.stopReason !== undefined;
  }

  /**
   * Whether the source still answers: its node exists, no ENODEV/ENXIO came back, and a
   * sector already rescued still reads. Without a rescued sector, there is no canary.
   */
  private async alive(reads: NativeChunkError[]): Promise<boolean> {
    if (!existsSync(this.io.source) || reads.some((e) => goneCodes.has(e.code))) return false;
    const good = this.book.blocks().find((b) => b.status === '+');
    if (!good) return true;
    const ss = this.policy.sectorSize;
    const canary = { offset: good.pos + Math.floor(good.size / ss / 2) * ss, length: ss };
    try {
      const probe = new EngineJob({
        mode: 'verify',
        source: { path: this.io.source, direct: this.policy.direct },
        targets: [{ path: this.io.target, direct: this.policy.direct, delta: this.io.delta }],
        extents: [canary],
        blockSize: 4096,
        depth: 1,
        backend: this.policy.backend,
        simulateBad: this.io.simulateBad,
      });
      const r = await probe.run();
      return !r.errors.some((e) => e.target < 0);
    } catch {
      return false;
    }
  }
}
