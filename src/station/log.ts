// The station's log (--log, and the dashboard's log pane) through pino, which is loaded
// only once the jobs are under way: its ~20 ms of imports were on the path to the first
// byte of every logged run. Records made before then are kept and written with the times
// they were made, so the log reads as if pino had been there from the start.
import { closeSync, constants, fstatSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DestinationStream, Logger } from 'pino';
import { UsageError } from '../errors.js';
import { checkOutputPath, notAFile, why } from '../outpath.js';

/**
 * Where a station keeps its run logs when --log is not given: $CLONESTATION_LOG_DIR, else
 * $XDG_STATE_HOME/clonestation/logs, else ~/.local/state/clonestation/logs.
 */
export function defaultLogDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLONESTATION_LOG_DIR) return env.CLONESTATION_LOG_DIR;
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'clonestation', 'logs');
}

const runLog = /^station-\d{4}-\d\d-\d\dT[\d-]+Z-\d+\.log$/;

/** A run's log file name: its start time (sorts by time) and the process id. */
export function runLogName(started: Date, pid = process.pid): string {
  return `station-${started.toISOString().replace(/[:.]/g, '-')}-${pid}.log`;
}

/** Makes `dir` and deletes all but its newest `keep` run logs (other files are left alone). */
export function prepareLogDir(dir: string, keep: number): void {
  mkdirSync(dir, { recursive: true });
  const logs = readdirSync(dir).filter((n) => runLog.test(n)).sort();
  for (const n of logs.slice(0, Math.max(0, logs.length - keep))) rmSync(join(dir, n), { force: true });
}

/** run logs kept in the default folder, this run's included */
const KEEP_RUN_LOGS = 100;

/**
 * The log of a station run: `path` (--log) if given; else, with `useDefault`, a file of its
 * own in defaultLogDir(), where a folder that cannot be written costs the log (`note` says
 * so), not the run; else only the `also` streams (the dashboard's pane), if any. A --log
 * path is checked now (BAD_LOG); no file is made, in either case, until the run starts
 * (DeferredLog.start): a refused run leaves none.
 */
export function openRunLog(o: { path?: string; useDefault: boolean; also: DestinationStream[]; note: (message: string) => void }): { log?: DeferredLog } {
  if (o.path === undefined && o.useDefault) {
    const dir = defaultLogDir();
    const path = join(dir, runLogName(new Date()));
    const prepare = (): void => prepareLogDir(dir, KEEP_RUN_LOGS - 1);
    const failed = (e: unknown): void => o.note(`no log of this run: ${dir} is not writable (${why(e)}); set CLONESTATION_LOG_DIR, or give --log FILE`);
    return { log: new DeferredLog(path, o.also, { prepare, failed }) };
  } else if (o.path !== undefined) {
    return { log: new DeferredLog(o.path, o.also) };
  }
  return { log: o.also.length > 0 ? new DeferredLog(undefined, o.also) : undefined };
}

/**
 * Throws BAD_LOG, saying why in words, unless `path` can be a log: a regular file that can
 * be appended to, or a new name in a folder that can be written (or made). Nothing is made.
 */
export function checkLogPath(path: string): void {
  // a regular file or a new name only: never a device, FIFO (would block) or folder
  checkOutputPath(path, 'the log', { code: 'BAD_LOG', fix: 'give --log a writable path', createFolders: true });
}

/** Why a path cannot be written, in words: shared with every output path (src/outpath.ts). */
export { why };

/** What the station writes to its log. */
export interface StationLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

type Level = 'info' | 'warn';

export class DeferredLog implements StationLog {
  private kept: { level: Level; fields: object; msg: string; time: number }[] = [];
  private logger: Logger | undefined;
  private loading: Promise<void> | undefined;
  /** the time of the kept record being written, else undefined (now) */
  private replaying: number | undefined;
  private fd: number | undefined;
  private started = false;
  private file: (DestinationStream & { flushSync(): void; end(): void }) | undefined;
  private readonly run = new Date().toISOString();

  /**
   * A --log path is checked now, so a bad one fails before any job starts; the file is
   * made by start(), when the run starts, and pino writes to it later. `also`: more
   * streams, e.g. the dashboard's log pane. `fallible`: the default log, whose folder is
   * prepared at start() and whose failure there costs only the log (`failed` is told).
   */
  constructor(
    private readonly path: string | undefined,
    private readonly also: DestinationStream[] = [],
    private readonly fallible?: { prepare: () => void; failed: (e: unknown) => void },
  ) {
    if (path !== undefined && !fallible) checkLogPath(path);
  }

  /** The run starts: the log file is made (and its folder) now. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.path === undefined) return;
    try {
      this.fallible?.prepare();
      mkdirSync(dirname(this.path), { recursive: true });
      // (non-blocking: a FIFO put there since the check must not hang the run; it is refused)
      const fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o644);
      const kind = notAFile(fstatSync(fd));
      if (kind) {
        closeSync(fd);
        throw Object.assign(new Error(kind), { code: 'ENOTREG' });
      }
      this.fd = fd;
    } catch (e) {
      if (this.fallible) this.fallible.failed(e);
      else throw new UsageError(`cannot write the log ${this.path}: ${why(e)}: give --log a writable path`, 'BAD_LOG');
    }
  }

  /** The file this run logs to, once it exists (undefined before the run starts, or without one). */
  get filePath(): string | undefined {
    return this.fd !== undefined || this.file ? this.path : undefined;
  }

  info(fields: object, msg: string): void {
    this.write('info', fields, msg);
  }

  warn(fields: object, msg: string): void {
    this.write('warn', fields, msg);
  }

  private write(level: Level, fields: object, msg: string): void {
    if (this.logger) this.logger[level](fields, msg);
    else this.kept.push({ level, fields, msg, time: Date.now() });
  }

  /** Loads pino and writes what was kept; from then on records go straight to it. */
  load(): Promise<void> {
    this.loading ??= import('pino').then(({ pino }) => {
      this.file = this.fd !== undefined ? pino.destination({ dest: this.fd, sync: true }) : undefined;
      const streams = [...(this.file ? [this.file] : []), ...this.also];
      const logger = pino(
        { base: { run: this.run }, timestamp: () => `,"time":${this.replaying ?? Date.now()}` },
        streams.length === 1 ? streams[0] : pino.multistream(streams.map((stream) => ({ stream }))),
      );
      for (const r of this.kept) {
        this.replaying = r.time;
        logger[r.level](r.fields, r.msg);
      }
      this.replaying = undefined;
      this.kept = [];
      this.logger = logger;
    });
    return this.loading;
  }

  /**
   * Everything written (pino loaded if it was not yet); the file is closed. A run that
   * never started (refused while planning or asking) writes nothing and leaves no file.
   */
  async close(): Promise<void> {
    if (!this.started && this.also.length === 0) {
      this.kept = [];
      return;
    }
    await this.load();
    this.logger?.flush();
    this.file?.flushSync();
    // sonic-boom owns the descriptor from here: end() closes it
    this.file?.end();
    this.file = undefined;
  }
}
