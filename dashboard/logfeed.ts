// The log pane's feed: a writable stream pino can write to (JSON lines), plus plain lines
// from anywhere (notes, captured console output). Keeps the last lines, formatted.
import { Writable } from 'node:stream';

export type Level = 'info' | 'warn' | 'error';

export interface LogLine {
  time: number;
  level: Level;
  text: string;
}

const pinoLevel = (n: number): Level => (n >= 50 ? 'error' : n >= 40 ? 'warn' : 'info');
/** pino's own fields; the rest is shown as key=value */
const skip = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'run', 'v']);

/** One pino JSON line as "msg key=value ...". */
export function formatPinoLine(line: string): LogLine | undefined {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.trim() ? { time: Date.now(), level: 'info', text: line.trim() } : undefined;
  }
  const fields = Object.entries(o)
    .filter(([k, v]) => !skip.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return { time: typeof o.time === 'number' ? o.time : Date.now(), level: pinoLevel(Number(o.level ?? 30)), text: [String(o.msg ?? ''), ...fields].filter(Boolean).join(' ') };
}

export class LogFeed extends Writable {
  readonly lines: LogLine[] = [];
  private partial = '';
  /** bumped on every new line, so a display knows when to redraw */
  version = 0;
  constructor(private readonly keep = 500) {
    super({ decodeStrings: false });
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) {
      const l = formatPinoLine(p);
      if (l) this.push_(l);
    }
    cb();
  }
  /** A plain line (a note, captured console output). */
  add(text: string, level: Level = 'info'): void {
    for (const t of text.split('\n')) if (t.trim()) this.push_({ time: Date.now(), level, text: t });
  }
  private push_(l: LogLine): void {
    this.lines.push(l);
    if (this.lines.length > this.keep) this.lines.splice(0, this.lines.length - this.keep);
    this.version++;
  }
}
