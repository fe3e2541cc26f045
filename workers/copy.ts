// A piscina task: one engine job in one worker thread. The job's counters and its control
// word live in shared memory, so the station reads progress and sends pause/cancel without
// a message per chunk.
import { threadId } from 'node:worker_threads';
import { EngineJob, type JobRequest, type ProgressSnapshot } from '../src/engine.js';
import type { NativeChunkError } from '../src/native.js';

/** Values of the control word (Int32Array over `control`, index 0). */
export const Control = { run: 0, pause: 1, cancel: 2 } as const;

export interface CopyTask {
  request: JobRequest;
  counters: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

export interface CopyTaskResult {
  state: 'done' | 'failed' | 'cancelled';
  backend: string;
  backendNote: string;
  errors: NativeChunkError[];
  progress: ProgressSnapshot;
  fatal?: { code: string; message: string };
  threadId: number;
}

export default async function copyTask(task: CopyTask): Promise<CopyTaskResult> {
  const job = new EngineJob(task.request, task.counters);
  const control = new Int32Array(task.control);
  let last: number = Control.run;
  // Cooperative control: a cheap poll of one shared word; piscina's abort (which kills the
  // thread) stays the last resort.
  const timer = setInterval(() => {
    const c = Atomics.load(control, 0);
    if (c === last) return;
    last = c;
    if (c === Control.cancel) job.cancel();
    else if (c === Control.pause) job.pause();
    else job.resume();
  }, 50);
  try {
    const out = await job.run();
    return {
      state: out.state,
      backend: out.backend,
      backendNote: out.backendNote,
      errors: out.errors,
      progress: out.progress,
      fatal: out.fatal ? { code: out.fatal.code, message: out.fatal.message } : undefined,
      threadId,
    };
  } finally {
    clearInterval(timer);
  }
}
