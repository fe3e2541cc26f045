// How a running job is shown: a redrawn line on a terminal, a line every few seconds in a
// log, or JSON lines for programs. The dashboard (dashboard/) replaces this for stations.
import { formatBytes, formatDuration, formatRate } from './units.js';

export type Phase = 'copy' | 'verify' | 'hash';

export interface ProgressView {
  phase: Phase;
  done: number;
  total: number;
  elapsed: number;
  /** bytes/s over the last few seconds */
  rate: number;
  bytesBad: number;
}

export interface Reporter {
  /** A fact worth telling (which backend, direct or buffered, what will be written). */
  note(message: string, fields?: Record<string, unknown>): void;
  progress(view: ProgressView): void;
  /** The phase ended; a terminal line is finished off. */
  phaseEnd(view: ProgressView): void;
  done(fields: Record<string, unknown>): void;
  error(code: string, message: string, fields?: Record<string, unknown>): void;
}

/** Rate over a sliding window of samples, so the figure follows the drive, not history. */
export class RateMeter {
  private samples: { t: number; bytes: number }[] = [];
  constructor(private readonly windowSec = 3) {}
  sample(t: number, bytes: number): number {
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[0].t > this.windowSec) this.samples.shift();
    const first = this.samples[0];
    const dt = t - first.t;
    return dt > 0 ? (bytes - first.bytes) / dt : 0;
  }
}

/**
 * A phase's progress, reported every 250 ms: `measure` says the bytes done so far (over one
 * engine job, several in turn, or a JS stream). end() finishes the phase's line and returns
 * its seconds; stop() only stops reporting (the phase did not finish).
 */
export function startProgress(
  phase: Phase,
  total: number,
  reporter: Reporter,
  measure: () => number,
  bytesBad: () => number = () => 0,
): { elapsed: () => number; end: () => number; stop: () => void } {
  const start = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - start) / 1e9;
  const meter = new RateMeter();
  const view = (): ProgressView => {
    const t = elapsed();
    const done = measure();
    return { phase, done, total, elapsed: t, rate: meter.sample(t, done), bytesBad: bytesBad() };
  };
  const timer = setInterval(() => reporter.progress(view()), 250);
  return {
    elapsed,
    end: () => {
      clearInterval(timer);
      const v = view();
      reporter.phaseEnd({ ...v, rate: v.elapsed > 0 ? v.done / v.elapsed : 0 });
      return v.elapsed;
    },
    stop: () => clearInterval(timer),
  };
}

export function progressLine(v: ProgressView): string {
  const pct = v.total > 0 ? (100 * v.done) / v.total : 100;
  const eta = v.rate > 0 ? formatDuration((v.total - v.done) / v.rate) : '--:--';
  const bad = v.bytesBad > 0 ? `  bad ${formatBytes(v.bytesBad)}` : '';
  return `${v.phase.padEnd(6)} ${pct.toFixed(1).padStart(5)}%  ${formatBytes(v.done)} of ${formatBytes(v.total)}  ${formatRate(v.rate)}  elapsed ${formatDuration(v.elapsed)}  ETA ${eta}${bad}`;
}

/** Human progress on stderr: redrawn in place on a TTY, a line every 5 s otherwise. */
export class TextReporter implements Reporter {
  private lastLine = 0;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {}
  private get tty(): boolean {
    return Boolean(this.out.isTTY);
  }
  note(message: string): void {
    if (!this.quiet) this.out.write(`${message}\n`);
  }
  progress(v: ProgressView): void {
    if (this.quiet) return;
    if (this.tty) {
      this.out.write(`\r${progressLine(v)}\x1b[K`);
    } else if (v.elapsed - this.lastLine >= 5) {
      this.lastLine = v.elapsed;
      this.out.write(`${progressLine(v)}\n`);
    }
  }
  phaseEnd(v: ProgressView): void {
    if (this.quiet) return;
    this.out.write(this.tty ? `\r${progressLine(v)}\x1b[K\n` : `${progressLine(v)}\n`);
    this.lastLine = 0;
  }
  done(fields: Record<string, unknown>): void {
    if (this.quiet) return;
    const msg = typeof fields.message === 'string' ? fields.message : 'done';
    this.out.write(`${msg}\n`);
  }
  error(code: string, message: string): void {
    this.out.write(`${this.tty ? '\n' : ''}clonestation: ${message} [${code}]\n`);
  }
}

/** One JSON object per line on stdout: {"event": "...", ...}. */
export class JsonReporter implements Reporter {
  private lastProgress = -1;
  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}
  private emit(event: string, fields: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify({ event, time: new Date().toISOString(), ...fields })}\n`);
  }
  note(message: string, fields: Record<string, unknown> = {}): void {
    this.emit('note', { message, ...fields });
  }
  progress(v: ProgressView): void {
    if (v.elapsed - this.lastProgress < 1) return;
    this.lastProgress = v.elapsed;
    this.emit('progress', { ...v });
  }
  phaseEnd(v: ProgressView): void {
    this.lastProgress = -1;
    this.emit('phase-end', { ...v });
  }
  done(fields: Record<string, unknown>): void {
    this.emit('done', fields);
  }
  error(code: string, message: string, fields: Record<string, unknown> = {}): void {
    this.emit('error', { code, message, ...fields });
  }
}
