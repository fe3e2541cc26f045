// A piscina task: one station job with a map, i.e. a rescue, in a worker thread. The
// rescue's own policy (src/rescue) runs here; the station sees its state over the port and
// cancels it through the shared control word, which becomes an abort signal.
import type { MessagePort } from 'node:worker_threads';
import { rescue, type RescueOptions, type RescueSummary } from '../src/rescue/rescue.js';
import { CloneStationError } from '../src/errors.js';
import type { Reporter } from '../src/progress.js';
import { cancelRequested } from './control.js';

export interface RescueTask {
  options: RescueOptions;
  control: SharedArrayBuffer;
  port?: MessagePort;
}

export interface RescueTaskResult {
  state: 'done' | 'failed' | 'cancelled';
  summary?: RescueSummary;
  code?: string;
  reason?: string;
}

export default async function rescueTask(task: RescueTask): Promise<RescueTaskResult> {
  const control = new Int32Array(task.control);
  const ac = new AbortController();
  const timer = setInterval(() => {
    if (cancelRequested(control)) ac.abort();
  }, 50);
  const reporter: Reporter = {
    note: (message) => task.port?.postMessage({ type: 'note', message }),
    progress: (v) => task.port?.postMessage({ type: 'progress', done: v.done, total: v.total }),
    phaseEnd: () => {},
    done: () => {},
    error: () => {},
  };
  task.port?.postMessage({ type: 'phase', phase: 1 });
  try {
    const summary = await rescue({ ...task.options, yes: true }, reporter, ac.signal);
    return { state: 'done', summary };
  } catch (e) {
    const err = e instanceof CloneStationError ? e : undefined;
    return {
      state: err?.code === 'CANCELLED' ? 'cancelled' : 'failed',
      code: err?.code ?? 'INTERNAL',
      reason: e instanceof Error ? e.message : String(e),
      summary: err?.details && typeof err.details.rescuedBytes === 'number' ? (err.details as unknown as RescueSummary) : undefined,
    };
  } finally {
    clearInterval(timer);
    task.port?.postMessage({ type: 'phase', phase: 4 });
  }
}
