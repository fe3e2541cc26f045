// Exclusive claims an operation holds on what it writes, for its whole life: a block device
// opened O_EXCL (the kernel's own claim: it refuses a mounted device and any other claimer),
// a regular file or a rescue map locked with flock(2) (refuses another clonestation run;
// dies with the process, kill -9 included). Engine jobs run inside the claim open the device
// without O_EXCL (engine.ts asks isClaimed), so no pass, phase or ring teardown races it.
import { closeSync, constants as fsConstants, ftruncateSync, openSync, readSync, realpathSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { IoError, RefusedError, UsageError, isSystemCallError, openError } from './errors.js';
import { engine } from './native.js';

/** rdev of each block device this thread holds a claim on, with how many claims hold it. */
const claimedDevices = new Map<number, number>();

/** Whether this thread holds a claim on the block device at `path` (by device number, not name). */
export function isClaimed(path: string): boolean {
  if (claimedDevices.size === 0) return false;
  const st = statSync(path, { throwIfNoEntry: false });
  return st !== undefined && st.isBlockDevice() && claimedDevices.has(st.rdev);
}

type Held = { kind: 'device'; fd: number; rdev: number } | { kind: 'file'; fd: number } | { kind: 'sidecar'; fd: number; path: string };

const wouldBlock = (e: unknown): boolean => isSystemCallError(e) && (e.code === 'EAGAIN' || e.code === 'EWOULDBLOCK');

/** The lock file of a rescue map or a backup: beside it, named after it (a map is replaced by rename at every save). */
export function mapLockPath(mapPath: string): string {
  const abs = resolve(mapPath);
  let dir = dirname(abs);
  try {
    dir = realpathSync(dir);
  } catch {
    // a missing folder: the open below says so
  }
  return join(dir, `${basename(abs)}.lock`);
}

/** Every claim of one operation; release() ends them all: `using claims = new Claims()`, or a finally. */
export class Claims implements Disposable {
  private readonly held: Held[] = [];

  /**
   * Claims a target before anything is written to it: a block device with O_EXCL (EBUSY:
   * TARGET_BUSY), a regular file with flock (held: IN_USE). `create`: a missing file is
   * created (empty) by the claim itself, so that two runs racing to create it meet here.
   */
  target(path: string, opts: { create?: boolean } = {}): this {
    const st = statSync(path, { throwIfNoEntry: false });
    try {
      if (st?.isBlockDevice()) {
        const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_EXCL);
        this.held.push({ kind: 'device', fd, rdev: st.rdev });
        claimedDevices.set(st.rdev, (claimedDevices.get(st.rdev) ?? 0) + 1);
      } else if (st?.isFile() || (st === undefined && opts.create)) {
        this.held.push({ kind: 'file', fd: engine.lockFile(path, opts.create ?? false, false) });
      } else if (st === undefined) {
        throw openError(Object.assign(new Error(`${path} does not exist`), { code: 'ENOENT' }), 'target', path);
      } else {
        throw new UsageError(`target ${path} is not a block device or a regular file: choose a drive or an image file`, 'BAD_TARGET', { path });
      }
    } catch (e) {
      if (wouldBlock(e))
        throw new RefusedError('IN_USE', `target ${path} is being written by another clonestation run: wait for it to end, or stop it`, { path });
      if (e instanceof UsageError || e instanceof RefusedError || e instanceof IoError) throw e;
      throw openError(e, 'target', path);
    }
    return this;
  }

  /** Every target of a job, in order; on a refusal the ones already claimed are released. */
  targets(paths: readonly string[], opts: { create?: boolean } = {}): this {
    try {
      for (const p of paths) this.target(p, opts);
    } catch (e) {
      this.release();
      throw e;
    }
    return this;
  }

  /**
   * Locks a rescue map (and so its journals) for this run: a lock file beside it holding
   * our pid, removed at release. A second run on the same map is refused with IN_USE.
   */
  map(mapPath: string): this {
    return this.sidecar(mapPath, `mapfile ${mapPath}`, 'IN_USE');
  }

  /**
   * Locks a backup's name (OUT and the files it writes beside it: parts, manifest, hashes):
   * a second backup to the same OUT is refused with BACKUP_RUNNING, even one started at the
   * same moment (the manifest's writer record alone cannot see that race).
   */
  backup(name: string): this {
    return this.sidecar(name, `backup ${name}`, 'BACKUP_RUNNING');
  }

  /** A lock file `<path>.lock` beside `path`, holding our pid; `code` refuses a second holder. */
  private sidecar(path: string, what: string, code: string): this {
    const lock = mapLockPath(path);
    let fd: number;
    try {
      fd = engine.lockFile(lock, true, true);
    } catch (e) {
      if (wouldBlock(e)) {
        const pid = readPid(lock);
        throw new RefusedError(code, `${what} is in use by another clonestation run${pid ? ` (pid ${pid})` : ''}: wait for it to end, or stop it`, { path, lock, pid });
      }
      const msg = e instanceof Error ? e.message : String(e);
      if (isSystemCallError(e) && (e.code === 'ELOOP' || e.code === 'EINVAL'))
        throw new RefusedError('LOCK_FILE_NOT_OURS', `${lock} (the lock of ${what}) is a link or not a regular file: it was left alone; remove it if it is not needed`, { path, lock });
      throw new IoError('LOCK_FAILED', `cannot lock ${what} (${msg}): check the folder's permissions and free space`, { path, lock });
    }
    this.held.push({ kind: 'sidecar', fd, path: lock });
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
    } catch {
      // the pid only makes a refusal's message friendlier; the lock is what counts
    }
    return this;
  }

  [Symbol.dispose](): void {
    this.release();
  }

  /** Ends every claim, newest first. Safe to call twice. */
  release(): void {
    for (const h of this.held.splice(0).reverse()) {
      if (h.kind === 'device') {
        const n = (claimedDevices.get(h.rdev) ?? 1) - 1;
        if (n > 0) claimedDevices.set(h.rdev, n);
        else claimedDevices.delete(h.rdev);
      }
      // removed while still locked: a run waiting on this file finds it gone and retries
      if (h.kind === 'sidecar') {
        try {
          unlinkSync(h.path);
        } catch {
          // already gone: nothing to clean up
        }
      }
      closeSync(h.fd);
    }
  }
}

/** The pid a map's lock file names, if it can be read (best effort, for the message). */
function readPid(path: string): number | undefined {
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(32);
      const n = readSync(fd, buf, 0, buf.length, 0);
      const pid = Number.parseInt(buf.subarray(0, n).toString('utf8'), 10);
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}
