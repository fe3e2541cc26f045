import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, parseCount, parseSize } from '../../src/units.js';
import { UsageError } from '../../src/errors.js';

describe('parseSize', () => {
  it.each([
    ['0', 0],
    ['4096', 4096],
    ['0x1000', 4096],
    ['4k', 4096],
    ['4K', 4096],
    ['4KiB', 4096],
    ['4kB', 4000],
    ['4KB', 4000],
    ['1MiB', 1 << 20],
    ['1M', 1 << 20],
    ['2GB', 2e9],
    ['2G', 2 * 1024 ** 3],
    ['1TiB', 1024 ** 4],
    ['1.5MiB', 1.5 * (1 << 20)],
    ['16B', 16],
    [' 8s ', 8 * 512],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text, '--x')).toBe(bytes);
  });

  it('counts sectors of the given size', () => {
    expect(parseSize('8s', '--offset', 4096)).toBe(32768);
  });

  it.each(['', 'abc', '-1', '1.5', '4XB', '1e3', '0x', '4 MiBs', '1.0000001k'])('rejects %j with a usage error that names the option', (text) => {
    expect(() => parseSize(text, '--length')).toThrowError(UsageError);
    try {
      parseSize(text, '--length');
    } catch (e) {
      expect((e as UsageError).code).toBe('BAD_SIZE');
      expect((e as UsageError).message).toContain('--length');
      expect((e as UsageError).exitStatus).toBe(2);
    }
  });

  it('rejects sizes beyond what a double holds exactly', () => {
    expect(() => parseSize('100PiB', '--length')).toThrowError(/too large/);
  });
});

describe('parseCount', () => {
  it('accepts whole numbers in range', () => {
    expect(parseCount('8', '--depth', 1, 256)).toBe(8);
  });
  it.each(['0', '257', 'x', '1.5', '-2'])('rejects %j', (t) => {
    expect(() => parseCount(t, '--depth', 1, 256)).toThrowError(UsageError);
  });
});

describe('formatting', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(2 * 1024 ** 3)).toBe('2.00 GiB');
  });
  it('formats durations', () => {
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('--:--');
  });
});
