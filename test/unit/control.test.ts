// The control word a station job is steered by: pause, resume and cancel reach the engine
// job, and the time the operator held a job paused is told back, so rates leave it out.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Control, steer } from '../../workers/control.js';
import type { EngineJob } from '../../src/engine.js';

/** What steer() calls on a job, recorded. */
function fakeJob(): { job: EngineJob; calls: string[] } {
  const calls: string[] = [];
  const job = {
    pause: () => calls.push('pause'),
    resume: () => calls.push('resume'),
    cancel: () => calls.push('cancel'),
    snapshot: () => ({ bytesRead: 0, bytesCompared: 0 }),
  } as unknown as EngineJob; // only the four methods steer() uses
  return { job, calls };
}

// Fake timers and clock: the polls happen exactly when the test says, whatever the load.
const sleep = (ms: number): void => void vi.advanceTimersByTime(ms);

describe('steer', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'performance'] }));
  afterEach(() => vi.useRealTimers());

  it('passes pause, resume and cancel to the job and counts only the paused time as paused', () => {
    const { job, calls } = fakeJob();
    const control = new Int32Array(new SharedArrayBuffer(8));
    const t0 = performance.now();
    const stop = steer(job, control);
    sleep(120);
    Atomics.store(control, 0, Control.pause);
    sleep(300);
    Atomics.store(control, 0, Control.run);
    sleep(120);
    Atomics.store(control, 0, Control.cancel);
    sleep(120);
    const paused = stop();
    const total = performance.now() - t0;
    expect(calls).toEqual(['pause', 'resume', 'cancel']);
    // the paused stretch is counted to the poll (50 ms) that saw it end; the running ones are not
    expect(paused).toBeGreaterThanOrEqual(300);
    expect(paused).toBeLessThanOrEqual(350);
    expect(total).toBe(660);
  });

  it('a job never paused reports no paused time', () => {
    const { job } = fakeJob();
    const stop = steer(job, new Int32Array(new SharedArrayBuffer(8)));
    sleep(120);
    expect(stop()).toBe(0);
  });
});
