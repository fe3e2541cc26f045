// The engine's counters: a BigUint64Array over a SharedArrayBuffer that native writes and any
// thread reads at any pace. Part of the thread contract (src/contract.ts re-exports it); kept
// apart so the engine, below the contract, can import it without importing the contract.
import { InternalError } from './errors.js';

// Native writes them (native/job.h, namespace ctr) and exports its slot numbers as
// engine.counterSlots; src/engine.ts checks at load that they are these (checkCounterLayout).

/** Slot of each header counter (native/job.h ctr::k*). */
export const CounterSlot = { state: 0, bytesRead: 1, bytesBad: 2, readErrors: 3, position: 4, bytesCompared: 5, inFlight: 6 } as const;
/** Header slots before the per-target pairs (one spare after inFlight). */
export const COUNTER_HEADER = 8;
/** Per target i: [COUNTER_HEADER + 2i] bytes written (or read back), [+1] errors. */
export const COUNTER_TARGET_STRIDE = 2;
export const CounterTarget = { bytes: 0, errors: 1 } as const;

/** native's JobState, by value (native/job.h: Init = 0 ... Cancelled = 4). */
export const ENGINE_STATES = ['init', 'running', 'done', 'failed', 'cancelled'] as const;
export type EngineState = (typeof ENGINE_STATES)[number];

/** The layout as native names it (engine.counterSlots). */
export type CounterLayout = { [K in keyof typeof CounterSlot]: number } & { header: number };

/**
 * Throws InternalError unless native's slots are exactly ours: a rebuilt engine with a
 * moved counter would otherwise show one figure as another, silently.
 */
export function checkCounterLayout(native: Record<string, number>): void {
  const ours: Record<string, number> = { ...CounterSlot, header: COUNTER_HEADER };
  const keys = new Set([...Object.keys(ours), ...Object.keys(native)]);
  const wrong = [...keys].filter((k) => ours[k] !== native[k]).map((k) => `${k}: engine ${native[k] ?? 'none'}, src/counters.ts ${ours[k] ?? 'none'}`);
  if (wrong.length > 0) throw new InternalError(`the native engine's counter layout differs from src/counters.ts (${wrong.join('; ')}): rebuild the engine, or update CounterSlot to native/job.h`, { wrong });
}

/** Bytes of counters a job over `targets` targets needs. */
export function counterBytes(targets: number): number {
  return BigUint64Array.BYTES_PER_ELEMENT * (COUNTER_HEADER + COUNTER_TARGET_STRIDE * targets);
}

/** The counters a job needs, in shared memory so another thread can read them. */
export function allocateCounters(targets: number): SharedArrayBuffer {
  return new SharedArrayBuffer(counterBytes(targets));
}

/** One value per counter slot the engine writes (the slot names are the field names). */
export type ProgressSnapshot = { [K in Exclude<keyof typeof CounterSlot, 'state'>]: number } & {
  state: EngineState;
  total: number;
  targets: { bytes: number; errors: number }[];
};

/** Reads a job's counters from its shared memory; safe from any thread at any time. */
export function readCounters(counters: SharedArrayBuffer, total: number): ProgressSnapshot {
  const a = new BigUint64Array(counters);
  const get = (i: number): number => Number(Atomics.load(a, i));
  const targets: ProgressSnapshot['targets'] = [];
  for (let i = COUNTER_HEADER; i + COUNTER_TARGET_STRIDE - 1 < a.length; i += COUNTER_TARGET_STRIDE) {
    targets.push({ bytes: get(i + CounterTarget.bytes), errors: get(i + CounterTarget.errors) });
  }
  return {
    state: ENGINE_STATES[get(CounterSlot.state)] ?? 'failed',
    total,
    bytesRead: get(CounterSlot.bytesRead),
    bytesBad: get(CounterSlot.bytesBad),
    readErrors: get(CounterSlot.readErrors),
    position: get(CounterSlot.position),
    bytesCompared: get(CounterSlot.bytesCompared),
    inFlight: get(CounterSlot.inFlight),
    targets,
  };
}
