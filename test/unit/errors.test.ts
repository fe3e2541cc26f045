import { describe, expect, it } from 'vitest';
import { CancelledError, CloneStationError, ExitStatus, IoError, RefusedError, UsageError, VerifyMismatchError, openError } from '../../src/errors.js';
import { chunkFailure, type ClonePlan } from '../../src/clone.js';
import type { NativeChunkError } from '../../src/native.js';

const sysErr = (code: string): Error => Object.assign(new Error(`open /dev/x: ${code}`), { code, syscall: 'open' });

describe('error classes', () => {
  it('carry a stable code and exit status', () => {
    expect(new UsageError('x').exitStatus).toBe(ExitStatus.usage);
    expect(new UsageError('x').code).toBe('USAGE');
    expect(new RefusedError('SAME_DRIVE', 'x').exitStatus).toBe(4);
    expect(new IoError('READ_FAILED', 'x').exitStatus).toBe(1);
    expect(new VerifyMismatchError('x').exitStatus).toBe(5);
    expect(new CancelledError('x').exitStatus).toBe(130);
    expect(new RefusedError('X', 'y')).toBeInstanceOf(CloneStationError);
    expect(new RefusedError('X', 'y').name).toBe('RefusedError');
  });
});

describe('openError maps errno to what the user should do', () => {
  it.each([
    ['ENOENT', 'NOT_FOUND', 2],
    ['EACCES', 'PERMISSION_DENIED', 1],
    ['EPERM', 'PERMISSION_DENIED', 1],
    ['EBUSY', 'TARGET_BUSY', 4],
    ['EROFS', 'READ_ONLY', 1],
    ['ENXIO', 'DRIVE_GONE', 1],
    ['ENOMEDIUM', 'DRIVE_GONE', 1],
    ['EINVAL', 'BAD_TARGET', 2],
    ['EIO', 'OPEN_FAILED', 1],
  ])('%s -> %s (exit %d)', (errno, code, status) => {
    const e = openError(sysErr(errno), 'target', '/dev/x');
    expect(e.code).toBe(code);
    expect(e.exitStatus).toBe(status);
    expect(e.message).toContain('/dev/x');
    expect(e.message).not.toContain('\n');
  });
  it('maps a non-system error to an internal error', () => {
    expect(openError('weird', 'source', '/x').code).toBe('INTERNAL');
  });
});

describe('chunkFailure names the drive and the offset', () => {
  const plan = {
    source: { path: '/dev/src' },
    targetPath: '/dev/dst',
    range: { offset: 4096, length: 1 << 20 },
    targetOffset: 8192,
  } as unknown as ClonePlan;
  const chunk = (over: Partial<NativeChunkError>): NativeChunkError => ({ offset: 65536, length: 4096, errno: 5, code: 'EIO', target: -1, op: 'read', ...over });

  it('a read error is at the source offset', () => {
    const e = chunkFailure(chunk({}), plan);
    expect(e.code).toBe('READ_FAILED');
    expect(e.details.offset).toBe(65536);
    expect(e.message).toContain('/dev/src');
  });
  it('a write error is at the target offset', () => {
    const e = chunkFailure(chunk({ target: 0, op: 'write' }), plan);
    expect(e.code).toBe('WRITE_FAILED');
    expect(e.details.offset).toBe(65536 - 4096 + 8192);
  });
  it('ENOSPC says the target is full', () => {
    expect(chunkFailure(chunk({ target: 0, op: 'write', code: 'ENOSPC', errno: 28 }), plan).code).toBe('TARGET_FULL');
  });
  it('a source that ends early is not a media error', () => {
    expect(chunkFailure(chunk({ code: 'END_OF_DATA', errno: -2 }), plan).code).toBe('SOURCE_SHRANK');
  });
  it('a failed flush is a write failure', () => {
    expect(chunkFailure(chunk({ target: 0, op: 'fdatasync' }), plan).code).toBe('WRITE_FAILED');
  });
});
