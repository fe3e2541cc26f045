// The station's commands: one master to many targets, many pairs, or a job file.
import { CancelledError, ExitStatus, IoError } from '../errors.js';
import { confirmOverwriteAll } from '../confirm.js';
import type { Backend } from '../native.js';
import { JsonReporter, type Reporter } from '../progress.js';
import { feedReporter, runWithDashboard } from '../ui.js';
import { StationSource } from './view.js';
import { formatRate } from '../units.js';
import { Station, type StationJob, type StationJobInput, type StationOptions } from './station.js';
import { stationReport, summaryTable } from './report.js';
import { trace } from '../trace.js';
import { entryPaths, kindsAsked, loadKinds, needsJsWork } from '../jobs/index.js';
import { openRunLog } from './log.js';
import { withLoopTable } from '../identity.js';
import { checkOutputPath, checkOwnFile, why, writeOutputFile } from '../outpath.js';
import type { Exporters, MetricsRequest } from '../metrics/exporters.js';

export interface StationRun {
  jobs: StationJobInput[];
  options: StationOptions;
  yes: boolean;
  reportPath?: string;
  logPath?: string;
  /** without logPath: a log of this run among the last ones in defaultLogDir() (not with --no-log) */
  defaultLog?: boolean;
  /** clonestation's version, for the maps of rescue jobs */
  version?: string;
  /** show the dashboard while the jobs run (the caller decided: a terminal, --ui) */
  ui?: boolean;
  /** the dashboard's title */
  title?: string;
  /** called with every job once the run is over and summed up (a command's own output) */
  onEnded?: (jobs: readonly StationJob[]) => void;
  /** --metrics ADDRESS:PORT and --metrics-file FILE: exporters of this run's own */
  metrics?: MetricsRequest;
  /** exporters that outlive the run (serve): the run's jobs are added to them, as `metricsPrefix` + id */
  exporters?: Exporters;
  metricsPrefix?: string;
  /** the ledger every job that ran is appended to (src/ledger): a file, true for the station's default one; none without */
  ledgerPath?: string | boolean;
}

