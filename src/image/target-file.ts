// A file as a restore target: created when it is new, grown when it is shorter than what
// is written, and otherwise left as it is — never truncated, so every byte outside the
// range written keeps its value (a restore into a larger file, or at an offset).
import { closeSync, fstatSync, ftruncateSync, openSync } from 'node:fs';
import { openError } from '../errors.js';
import type { DriveInfo } from '../drive.js';

/** Prepares `path` (an existing file when `target` is set, else a new one) to hold bytes up to `end`. */
export function prepareFileTarget(target: DriveInfo | undefined, path: string, end: number): void {
  if (target?.kind === 'block') return;
  let fd: number;
  try {
    // a new file: created here, never over one that appeared since the plan ('wx')
    fd = openSync(path, target ? 'r+' : 'wx', 0o644);
  } catch (e) {
    throw openError(e, 'target', path);
  }
  try {
    if (fstatSync(fd).size < end) ftruncateSync(fd, end);
  } finally {
    closeSync(fd);
  }
}
