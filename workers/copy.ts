// A piscina task: one engine job in one worker thread. The job's counters and its control
// word live in shared memory, so the station reads progress and sends pause/cancel without
// a message per chunk.
import { threadId } from 'node:worker_threads';
import { EngineJob, type JobRequest, type ProgressSnapshot } from '../src/engine.js';
import type { NativeChunkError } from '../src/native.js';
import { steer } from './control.js';


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
  const stop = steer(job, new Int32Array(task.control));
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
    stop();
  }
}
