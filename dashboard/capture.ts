// While the dashboard owns the terminal nothing else may write to it: console.*, stray
// process.stdout/stderr writes (from us, a library, or a worker thread's forwarded output)
// and Node's warnings become log-pane lines. blessed itself writes through a proxy that
// keeps the real stdout's write.
import { EventEmitter } from 'node:events';
import { format } from 'node:util';

export type Sink = (line: string, level: 'info' | 'warn' | 'error') => void;

/** What blessed gets as its output: the terminal, reached past the capture. */
export class TerminalOutput extends EventEmitter {
  readonly writable = true;
  constructor(
    private readonly tty: NodeJS.WriteStream,
    private readonly rawWrite: (chunk: string | Uint8Array) => boolean,
  ) {
    super();
    tty.on('resize', this.forwardResize);
  }
  private readonly forwardResize = (): void => {
    this.emit('resize');
  };
  get isTTY(): boolean {
    return Boolean(this.tty.isTTY);
  }
  get columns(): number {
    return this.tty.columns;
  }
  get rows(): number {
    return this.tty.rows;
  }
  write(chunk: string | Uint8Array): boolean {
    return this.rawWrite(chunk);
  }
  detach(): void {
    this.tty.removeListener('resize', this.forwardResize);
  }
}

export interface Capture {
  /** give this to blessed as `output` */
  output: TerminalOutput;
  restore(): void;
}

type Write = NodeJS.WriteStream['write'];

/** Captures every other writer of stdout/stderr into `sink` until restore(). */
export function captureOutput(sink: Sink, stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Capture {
  const origOut = stdout.write;
  const origErr = stderr.write;
  const rawWrite = (chunk: string | Uint8Array): boolean => origOut.call(stdout, chunk);
  const lineOf = (chunk: unknown): string => (typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk));
  const swallow = (level: 'info' | 'warn' | 'error'): Write =>
    // The signature is Node's overloaded write(chunk, encoding?, callback?); only the
    // chunk matters here, and the callback must still be called.
    function (this: unknown, chunk: unknown, ...rest: unknown[]): boolean {
      for (const l of lineOf(chunk).split('\n')) if (l.trim()) sink(l.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''), level);
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      if (cb) process.nextTick(cb);
      return true;
    } as Write;
  stdout.write = swallow('info');
  stderr.write = swallow('error');
  const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };
  console.log = (...a: unknown[]) => sink(format(...a), 'info');
  console.info = console.log;
  console.debug = console.log;
  console.warn = (...a: unknown[]) => sink(format(...a), 'warn');
  console.error = (...a: unknown[]) => sink(format(...a), 'error');
  // Node prints warnings itself unless someone listens and the default printer is off.
  const onWarning = (w: Error): void => sink(`${w.name}: ${w.message}`, 'warn');
  const warningListeners = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', onWarning);
  const output = new TerminalOutput(stdout, rawWrite);
  let restored = false;
  return {
    output,
    restore(): void {
      if (restored) return;
      restored = true;
      stdout.write = origOut;
      stderr.write = origErr;
      Object.assign(console, saved);
      process.removeListener('warning', onWarning);
      for (const l of warningListeners) process.on('warning', l as (w: Error) => void);
      output.detach();
    },
  };
}
