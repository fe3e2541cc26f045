// `serve`: a long-lived station for a lab bay. The metrics stay up between runs; job files dropped into a folder run one after the other, each moved to done/ or failed/ with its report.
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CancelledError, CloneStationError, ExitStatus, type ExitStatusValue } from '../errors.js';
import type { Reporter } from '../progress.js';
import type { StationOptions } from '../station/station.js';
import type { Exporters } from '../metrics/exporters.js';

export interface ServeOptions {
  /** the folder watched; undefined: only `files` run, then serve ends */
  dir?: string;
  /** job files given on the command line: they run first, in place */
  files: string[];
  options: Omit<StationOptions, 'maxParallel'> & { maxParallel?: number };
  exporters?: Exporters;
  ledgerPath?: string | boolean;
  logPath?: string;
  defaultLog: boolean;
  version: string;
  /** seconds between two looks at the folder; a file must be this old to be taken (its writer done) */
  pollSeconds: number;
}

/** What serve did with a job file. */
export interface ServedFile {
  file: string;
  outcome: 'done' | 'failed';
  status: number;
  report?: string;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

/** `dir/name`, or `dir/name.1`, `.2` ... when a file of that name is there already. */
function freeName(dir: string, name: string): string {
  let p = join(dir, name);
  for (let i = 1; existsSync(p); i++) p = join(dir, `${name}.${i}`);
  return p;
}

/** The job files in `dir` ready to run (*.json, not hidden, untouched for `minAge` ms), oldest first. */
export function readyJobFiles(dir: string, minAge: number, now = Date.now()): string[] {
  const found: { path: string; mtime: number }[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json') || name.startsWith('.') || name.endsWith('.report.json')) continue;
    const path = join(dir, name);
    let st;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (!st.isFile() || now - st.mtimeMs < minAge) continue;
    found.push({ path, mtime: st.mtimeMs });
  }
  return found.sort((a, b) => a.mtime - b.mtime || a.path.localeCompare(b.path)).map((f) => f.path);
}

/** Runs job files until the signal (or, without a folder, until the files given are done). */
export async function serve(o: ServeOptions, reporter: Reporter, signal: AbortSignal): Promise<{ served: ServedFile[]; status: ExitStatusValue }> {
  const served: ServedFile[] = [];
  const dirs = o.dir !== undefined ? { running: join(o.dir, 'running'), done: join(o.dir, 'done'), failed: join(o.dir, 'failed') } : undefined;
  if (dirs) {
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
    // a file left running by a serve that died: it did not finish, it is failed
    for (const name of readdirSync(dirs.running)) {
      renameSync(join(dirs.running, name), freeName(dirs.failed, name));
      reporter.note(`serve: ${name} was left running by an earlier serve that stopped: moved to ${dirs.failed}`);
    }
  }
  const { runStation } = await import('../station/cli.js');
  const { parseJobFile } = await import('../station/jobfile.js');
  const { startStationPool } = await import('../station/pool.js');
  const { needsJsWork } = await import('../jobs/index.js');
  let runs = 0;
  let interrupted = false;

  const runFile = async (given: string, inDir: boolean): Promise<void> => {
    runs++;
    const name = basename(given);
    // taken: moved out of the folder first, so it is never taken twice
    const path = inDir && dirs ? freeName(dirs.running, name) : given;
    if (inDir) renameSync(given, path);
    const reportPath = dirs ? `${path.replace(/\.json$/, '')}.report.json` : undefined;
    reporter.note(`serve: run ${runs}: ${given}`);
    let status: number = ExitStatus.ok;
    let error: CloneStationError | undefined;
    try {
      const file = await parseJobFile(path);
      const maxParallel = o.options.maxParallel ?? file.maxParallel ?? Math.min(8, Math.max(file.jobs.length, 1));
      const verify = o.options.verify ?? file.verify;
      const pool = startStationPool({ jobs: file.jobs.length, jsWork: needsJsWork(file.jobs, o.options.hash), maxParallel, hash: o.options.hash });
      status = await runStation(
        {
          jobs: file.jobs,
          options: { ...o.options, maxParallel, verify, pool },
          // the file dropped into the folder is the operator's go-ahead: nobody is there to ask
          yes: true,
          reportPath,
          logPath: o.logPath,
          defaultLog: o.defaultLog,
          version: o.version,
          ui: false,
          exporters: o.exporters,
          metricsPrefix: `${runs}.`,
          ledgerPath: o.ledgerPath,
        },
        reporter,
        signal,
      );
    } catch (e) {
      error = e instanceof CloneStationError ? e : new CloneStationError('INTERNAL', ExitStatus.internal, e instanceof Error ? e.message : String(e));
      status = error.exitStatus;
      if (error instanceof CancelledError) interrupted = true;
      reporter.note(`serve: ${given}: ${error.message} [${error.code}]`);
    }
    const outcome = status === ExitStatus.ok ? 'done' : 'failed';
    // refused before it ran (no report written): the report says why
    if (reportPath && error && !existsSync(reportPath)) writeFileSync(reportPath, `${JSON.stringify({ jobFile: given, error: { code: error.code, message: error.message } }, null, 2)}\n`);
    let report = reportPath && existsSync(reportPath) ? reportPath : undefined;
    if (dirs) {
      const to = outcome === 'done' ? dirs.done : dirs.failed;
      if (inDir) renameSync(path, freeName(to, name));
      if (report) {
        const moved = freeName(to, basename(report));
        renameSync(report, moved);
        report = moved;
      }
    }
    served.push({ file: given, outcome, status, ...(report ? { report } : {}) });
    reporter.note(`serve: ${given}: ${outcome}${report ? `; report ${report}` : ''}`);
  };

  for (const f of o.files) {
    if (signal.aborted) break;
    await runFile(f, false);
  }
  if (dirs && o.dir !== undefined) {
    reporter.note(`serve: watching ${o.dir} for job files (*.json); done/ and failed/ get them back with their reports`);
    while (!signal.aborted) {
      const ready = readyJobFiles(o.dir, o.pollSeconds * 1000);
      if (ready.length === 0) {
        await sleep(o.pollSeconds * 1000, signal);
        continue;
      }
      await runFile(ready[0], true);
    }
  }
  return { served, status: interrupted ? ExitStatus.cancelled : served.some((s) => s.outcome === 'failed') && !dirs ? ExitStatus.io : ExitStatus.ok };
}