export async function runStation(r: StationRun, outer: Reporter, signal: AbortSignal): Promise<number> {
  // Every file the run will write is checked before anything is: a --report that cannot be
  // written is refused now, not after every drive was copied.
  // The report and the log are files of their own, never a source, target or map of a job.
  // the kinds asked for, loaded (only those): their fields name the paths to compare
  await loadKinds(kindsAsked(r.jobs));
  const jobFiles = r.jobs.flatMap((j, i) => entryPaths(j, i + 1));
  if (r.reportPath !== undefined) {
    checkOutputPath(r.reportPath, 'the report', { code: 'BAD_REPORT', fix: 'give --report a writable file path' });
    checkOwnFile(r.reportPath, 'the report', [...jobFiles, ...(r.logPath !== undefined ? [{ path: r.logPath, role: 'the log' }] : [])], { code: 'BAD_REPORT' });
  }
  if (r.logPath !== undefined) checkOwnFile(r.logPath, 'the log', jobFiles, { code: 'BAD_LOG' });
  if (typeof r.ledgerPath === 'string') {
    checkOutputPath(r.ledgerPath, 'the ledger', { code: 'BAD_LEDGER', fix: 'give --ledger a writable file path' });
    checkOwnFile(r.ledgerPath, 'the ledger', jobFiles, { code: 'BAD_LEDGER' });
  }
  const metricsFile = r.metrics?.file;
  if (metricsFile !== undefined) {
    checkOutputPath(metricsFile, 'the metrics file', { code: 'BAD_METRICS_FILE', fix: 'give --metrics-file a writable file path' });
    checkOwnFile(metricsFile, 'the metrics file', [...jobFiles, ...(r.reportPath !== undefined ? [{ path: r.reportPath, role: 'the report' }] : []), ...(r.logPath !== undefined ? [{ path: r.logPath, role: 'the log' }] : [])], { code: 'BAD_METRICS_FILE' });
  }
  // With the dashboard, the log goes to its log pane (and to --log), never to the terminal.
  const dash = r.ui ? await import('../../dashboard/index.js') : undefined;
  const feed = dash ? new dash.LogFeed() : undefined;
  const reporter = feed ? feedReporter(feed, outer) : outer;
  // pino is loaded once the first job has started (log.ts); records wait for it until then
  const { log } = openRunLog({ path: r.logPath, useDefault: r.defaultLog ?? false, also: feed ? [feed] : [], note: (m) => reporter.note(m) });
  let reportFailed: IoError | undefined;
  let ownExporters: Exporters | undefined;
  let watched = false;
  let s: { jobs: number; done: number; failed: number; cancelled: number; targetsDone: number; targetsFailed: number; slowestBytesPerSec: number };
  try {
    const outputs = [...(r.reportPath ? [{ path: r.reportPath, what: 'the report (--report)' }] : []), ...(r.logPath !== undefined ? [{ path: r.logPath, what: 'the log (--log)' }] : []), ...(metricsFile !== undefined ? [{ path: metricsFile, what: 'the metrics file (--metrics-file)' }] : [])];
    if (typeof r.ledgerPath === 'string') outputs.push({ path: r.ledgerPath, what: 'the ledger (--ledger)' });
    const ledgerPath = r.ledgerPath;
    const ledger = ledgerPath === undefined || ledgerPath === false ? undefined : await import('../ledger/station.js').then((m) => m.stationLedger(typeof ledgerPath === 'string' ? ledgerPath : undefined, (m2) => reporter.note(m2)));
    const station = new Station({ ...r.options, outputs, logger: log, onJobEnded: ledger?.append, whenRunning: () => void log?.load().catch(() => undefined), version: r.version, commandLine: ['clonestation', ...process.argv.slice(2)].join(' ') });
    trace('station: warming up');
    station.warmUp(needsJsWork(r.jobs, r.options.hash), r.jobs.length);
    try {
      // the metrics: up before the jobs are planned, so a scrape sees them queued (src/metrics)
      if (!r.exporters && (r.metrics?.address !== undefined || metricsFile !== undefined)) {
        const { startExporters } = await import('../metrics/exporters.js');
        ownExporters = await startExporters(r.metrics ?? {}, { version: r.version, note: (m) => reporter.note(m) });
      }
      // one reading of the system's loop devices serves every job's checks (identity.ts)
      await withLoopTable(async () => {
        for (const j of r.jobs) await station.add(j);
      });
      station.validate();
      await confirmOverwriteAll(
        station.jobs.flatMap((j) => j.planned.overwrites),
        { yes: r.yes },
      );
      // the run starts: only now is its log file made (a refused run leaves none)
      log?.start();
      // planned and confirmed: the jobs show in the metrics (a refused run shows none)
      (r.exporters ?? ownExporters)?.metrics.watch(station.jobs, r.metricsPrefix);
      watched = true;
    } catch (e) {
      // a refusal: the warmed-up threads must not keep the process alive
      await station.close();
      throw e;
    }
    trace('station: planned and confirmed');
    const logPath = log?.filePath;
    const started = new Date();
    reporter.note(`station: ${station.jobs.length} job(s), ${station.jobs.reduce((n, j) => n + j.planned.targets.length, 0)} target(s), up to ${r.options.maxParallel} at once`);
    const source = new StationSource(station, r.title ?? 'station');
    if (feed) {
      await runWithDashboard(source, feed, () => station.run(signal), signal);
    } else if (outer instanceof JsonReporter) {
      const t0 = Date.now();
      const timer = setInterval(() => {
        for (const j of source.jobs()) {
          if (j.state === 'queued' || j.state === 'done' || j.state === 'failed' || j.state === 'cancelled') continue;
          reporter.progress({ phase: j.pass === 'verify' ? 'verify' : 'copy', done: j.bytesDone, total: j.bytesTotal, elapsed: (Date.now() - t0) / 1000, rate: 0, bytesBad: j.bytesBad });
        }
      }, 2000);
      try {
        await station.run(signal);
      } finally {
        clearInterval(timer);
      }
    } else {
      // no dashboard: a plain line per running job every few seconds, on stderr
      const { PlainProgress } = await import('../../dashboard/plain.js');
      const plain = new PlainProgress(source, (line) => process.stderr.write(`${line}\n`)).start();
      try {
        await station.run(signal);
      } finally {
        plain.stop();
      }
    }
    trace('station: run over');
    const report: Record<string, unknown> = { ...stationReport(station.jobs, started), ...(logPath ? { log: logPath } : {}) };
    if (r.reportPath) {
      try {
        writeOutputFile(r.reportPath, `${JSON.stringify(report, null, 2)}\n`);
      } catch (e) {
        // checked at the start, so it changed since (or the disk filled); the copies stand
        reportFailed = new IoError('REPORT_WRITE_FAILED', `the report could not be written to ${r.reportPath} (${why(e)}): the copies are as the summary says`, { path: r.reportPath });
        r.reportPath = undefined;
      }
    }
    s = report.summary as typeof s;
    const hashLines = station.jobs.flatMap((j) => Object.entries((j.result as { hashes?: Record<string, string> } | undefined)?.hashes ?? {}).map(([alg, hex]) => `job ${j.id} ${alg} ${hex}\n`)).join('');
    reporter.done({
      message: `${summaryTable(station.jobs).join('\n')}\n${hashLines}station: ${s.done} of ${s.jobs} job(s) done, ${s.targetsDone} target(s) good, ${s.targetsFailed} failed; slowest ${formatRate(s.slowestBytesPerSec)}${r.reportPath ? `; report ${r.reportPath}` : ''}${logPath ? `; log ${logPath}` : ''}`,
      ...report,
    });
    trace('station: reported');
    r.onEnded?.(station.jobs);
  } finally {
    // every record written, whatever happened (pino is loaded now if no job ever started)
    await log?.close();
    // the metrics file written a last time, the endpoint closed
    await ownExporters?.stop(signal, watched);
  }
  if (s.cancelled > 0) throw new CancelledError('station stopped: cancelled targets are incomplete (see the report)');
  if (s.failed > 0) throw new IoError('JOBS_FAILED', `${s.failed} job(s) had failures (see the table above${r.reportPath ? ` and ${r.reportPath}` : ''}): failed targets are not copies`);
  if (reportFailed) throw reportFailed;
  return ExitStatus.ok;
}

export type { Backend };
