// The dashboard's view of our jobs: adapters that implement dashboard/'s DashboardSource
// for a Station (clones and rescues in worker threads, read from shared counters and the
// workers' messages) and for a rescue running in this thread. The dashboard sees job
// views and calls commands; it never sees a Station.
import type { DashboardSource, DriveView, JobView } from '../../dashboard/source.js';
import type { DriveInfo } from '../drive.js';
import type { Mapbook } from '../rescue/mapbook.js';
import { mapSnapshot, type MapSnapshot } from '../rescue/snapshot.js';
import type { ProgressView, Reporter } from '../progress.js';
import type { Station, StationJob } from './station.js';
import { ENDED, jobReport } from '../jobs/kind.js';
import { driveView as drive, hasBadAreas, mapView } from '../jobs/view-parts.js';

const ended: ReadonlySet<string> = ENDED;

/** Every job of a station, each shown by its own kind (src/jobs/<kind>.ts view()). */
export class StationSource implements DashboardSource {
  constructor(
    private readonly station: Station,
    readonly title = 'station',
  ) {}

  private job(id: number): StationJob | undefined {
    return this.station.jobs.find((j) => j.id === id);
  }

  jobs(): JobView[] {
    return this.station.jobs.map((j) => this.view(j));
  }

  view(j: StationJob): JobView {
    return j.kind.view(j);
  }

  pause(id: number): void {
    const j = this.job(id);
    if (j) this.station.pause(j);
  }
  resume(id: number): void {
    const j = this.job(id);
    if (j) this.station.resume(j);
  }
  cancel(id: number): void {
    const j = this.job(id);
    if (j) this.station.cancel(j);
  }
  /** An ended job's final report; a job still under way reports where it is now. */
  report(id: number): unknown {
    const j = this.job(id);
    if (!j) return undefined;
    return ended.has(j.state) ? jobReport(j) : this.liveReport(j);
  }

  /** What a job has done so far, from the same figures as its row (no final figures yet). */
  liveReport(j: StationJob): Record<string, unknown> {
    const v = this.view(j);
    return {
      id: j.id,
      kind: j.kind.name,
      state: v.state,
      pass: v.pass,
      bytesDone: v.bytesDone,
      bytesTotal: v.bytesTotal,
      percent: v.bytesTotal > 0 ? Number(((100 * v.bytesDone) / v.bytesTotal).toFixed(2)) : 0,
      secondsSoFar: Number(v.elapsed.toFixed(1)),
      bytesBad: v.bytesBad,
      errors: v.errors,
      position: v.position,
      ...j.kind.report(j),
    };
  }
  stopAll(): void {
    this.station.cancelAll();
  }
  finished(): boolean {
    return this.station.jobs.every((j) => ended.has(j.state));
  }
}

/**
 * A rescue running in this thread (`clonestation rescue`, `clone --map`): its map comes
 * from the rescue's watch hook, its progress from the reporter it is given.
 */
/** What a single in-process job is called on the dashboard, and whether it can pause. */
export interface SingleJobKind {
  title: string;
  role: string;
  canPause: boolean;
}

/** A rescue (or a backup, whose --rescue is one) running in this thread. */
export class RescueSource implements DashboardSource {
  readonly title: string;
  private book: Mapbook | undefined;
  private snapshot: MapSnapshot | undefined;
  private snapshotAt = 0;
  private progress: (ProgressView & { pass?: string }) | undefined;
  private readonly started = Date.now();
  private endedAt: number | undefined;
  state: JobView['state'] = 'running';
  /** give this to rescue() as `paused` */
  readonly paused = (): boolean => this.pausedFlag;
  private pausedFlag = false;
  result: unknown;
  error: string | undefined;

  constructor(
    private readonly paths: { source: string; target: string; sourceDrive?: DriveInfo; targetDrive?: DriveInfo },
    private readonly abort: AbortController,
    private readonly kind: SingleJobKind = { title: 'rescue', role: 'rescue', canPause: true },
  ) {
    this.title = kind.title;
  }

  /** give this to rescue() as `watch` */
  readonly watch = (book: Mapbook): void => {
    this.book = book;
  };

  /** a reporter whose progress feeds this source and whose notes go to `note` */
  reporter(note: (m: string) => void): Reporter {
    return {
      note: (m) => note(m),
      progress: (v) => (this.progress = v),
      // a phase's last figures (its progress is sampled only 4 times a second)
      phaseEnd: (v) => (this.progress = v),
      done: () => {},
      error: (code, m) => note(`${m} [${code}]`),
    };
  }

  /** the rescue has ended, one way or another */
  settle(state: 'done' | 'failed' | 'cancelled', result: unknown, error?: string): void {
    this.state = state;
    this.result = result;
    this.error = error;
    this.endedAt = Date.now();
    if (this.book) this.snapshot = mapSnapshot(this.book);
  }

  jobs(): JobView[] {
    const now = Date.now();
    // the map is compacted at most once a second, as the station's workers do
    if (this.book && (now - this.snapshotAt >= 1000 || !this.snapshot) && !this.endedAt) {
      this.snapshot = mapSnapshot(this.book);
      this.snapshotAt = now;
    }
    const m = this.snapshot;
    const bad = m?.totals['-'] ?? this.progress?.bytesBad ?? 0;
    const p = this.progress;
    // the map tells a rescue's progress; a phase after it (hashing, verifying) has its own
    const byMap = m !== undefined && (p === undefined || p.phase === 'copy');
    return [
      {
        id: 1,
        role: this.kind.role,
        drives: [drive('source', this.paths.source, this.paths.sourceDrive), drive('target', this.paths.target, this.paths.targetDrive)],
        state: this.pausedFlag && !ended.has(this.state) ? 'paused' : this.state,
        pass: ended.has(this.state) ? '-' : (p?.pass ?? p?.phase ?? 'start'),
        bytesDone: byMap ? m.totals['+'] : (p?.done ?? 0),
        bytesTotal: byMap ? m.size : (p?.total ?? m?.size ?? 0),
        bytesBad: bad,
        errors: m?.errorAreas ?? 0,
        position: m?.current.pos,
        elapsed: ((this.endedAt ?? now) - this.started) / 1000,
        badAreas: hasBadAreas(m, bad),
        map: mapView(m),
        canPause: this.kind.canPause,
        note: this.error,
      },
    ];
  }
  pause(): void {
    this.pausedFlag = true;
  }
  resume(): void {
    this.pausedFlag = false;
  }
  cancel(): void {
    this.pausedFlag = false;
    this.abort.abort();
  }
  report(): unknown {
    const j = this.jobs()[0];
    if (ended.has(j.state)) return { source: this.paths.source, target: this.paths.target, state: j.state, result: this.result, error: this.error };
    // under way: where it is now
    return { source: this.paths.source, target: this.paths.target, state: j.state, pass: j.pass, bytesDone: j.bytesDone, bytesTotal: j.bytesTotal, percent: j.bytesTotal > 0 ? Number(((100 * j.bytesDone) / j.bytesTotal).toFixed(2)) : 0, secondsSoFar: Number(j.elapsed.toFixed(1)), badBytes: j.bytesBad, errorAreas: j.errors, position: j.position };
  }
  stopAll(): void {
    this.cancel();
  }
  finished(): boolean {
    return ended.has(this.state);
  }
}
