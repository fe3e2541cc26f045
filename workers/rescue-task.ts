// A piscina task: one station job with a map, i.e. a rescue, in a worker thread. The
// rescue's own policy (src/rescue) runs here; the station sees its state over the port and
// cancels or pauses it through the shared control word (cancel becomes an abort signal).
import { rescue, type RescueSummary } from '../src/rescue/rescue.js';
import { CloneStationError } from '../src/errors.js';
import type { Reporter } from '../src/progress.js';
import { Phase, cancelRequested, enterPhase, pauseRequested, postEvent, type RescueTask, type RescueTaskResult } from '../src/contract.js';
import type { Mapbook } from '../src/rescue/mapbook.js';
import { mapSnapshot } from '../src/rescue/snapshot.js';

/** How often the map goes to the main thread for the dashboard: compact, once a second. */
const MAP_EVERY_MS = 1000;

export default async function rescueTask(task: RescueTask): Promise<RescueTaskResult> {
  const control = new Int32Array(task.control);
  const ac = new AbortController();
  const timer = setInterval(() => {
    if (cancelRequested(control)) ac.abort();
  }, 50);
  let book: Mapbook | undefined;
  let pass = '';
  let lastProgress = 0;
  const postMap = (): void => {
    if (book) postEvent(task.port, { type: 'map', pass, map: mapSnapshot(book) });
  };
  const mapTimer = setInterval(postMap, MAP_EVERY_MS);
  const reporter: Reporter = {
    note: (message) => postEvent(task.port, { type: 'note', message }),
    progress: (v) => {
      // the rescuebook's views also name the pass; trimming reports after every sector,
      // so the main thread hears at most 4 a second
      const next = (v as { pass?: string }).pass ?? pass;
      const now = Date.now();
      if (next === pass && now - lastProgress < 250) return;
      pass = next;
      lastProgress = now;
      postEvent(task.port, { type: 'progress', done: v.done, total: v.total, pass, bytesBad: v.bytesBad });
    },
    phaseEnd: () => {},
    done: () => {},
    error: () => {},
  };
  enterPhase(control, task.port, Phase.copying);
  try {
    const summary = await rescue(
      { ...task.options, yes: true, watch: (b) => ((book = b), postMap()), paused: () => pauseRequested(control) },
      reporter,
      ac.signal,
    );
    return { state: 'done', summary, map: book && mapSnapshot(book) };
  } catch (e) {
    const err = e instanceof CloneStationError ? e : undefined;
    return {
      state: err?.code === 'CANCELLED' ? 'cancelled' : 'failed',
      code: err?.code ?? 'INTERNAL',
      reason: e instanceof Error ? e.message : String(e),
      summary: err?.details && typeof err.details.rescuedBytes === 'number' ? (err.details as unknown as RescueSummary) : undefined,
      map: book && mapSnapshot(book),
    };
  } finally {
    clearInterval(timer);
    clearInterval(mapTimer);
    postMap();
    enterPhase(control, task.port, Phase.finished);
  }
}
