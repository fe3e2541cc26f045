// The thread contract (src/contract.ts): every event crosses a real MessageChannel and arrives
// typed; the counter layout is native's; the control and phase words read back what was set.
import { afterAll, describe, expect, it } from 'vitest';
import { MessageChannel } from 'node:worker_threads';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { makeFile, root, scratch } from '../helpers/fixtures.js';
import { engine } from '../../src/native.js';
import { EngineJob } from '../../src/engine.js';
import {
  COUNTER_HEADER,
  Control,
  CounterSlot,
  Phase,
  allocateControl,
  allocateCounters,
  cancelRequested,
  checkCounterLayout,
  controlName,
  counterBytes,
  dispatchEvent,
  enterPhase,
  onEvents,
  pauseRequested,
  phaseName,
  postEvent,
  readControl,
  readCounters,
  readPhase,
  requestCancel,
  requestPause,
  requestResume,
  type WorkerEvent,
  type WorkerEventHandlers,
  type WorkerEventOf,
  type WorkerEventType,
} from '../../src/contract.js';
import { InternalError } from '../../src/errors.js';

const fx = scratch('cs-contract-');
afterAll(fx.cleanup);

/** One event of every kind: the mapped type makes leaving a kind out a type error (npx tsc -p test). */
const oneOfEach: { [T in WorkerEventType]: WorkerEventOf<T> } = {
  phase: { type: 'phase', phase: Phase.verifying },
  written: { type: 'written', index: 2, seconds: 1.25 },
  'target-failed': { type: 'target-failed', index: 1, code: 'WRITE_FAILED', reason: 'write failed at target offset 4096 (EIO) after 2 retries', offset: 4096 },
  progress: { type: 'progress', done: 1 << 20, total: 4 << 20, pass: 'copy 1', bytesBad: 512 },
  map: {
    type: 'map',
    pass: 'trim',
    map: {
      size: 8192,
      extents: [
        { pos: 0, size: 4096, status: '+' },
        { pos: 4096, size: 4096, status: '-' },
      ],
      current: { pos: 4096, status: '*', pass: 1 },
      totals: { '+': 4096, '?': 0, '*': 0, '/': 0, '-': 4096 },
      errorAreas: 1,
    },
  },
  note: { type: 'note', message: 'io_uring, O_DIRECT on both' },
};

/** Handlers that record what each kind received, by kind. */
function recorder(): { got: WorkerEvent[]; on: WorkerEventHandlers } {
  const got: WorkerEvent[] = [];
  const on: WorkerEventHandlers = {
    phase: (e) => got.push({ type: e.type, phase: e.phase }),
    written: (e) => got.push({ type: e.type, index: e.index, seconds: e.seconds }),
    'target-failed': (e) => got.push({ type: e.type, index: e.index, code: e.code, reason: e.reason, offset: e.offset }),
    progress: (e) => got.push({ type: e.type, done: e.done, total: e.total, pass: e.pass, bytesBad: e.bytesBad }),
    map: (e) => got.push({ type: e.type, pass: e.pass, map: e.map }),
    note: (e) => got.push({ type: e.type, message: e.message }),
  };
  return { got, on };
}

