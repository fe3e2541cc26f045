// Loop devices we attach ourselves: what one is a loop of, and a detach that touches it only
// while it still is. A loop's number is given to the next attach as soon as it is free, so a
// late or second `losetup -d /dev/loopN` pulls whatever drive now has that number from under
// whoever attached it (another job, another test file): loops are told apart by what they
// map (the backing object's device and inode, offset and size limit), never by their path.
import { spawnSync } from 'node:child_process';

/**
 * What `dev` is a loop of ("MAJ:MIN:INODE:OFFSET:SIZELIMIT" of its backing object), or
 * undefined when it is no attached loop (or losetup cannot say).
 */
export function loopIdentity(dev: string): string | undefined {
  const r = spawnSync('losetup', ['--json', '-O', 'BACK-MAJ:MIN,BACK-INO,OFFSET,SIZELIMIT', dev], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  try {
    const d = (JSON.parse(r.stdout) as { loopdevices?: Record<string, unknown>[] }).loopdevices?.[0];
    if (!d || d['back-ino'] === null || d['back-ino'] === undefined) return undefined;
    return `${String(d['back-maj:min']).trim()}:${String(d['back-ino'])}:${String(d.offset)}:${String(d.sizelimit)}`;
  } catch {
    return undefined;
  }
}

/**
 * Detaches `dev` if it is still the loop whose identity was `id` (from loopIdentity right after
 * attaching it). True when it was detached, false when it was gone or is someone else's now.
 */
export function detachLoopIfSame(dev: string, id: string | undefined): boolean {
  if (id === undefined || loopIdentity(dev) !== id) return false;
  return spawnSync('losetup', ['-d', dev]).status === 0;
}

/** A detach for the loop `dev` just attached: once only, and only while it is still that loop. */
export function loopDetacher(dev: string): () => void {
  const id = loopIdentity(dev);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    detachLoopIfSame(dev, id);
  };
}
