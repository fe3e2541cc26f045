// The I/O generator's spec check: defaults filled in, and every bad field refused with its code.
import { describe, expect, it } from 'vitest';
import { checkIoGenSpec, type IoGenSpec } from '../../src/iogen.js';
import { UsageError } from '../../src/errors.js';

const MiB = 1 << 20;
const target = { size: 64 * MiB, directAlign: 512 };
const base: IoGenSpec = { path: '/dev/null-test', rw: 'randread', blockSize: 4096, runtimeMs: 1000 };

function code(spec: Partial<IoGenSpec>, t = target): string {
  try {
    checkIoGenSpec({ ...base, ...spec } as IoGenSpec, t);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as UsageError).code;
  }
  return 'accepted';
}

describe('checkIoGenSpec', () => {
  it('fills in the defaults: whole drive, depth 1, one ring, seed 1, random data', () => {
    const s = checkIoGenSpec(base, target);
    expect(s).toMatchObject({ readPercent: 100, random: true, depth: 1, jobs: 1, offset: 0, size: 64 * MiB, ops: 0, runtimeMs: 1000, rampMs: 0, seed: 1, zeroBuffers: false, exclusive: false, backend: 'auto' });
  });

  it('maps fio names to direction and order', () => {
    expect(checkIoGenSpec({ ...base, rw: 'read' }, target)).toMatchObject({ readPercent: 100, random: false });
    expect(checkIoGenSpec({ ...base, rw: 'write' }, target)).toMatchObject({ readPercent: 0, random: false, exclusive: true });
    expect(checkIoGenSpec({ ...base, rw: 'randwrite', exclusive: false }, target)).toMatchObject({ readPercent: 0, random: true, exclusive: false });
    expect(checkIoGenSpec({ ...base, rw: 'rw' }, target)).toMatchObject({ readPercent: 50, random: false });
    expect(checkIoGenSpec({ ...base, rw: 'randrw', readPercent: 70 }, target)).toMatchObject({ readPercent: 70, random: true });
  });

  it('turns a byte count into I/Os, with no ramp', () => {
    const s = checkIoGenSpec({ ...base, runtimeMs: undefined, bytes: 100 * 4096 }, target);
    expect(s).toMatchObject({ ops: 100, runtimeMs: 0, rampMs: 0 });
  });

  it('refuses each bad field with its code', () => {
    expect(code({ rw: 'trim' as IoGenSpec['rw'] })).toBe('IOGEN_RW');
    expect(code({ readPercent: 50 })).toBe('IOGEN_READ_PERCENT');
    expect(code({ rw: 'randrw', readPercent: -1 })).toBe('IOGEN_READ_PERCENT');
    expect(code({ rw: 'randrw', readPercent: 50.5 })).toBe('IOGEN_READ_PERCENT');
    expect(code({ blockSize: 0 })).toBe('IOGEN_BLOCK_SIZE');
    expect(code({ blockSize: 1000 })).toBe('IOGEN_BLOCK_SIZE');
    expect(code({ blockSize: 512 }, { size: 64 * MiB, directAlign: 4096 })).toBe('IOGEN_BLOCK_SIZE');
    expect(code({ blockSize: 128 * MiB })).toBe('IOGEN_BLOCK_SIZE');
    expect(code({ blockSize: 512 })).toBe('accepted');
    expect(code({ depth: 0 })).toBe('IOGEN_DEPTH');
    expect(code({ depth: 1025 })).toBe('IOGEN_DEPTH');
    expect(code({ depth: 128, jobs: 64, backend: 'threads' })).toBe('IOGEN_DEPTH');
    expect(code({ depth: 64, jobs: 64, backend: 'threads' })).toBe('accepted');
    expect(code({ depth: 64, jobs: 64, backend: 'io_uring' })).toBe('accepted');
    expect(code({ jobs: 0 })).toBe('IOGEN_JOBS');
    expect(code({ jobs: 1.5 })).toBe('IOGEN_JOBS');
    expect(code({ offset: 100 })).toBe('IOGEN_RANGE');
    expect(code({ offset: 64 * MiB })).toBe('IOGEN_RANGE');
    expect(code({ offset: MiB, size: 64 * MiB })).toBe('IOGEN_RANGE');
    expect(code({ size: 2048 })).toBe('IOGEN_RANGE');
    expect(code({ runtimeMs: undefined })).toBe('IOGEN_LIMIT');
    expect(code({ bytes: 4096 })).toBe('IOGEN_LIMIT');
    expect(code({ runtimeMs: 0 })).toBe('IOGEN_LIMIT');
    expect(code({ rampMs: -1 })).toBe('IOGEN_LIMIT');
    expect(code({ runtimeMs: undefined, bytes: 5000 })).toBe('IOGEN_LIMIT');
    expect(code({ runtimeMs: undefined, bytes: 4096, rampMs: 10 })).toBe('IOGEN_LIMIT');
    expect(code({ seed: -1 })).toBe('IOGEN_SEED');
    expect(code({ seed: 2 ** 60 })).toBe('IOGEN_SEED');
    expect(code({ recordOffsets: -1 })).toBe('IOGEN_RECORD');
  });
});
