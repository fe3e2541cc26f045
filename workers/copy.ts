// A piscina task: one engine job in one worker thread. The job's counters and its control
// word live in shared memory, so the station reads progress and sends pause/cancel without
// a message per chunk.
import { threadId } from 'node:worker_threads';
import { EngineJob } from '../src/engine.js';
import { steer } from '../src/jobs/steer.js';
import { Claims } from '../src/claim.js';
import type { CopyTask, CopyTaskResult } from '../src/contract.js';

export default async function copyTask(task: CopyTask): Promise<CopyTaskResult> {
  // The exclusive targets are claimed for the task (claim.ts): the job itself then opens
  // them without O_EXCL, and the claim ends when the task does, not with the ring's teardown.
  using claims = new Claims();
  claims.targets(task.request.targets.filter((t) => t.exclusive).map((t) => t.path));
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
