// --keep N: after a good backup, the oldest complete backups of the same source beyond N
// are deleted, file by file as their manifests list them (nothing else in the folder is
// touched, and incomplete backups are never counted or deleted: they are not backups).
import { existsSync, readdirSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { HASH_ALGORITHMS } from './hash.js';
import { loadManifest, manifestPath, type Manifest } from './manifest.js';

/** Whether two manifests describe backups of the same drive and range. */
function sameSource(a: Manifest, b: Manifest): boolean {
  const idA = a.source.serial ?? a.source.wwn;
  const idB = b.source.serial ?? b.source.wwn;
  const drive = idA !== undefined || idB !== undefined ? idA === idB && a.source.model === b.source.model : a.source.path === b.source.path;
  return drive && a.range.offset === b.range.offset && a.range.length === b.range.length;
}

/** The files one backup consists of, as its manifest names them. */
export function backupFiles(dir: string, m: Manifest): string[] {
  const base = join(dir, m.image.name);
  const files = m.image.parts.map((p) => join(dir, p.name));
  for (const a of HASH_ALGORITHMS) files.push(`${base}.${a}`);
  if (m.rescue?.map) files.push(join(dir, m.rescue.map), join(dir, `${m.rescue.map}.bak`));
  files.push(manifestPath(base));
  return files.filter((f) => existsSync(f));
}

/** Deletes what lies beyond the newest `keep` complete backups like `current`; returns what it deleted. */
export function pruneBackups(imageName: string, current: Manifest, keep: number): string[] {
  const dir = dirname(resolve(imageName));
  const mine: { m: Manifest; path: string }[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.manifest.json')) continue;
    let m: Manifest;
    try {
      m = loadManifest(join(dir, f));
    } catch {
      continue; // not ours, or damaged: never delete what we cannot read
    }
    if (m.complete && sameSource(m, current)) mine.push({ m, path: join(dir, f) });
  }
  mine.sort((a, b) => b.m.startedAt.localeCompare(a.m.startedAt));
  const deleted: string[] = [];
  for (const old of mine.slice(Math.max(keep, 1))) {
    for (const f of backupFiles(dir, old.m)) {
      unlinkSync(f);
      deleted.push(f);
    }
  }
  return deleted;
}
