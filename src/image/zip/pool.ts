// The piscina pool of deflate workers (workers/deflate-task.ts) that ZipImageWriter uses.
// One pool can serve several writers at once (a station backing up several drives): each
// writer bounds its own chunks in flight, piscina queues the rest.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';

/** The compiled task module; under vitest this file runs from src/, the task from dist/. */
export function deflateTaskFile(): string {
  for (const u of [new URL('../../../workers/deflate-task.js', import.meta.url), new URL('../../../dist/workers/deflate-task.js', import.meta.url)]) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error('workers/deflate-task.js is not built: run `npm run build`');
}

/** A pool of `threads` deflate workers (default: one per core), started at once. */
export function createDeflatePool(threads = availableParallelism()): Piscina {
  const n = Math.max(1, threads);
  return new Piscina({ filename: deflateTaskFile(), minThreads: n, maxThreads: n, idleTimeout: 30_000 });
}
