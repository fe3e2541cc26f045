// The control word a station job is steered by: pause, resume and cancel reach the engine
// job, and the time the operator held a job paused is told back, so rates leave it out.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { steer } from '../../src/jobs/steer.js';
import { Control, allocateControl, cancelRequested, enterPhase, pauseRequested, readPhase, requestCancel, requestPause, requestResume, Phase } from '../../src/contract.js';
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

  it("the station's helpers and the worker's steer() agree on every control value", () => {
    // the station holds the SharedArrayBuffer, the worker an Int32Array over it (clone-task.ts)
    const { job, calls } = fakeJob();
    const shared = allocateControl();
    const worker = new Int32Array(shared);
    const stop = steer(job, worker);
    const seen: string[] = [];
    const look = (): void => void seen.push(`${pauseRequested(worker) ? 'paused' : 'running'}${cancelRequested(worker) ? '+cancel' : ''}`);
    requestPause(shared);
    sleep(60);
    look();
    requestResume(shared);
    sleep(60);
    look();
    requestPause(shared);
    sleep(60);
    requestCancel(shared);
    sleep(60);
    look();
    const paused = stop();
    expect(calls).toEqual(['pause', 'resume', 'pause', 'cancel']);
    expect(seen).toEqual(['paused', 'running', 'running+cancel']);
    // two polls saw the job paused (60 ms each, counted to the poll that saw the pause end)
    expect(paused).toBeGreaterThanOrEqual(100);
    expect(paused).toBeLessThanOrEqual(150);
  });

  it('the phase word the worker sets is the one the station reads, beside an untouched control word', () => {
    const shared = allocateControl();
    const worker = new Int32Array(shared);
    requestPause(shared);
    for (const p of [Phase.copying, Phase.catchingUp, Phase.verifying, Phase.finished]) {
      enterPhase(worker, undefined, p);
      expect(readPhase(shared)).toBe(p);
      expect(pauseRequested(shared)).toBe(true);
    }
  });
});
