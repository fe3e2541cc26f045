// The station's worker pool, on its own so the CLI can start it before it loads the rest of
// the station: a worker takes ~50-75 ms to boot (Node, piscina, our task modules, the addon),
// and booting it while the main thread imports and plans takes that off the critical path.
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';

export type TaskName = 'clone-task' | 'rescue-task';

/** The compiled task module; under vitest the station runs from src/, the task from dist/. */
export function taskFile(name: TaskName = 'clone-task'): string {
  for (const u of [new URL(`../../workers/${name}.js`, import.meta.url), new URL(`../../dist/workers/${name}.js`, import.meta.url)]) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new Error(`workers/${name}.js is not built: run \`npm run build\``);
}

export interface PoolShape {
  /** jobs planned (the threads started now; 0: start them when work arrives) */
  jobs: number;
  maxParallel: number;
  /** jobs with JS work of their own: hash taps, a rescue's policy */
  jsWork: boolean;
}

/**
 * A job's bytes move on its own native I/O thread; its worker's JS thread mostly waits. So
 * workers host several jobs at once, rather than a thread (and a Node environment to boot)
 * per job: one worker in all, unless the jobs have JS work of their own, which gets a worker
 * per core. A second worker booting while the first already runs jobs competes with them
 * for the cores: for 8 pairs it started its jobs 100-200 ms later (bench:station), longer
 * than it saved.
 */
export function startStationPool(shape: PoolShape): Piscina {
  const threads = shape.jsWork ? Math.max(1, Math.min(shape.maxParallel, availableParallelism())) : 1;
  return new Piscina({
    filename: taskFile(),
    minThreads: Math.min(threads, Math.max(shape.jobs, 0)),
    maxThreads: threads,
    concurrentTasksPerWorker: Math.ceil(shape.maxParallel / threads),
    idleTimeout: 500,
  });
}
