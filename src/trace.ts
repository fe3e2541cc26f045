// CLONESTATION_TRACE=1: one stderr line per milestone of a run (start-up, planning, each job's
// start and end, teardown), in ms since the process started, from any thread. For finding
// where the time before the first byte goes; silent and free otherwise.
import { performance } from 'node:perf_hooks';
import { isMainThread, threadId } from 'node:worker_threads';

const on = Boolean(process.env.CLONESTATION_TRACE);
// Workers have their own time origin; the main thread's is handed down through the environment.
if (on && isMainThread) process.env.CLONESTATION_TRACE_T0 = String(performance.timeOrigin);
const t0 = Number(process.env.CLONESTATION_TRACE_T0 ?? performance.timeOrigin);

export function trace(what: string): void {
  if (!on) return;
  const ms = performance.timeOrigin + performance.now() - t0;
  process.stderr.write(`[trace ${ms.toFixed(1)} ms${isMainThread ? '' : ` t${threadId}`}] ${what}\n`);
}
