// What the dashboard computes from successive job views: MB/s now (a sliding window) and
// on average (time paused left out), an ETA that is honest about bad areas, and a
// throughput history, sampled at every update, for the charts. Pure: time comes in as an
// argument, so tests give snapshots and times.
import { endedStates, type JobView } from './source.js';
import { shortDuration } from './format.js';

/** Rates over time: sample times (seconds) and bytes/s, oldest first. */
export interface Timeline {
  t: number[];
  v: number[];
}

interface Track {
  samples: { t: number; bytes: number }[];
  pass: string;
  /** when the current pass started, in tracker time */
  passStart: number;
  /** seconds of the current pass spent paused (or queued): not part of its average */
  idle: number;
  /** the time of the previous update */
  lastT: number;
  history: Timeline;
  now: number;
  /** bytes/s over the current pass, time paused left out */
  average: number;
}

export interface JobStats {
  /** bytes/s over the last few seconds */
  now: number;
  /** bytes/s over the current pass, time paused left out */
  average: number;
  /** "1:23", "--:--", "? bad areas" (no honest guess), "paused", "-" */
  eta: string;
  percent: number;
  /** bytes/s at each update, oldest first (see Tracker.timeline for times) */
  history: readonly number[];
}

/** Samples closer together than this are one (the dashboard updates 4 times a second). */
const MIN_STEP = 0.2;

function record(h: Timeline, t: number, v: number, keepSec: number): void {
  const last = h.t.length - 1;
  if (last >= 0 && t - h.t[last] < MIN_STEP) {
    h.v[last] = v;
    return;
  }
  h.t.push(t);
  h.v.push(v);
  // forget what is older than keepSec (in one go, not a shift per sample)
  if (t - h.t[0] > keepSec + 10) {
    let i = 0;
    while (i < h.t.length && t - h.t[i] > keepSec) i++;
    h.t.splice(0, i);
    h.v.splice(0, i);
  }
}

/**
 * A timeline resampled to `points` evenly spaced times over [from, to]: each point is the
 * mean of the samples since the previous point (or the latest sample before it; 0 before
 * the first).
 */
export function resample(h: Timeline, from: number, to: number, points: number): number[] {
  const n = Math.max(2, points);
  const out = new Array<number>(n).fill(0);
  let k = 0;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const at = from + ((to - from) * i) / (n - 1);
    let sum = 0;
    let count = 0;
    while (k < h.t.length && h.t[k] <= at + 1e-9) {
      if (h.t[k] > at - (to - from) / (n - 1) - 1e-9) {
        sum += h.v[k];
        count++;
      }
      last = h.v[k];
      k++;
    }
    out[i] = count > 0 ? sum / count : k > 0 ? last : 0;
  }
  return out;
}

export class Tracker {
  private readonly tracks = new Map<number, Track>();
  private readonly total: Timeline = { t: [], v: [] };
  /** the first time any job was moving, and the last time any job had not ended */
  private activeFrom: number | undefined;
  private liveTo: number | undefined;
  private wasLive = false;
  constructor(
    private readonly windowSec = 5,
    /** seconds of history kept */
    private readonly keepSec = 600,
  ) {}

  /** Takes one set of views at time `t` (seconds, any origin). */
  update(jobs: readonly JobView[], t: number): void {
    let sum = 0;
    let anyActive = false;
    let anyLive = false;
    for (const j of jobs) {
      let tr = this.tracks.get(j.id);
      const ended = endedStates.has(j.state);
      const active = !ended && j.state !== 'queued' && j.state !== 'paused';
      if (!tr || (!ended && (tr.pass !== j.pass || j.bytesDone < (tr.samples[tr.samples.length - 1]?.bytes ?? 0)))) {
        // a new pass counts from zero: its rates start again
        tr = { samples: [], pass: j.pass, passStart: tr ? t : t - j.elapsed, idle: 0, lastT: t, history: tr?.history ?? { t: [], v: [] }, now: 0, average: 0 };
        this.tracks.set(j.id, tr);
      }
      // time spent paused or queued does not count towards the average (the time since the
      // last update counts as the job is now: bytes that moved moved while it ran)
      if (!active && !ended) tr.idle += t - tr.lastT;
      tr.lastT = t;
      if (ended) {
        // the figures stop where the job ended; its average stays as it was (or, for a job
        // that ended before it was ever seen running, is its bytes over its time)
        tr.now = 0;
        if (tr.average === 0 && j.elapsed > 0) tr.average = j.bytesDone / j.elapsed;
      } else {
        // a paused job moves nothing now; after it resumes, its rate now starts again
        if (!active) tr.samples = [];
        tr.samples.push({ t, bytes: j.bytesDone });
        while (tr.samples.length > 2 && t - tr.samples[0].t > this.windowSec) tr.samples.shift();
        const first = tr.samples[0];
        tr.now = active && t > first.t ? Math.max(0, (j.bytesDone - first.bytes) / (t - first.t)) : 0;
        const moving = t - tr.passStart - tr.idle;
        tr.average = moving > 0 ? j.bytesDone / moving : tr.average;
      }
      if (active) anyActive = true;
      if (!ended) anyLive = true;
      sum += tr.now;
      record(tr.history, t, tr.now, this.keepSec);
    }
    if (anyActive) this.activeFrom ??= t;
    // (the update in which the last job ends still counts: it shows the end)
    if (anyLive || this.wasLive || this.liveTo === undefined) this.liveTo = t;
    this.wasLive = anyLive;
    record(this.total, t, sum, this.keepSec);
  }

  stats(j: JobView): JobStats {
    const tr = this.tracks.get(j.id);
    const now = tr?.now ?? 0;
    const percent = j.bytesTotal > 0 ? (100 * j.bytesDone) / j.bytesTotal : j.state === 'done' ? 100 : 0;
    return { now, average: tr?.average ?? 0, eta: eta(j, now), percent, history: tr?.history.v ?? [] };
  }

  /** A job's rates over time (empty for a job never seen). */
  timeline(id: number): Timeline {
    return this.tracks.get(id)?.history ?? { t: [], v: [] };
  }

  /** The station's aggregate rate over time. */
  totalTimeline(): Timeline {
    return this.total;
  }

  /** The aggregate bytes/s, one per update, oldest first. */
  totalHistory(): readonly number[] {
    return this.total.v;
  }

  /**
   * The stretch of time a chart should show: from when the jobs started moving (at most
   * `maxSec` back) to now, or to when the last job ended, so that a job of a few
   * seconds fills the chart with its curve instead of a sliver at its edge.
   */
  span(now: number, maxSec = 180): { from: number; to: number } | undefined {
    if (this.activeFrom === undefined || this.liveTo === undefined) return undefined;
    // while a job is live the chart runs up to now; once all have ended, to the end
    const to = this.wasLive ? now : Math.max(this.liveTo, this.activeFrom + 1);
    return { from: Math.max(this.activeFrom, to - maxSec), to };
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
