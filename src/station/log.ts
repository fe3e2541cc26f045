// The station's log (--log, and the dashboard's log pane) through pino, which is loaded
// only once the jobs are under way: its ~20 ms of imports were on the path to the first
// byte of every logged run. Records made before then are kept and written with the times
// they were made, so the log reads as if pino had been there from the start.
import { mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DestinationStream, Logger } from 'pino';
import { UsageError } from '../errors.js';
import { checkOutputPath, why } from '../outpath.js';

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
 * so), not the run; else only the `also` streams (the dashboard's pane), if any.
 */
export function openRunLog(o: { path?: string; useDefault: boolean; also: DestinationStream[]; note: (message: string) => void }): { log?: DeferredLog; path?: string } {
  if (o.path === undefined && o.useDefault) {
    const dir = defaultLogDir();
    try {
      prepareLogDir(dir, KEEP_RUN_LOGS - 1);
      const path = join(dir, runLogName(new Date()));
      return { log: new DeferredLog(path, o.also), path };
    } catch (e) {
      o.note(`no log of this run: ${dir} is not writable (${why(e)}); set CLONESTATION_LOG_DIR, or give --log FILE`);
    }
  } else if (o.path !== undefined) {
    return { log: new DeferredLog(o.path, o.also), path: o.path };
  }
  return { log: o.also.length > 0 ? new DeferredLog(undefined, o.also) : undefined };
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
  private readonly fd: number | undefined;
  private file: (DestinationStream & { flushSync(): void; end(): void }) | undefined;
  private readonly run = new Date().toISOString();

  /**
   * The log file is opened (and its folder made) now, so a bad --log path fails before
   * any job starts; pino writes to that descriptor later. `also`: more streams, e.g. the
   * dashboard's log pane.
   */
  constructor(path: string | undefined, private readonly also: DestinationStream[] = []) {
    if (path === undefined) return;
    // a regular file or a new name only: never a device, FIFO (would block) or folder
    checkOutputPath(path, 'the log', { code: 'BAD_LOG', fix: 'give --log a writable path', createFolders: true });
    try {
      mkdirSync(dirname(path), { recursive: true });
      this.fd = openSync(path, 'a');
    } catch (e) {
      throw new UsageError(`cannot write the log ${path}: ${why(e)}: give --log a writable path`, 'BAD_LOG');
    }
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

  /** Everything written (pino loaded if it was not yet); the file is closed. */
  async close(): Promise<void> {
    await this.load();
    this.logger?.flush();
    this.file?.flushSync();
    // sonic-boom owns the descriptor from here: end() closes it
    this.file?.end();
    this.file = undefined;
  }
}
