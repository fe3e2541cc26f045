// The worker pool that carries jobs: one piscina thread per running job.
import { Piscina } from 'piscina';
import { workerFile } from './worker-file.js';

export function createPool(maxThreads: number): Piscina {
  return new Piscina({ filename: workerFile('copy'), minThreads: 0, maxThreads, idleTimeout: 1000 });
}
