// The dashboard's view of our jobs: adapters that implement dashboard/'s DashboardSource
// for a Station (clones and rescues in worker threads, read from shared counters and the
// workers' messages) and for a rescue running in this thread. The dashboard sees job
// views and calls commands; it never sees a Station.
import type { DashboardSource, DriveView, JobView, MapView } from '../../dashboard/source.js';
import type { DriveInfo } from '../drive.js';
import type { Mapbook } from '../rescue/mapbook.js';
import { mapSnapshot, type MapSnapshot } from '../rescue/snapshot.js';
import type { ProgressView, Reporter } from '../progress.js';
import type { Station, StationJob } from './station.js';
import { jobReport } from './report.js';
import { Phase, pauseRequested, readCounters, readPhase, type ProgressSnapshot } from '../contract.js';

const ended = new Set(['done', 'failed', 'cancelled']);

function drive(role: DriveView['role'], path: string, d: DriveInfo | undefined, note?: string): DriveView {
  return { role, path, model: d?.model || undefined, serial: d?.serial || undefined, ...(note ? { note } : {}) };
}

function mapView(m: MapSnapshot | undefined): MapView | undefined {
  return m ? { size: m.size, extents: m.extents, current: m.current } : undefined;
}

/** Unreadable areas found, or still being worked on: no honest ETA. */
function hasBadAreas(m: MapSnapshot | undefined, bytesBad: number): boolean {
  return bytesBad > 0 || (m !== undefined && m.totals['*'] + m.totals['/'] + m.totals['-'] > 0);
}

/** Bytes a verify pass has compared: equal on every target, or on any one of them. */
function verifyDone(v: ProgressSnapshot): number {
  return Math.max(v.bytesCompared, ...v.targets.map((t) => t.bytes));
}

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
    const now = Date.now();
    const elapsed = j.startedAt ? ((j.endedAt ?? now) - j.startedAt) / 1000 : 0;
    const source = drive('source', j.spec.source, j.source);
    if (j.map) {
      const live = j.live;
      const running = !ended.has(j.state) && j.state !== 'queued';
      const paused = running && pauseRequested(j.control);
      const summary = j.rescue?.summary;
      const bad = summary?.badBytes ?? live?.map?.totals['-'] ?? live?.bytesBad ?? 0;
      return {
        id: j.id,
        role: 'rescue',
        drives: [source, drive('target', j.targets[0].path, j.targets[0].drive)],
        state: paused ? 'paused' : running ? 'running' : j.state,
        pass: ended.has(j.state) ? '-' : live?.pass || (j.state === 'queued' ? '-' : 'start'),
        bytesDone: summary?.rescuedBytes ?? live?.done ?? 0,
        bytesTotal: summary?.size ?? live?.total ?? j.spec.length,
        bytesBad: bad,
        errors: live?.map?.errorAreas ?? summary?.badAreas ?? 0,
        position: live?.map?.current.pos,
        elapsed,
        badAreas: hasBadAreas(live?.map, bad),
        map: mapView(live?.map),
        // a pause holds the rescue between reads; cancel saves the map
        canPause: true,
        note: j.error,
      };
    }
    const p = this.station.progress(j);
    const copied = p.copy.targets.length > 0 ? Math.min(...p.copy.targets.map((t) => t.bytes)) : 0;
    // The worker's control and phase words are the truth about a running job: paused or
    // not, and in which phase (a pause during verify or catch-up leaves j.state alone).
    const live = !ended.has(j.state) && j.state !== 'queued';
    const phase = readPhase(j.control);
    const state: JobView['state'] = !live ? j.state : pauseRequested(j.control) ? 'paused' : phase === Phase.catchingUp ? 'catching-up' : phase === Phase.verifying ? 'verifying' : 'running';
    let pass: string;
    let done: number;
    if (!live) {
      pass = '-';
      done = j.state === 'done' ? j.spec.length : copied;
    } else if (phase === Phase.verifying) {
      pass = 'verify';
      // how far the read-back has got: a chunk is compared on every target at once, and a
      // target that differs does not hold the others' progress back
      done = verifyDone(p.verify);
    } else if (phase === Phase.catchingUp) {
      pass = 'catch-up';
      // the laggard's own reads add to what the shared stream gave it
      done = Math.min(j.spec.length, copied + (readCounters(j.counters.catchUp, j.spec.length).targets[0]?.bytes ?? 0));
    } else {
      pass = 'copy';
      done = copied;
    }
    const errors = p.copy.readErrors + p.copy.targets.reduce((n, t) => n + t.errors, 0) + p.verify.targets.reduce((n, t) => n + t.errors, 0);
    const outcomes = j.result?.targets;
    return {
      id: j.id,
      role: j.targets.length > 1 ? `1:${j.targets.length}` : 'pair',
      drives: [source, ...j.targets.map((t, i) => drive('target', t.path, t.drive, outcomes?.[i]?.reason ?? (outcomes?.[i]?.detachedAt !== undefined ? 'slow: left the shared stream' : undefined)))],
      state,
      pass,
      bytesDone: done,
      bytesTotal: j.spec.length,
      bytesBad: p.copy.bytesBad,
      errors,
      position: p.copy.position,
      elapsed,
      badAreas: false,
      canPause: true,
      note: j.error ?? outcomes?.find((o) => o.reason)?.reason,
    };
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

  /** What a job has done so far, from the same counters as its row (no final figures yet). */
  liveReport(j: StationJob): Record<string, unknown> {
    const v = this.view(j);
    const ident = (d: DriveView): Record<string, unknown> => ({ path: d.path, model: d.model, serial: d.serial });
    const base = {
      id: j.id,
      state: v.state,
      pass: v.pass,
      source: ident(v.drives[0]),
      range: { offset: j.spec.offset, length: j.spec.length, targetOffset: j.spec.offset + j.spec.targetDelta },
      bytesDone: v.bytesDone,
      bytesTotal: v.bytesTotal,
      percent: v.bytesTotal > 0 ? Number(((100 * v.bytesDone) / v.bytesTotal).toFixed(2)) : 0,
      secondsSoFar: Number(v.elapsed.toFixed(1)),
      bytesBad: v.bytesBad,
      errors: v.errors,
      position: v.position,
    };
    if (j.map) {
      const m = j.live?.map;
      return { ...base, map: j.map, rescue: m ? { rescuedBytes: m.totals['+'], nonTried: m.totals['?'], nonTrimmed: m.totals['*'], nonScraped: m.totals['/'], badBytes: m.totals['-'], errorAreas: m.errorAreas, current: m.current } : undefined, targets: [ident(v.drives[1])] };
    }
    const p = this.station.progress(j);
    const catchUp = readCounters(j.counters.catchUp, j.spec.length);
    return {
      ...base,
      verify: j.spec.verify,
      targets: j.targets.map((t, i) => ({
        ...ident(v.drives[1 + i]),
        bytesWritten: p.copy.targets[i]?.bytes ?? 0,
        writeErrors: p.copy.targets[i]?.errors ?? 0,
        ...(v.pass === 'catch-up' ? { bytesCaughtUp: catchUp.targets[0]?.bytes ?? 0 } : {}),
        ...(v.pass === 'verify' ? { bytesVerified: p.verify.targets[i]?.bytes ?? 0, verifyErrors: p.verify.targets[i]?.errors ?? 0 } : {}),
        ...(v.drives[1 + i]?.note ? { note: v.drives[1 + i].note } : {}),
      })),
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
