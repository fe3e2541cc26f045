// The station's worker pool, on its own so the CLI can start it before it loads the rest of
// the station: a worker takes ~50-75 ms to boot (Node, piscina, our task modules, the addon),
// and booting it while the main thread imports and plans takes that off the critical path.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Worker } from 'node:worker_threads';
import { workerFile } from '../worker-file.js';

export interface PoolShape {
  /** how many jobs (a thread is started now for each, up to the pool's size) */
  jobs: number;
  /** some job has JS work of its own (src/jobs/index.ts needsJsWork) */
  jsWork: boolean;
  maxParallel: number;
  /** hashes every clone job takes on the fly */
  hash?: readonly string[];
  /** compiled kind modules each worker starts importing at once (the jobs' kinds) */
  preload?: readonly string[];
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
  // JS work of their own: hash taps, a rescue's policy, an image's deflate
  const jsWork = Boolean(shape.hash?.length) || shape.jsWork;
  const threads = jsWork ? Math.max(1, Math.min(shape.maxParallel, availableParallelism())) : 1;
  const pool = new Piscina({
    filename: workerFile('job-task'),
    minThreads: Math.min(threads, shape.jobs),
    maxThreads: threads,
    concurrentTasksPerWorker: Math.ceil(shape.maxParallel / threads),
    idleTimeout: 500,
    // each worker imports the jobs' kinds while the main thread plans, not at its first task
    workerData: { preload: [...(shape.preload ?? [])] },
    // Jobs close what they open themselves (claims, rings, RAII in native/), and some of it is
    // opened natively (engine.lockFile): tracking would warn "closed but not opened in
    // unmanaged mode" for every such descriptor a job closes.
    trackUnmanagedFds: false,
  });
  watchBoot(pool);
  return pool;
}

/**
 * Threads of a pool still loading their task module. Terminating a worker thread while it
 * instantiates ES modules aborts the whole process on Node 20 (V8 FATAL ERROR
 * "IsGraphAsync must be used on an instantiated module", exit 134): a station refused
 * right after it warmed up its pool did that now and then. So a pool is destroyed only once
 * every thread has said it is ready (piscina's ready message, `_WORKER_READY`, sent after the
 * task module loaded) or has exited.
 */
const booting = new WeakMap<Piscina, Set<Worker>>();

function watchBoot(pool: Piscina): void {
  const pending = new Set<Worker>();
  booting.set(pool, pending);
  const watch = (w: Worker): void => {
    pending.add(w);
    const done = (): void => {
      pending.delete(w);
      w.off('message', onMessage);
    };
    const onMessage = (m: unknown): void => {
      if (typeof m === 'object' && m !== null && '_WORKER_READY' in m) done();
    };
    w.on('message', onMessage);
    w.once('exit', done);
  };
  for (const w of pool.threads) watch(w);
}

/** Destroys a pool once its threads have booted (at most `patience` ms later). */
export async function destroyPool(pool: Piscina, patience = 10_000): Promise<void> {
  const pending = booting.get(pool);
  for (const until = Date.now() + patience; pending && pending.size > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 5));
  await pool.destroy();
}
