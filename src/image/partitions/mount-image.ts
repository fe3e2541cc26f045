// `image mount IMAGE DIR`: a raw (or split raw) image's partitions, each through a loop device
// over the file holding it, at its offset there; a zstd image's through loops over the image
// served as a file (served-image.ts); and the lines that say where they are.
import { UsageError } from '../../errors.js';
import { resolveImage } from '../open.js';
import { openImageReader, readImageTable } from './image-reader.js';
import { checkDir, mountPartitions, unmountPartitions, STATE_FILE, type Mounted, type Mountable, type MountResult } from '../../partition/mount.js';
import { SERVED_DIR, serveImage, stopServing } from './served-image.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Partition } from '../../partition/model.js';
import { FS_HEAD, probeFs } from '../../partition/fs-probe.js';

export async function mountImage(path: string, dir: string): Promise<MountResult> {
  const image = await resolveImage(path, { force: true });
  checkDir(resolve(dir));
  // a ZIP has no index into its deflate stream: every read far in would inflate from the start
  if (image.format === 'zip') throw new UsageError(`image ${image.name} is a ZIP, which cannot be read at random without inflating it from its start: restore it to a drive or a raw file first (clonestation restore ${image.name} FILE.img), or back up to .img.zst, which mounts`, 'IMAGE_NOT_RAW');
  const r = await openImageReader(image);
  // (number, start in the image, size) of what to mount
  let parts: Pick<Partition, 'number' | 'start' | 'size'>[];
  try {
    const whole = image.manifest !== undefined && image.manifest.range.offset !== 0 ? undefined : (await readImageTable(image, r.reader)).partitions.filter((p) => p.kind !== 'extended');
    if (whole && whole.length > 0) parts = whole;
    else {
      // a partition's image (backup --partition N), or a disk without a table: the file system,
      // if any, is the whole image
      const number = image.manifest?.partition ?? 1;
      if (!probeFs(await r.reader(0, FS_HEAD)))
        throw new UsageError(`image ${image.name} has ${whole ? 'no partition table and no file system on the whole of it' : `no file system this machine recognises in ${image.manifest?.partition !== undefined ? `partition ${number}` : 'the range it holds'}`}: nothing to mount`, 'NO_PARTITION_TABLE');
      parts = [{ number, start: 0, size: image.size }];
    }
  } finally {
    r.close();
  }
  const mountable: Mountable[] = [];
  const skipped: MountResult['skipped'] = [];
  if (image.format === 'zstd') {
    // the whole image as one file, decompressed frame by frame as the file systems are read
    const served = await serveImage(resolve(dir), resolve(path), image.size);
    for (const p of parts) mountable.push({ number: p.number, path: served.file, offset: p.start, size: p.size });
  } else {
    for (const p of parts) {
      const file = image.parts.find((f) => f.start <= p.start && p.start + p.size <= f.start + f.size);
      if (file) mountable.push({ number: p.number, path: file.path, offset: p.start - file.start, size: p.size });
      else skipped.push({ number: p.number, reason: 'it spans two files of the split image (join them, or restore the image)' });
    }
  }
  let res: MountResult;
  try {
    res = await mountPartitions(dir, mountable, false, { dirChecked: true });
  } catch (e) {
    unmountImage(dir);
    throw e;
  }
  // nothing mounted: nothing to keep serving
  if (res.mounted.length === 0) stopServing(resolve(dir));
  res.skipped.push(...skipped);
  res.skipped.sort((a, b) => a.number - b.number);
  return res;
}

/**
 * `image umount DIR`: what image mount or restore --mount did under DIR, undone (the
 * partitions, their loops, then the served image if there is one).
 */
export function unmountImage(dir: string): Mounted[] {
  const abs = resolve(dir);
  const gone = existsSync(join(abs, STATE_FILE)) || !existsSync(join(abs, SERVED_DIR)) ? unmountPartitions(abs) : [];
  stopServing(abs);
  return gone;
}

export function mountLines(r: MountResult): string[] {
  return [
    ...r.mounted.map((m) => `partition ${m.number} (${m.type}${m.label ? ` "${m.label}"` : ''}) mounted ${m.readOnly ? 'read-only' : 'read-write'} at ${m.mountPoint} (${m.loop})`),
    ...r.skipped.map((s) => `partition ${s.number} not mounted: ${s.reason}`),
    ...(r.mounted.length > 0 ? [`undo with: clonestation image umount ${r.dir}`] : []),
  ];
}

/**
 * `restore ... --mount DIR`: the restored target's partitions (those of its table after a
 * whole-disk restore, or the ones `--partition` wrote, at their offsets) mounted under DIR.
 */
export async function mountRestored(target: string, dir: string, readWrite: boolean, written?: { number: number; offset: number; size: number }[]): Promise<MountResult> {
  let parts: Mountable[];
  if (written) parts = written.map((w) => ({ number: w.number, path: target, offset: w.offset, size: w.size }));
  else {
    const { inspectDrive } = await import('../../drive.js');
    const { readTableOf } = await import('../../partition/open.js');
    const table = await readTableOf(inspectDrive(target, 'target'));
    parts = table.partitions.filter((p) => p.kind !== 'extended').map((p) => ({ number: p.number, path: target, offset: p.start, size: p.size }));
    if (parts.length === 0) {
      // a drive without a table: the file system may be on the whole of it
      const st = (await import('node:fs')).statSync(target);
      const size = st.isBlockDevice() ? table.diskSize : st.size;
      parts = [{ number: 1, path: target, offset: 0, size }];
    }
  }
  return mountPartitions(dir, parts, readWrite);
}
