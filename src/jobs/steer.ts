// A job's side of the control word (src/contract.ts): an engine job follows it, in a worker or on the main thread.
// Cooperative and cheap (a 50 ms poll of one word); piscina's abort, which kills the
// thread, stays the last resort.
import type { EngineJob } from '../engine.js';
import { Control, readControl, type ControlMemory, type ControlValue } from '../contract.js';

const TICK_MS = 50;
/** Throttled jobs are checked more often: between two checks the engine runs at full speed. */
const THROTTLE_TICK_MS = 5;

/**
 * Applies the control word to `job` until the returned function is called; that function
 * returns the milliseconds the operator held the job paused, which a rate leaves out (a
 * paused job's average is of the time it ran). With `maxRate`
 * (bytes/s, the demo's --throttle) the job is also paused whenever it is ahead of that rate:
 * real I/O, just less of it per second, in bursts of what the engine moves in 5 ms.
 */
export function steer(job: EngineJob, control: ControlMemory, maxRate = 0): () => number {
  let last: ControlValue = Control.run;
  let pausedMs = 0;
  let throttled = false;
  let runningMs = 0;
  let prev = performance.now();
  const apply = (): void => {
    const c = readControl(control);
    const now = performance.now();
    if (c === Control.run) runningMs += now - prev;
    else if (c === Control.pause) pausedMs += now - prev;
    prev = now;
    if (c !== last) {
      last = c;
      if (c === Control.cancel) job.cancel();
      else if (c === Control.pause) job.pause();
      else if (!throttled) job.resume();
    }
    if (maxRate > 0 && c === Control.run) {
      const s = job.snapshot();
      const ahead = Math.max(s.bytesRead, s.bytesCompared) >= (maxRate * runningMs) / 1000;
      if (ahead !== throttled) {
        throttled = ahead;
        if (ahead) job.pause();
        else job.resume();
      }
    }
  };
  if (maxRate > 0) {
    // nothing moves before the first check allows it
    throttled = true;
    job.pause();
  }
  apply();
  const timer = setInterval(apply, maxRate > 0 ? THROTTLE_TICK_MS : TICK_MS);
  return () => {
    clearInterval(timer);
    apply();
    return pausedMs;
  };
}
