// What a failed chunk of a copy or a verify means to the user, in one place: the same code
// and message for a 1:1 clone and for each target of a station's job. Light on imports: a
// station's worker loads it without the planning code.
import { CloneStationError, IoError, VerifyMismatchError } from './errors.js';
import type { JobOutcome } from './engine.js';
import type { NativeChunkError, NativeEndpoint } from './native.js';

/** The parts of a plan a chunk failure is told with. */
interface PlanPlace {
  source: { path: string };
  targetPath: string;
  targetOffset: number;
  range: { offset: number };
}

export function directNote(role: string, ep: NativeEndpoint): string {
  return ep.direct ? `${role} O_DIRECT` : `${role} buffered (${ep.directNote})`;
}

/** Where a copy's chunk failures are: its source, a target, and target offset = source offset + delta. */
export interface CopyPlace {
  source: string;
  target: string;
  delta: number;
}

/** Turns the first chunk failure of a copy into the error the user sees. */
export function chunkFailure(e: NativeChunkError, plan: PlanPlace): CloneStationError {
  return copyFailure(e, { source: plan.source.path, target: plan.targetPath, delta: plan.targetOffset - plan.range.offset });
}

/** A chunk failure of a copy (1:1 or one target of many) as the error the user sees, at the offset where it is. */
export function copyFailure(e: NativeChunkError, at: CopyPlace): CloneStationError {
  const where = e.target < 0 ? at.source : at.target;
  const offset = e.target < 0 ? e.offset : e.offset + at.delta;
  const details = { offset, length: e.length, errno: e.code, op: e.op, path: where };
  if (e.code === 'END_OF_DATA')
    return new IoError('SOURCE_SHRANK', `source ${where} ended at offset ${offset}, before the range did: was it resized or unplugged?`, details);
  if (e.target < 0)
    return new IoError(
      'READ_FAILED',
      `reading source ${where} failed at offset ${offset} (${e.code}): the source may be failing; copy it with a rescue map (GNU ddrescue) instead`,
      details,
    );
  if (e.op === 'fdatasync')
    return new IoError('WRITE_FAILED', `flushing target ${where} to the device failed (${e.code}): the target may be failing; its contents are not trustworthy`, details);
  if (e.code === 'ENOSPC')
    return new IoError('TARGET_FULL', `target ${where} is full at offset ${offset} (ENOSPC): free space or choose a larger target`, details);
  return new IoError('WRITE_FAILED', `writing target ${where} failed at offset ${offset} (${e.code}): the target may be failing; choose another target`, details);
}

/** The engine could not run at all (as opposed to a chunk failing). */
export function engineFailure(fatal: NonNullable<JobOutcome['fatal']>, targetPath: string): IoError {
  if (fatal.syscall === 'io_uring_setup')
    return new IoError('IO_URING_UNAVAILABLE', `io_uring is not available here (${fatal.code}): use --backend auto or --backend threads`, { errno: fatal.code });
  return new IoError('ENGINE_FAILED', `the copy could not continue (${fatal.message}): target ${targetPath} is incomplete`, { errno: fatal.code });
}

/** A verify's failure on one target: a difference (VERIFY_MISMATCH) or a read that failed. */
export function verifyFailure(e: NativeChunkError, at: CopyPlace): CloneStationError {
  if (e.code === 'MISMATCH') {
    const t = e.offset + at.delta;
    return new VerifyMismatchError(`verify failed: target ${at.target} differs from the source at target offset ${t} (source offset ${e.offset}): the target may be failing`, {
      targetOffset: t,
      sourceOffset: e.offset,
    });
  }
  const path = e.target < 0 ? at.source : at.target;
  return new IoError('VERIFY_READ_FAILED', `verify could not read ${path} at offset ${e.target < 0 ? e.offset : e.offset + at.delta} (${e.code}): the copy is unverified`, { errno: e.code, path });
}

