// A file that is new is written under a `.partial` name beside its final one, and takes
// the final name only once it is complete (written, synced, checked): an interrupted run
// never leaves a file under the final name that looks complete. (backup does the same.)
import { closeSync, existsSync, fsyncSync, lstatSync, openSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { IoError, RefusedError } from './errors.js';

export const PARTIAL_SUFFIX = '.partial';

/** Where a new file `path` is written until it is complete. */
export function partialPath(path: string): string {
  return `${path}${PARTIAL_SUFFIX}`;
}

/**
 * A `.partial` left by an interrupted run is ours to start afresh; anything else under that
 * name (a link, a device, a folder, a file with other names) is not, and is left alone.
 */
export function checkPartial(partial: string): void {
  const st = lstatSync(partial, { throwIfNoEntry: false });
  if (st && (!st.isFile() || st.nlink > 1))
    throw new RefusedError('OUTPUT_EXISTS', `${partial} exists and is not an unfinished copy clonestation left (${st.isFile() ? 'a file with other names' : st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}): remove it or choose another target name`, { path: partial });
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
  } catch (e) {
    // some file systems (FUSE, network) cannot sync a folder: the file itself is synced
    const code = (e as { code?: string }).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
  } finally {
    closeSync(dir);
  }
}
