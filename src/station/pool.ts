// The station's worker pool, on its own so the CLI can start it before it loads the rest of
// the station: a worker takes ~50-75 ms to boot (Node, piscina, our task modules, the addon),
// and booting it while the main thread imports and plans takes that off the critical path.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { workerFile } from '../worker-file.js';

export interface PoolShape {
  /** the jobs planned (a thread is started now for each, up to the pool's size); a job with a map is a rescue */
  jobs: readonly { map?: string }[];
  maxParallel: number;
  /** hashes every clone job takes on the fly */
  hash?: readonly string[];
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
  // JS work of their own: hash taps, a rescue's policy
  const jsWork = Boolean(shape.hash?.length) || shape.jobs.some((j) => j.map !== undefined);
  const threads = jsWork ? Math.max(1, Math.min(shape.maxParallel, availableParallelism())) : 1;
  return new Piscina({
    filename: workerFile('clone-task'),
    minThreads: Math.min(threads, shape.jobs.length),
    maxThreads: threads,
    concurrentTasksPerWorker: Math.ceil(shape.maxParallel / threads),
    idleTimeout: 500,
  });
}
