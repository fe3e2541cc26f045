// A file that is new is written under a `.partial` name beside its final one, and takes
// the final name only once it is complete (written, synced, checked): an interrupted run
// never leaves a file under the final name that looks complete. (backup does the same.)
import { closeSync, existsSync, fsyncSync, openSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { IoError } from './errors.js';

export const PARTIAL_SUFFIX = '.partial';

/** Where a new file `path` is written until it is complete. */
export function partialPath(path: string): string {
  return `${path}${PARTIAL_SUFFIX}`;
}

/**
 * Gives the complete file its final name, and makes the rename itself durable (the
 * folder is synced). Refuses to replace a file that appeared under the final name while
 * the copy ran: that file is not ours.
 */
export function publishPartial(partial: string, final: string): void {
  if (existsSync(final))
    throw new IoError('TARGET_APPEARED', `${final} appeared while the copy ran and was left alone: the finished copy is ${partial}`, { path: final, partial });
  renameSync(partial, final);
  const dir = openSync(dirname(final), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
