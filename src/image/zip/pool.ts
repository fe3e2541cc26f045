// The piscina pool of deflate workers (workers/deflate-task.ts) that ZipImageWriter uses.
// One pool can serve several writers at once (a station backing up several drives): each
// writer bounds its own chunks in flight, piscina queues the rest.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { workerFile } from '../../worker-file.js';

/** A pool of `threads` deflate workers (default: one per core), started at once. */
export function createDeflatePool(threads = availableParallelism()): Piscina {
  const n = Math.max(1, threads);
  return new Piscina({ filename: workerFile('deflate-task'), minThreads: n, maxThreads: n, idleTimeout: 30_000 });
}
