// The native erase pass (native/pattern.cc) as a typed promise: write or compare a generated
// pattern over a range, or ask the block layer to zero out or discard it.
import { engine } from '../native.js';
import type { Pass } from './methods.js';

export type PatternOp = 'write' | 'verify' | 'zeroout' | 'discard' | 'secure-discard';

export interface PatternError {
  code: string;
  errno: number;
  syscall: string;
  message: string;
  /** the first failing byte (a mismatch, or the sector a read or write failed at) */
  offset?: number;
}

export interface PatternResult {
  state: 'done' | 'failed' | 'cancelled';
  bytesDone: number;
  bytesChecked: number;
  elapsedNs: number;
  mismatchedBytes: number;
  error?: PatternError;
}

interface NativeSpec {
  path: string;
  op: PatternOp;
  bytes?: Uint8Array;
  seed?: string;
  offset: number;
  length: number;
  blockSize?: number;
  threads?: number;
  samplePerTenThousand?: number;
}

interface NativePattern {
  start(): Promise<PatternResult>;
  cancel(): void;
}

// (the addon's pattern members, typed here so native.ts stays as it is)
const native = engine as unknown as {
  Pattern: new (spec: NativeSpec, counters: BigUint64Array) => NativePattern;
  patternBytes(spec: NativeSpec, offset: number, length: number): Uint8Array;
};

/** 4 counters: bytes done, bytes checked, state, spare. */
export const PATTERN_COUNTERS = 4;

export function allocatePatternCounters(): SharedArrayBuffer {
  return new SharedArrayBuffer(PATTERN_COUNTERS * 8);
}

export function readPatternCounters(sab: SharedArrayBuffer): { done: number; checked: number } {
  const a = new BigUint64Array(sab);
  return { done: Number(Atomics.load(a, 0)), checked: Number(Atomics.load(a, 1)) };
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function passSpec(pass: Pass | undefined): Pick<NativeSpec, 'bytes' | 'seed'> {
  if (!pass) return {};
  return pass.kind === 'random' ? { seed: pass.seed } : { bytes: hexBytes(pass.hex) };
}

export interface PatternRequest {
  path: string;
  op: PatternOp;
  /** the pattern written or expected (zeros when absent and op is verify) */
  pass?: Pass;
  offset: number;
  length: number;
  blockSize?: number;
  threads?: number;
  /** verify only this percent of the blocks */
  samplePercent?: number;
  counters?: SharedArrayBuffer;
  /** polled every 50 ms: true cancels */
  cancelled?: () => boolean;
}

/** Runs one pass on its own native thread. */
export async function runPattern(r: PatternRequest): Promise<PatternResult> {
  const counters = new BigUint64Array(r.counters ?? allocatePatternCounters());
  counters.fill(0n);
  const p = new native.Pattern(
    {
      path: r.path,
      op: r.op,
      ...passSpec(r.pass ?? (r.op === 'verify' ? { kind: 'bytes', hex: '00' } : undefined)),
      offset: r.offset,
      length: r.length,
      blockSize: r.blockSize,
      threads: r.threads,
      samplePerTenThousand: r.samplePercent !== undefined ? Math.round(r.samplePercent * 100) : undefined,
    },
    counters,
  );
  const timer = r.cancelled
    ? setInterval(() => {
        if (r.cancelled?.()) p.cancel();
      }, 50)
    : undefined;
  try {
    return await p.start();
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** What a pass holds at [offset, offset + length): for tests and for messages. */
export function patternBytes(pass: Pass, offset: number, length: number): Uint8Array {
  return native.patternBytes({ path: '', op: 'write', ...passSpec(pass), offset: 0, length: 0 }, offset, length);
}
