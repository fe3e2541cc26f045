// The files a command writes beside its drives (maps, journals, reports, logs, new image
// files) and the small files it reads (maps): checked before anything is written, regular
// files or new names only, never a device, FIFO or folder, and never an unbounded read.
import { accessSync, closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './errors.js';

/** Linux's limits: a name (one path component) of 255 bytes, a path of 4095 bytes (+ NUL). */
export const NAME_MAX = 255;
export const PATH_MAX = 4095;

/** Why a path cannot be written, in words (mkdir of a path through a file says EEXIST). */
export function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' || code === 'ENOTDIR') return 'a folder on the way is a file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'ENOSPC') return 'no space left';
  if (code === 'EISDIR') return 'it is a folder';
  if (code === 'ENAMETOOLONG') return 'the name is too long';
  if (code === 'ELOOP') return 'too many symbolic links';
  if (code === 'ENOTREG') return (e as Error).message;
  if (code === 'ENXIO') return 'it is a FIFO or a device that is not there';
  return code ?? (e as Error).message;
}

/** What a path that exists is, when it is not a regular file; undefined for a regular file. */
export function notAFile(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'it is a folder';
  if (st.isFIFO()) return 'it is a FIFO (named pipe), not a regular file';
  if (st.isCharacterDevice()) return 'it is a character device, not a regular file';
  if (st.isBlockDevice()) return 'it is a block device, not a regular file';
  if (st.isSocket()) return 'it is a socket, not a regular file';
  return 'it is not a regular file';
}

/**
 * What is wrong with `path` as the name of a file, whatever is on disk: empty, a NUL byte,
 * a trailing slash (names a folder), a name over 255 bytes or a path over 4095 bytes.
 */
export function pathShapeProblem(path: string): string | undefined {
  if (path === '') return 'the path is empty';
  if (path.includes('\0')) return 'the path holds a NUL byte';
  if (path.endsWith('/')) return 'a file name cannot end with a slash';
  if (Buffer.byteLength(path) > PATH_MAX) return `the path is longer than ${PATH_MAX} bytes`;
  const long = path.split('/').find((c) => Buffer.byteLength(c) > NAME_MAX);
  if (long !== undefined) return `the name ${JSON.stringify(`${long.slice(0, 16)}…`)} is longer than ${NAME_MAX} bytes`;
  return undefined;
}

export interface PathCheck {
  /** the error code (default BAD_OUTPUT); a missing folder is always NOT_FOUND */
  code?: string;
  /** how to fix it, ends the message (default: choose another path) */
  fix?: string;
  /** missing folders will be made (mkdir -p): the nearest existing one must be writable */
  createFolders?: boolean;
}

function refuse(what: string, path: string, reason: string, o: PathCheck, code = o.code ?? 'BAD_OUTPUT'): UsageError {
  return new UsageError(`cannot write ${what} ${path === '' ? "''" : path}: ${reason}: ${o.fix ?? 'choose another path'}`, code, { path });
}

/**
 * Checks that `path` can be written as a regular file: it is one already (written through,
 * or replaced by rename), or it is a new name in a writable folder. Throws UsageError (exit
 * 2) saying why not; looks only, writes nothing. `what`: 'the map', 'the report', ...
 */
export function checkOutputPath(path: string, what: string, o: PathCheck = {}): void {
  const shape = pathShapeProblem(path);
  if (shape) throw refuse(what, path, shape, o);
  let st: Stats | undefined;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw refuse(what, path, why(e), o);
  }
  if (st) {
    const kind = notAFile(st);
    if (kind) throw refuse(what, path, kind, o);
    try {
      accessSync(path, constants.W_OK);
    } catch (e) {
      throw refuse(what, path, why(e), o);
    }
    return;
  }
  // A new name: its folder must be a writable folder (or, with createFolders, the nearest
  // folder that exists). A dangling symbolic link is written where it points; its own
  // folder is the one checked, as the target's cannot be known without following it.
  let dir = dirname(resolve(path));
  for (;;) {
    let d: Stats;
    try {
      d = statSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && o.createFolders && dir !== dirname(dir)) {
        dir = dirname(dir);
        continue;
      }
      if (code === 'ENOENT') throw refuse(what, path, `its folder ${dirname(resolve(path))} does not exist`, { ...o, fix: 'create it or choose another path' }, 'NOT_FOUND');
      throw refuse(what, path, why(e), o);
    }
    if (!d.isDirectory()) throw refuse(what, path, 'a folder on the way is a file', o);
    try {
      accessSync(dir, constants.W_OK);
    } catch (e) {
      throw refuse(what, path, why(e), o);
    }
    return;
  }
}

export interface InputCheck {
  /** the error code (default BAD_OUTPUT) */
  code?: string;
  /** the words after "is N bytes, " when the file is larger than maxBytes */
  tooLarge?: string;
}

function refuseInput(what: string, path: string, reason: string, o: InputCheck): UsageError {
  return new UsageError(`${what} ${path === '' ? "''" : path}: ${reason}`, o.code ?? 'BAD_OUTPUT', { path });
}

/**
 * Reads a small input file (a map): a regular file of at most `maxBytes`. Undefined when it
 * does not exist. A FIFO, device or folder is refused (UsageError, exit 2) before it is
 * opened, and it is opened O_NONBLOCK and checked again on the descriptor, so a path that
 * turns into a FIFO in between cannot hang the read; a file that grows while read is cut
 * off at maxBytes + 1 and refused, so /proc-like or growing files cannot exhaust memory.
 * Other failures (permission, I/O) are thrown as node gives them.
 */
export function readInputFile(path: string, what: string, maxBytes: number, o: InputCheck = {}): Buffer | undefined {
  const shape = pathShapeProblem(path);
  if (shape) throw refuseInput(what, path, shape, o);
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const check = (s: Stats): void => {
    const kind = notAFile(s);
    if (kind) throw refuseInput(what, path, `${kind}: give the path of a file`, o);
    if (s.size > maxBytes) throw refuseInput(what, path, `is ${s.size} bytes, ${o.tooLarge ?? `more than ${maxBytes}`}`, o);
  };
  check(st);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const now = fstatSync(fd);
    check(now);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(Math.max(now.size - total, 0) + 1, 1 << 20, maxBytes + 1 - total));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw refuseInput(what, path, `is more than ${maxBytes} bytes, ${o.tooLarge ?? 'too large'}`, o);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a whole small output file (a report). It is opened without blocking and checked
 * to be a regular file on the descriptor before it is truncated or written, so a path that
 * became a FIFO, device or folder since it was checked fails at once: never written, never
 * waited on. Throws node's error, or one with code ENOTREG (why() says what it is).
 */
export function writeOutputFile(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NONBLOCK, 0o644);
  try {
    const kind = notAFile(fstatSync(fd));
    if (kind) throw Object.assign(new Error(kind), { code: 'ENOTREG' });
    ftruncateSync(fd, 0);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether two paths name the same file: the same absolute path (neither need exist yet), or
 * the same device and inode (hard links, symbolic links, other spellings).
 */
export function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/**
 * Refuses an output file (a report, a log) that is also one of the files a run reads or
 * writes for its jobs (a source, a target, a map): it would be overwritten by the other, or
 * write into it. `others`: each path with the words that name its role.
 */
export function checkOwnFile(path: string, what: string, others: readonly { path: string; role: string }[], o: PathCheck = {}): void {
  const clash = others.find((x) => sameFile(path, x.path));
  if (clash) throw refuse(what, path, `it is also ${clash.role}`, { ...o, fix: o.fix ?? 'give it a file of its own' });
}
