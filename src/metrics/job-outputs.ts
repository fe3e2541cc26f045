// The metrics and the ledger of a job a command runs on this thread (rescue, a 1:1 clone, one backup, verify, restore): what a station gives each of its jobs, from the same kind's view() and report().
import type { JobWatch } from '../jobs/reported.js';
import type { StationJob } from '../jobs/kind.js';
import { checkOutputPath, checkOwnFile } from '../outpath.js';
import type { Exporters } from './exporters.js';
import { parseSize } from '../units.js';

/** The options a single-job command takes for them (src/commands/options.ts jobOutputOptions). */
export interface JobOutputValues {
  ledger?: string;
  'no-ledger'?: boolean;
  metrics?: string;
  'metrics-file'?: string;
  'metrics-interval'?: number;
  'metrics-linger'?: number;
}

export interface JobOutputs extends JobWatch {
  /** the metrics file written a last time, /metrics kept up for --metrics-linger, then closed */
  stop(signal?: AbortSignal): Promise<void>;
}

/**
 * Checks the ledger and the metrics file (writable, not one of the job's own files: the same
 * refusals and codes as a station's, BAD_LEDGER, BAD_METRICS_FILE), starts /metrics (a bad
 * address is BAD_METRICS_ADDRESS before anything is written) and opens the ledger: the given
 * file, else the station's default one (none with --no-ledger). A ledger or metrics file that
 * fails later is said once; the job goes on.
 */
export async function startJobOutputs(v: JobOutputValues, o: { version: string; note: (m: string) => void; files: readonly { path: string; role: string }[] }): Promise<JobOutputs> {
  if (v.ledger !== undefined && !v['no-ledger']) {
    checkOutputPath(v.ledger, 'the ledger', { code: 'BAD_LEDGER', fix: 'give --ledger a writable file path' });
    checkOwnFile(v.ledger, 'the ledger', o.files, { code: 'BAD_LEDGER' });
  }
  const metricsFile = v['metrics-file'];
  if (metricsFile !== undefined) {
    checkOutputPath(metricsFile, 'the metrics file', { code: 'BAD_METRICS_FILE', fix: 'give --metrics-file a writable file path' });
    checkOwnFile(metricsFile, 'the metrics file', [...o.files, ...(v.ledger !== undefined ? [{ path: v.ledger, role: 'the ledger' }] : [])], { code: 'BAD_METRICS_FILE' });
  }
  let exporters: Exporters | undefined;
  if (v.metrics !== undefined || metricsFile !== undefined) {
    const { startExporters } = await import('./exporters.js');
    exporters = await startExporters({ address: v.metrics, file: metricsFile, interval: v['metrics-interval'], linger: v['metrics-linger'] }, { version: o.version, note: o.note });
  }
  const ledger = v['no-ledger'] ? undefined : (await import('../ledger/station.js')).stationLedger(v.ledger, o.note);
  let watched = false;
  return {
    started: (job: StationJob) => {
      exporters?.metrics.watch([job]);
      watched = true;
    },
    ended: (job: StationJob) => ledger?.append(job),
    // a refused run is no job: /metrics does not wait for a last scrape of it
    refused: () => void (watched = false),
    stop: async (signal) => {
      await exporters?.stop(signal, watched);
    },
  };
}

/** Runs `work` with the outputs started first and stopped after, whatever happens. */
export async function withJobOutputs<T>(v: JobOutputValues, o: { version: string; note: (m: string) => void; files: readonly { path: string; role: string }[]; signal?: AbortSignal }, work: (watch: JobWatch) => Promise<T>): Promise<T> {
  const outputs = await startJobOutputs(v, o);
  try {
    return await work(outputs);
  } finally {
    await outputs.stop(o.signal);
  }
}

/** A drive or file as the job's views and ledger name it: inspected when it exists (no refusal here: the policy makes its own). */
export async function hereDrive(path: string, role: 'source' | 'target'): Promise<import('../drive.js').DriveInfo | undefined> {
  const { existsSync } = await import('node:fs');
  if (!existsSync(path)) return undefined;
  const { inspectDrive } = await import('../drive.js');
  try {
    return inspectDrive(path, role);
  } catch {
    return undefined;
  }
}

/** A size option's bytes for a view (0 when not given or not readable: the policy refuses it). */
export function sizeOr0(text: string | undefined): number {
  if (text === undefined) return 0;
  try {
    return parseSize(text, 'size');
  } catch {
    return 0;
  }
}
