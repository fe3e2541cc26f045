// The station's commands: one master to many targets, many pairs, or a job file.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { CancelledError, ExitStatus, IoError, UsageError } from '../errors.js';
import { confirmOverwriteAll } from '../confirm.js';
import type { Backend } from '../native.js';
import { JsonReporter, type Reporter } from '../progress.js';
import { feedReporter, runWithDashboard } from '../ui.js';
import { StationSource } from './view.js';
import { formatRate } from '../units.js';
import { Station, type StationJobInput, type StationOptions } from './station.js';
import { stationReport, summaryTable } from './report.js';

export interface StationRun {
  jobs: StationJobInput[];
  options: StationOptions;
  yes: boolean;
  reportPath?: string;
  logPath?: string;
  /** clonestation's version, for the maps of rescue jobs */
  version?: string;
  /** show the dashboard while the jobs run (the caller decided: a terminal, --ui) */
  ui?: boolean;
  /** the dashboard's title */
  title?: string;
}

/** `SRC:DST` for --pair; a colon in a path can be escaped as `\:`. */
export function parsePair(text: string): StationJobInput {
  const parts = text.split(/(?<!\\):/).map((p) => p.replace(/\\:/g, ':'));
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UsageError(`--pair ${JSON.stringify(text)} is not SOURCE:TARGET`, 'USAGE');
  return { source: parts[0], targets: [parts[1]] };
}

const jobKeys = new Set(['source', 'targets', 'offset', 'length', 'targetOffset', 'map']);

/** A job file: {"jobs": [{"source": "...", "targets": ["..."], "offset"?, "length"?, "targetOffset"?, "map"?}], "maxParallel"?, "verify"?}. */
export function parseJobFile(path: string): { jobs: StationJobInput[]; maxParallel?: number; verify?: boolean } {
  if (!existsSync(path)) throw new UsageError(`job file ${path} does not exist`, 'NOT_FOUND');
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`job file ${path} is not JSON (${(e as Error).message}): fix it`, 'BAD_JOBFILE');
  }
  const bad = (what: string): UsageError => new UsageError(`job file ${path}: ${what}`, 'BAD_JOBFILE');
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { jobs?: unknown }).jobs)) throw bad('needs a "jobs" array');
  const d = doc as { jobs: unknown[]; maxParallel?: unknown; verify?: unknown };
  if (d.jobs.length === 0) throw bad('"jobs" is empty');
  if (d.maxParallel !== undefined && (!Number.isInteger(d.maxParallel) || (d.maxParallel as number) < 1)) throw bad('"maxParallel" must be a whole number >= 1');
  if (d.verify !== undefined && typeof d.verify !== 'boolean') throw bad('"verify" must be true or false');
  const jobs = d.jobs.map((j, i) => {
    if (typeof j !== 'object' || j === null) throw bad(`job ${i + 1} is not an object`);
    const o = j as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!jobKeys.has(k)) throw bad(`job ${i + 1} has an unknown field "${k}" (known: ${[...jobKeys].join(', ')})`);
    if (typeof o.source !== 'string' || !o.source) throw bad(`job ${i + 1} needs a "source" path`);
    if (!Array.isArray(o.targets) || o.targets.length === 0 || !o.targets.every((t) => typeof t === 'string' && t)) throw bad(`job ${i + 1} needs "targets": a list of paths`);
    for (const k of ['offset', 'length', 'targetOffset'] as const)
      if (o[k] !== undefined && typeof o[k] !== 'string' && typeof o[k] !== 'number') throw bad(`job ${i + 1}: "${k}" must be a size like "4MiB" or a number of bytes`);
    if (o.map !== undefined && (typeof o.map !== 'string' || !o.map)) throw bad(`job ${i + 1}: "map" must be the path of a ddrescue mapfile`);
    if (o.map !== undefined && (o.targets as string[]).length !== 1) throw bad(`job ${i + 1}: a job with a "map" rescues to exactly one target`);
    const size = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));
    return { source: o.source, targets: o.targets as string[], offset: size(o.offset), length: size(o.length), targetOffset: size(o.targetOffset), map: o.map as string | undefined };
  });
  return { jobs, maxParallel: d.maxParallel as number | undefined, verify: d.verify as boolean | undefined };
}

export async function runStation(r: StationRun, outer: Reporter, signal: AbortSignal): Promise<number> {
  // With the dashboard, the log goes to its log pane (and to --log), never to the terminal.
  const dash = r.ui ? await import('../../dashboard/index.js') : undefined;
  const feed = dash ? new dash.LogFeed() : undefined;
  // pino (and the modules it brings) is loaded only for a run that logs.
  const { pino } = r.logPath || feed ? await import('pino') : { pino: undefined };
  const file = r.logPath && pino ? pino.destination({ dest: r.logPath, sync: true, mkdir: true }) : undefined;
  const streams = [...(file ? [{ stream: file }] : []), ...(feed ? [{ stream: feed }] : [])];
  const logger = streams.length > 0 && pino ? pino({ base: { run: new Date().toISOString() } }, streams.length === 1 ? streams[0].stream : pino.multistream(streams)) : undefined;
  const reporter = feed ? feedReporter(feed, outer) : outer;
  const station = new Station({ ...r.options, logger, version: r.version, commandLine: ['clonestation', ...process.argv.slice(2)].join(' ') });
  station.warmUp(r.jobs.length, Boolean(r.options.hash?.length) || r.jobs.some((j) => j.map !== undefined));
  try {
    for (const j of r.jobs) station.add(j);
    await confirmOverwriteAll(
      station.jobs.flatMap((j) => j.targets.filter((t) => t.drive).map((t) => ({ drive: t.drive!, what: `with ${j.spec.length} bytes from ${j.spec.source} (job ${j.id})` }))),
      { yes: r.yes },
    );
  } catch (e) {
    // a refusal: the warmed-up threads must not keep the process alive
    await station.close();
    throw e;
  }
  const started = new Date();
  reporter.note(`station: ${station.jobs.length} job(s), ${station.jobs.reduce((n, j) => n + j.targets.length, 0)} target(s), up to ${r.options.maxParallel} at once`);
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
  const report = stationReport(station.jobs, started);
  if (r.reportPath) writeFileSync(r.reportPath, `${JSON.stringify(report, null, 2)}\n`);
  const s = report.summary as { jobs: number; done: number; failed: number; cancelled: number; targetsDone: number; targetsFailed: number; slowestBytesPerSec: number };
  const hashLines = station.jobs.flatMap((j) => Object.entries(j.result?.hashes ?? {}).map(([alg, hex]) => `job ${j.id} ${alg} ${hex}\n`)).join('');
  reporter.done({
    message: `${summaryTable(station.jobs).join('\n')}\n${hashLines}station: ${s.done} of ${s.jobs} job(s) done, ${s.targetsDone} target(s) good, ${s.targetsFailed} failed; slowest ${formatRate(s.slowestBytesPerSec)}${r.reportPath ? `; report ${r.reportPath}` : ''}`,
    ...report,
  });
  logger?.flush();
  if (s.cancelled > 0) throw new CancelledError('station stopped: cancelled targets are incomplete (see the report)');
  if (s.failed > 0) throw new IoError('JOBS_FAILED', `${s.failed} job(s) had failures (see the table above${r.reportPath ? ` and ${r.reportPath}` : ''}): failed targets are not copies`);
  return ExitStatus.ok;
}

export type { Backend };
