// A run's metrics exporters as asked (--metrics ADDRESS:PORT, --metrics-file FILE): started before the jobs, stopped (the file written a last time) after.
import { parseListenAddress } from './address.js';
import { serveMetrics, type MetricsServer } from './server.js';
import { StationMetrics } from './station-metrics.js';
import { writeMetricsFile, type MetricsFileWriter } from './textfile.js';

export interface MetricsRequest {
  /** ADDRESS:PORT for /metrics */
  address?: string;
  /** a file for node_exporter's textfile collector */
  file?: string;
  /** seconds between two writes of the file */
  interval?: number;
  /** at the end, keep /metrics up until it is scraped once more, at most this many seconds */
  linger?: number;
}

export const DEFAULT_METRICS_INTERVAL = 10;

export interface Exporters {
  readonly metrics: StationMetrics;
  readonly server?: MetricsServer;
  /** `signal` cuts the linger short; `linger` false: none (a run refused before it started) */
  stop(signal?: AbortSignal, linger?: boolean): Promise<void>;
}

/** Starts what `req` asks for; none asked: undefined. A bad address or port is a UsageError before any job starts. */
export async function startExporters(req: MetricsRequest, o: { version?: string; note: (m: string) => void }): Promise<Exporters | undefined> {
  if (req.address === undefined && req.file === undefined) return undefined;
  const at = req.address !== undefined ? parseListenAddress(req.address) : undefined;
  const metrics = new StationMetrics({ version: o.version });
  const server = at ? await serveMetrics(metrics, at) : undefined;
  if (server) o.note(`metrics: http://${server.address.host.includes(':') ? `[${server.address.host}]` : server.address.host}:${server.address.port}/metrics`);
  let file: MetricsFileWriter | undefined;
  if (req.file !== undefined) file = writeMetricsFile(metrics, req.file, req.interval ?? DEFAULT_METRICS_INTERVAL, o.note);
  return {
    metrics,
    server,
    stop: async (signal, linger = true) => {
      await file?.stop();
      // the final state is the one a scrape must not miss: wait for one more (--metrics-linger)
      if (server && req.linger && linger) await server.nextScrape(req.linger * 1000, signal);
      await server?.close();
    },
  };
}
