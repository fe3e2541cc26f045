// --keep N: after a good backup, the oldest complete backups of the same source beyond N
// are deleted, file by file as their manifests list them (nothing else in the folder is
// touched, and incomplete backups are never counted or deleted: they are not backups).
//
// A manifest is untrusted input. Only a manifest that passes the schema (every name a plain
// file name in this folder, the parts named after the image) and that is the manifest *of*
// the image it names (X.img.manifest.json names X.img) is acted on; any other is skipped
// with a note and nothing of it is deleted. A file is deleted only if it is a regular file
// (or a link) and belongs to no backup that is kept.
import { existsSync, lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CloneStationError } from '../errors.js';
import { HASH_ALGORITHMS } from './hash.js';
import { loadManifest, manifestPath, type Manifest } from './manifest.js';

const MANIFEST_SUFFIX = '.manifest.json';

/** Whether two manifests describe backups of the same drive and range. */
function sameSource(a: Manifest, b: Manifest): boolean {
  const idA = a.source.serial ?? a.source.wwn;
  const idB = b.source.serial ?? b.source.wwn;
  const drive = idA !== undefined || idB !== undefined ? idA === idB && a.source.model === b.source.model : a.source.path === b.source.path;
  return drive && a.range.offset === b.range.offset && a.range.length === b.range.length;
}

/**
 * The files one backup consists of, as its manifest names them, in `dir`: its parts, its
 * hash files, its own rescue map (X.img.map, as --rescue makes
 * it; a map the user named with --map is the user's and stays), and the manifest last.
 * The names are checked plain file names (loadManifest), so every path is inside `dir`.
 */
export function backupFiles(dir: string, m: Manifest, which: 'existing' | 'all' = 'existing'): string[] {
  const base = join(dir, m.image.name);
  const files = m.image.parts.map((p) => join(dir, p.name));
  for (const a of HASH_ALGORITHMS) files.push(`${base}.${a}`);
  if (m.rescue?.map === `${m.image.name}.map`) files.push(`${base}.map`, `${base}.map.bak`);
  files.push(manifestPath(base));
  return which === 'all' ? files : files.filter((f) => existsSync(f));
}

export interface PruneResult {
  deleted: string[];
  /** manifests and files left alone, and why */
  notes: string[];
}

/** Deletes what lies beyond the newest `keep` complete backups like `current`; says what it deleted and what it left. */
export function pruneBackups(imageName: string, current: Manifest, keep: number): PruneResult {
  const dir = dirname(resolve(imageName));
  const notes: string[] = [];
  const mine: { m: Manifest; path: string }[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith(MANIFEST_SUFFIX)) continue;
    const path = join(dir, f);
    let m: Manifest;
    try {
      m = loadManifest(path);
    } catch (e) {
      // not ours, or damaged, or unsafe: never delete what we cannot trust
      notes.push(`--keep: skipped ${f}, nothing of it deleted (${e instanceof CloneStationError ? e.message : String(e)})`);
      continue;
    }
    if (!m.complete || !sameSource(m, current)) continue;
    if (`${m.image.name}${MANIFEST_SUFFIX}` !== f) {
      notes.push(`--keep: skipped ${f}, nothing of it deleted: it is the manifest of ${m.image.name} (renamed?), not of ${f.slice(0, -MANIFEST_SUFFIX.length)}`);
      continue;
    }
    mine.push({ m, path });
  }
  mine.sort((a, b) => b.m.startedAt.localeCompare(a.m.startedAt));
  const kept = mine.slice(0, Math.max(keep, 1));
  const protectedFiles = new Set([current, ...kept.map((k) => k.m)].flatMap((m) => backupFiles(dir, m, 'all')));
  const deleted: string[] = [];
  for (const old of mine.slice(Math.max(keep, 1))) {
    for (const f of backupFiles(dir, old.m)) {
      if (protectedFiles.has(f)) {
        notes.push(`--keep: kept ${f}: it is also a file of a backup that is kept`);
        continue;
      }
      const st = lstatSync(f, { throwIfNoEntry: false });
      if (!st) continue;
      if (!st.isFile() && !st.isSymbolicLink()) {
        notes.push(`--keep: kept ${f}: it is not a regular file`);
        continue;
      }
      try {
        unlinkSync(f);
        deleted.push(f);
      } catch (e) {
        notes.push(`--keep: could not delete ${f} (${(e as Error).message})`);
      }
    }
  }
  return { deleted, notes };
}
