// What the dashboard computes from successive job views: MB/s now (a sliding window) and
// on average, an ETA that is honest about bad areas, and a per-second throughput history
// for the charts. Pure: time comes in as an argument, so tests give snapshots and times.
import { endedStates, type JobView } from './source.js';
import { shortDuration } from './format.js';

interface Track {
  samples: { t: number; bytes: number }[];
  pass: string;
  /** when the current pass started, in tracker time */
  passStart: number;
  history: number[];
  lastHistory: number;
  now: number;
  /** bytes/s over the current pass */
  average: number;
}

export interface JobStats {
  /** bytes/s over the last few seconds */
  now: number;
  /** bytes/s over the current pass */
  average: number;
  /** "1:23", "--:--", "? bad areas" (no honest guess), "paused", "-" */
  eta: string;
  percent: number;
  /** bytes/s, one per second, oldest first */
  history: readonly number[];
}

export class Tracker {
  private readonly tracks = new Map<number, Track>();
  private readonly total: number[] = [];
  private lastTotal = Number.NEGATIVE_INFINITY;
  constructor(
    private readonly windowSec = 5,
    /** points kept per history (one a second) */
    private readonly keep = 600,
  ) {}

  /** Takes one set of views at time `t` (seconds, any origin). */
  update(jobs: readonly JobView[], t: number): void {
    let sum = 0;
    for (const j of jobs) {
      let tr = this.tracks.get(j.id);
      const ended = endedStates.has(j.state);
      if (!tr || (!ended && (tr.pass !== j.pass || j.bytesDone < (tr.samples[tr.samples.length - 1]?.bytes ?? 0)))) {
        // a new pass counts from zero: its rates start again
        tr = { samples: [], pass: j.pass, passStart: tr ? t : t - j.elapsed, history: tr?.history ?? [], lastHistory: tr?.lastHistory ?? Number.NEGATIVE_INFINITY, now: 0, average: 0 };
        this.tracks.set(j.id, tr);
      }
      if (ended) {
        // the figures stop where the job ended; its average stays as it was (or, for a job
        // that ended before it was ever seen running, is its bytes over its time)
        tr.now = 0;
        if (tr.average === 0 && j.elapsed > 0) tr.average = j.bytesDone / j.elapsed;
      } else {
        const active = j.state !== 'queued' && j.state !== 'paused';
        tr.samples.push({ t, bytes: j.bytesDone });
        while (tr.samples.length > 2 && t - tr.samples[0].t > this.windowSec) tr.samples.shift();
        const first = tr.samples[0];
        tr.now = active && t > first.t ? Math.max(0, (j.bytesDone - first.bytes) / (t - first.t)) : 0;
        const since = t - tr.passStart;
        tr.average = since > 0 ? j.bytesDone / since : 0;
      }
      sum += tr.now;
      if (t - tr.lastHistory >= 1) {
        tr.lastHistory = t;
        tr.history.push(tr.now);
        if (tr.history.length > this.keep) tr.history.shift();
      }
    }
    if (t - this.lastTotal >= 1) {
      this.lastTotal = t;
      this.total.push(sum);
      if (this.total.length > this.keep) this.total.shift();
    }
  }

  stats(j: JobView): JobStats {
    const tr = this.tracks.get(j.id);
    const now = tr?.now ?? 0;
    const percent = j.bytesTotal > 0 ? (100 * j.bytesDone) / j.bytesTotal : j.state === 'done' ? 100 : 0;
    return { now, average: tr?.average ?? 0, eta: eta(j, now), percent, history: tr?.history ?? [] };
  }

  /** The station's aggregate bytes/s, one per second, oldest first. */
  totalHistory(): readonly number[] {
    return this.total;
  }

  /** The aggregate rate now. */
  totalNow(): number {
    let s = 0;
    for (const tr of this.tracks.values()) s += tr.now;
    return s;
  }
}

/** The ETA column: a time only when one can honestly be given. */
export function eta(j: JobView, rate: number): string {
  if (endedStates.has(j.state)) return '-';
  if (j.state === 'queued') return 'queued';
  if (j.state === 'paused') return 'paused';
  // Trimming and scraping take as long as the drive makes them: no guess.
  if (j.badAreas) return '? bad areas';
  if (rate <= 0) return '--:--';
  return shortDuration((j.bytesTotal - j.bytesDone) / rate);
}