describe('worker events', () => {
  it('every kind crosses a real MessageChannel and reaches its own handler, field for field', async () => {
    const { port1, port2 } = new MessageChannel();
    const { got, on } = recorder();
    const stop = onEvents(port2, on);
    const sent = Object.values(oneOfEach);
    for (const e of sent) postEvent(port1, e);
    // a phase entered also goes over the port, after the word is set
    const control = allocateControl();
    enterPhase(control, port1, Phase.catchingUp);
    await new Promise<void>((resolve) => {
      const check = (): void => (got.length >= sent.length + 1 ? resolve() : void setTimeout(check, 5));
      check();
    });
    stop();
    port1.close();
    port2.close();
    expect(got).toEqual([...sent, { type: 'phase', phase: Phase.catchingUp }]);
    expect(readPhase(control)).toBe(Phase.catchingUp);
    // structured clone, not the same objects
    expect(got[0]).not.toBe(sent[0]);
  });

  it('a task without a port posts nothing and does not throw', () => {
    expect(() => postEvent(undefined, oneOfEach.note)).not.toThrow();
    const control = allocateControl();
    enterPhase(control, undefined, Phase.copying);
    expect(readPhase(control)).toBe(Phase.copying);
  });

  it('a message that is no WorkerEvent is a bug', () => {
    const { got, on } = recorder();
    expect(() => dispatchEvent({ type: 'target', index: 0 } as unknown as WorkerEvent, on)).toThrow(InternalError);
    expect(got).toEqual([]);
  });

  it('no task or station code posts, listens or touches the shared words except through the contract', () => {
    // every postEvent names a kind of the union (the compiler checks the shape)
    for (const f of ['workers/job-task.ts', 'workers/copy.ts', 'src/jobs/steer.ts', 'src/jobs/clone.ts', 'src/jobs/rescue.ts']) {
      const text = readFileSync(join(root, f), 'utf8');
      expect(text, f).not.toMatch(/\.postMessage\(/);
      expect(text, f).not.toMatch(/Atomics\.(load|store)/);
    }
    const station = readFileSync(join(root, 'src', 'station', 'station.ts'), 'utf8');
    expect(station).not.toMatch(/on\('message'/);
    expect(station).not.toMatch(/Atomics\.(load|store)/);
    expect(readFileSync(join(root, 'src', 'station', 'view.ts'), 'utf8')).not.toMatch(/Atomics\.(load|store)/);
  });
});

describe('control and phase words', () => {
  it('the station side writes, the worker side reads the same values', () => {
    const control = allocateControl();
    const worker = new Int32Array(control);
    expect(readControl(worker)).toBe(Control.run);
    expect(readPhase(worker)).toBe(Phase.queued);
    requestPause(control);
    expect([readControl(worker), pauseRequested(worker), cancelRequested(worker)]).toEqual([Control.pause, true, false]);
    requestResume(control);
    expect([readControl(worker), pauseRequested(worker)]).toEqual([Control.run, false]);
    requestCancel(control);
    expect([readControl(worker), cancelRequested(worker), controlName(readControl(worker))]).toEqual([Control.cancel, true, 'cancel']);
    // the phase word is separate from the control word
    enterPhase(worker, undefined, Phase.verifying);
    expect([readControl(control), phaseName(readPhase(control))]).toEqual([Control.cancel, 'verifying']);
  });

  it('a word holding no known value is a bug, not a silent "running"', () => {
    const control = allocateControl();
    const w = new Int32Array(control);
    Atomics.store(w, 0, 7);
    expect(() => readControl(control)).toThrow(InternalError);
    Atomics.store(w, 0, Control.run);
    Atomics.store(w, 1, 9);
    expect(() => readPhase(control)).toThrow(InternalError);
  });
});

describe('counter layout', () => {
  it("is native's (engine.counterSlots): the check at load passes with today's engine", () => {
    expect(() => checkCounterLayout({ ...engine.counterSlots })).not.toThrow();
    expect({ ...engine.counterSlots }).toEqual({ ...CounterSlot, header: COUNTER_HEADER });
  });

  it('a moved, missing or extra slot is an InternalError naming it', () => {
    const slots: Record<string, number> = { ...engine.counterSlots };
    expect(() => checkCounterLayout({ ...slots, bytesBad: slots.readErrors })).toThrow(/bytesBad: engine 3, src\/counters\.ts 2/);
    const { inFlight: _gone, ...missing } = slots;
    expect(() => checkCounterLayout(missing)).toThrow(InternalError);
    expect(() => checkCounterLayout({ ...slots, retries: 7 })).toThrow(/retries: engine 7, src\/counters\.ts none/);
  });

  it('decodes what a real engine job wrote, per target', async () => {
    const size = 3 << 20;
    const src = makeFile(join(fx.dir, 'src'), size);
    const counters = allocateCounters(2);
    expect(counters.byteLength).toBe(counterBytes(2));
    const job = new EngineJob(
      {
        mode: 'copy',
        source: { path: src },
        targets: ['t0', 't1'].map((t) => ({ path: makeFile(join(fx.dir, t), size, 'zero'), delta: 0 })),
        extents: [{ offset: 0, length: size }],
        blockSize: 1 << 20,
        depth: 2,
      },
      counters,
    );
    expect(readCounters(counters, size).state).toBe('init');
    const out = await job.run();
    expect(out.state).toBe('done');
    const seen = readCounters(counters, size);
    expect(seen).toMatchObject({ state: 'done', total: size, bytesRead: size, bytesBad: 0, readErrors: 0, position: size, inFlight: 0 });
    expect(seen.targets).toEqual([
      { bytes: size, errors: 0 },
      { bytes: size, errors: 0 },
    ]);
  });
});
