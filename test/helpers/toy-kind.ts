// A job kind that lives in the test tree: it writes `lines` numbered lines to a new file, one
// every few ms, reporting progress and obeying pause and cancel; the unit test registers it
// and runs it through the station, the worker task and the dashboard adapter unchanged.
import { appendFileSync, existsSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { defineKind, ENDED, elapsedSeconds, type JobEntry, type JobResult } from '../../src/jobs/kind.js';
import { Phase, cancelRequested, enterPhase, pauseRequested, postEvent } from '../../src/contract.js';
import { RefusedError } from '../../src/errors.js';

export interface ToyPayload {
  out: string;
  lines: number;
}

export interface ToyResult extends JobResult {
  written: number;
  /** where it ran: a worker's thread id, never the main thread's 0 */
  threadId: number;
}

const toyKind = defineKind<ToyPayload, ToyResult>({
  name: 'toy',
  summary: 'numbered lines into a new file (a test kind)',
  module: import.meta.url,
  jsWork: false,
  fields: {
    out: { type: 'path', required: true, writes: true, help: 'the new file' },
    lines: { type: 'count', min: 1, max: 100000, required: true, help: 'how many lines' },
  },
  plan(entry: JobEntry) {
    const out = entry.out as string;
    if (existsSync(out)) throw new RefusedError('OUTPUT_EXISTS', `${out} exists: the toy writes new files only`);
    const lines = entry.lines as number;
    return {
      payload: { out, lines },
      source: { path: '(counter)' },
      targets: [{ path: out }],
      touches: [{ path: out, what: 'the toy file', writes: true, file: true }],
      overwrites: [],
      length: lines,
      counters: {},
      jsWork: false,
      fitRing: () => 0,
    };
  },
  async run(p, io) {
    enterPhase(io.control, io.port, Phase.copying);
    let written = 0;
    let state: ToyResult['state'] = 'done';
    while (written < p.lines) {
      if (cancelRequested(io.control)) {
        state = 'cancelled';
        break;
      }
      if (pauseRequested(io.control)) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      appendFileSync(p.out, `line ${written + 1}\n`);
      written++;
      postEvent(io.port, { type: 'progress', done: written, total: p.lines, pass: 'count', bytesBad: 0 });
      await new Promise((r) => setTimeout(r, 2));
    }
    enterPhase(io.control, io.port, Phase.finished);
    return { state, written, threadId };
  },
  view: (j) => ({
    id: j.id,
    role: 'toy',
    drives: [{ role: 'target', path: j.planned.payload.out }],
    state: j.state,
    pass: ENDED.has(j.state) ? '-' : (j.live.pass ?? 'start'),
    bytesDone: j.result?.written ?? j.live.done ?? 0,
    bytesTotal: j.planned.length,
    bytesBad: 0,
    errors: 0,
    elapsed: elapsedSeconds(j),
    badAreas: false,
    canPause: true,
  }),
  report: (j) => ({ out: j.planned.payload.out, written: j.result?.written, threadId: j.result?.threadId, targets: [{ path: j.planned.payload.out, state: j.state }] }),
  rows: (j) => [['(counter)', j.planned.payload.out, j.state, String(j.result?.written ?? 0), '-', 'no', '']],
});

export default toyKind;
