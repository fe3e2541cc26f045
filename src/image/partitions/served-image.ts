// A compressed image as a plain read-only file, for `image mount`: nbdfuse mounts DIR/.clonestation-image
// and runs our NBD server (workers/nbd-serve.ts) as its command, which decompresses only the
// frames each read falls in (a zstd image's seek table). Loops then map its partitions as they
// map a raw image's. Ended by unmounting the FUSE folder: nbdfuse exits, and so does the server.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { IoError, RefusedError } from '../../errors.js';
import { workerFile } from '../../worker-file.js';

/** The FUSE folder inside DIR, and the files beside it (nbdfuse's pid, its and the server's log). */
export const SERVED_DIR = '.clonestation-image';
export const SERVED_FILE = 'disk.img';

export interface ServedImage {
  /** DIR/.clonestation-image: the FUSE mount holding disk.img */
  mountPoint: string;
  /** DIR/.clonestation-image/disk.img */
  file: string;
}

const paths = (dir: string): { mountPoint: string; file: string; pid: string; log: string } => ({
  mountPoint: join(dir, SERVED_DIR),
  file: join(dir, SERVED_DIR, SERVED_FILE),
  pid: join(dir, `${SERVED_DIR}.pid`),
  log: join(dir, `${SERVED_DIR}.log`),
});

function fuseMounted(mountPoint: string): boolean {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === mountPoint && l.split(' ')[2]?.startsWith('fuse'));
}

function lastLogLine(log: string): string {
  try {
    return readFileSync(log, 'utf8').trim().split('\n').slice(-1)[0] ?? '';
  } catch {
    return '';
  }
}

/**
 * Serves `imagePath` (absolute) as DIR/.clonestation-image/disk.img, read-only, and waits until the
 * file is there. DIR is the (checked, empty) mount folder.
 */
export async function serveImage(dir: string, imagePath: string, size: number): Promise<ServedImage> {
  const p = paths(dir);
  for (const tool of ['nbdfuse', 'fusermount3'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      throw new RefusedError('TOOL_MISSING', `${tool} is not installed: install libnbd-bin and fuse3 to mount a compressed image, or restore it to a drive or a raw file first`, { tool });
  mkdirSync(p.mountPoint);
  const log = openSync(p.log, 'w', 0o600);
  try {
    // detached (a session of its own): the mount outlives this command; -r: read-only; -P:
    // written once the file is up
    const child = spawn('nbdfuse', ['-r', '-P', p.pid, p.file, '--command', process.execPath, workerFile('nbd-serve'), imagePath], { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    let exited: number | null | undefined;
    child.on('exit', (code) => (exited = code));
    const deadline = Date.now() + 30_000;
    while (!(existsSync(p.pid) && fuseMounted(p.mountPoint) && existsSync(p.file))) {
      if (exited !== undefined || Date.now() > deadline) {
        const why = `nbdfuse ${exited !== undefined ? `exited with ${exited}` : 'did not start in 30 s'}: ${lastLogLine(p.log) || 'no message'}`;
        stopServing(dir);
        throw new IoError('MOUNT_FAILED', `the image could not be served as a file (${why})`, { tool: 'nbdfuse' });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    closeSync(log);
  }
  // the size the kernel sees is the image's: a short file would cut off the last partition
  const fd = openSync(p.file, 'r');
  try {
    const probe = Buffer.alloc(1);
    if (size > 0 && readSync(fd, probe, 0, 1, size - 1) !== 1) throw new IoError('MOUNT_FAILED', `the served image reads short of its ${size} bytes`, {});
  } finally {
    closeSync(fd);
  }
  return { mountPoint: p.mountPoint, file: p.file };
}

/** Ends what serveImage started in DIR (nothing when it is not there): unmount, then its files. */
export function stopServing(dir: string): void {
  const p = paths(dir);
  if (fuseMounted(p.mountPoint)) {
    const r = spawnSync('fusermount3', ['-u', p.mountPoint], { encoding: 'utf8' });
    // busy a moment after the loops over it were detached (the kernel lets go of the file
    // asynchronously): lazily then, it goes as soon as nothing holds it
    if (r.status !== 0) spawnSync('fusermount3', ['-u', '-z', p.mountPoint]);
  }
  if (existsSync(p.mountPoint) && !fuseMounted(p.mountPoint)) rmdirSync(p.mountPoint);
  rmSync(p.pid, { force: true });
  rmSync(p.log, { force: true });
}
