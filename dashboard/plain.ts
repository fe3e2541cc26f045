// Without a terminal (a log, a pipe, --no-ui): one plain line per active job every few
// seconds, from the same source and the same figures as the dashboard.
import { endedStates, type DashboardSource, type JobView } from './source.js';
import { Tracker, type JobStats } from './model.js';
import { shortBytes, shortRate } from './format.js';

export function plainLine(j: JobView, s: JobStats): string {
  const bad = j.bytesBad > 0 || j.errors > 0 ? `  bad ${shortBytes(j.bytesBad)}, ${j.errors} error(s)` : '';
  return `job ${j.id} ${j.state} ${j.pass}  ${s.percent.toFixed(1)}%  ${shortBytes(j.bytesDone)} of ${shortBytes(j.bytesTotal)}  ${shortRate(s.now)} MB/s now, ${shortRate(s.average)} avg  ETA ${s.eta}${bad}`;
}

export class PlainProgress {
  private readonly tracker = new Tracker();
  private timer: NodeJS.Timeout | undefined;
  private last: number | undefined;
  constructor(
    private readonly source: DashboardSource,
    private readonly write: (line: string) => void,
    /** seconds between lines of the same job */
    private readonly every = 5,
    private readonly clock: () => number = () => performance.now() / 1000,
  ) {}

  start(): this {
    // sampled each second (rates need samples), printed every `every` seconds
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
    return this;
  }

  /** One sample; prints a line per active job when `every` seconds have passed. */
  sample(): string[] {
    const t = this.clock();
    const jobs = this.source.jobs();
    this.tracker.update(jobs, t);
    // the first line comes `every` seconds after the start, when there is a rate to tell
    this.last ??= t;
    if (t - this.last < this.every) return [];
    this.last = t;
    const lines = jobs.filter((j) => !endedStates.has(j.state) && j.state !== 'queued').map((j) => plainLine(j, this.tracker.stats(j)));
    for (const l of lines) this.write(l);
    return lines;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
