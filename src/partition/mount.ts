// Mounting partitions of a drive or raw image under DIR/<number> through loop devices at their
// offsets (this kernel parses no tables itself), read-only unless asked, and undoing it: the
// state file DIR/.clonestation-mounts.json says which loops and mount points are ours.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, readFileSync, readdirSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { IoError, RefusedError, UsageError } from '../errors.js';
import { FS_HEAD, probeFs } from './fs-probe.js';
import { detachLoopIfSame, loopIdentity } from '../loop.js';

function readHead(p: Mountable): Buffer {
  const fd = openSync(p.path, 'r');
  try {
    const b = Buffer.alloc(Math.min(FS_HEAD, p.size));
    const n = readSync(fd, b, 0, b.length, p.offset);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

export const STATE_FILE = '.clonestation-mounts.json';

export interface Mountable {
  number: number;
  /** the file or device holding the partition, and where in it */
  path: string;
  offset: number;
  size: number;
}

export interface Mounted {
  number: number;
  type: string;
  label?: string;
  loop: string;
  /** what the loop maps (loopIdentity): it is detached later only while it still maps that */
  loopId?: string;
  mountPoint: string;
  readOnly: boolean;
}

export interface MountResult {
  dir: string;
  mounted: Mounted[];
  /** partitions left unmounted, and why */
  skipped: { number: number; reason: string }[];
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    const err = e as { code?: string; stderr?: string; status?: number };
    if (err.code === 'ENOENT') throw new RefusedError('TOOL_MISSING', `${cmd} is not installed: install util-linux`, { tool: cmd });
    throw new IoError('MOUNT_FAILED', `${cmd} ${args.join(' ')} failed: ${(err.stderr ?? String(e)).trim().split('\n').slice(-1)[0]}`, { tool: cmd, status: err.status });
  }
}

/** DIR must be an existing empty folder (or one holding only our state of an earlier, undone mount). */
export function checkDir(dir: string): void {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (!st) throw new UsageError(`mount folder ${dir} does not exist: create it first`, 'NOT_FOUND');
  if (!st.isDirectory()) throw new UsageError(`mount folder ${dir} is not a folder`, 'BAD_PATH');
  if (existsSync(join(dir, STATE_FILE))) throw new RefusedError('ALREADY_MOUNTED', `${dir} already holds partitions clonestation mounted: clonestation image umount ${dir} first`, { dir });
  if (readdirSync(dir).length > 0) throw new UsageError(`mount folder ${dir} is not empty: give an empty folder`, 'BAD_PATH');
}

/**
 * Mounts each partition whose file system we recognise under DIR/<number>, through a loop
 * device at its offset (read-only unless `readWrite`; ext3/4 read-only with noload, so not even
 * the journal is replayed). One that fails to mount (a file system the kernel lacks) is
 * skipped and said.
 */
export async function mountPartitions(dir: string, parts: readonly Mountable[], readWrite = false, o: { dirChecked?: boolean } = {}): Promise<MountResult> {
  const abs = resolve(dir);
  // (a caller that put something of its own in DIR first checked it was empty then)
  if (!o.dirChecked) checkDir(abs);
  const result: MountResult = { dir: abs, mounted: [], skipped: [] };
  const save = (): void => writeFileSync(join(abs, STATE_FILE), `${JSON.stringify({ mounted: result.mounted }, null, 1)}\n`);
  for (const p of parts) {
    const fs = probeFs(readHead(p));
    if (!fs || fs.type === 'swap') {
      result.skipped.push({ number: p.number, reason: fs ? 'swap is not mounted' : 'no file system recognised' });
      continue;
    }
    const args = ['--find', '--show', '--offset', String(p.offset), '--sizelimit', String(p.size), ...(readWrite ? [] : ['--read-only']), p.path];
    const loop = run('losetup', args);
    const at = join(abs, String(p.number));
    try {
      mkdirSync(at);
      const opts = readWrite ? 'rw' : fs.type.startsWith('ext') && fs.type !== 'ext2' ? 'ro,noload' : 'ro';
      run('mount', ['-t', fs.type, '-o', opts, loop, at]);
    } catch (e) {
      try {
        execFileSync('losetup', ['-d', loop], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
      if (existsSync(at)) rmdirSync(at);
      result.skipped.push({ number: p.number, reason: `${fs.type} could not be mounted (${e instanceof Error ? e.message : String(e)})` });
      continue;
    }
    const loopId = loopIdentity(loop);
    result.mounted.push({ number: p.number, type: fs.type, ...(fs.label ? { label: fs.label } : {}), loop, ...(loopId ? { loopId } : {}), mountPoint: at, readOnly: !readWrite });
    save();
  }
  return result;
}

/** Undoes mountPartitions: unmounts, detaches its loops, removes the folders it made and its state file. */
export function unmountPartitions(dir: string): Mounted[] {
  const abs = resolve(dir);
  const state = join(abs, STATE_FILE);
  let mounted: Mounted[];
  try {
    mounted = (JSON.parse(readFileSync(state, 'utf8')) as { mounted: Mounted[] }).mounted;
  } catch {
    throw new UsageError(`${dir} holds no partitions clonestation mounted (no ${STATE_FILE}): unmount others with umount`, 'NOT_MOUNTED');
  }
  if (!Array.isArray(mounted)) throw new UsageError(`${state} is damaged: unmount with umount and losetup -d`, 'NOT_MOUNTED');
  for (const m of mounted) {
    // only what we made: a mount point inside DIR, a loop device
    if (typeof m.mountPoint !== 'string' || resolve(m.mountPoint) !== join(abs, String(m.number)) || typeof m.loop !== 'string' || !/^\/dev\/loop\d+$/.test(m.loop)) {
      throw new UsageError(`${state} names ${JSON.stringify(m.mountPoint)}, not a folder clonestation made in ${dir}: unmount with umount and losetup -d`, 'NOT_MOUNTED');
    }
  }
  for (const m of mounted) {
    const mountsText = readFileSync('/proc/self/mounts', 'utf8');
    const mountedFrom = mountsText.split('\n').find((l) => l.split(' ')[1] === m.mountPoint)?.split(' ')[0];
    // The loop is ours if it still holds our mount, or still maps what it mapped when we made
    // it; unmounted by hand, it may have been freed and its number given to another drive.
    const loopId = mountedFrom === m.loop ? loopIdentity(m.loop) : typeof m.loopId === 'string' ? m.loopId : undefined;
    if (mountedFrom !== undefined) run('umount', [m.mountPoint]);
    detachLoopIfSame(m.loop, loopId);
    if (existsSync(m.mountPoint)) rmdirSync(m.mountPoint);
  }
  unlinkSync(state);
  return mounted;
}
