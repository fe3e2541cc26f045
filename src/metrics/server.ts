// The /metrics endpoint: an HTTP server answering Prometheus' scrapes with a station's metrics.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../errors.js';
import type { ListenAddress } from './address.js';
import type { StationMetrics } from './station-metrics.js';

export interface MetricsServer {
  /** where it listens (the port the system chose for port 0) */
  readonly address: ListenAddress;
  /** resolves once /metrics has been read after this call, or after `ms` (or on abort) */
  nextScrape(ms: number, signal?: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}

/** Listens at `at`; refuses (BAD_METRICS_ADDRESS) an address it cannot listen on, before any job starts. */
export async function serveMetrics(metrics: StationMetrics, at: ListenAddress): Promise<MetricsServer> {
  const waiting = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<html><body><a href="/metrics">clonestation metrics</a></body></html>\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are on /metrics\n');
      return;
    }
    // only those waiting before this scrape read the metrics count it (nextScrape)
    const waiters = [...waiting];
    metrics.text().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text, () => {
          for (const w of waiters) w();
        });
      },
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`),
    );
  });
  // a scrape must never keep the process alive once the station is done
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      const hint = e.code === 'EADDRINUSE' ? 'the port is in use: choose another' : e.code === 'EACCES' ? 'not allowed to listen there: choose a port above 1023' : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? 'no such address on this machine' : e.message;
      reject(new UsageError(`--metrics ${at.host}:${at.port}: cannot listen (${hint})`, 'BAD_METRICS_ADDRESS'));
    };
    server.once('error', onError);
    server.listen(at.port, at.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.unref();
  const a = server.address() as AddressInfo;
  return {
    address: { host: at.host, port: a.port },
    nextScrape: (ms, signal) =>
      new Promise<boolean>((resolve) => {
        const done = (scraped: boolean): void => {
          clearTimeout(timer);
          waiting.delete(onScrape);
          signal?.removeEventListener('abort', onAbort);
          resolve(scraped);
        };
        const onScrape = (): void => done(true);
        const onAbort = (): void => done(false);
        const timer = setTimeout(() => done(false), ms);
        waiting.add(onScrape);
        signal?.addEventListener('abort', onAbort);
        if (signal?.aborted) done(false);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
