// `--metrics-file FILE`: the metrics for node_exporter's textfile collector, written atomically (a temporary file beside it, fsynced, renamed) at an interval and at the end.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { StationMetrics } from './station-metrics.js';

/**
 * Writes `text` to `path` so a reader sees the old file or the new one, never a part: a
 * temporary file in the same folder (node_exporter skips names not ending in .prom), fsynced,
 * then renamed over `path`.
 */
export function writeAtomically(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export interface MetricsFileWriter {
  /** writes now (the last time at exit) */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** Writes the metrics to `path` every `seconds` and once more at stop(); a failed write is noted, not fatal. */
export function writeMetricsFile(metrics: StationMetrics, path: string, seconds: number, note: (m: string) => void): MetricsFileWriter {
  let failedOnce = false;
  let writing: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    writing = writing.then(async () => {
      try {
        writeAtomically(path, await metrics.text());
      } catch (e) {
        if (!failedOnce) note(`the metrics file ${path} could not be written (${e instanceof Error ? e.message : String(e)}); the jobs go on`);
        failedOnce = true;
      }
    });
    return writing;
  };
  const timer = setInterval(() => void flush(), seconds * 1000);
  timer.unref();
  void flush();
  return {
    flush,
    stop: async () => {
      clearInterval(timer);
      await flush();
    },
  };
}
