// The control word a station job is steered by: an Int32Array over shared memory, index 0.
// Cooperative and cheap (a 50 ms poll of one word); piscina's abort, which kills the
// thread, stays the last resort.
import type { EngineJob } from '../src/engine.js';

export const Control = { run: 0, pause: 1, cancel: 2 } as const;

export function cancelRequested(control: Int32Array): boolean {
  return Atomics.load(control, 0) === Control.cancel;
}

/** Applies the control word to `job` until the returned function is called. */
export function steer(job: EngineJob, control: Int32Array): () => void {
  let last: number = Control.run;
  const apply = (): void => {
    const c = Atomics.load(control, 0);
    if (c === last) return;
    last = c;
    if (c === Control.cancel) job.cancel();
    else if (c === Control.pause) job.pause();
    else job.resume();
  };
  apply();
  const timer = setInterval(apply, 50);
  return () => clearInterval(timer);
}
