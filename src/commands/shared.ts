// What several commands run through: a station of jobs, and one job shown on the dashboard. Heavy modules load on demand.
import { CloneStationError } from '../errors.js';
import type { Reporter } from '../progress.js';
import type { Context } from '../command.js';
import type { EngineTuning } from '../engine.js';
import type { HashAlgorithm } from '../image/hash.js';
import type { JobOutputValues } from '../metrics/job-outputs.js';

/** The options a station run reads (clone with several targets or --pair, run, a 1:1 clone on the dashboard), the metrics and ledger ones included. */
export interface StationValues extends JobOutputValues {
  hash?: readonly HashAlgorithm[];
  'max-parallel'?: number;
  verify?: boolean;
  'no-verify'?: boolean;
  report?: string;
  log?: string;
  'no-log'?: boolean;
  json?: boolean;
  yes?: boolean;
  ui?: boolean;
  'no-ui'?: boolean;
}

export async function stationCommand(
  jobs: import('../station/station.js').StationJobInput[],
  values: StationValues,
  tuning: EngineTuning,
  context: Context,
  file?: { maxParallel?: number; verify?: boolean; metrics?: string },
  title?: string,
  onEnded?: import('../station/cli.js').StationRun['onEnded'],
): Promise<number> {
  const rep = context.reporter(values.json);
  const verify = values['no-verify'] ? false : values.verify ? true : file?.verify;
  const options = {
    maxParallel: values['max-parallel'] ?? file?.maxParallel ?? Math.min(8, Math.max(jobs.length, 1)),
    ...tuning,
    verify,
    hash: values.hash !== undefined ? [...values.hash] : undefined,
  };
  // The workers first: they boot on the other core while this thread loads the station and
  // plans (bench:station measured the first job starting ~70 ms sooner).
  const { startStationPool } = await import('../station/pool.js');
  const { builtInModule, kindsAsked, needsJsWork } = await import('../jobs/index.js');
  const { compiledFile } = await import('../worker-file.js');
  const preload = [...new Set(kindsAsked(jobs))].flatMap((k) => {
    const m = builtInModule(k);
    return m ? [compiledFile(m)] : [];
  });
  const pool = startStationPool({ jobs: jobs.length, jsWork: needsJsWork(jobs, options.hash), maxParallel: options.maxParallel, hash: options.hash, preload });
  const { runStation } = await import('../station/cli.js');
  const { wantsUi } = await import('../ui.js');
  return runStation(
    {
      jobs,
      options: { ...options, pool },
      yes: values.yes ?? false,
      reportPath: values.report,
      logPath: values.log,
      defaultLog: !values['no-log'],
      version: context.version(),
      ui: wantsUi(values),
      title,
      onEnded,
      ledgerPath: values['no-ledger'] ? false : (values.ledger ?? true),
      metrics: { address: values.metrics ?? file?.metrics, file: values['metrics-file'], interval: values['metrics-interval'], linger: values['metrics-linger'] },
    },
    rep,
    context.signal,
  );
}

/** What a display hands a rescue: the live map, the moment it may take the terminal, a pause. */
export type DisplayHooks = Pick<import('../rescue/rescue.js').RescueOptions, 'watch' | 'ready' | 'paused'>;

/** One job in this thread, shown on the dashboard; the summary follows once the terminal is back. */
export async function withDashboard<T>(
  source: string,
  target: string,
  run: (reporter: Reporter, signal: AbortSignal, hooks: DisplayHooks) => Promise<T>,
  outer: Reporter,
  signal: AbortSignal,
  kind?: import('../station/view.js').SingleJobKind,
): Promise<T> {
  const { LogFeed } = await import('../../dashboard/logfeed.js');
  const { RescueSource } = await import('../station/view.js');
  const { runWithDashboard, feedReporter } = await import('../ui.js');
  const { existsSync } = await import('node:fs');
  const { inspectDrive } = await import('../drive.js');
  const feed = new LogFeed();
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  signal.addEventListener('abort', stop);
  const view = new RescueSource({ source, target, sourceDrive: existsSync(source) ? inspectDrive(source, 'source') : undefined, targetDrive: existsSync(target) ? inspectDrive(target, 'target') : undefined }, ac, kind);
  const inner = feedReporter(feed, outer);
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const work = async (): Promise<T> => {
    try {
      const r = await run(view.reporter((m) => inner.note(m)), ac.signal, { watch: view.watch, ready, paused: view.paused });
      view.settle('done', r);
      return r;
    } catch (e) {
      const err = e instanceof CloneStationError ? e : undefined;
      view.settle(err?.code === 'CANCELLED' ? 'cancelled' : 'failed', err?.details, e instanceof Error ? e.message : String(e));
      throw e;
    } finally {
      signal.removeEventListener('abort', stop);
    }
  };
  return runWithDashboard(view, feed, work, signal, isReady);
}

/** `; sha256 abc...; md5 def...` for a summary line. */
export function hashesText(hashes: Record<string, string> | undefined): string {
  return Object.entries(hashes ?? {}).map(([a, h]) => `; ${a} ${h}`).join('');
}
