// The worker pool that carries jobs: one piscina thread per running job.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';

/** The compiled task module; under vitest this file runs from src/, the task from dist/. */
export function copyTaskFile(): string {
  const candidates = [new URL('../workers/copy.js', import.meta.url), new URL('../dist/workers/copy.js', import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error('workers/copy.js is not built: run `npm run build`');
}

export function createPool(maxThreads: number): Piscina {
  return new Piscina({ filename: copyTaskFile(), minThreads: 0, maxThreads, idleTimeout: 1000 });
}
