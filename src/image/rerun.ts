// What an earlier backup under the same OUT means for this one. A COMPLETE backup is
// protected (OUTPUT_EXISTS unless --force); an UNFINISHED one (its manifest says
// complete:false: interrupted, killed, failed) is replaced by a rerun of the command, or
// resumed when it is a rescue with its map; one that is still being written (its writer
// process alive) is never touched. Files of the name that no manifest vouches for are
// protected like a complete backup.
import { existsSync, lstatSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { CloneStationError, RefusedError, UsageError } from '../errors.js';
import { HASH_ALGORITHMS } from './hash.js';
import { loadManifest, manifestPath, type Manifest } from './manifest.js';

/** Who is writing a backup: enough to tell, on this host, whether that process still runs. */
export type Writer = NonNullable<Manifest['writer']>;

/** The start time of a process (clock ticks since boot, /proc/PID/stat field 22); undefined when it is gone. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: count after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function thisWriter(): Writer {
  return { host: hostname(), pid: process.pid, since: processStart(process.pid) ?? '0' };
}

/** 'alive', 'gone', or 'unknown' (written from another host: a shared folder). */
function writerState(w: Writer | undefined): 'alive' | 'gone' | 'unknown' {
  if (!w) return 'gone';
  if (w.host !== hostname()) return 'unknown';
  if (w.pid === process.pid && w.since === processStart(process.pid)) return 'alive'; // this very process (a station running two)
  return processStart(w.pid) === w.since ? 'alive' : 'gone';
}

/**
 * The files under OUT's name that belong to a backup of that name: OUT, OUT.NNN, OUT.<hash>,
 * and the work files OUT.partial, OUT.partial.NNN (not the manifest, not a rescue map).
 */
export function namedFiles(name: string): string[] {
  return scanNames(name).files;
}

/** namedFiles, and the names of the pattern that are not files (a folder, a FIFO, a device). */
function scanNames(name: string): { files: string[]; others: string[] } {
  const dir = dirname(resolve(name));
  const base = basename(name);
  const hashes = new Set<string>(HASH_ALGORITHMS);
  const files: string[] = [];
  const others: string[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(base)) continue;
    const rest = f.slice(base.length);
    if (rest === '' || /^\.\d{3,}$/.test(rest) || /^\.partial(\.\d{3,})?$/.test(rest) || rest === '.manifest.json' || (rest.startsWith('.') && hashes.has(rest.slice(1)))) {
      const p = join(dir, f);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isFile() || st.isSymbolicLink()) {
        if (rest !== '.manifest.json') files.push(p);
      } else others.push(p);
    }
  }
  return { files, others };
}

/** Bytes a file holds on its file system (what deleting it frees). */
function allocated(path: string): number {
  try {
    return statSync(path).blocks * 512;
  } catch {
    return 0;
  }
}

export interface Previous {
  /** an unfinished backup is replaced: these files go (after the space check) */
  stale: string[];
  /** bytes the stale files hold (they free that much) */
  freed: number;
  /** the image of a rescue is continued from its map */
  resuming: boolean;
  notes: string[];
}

/**
 * Decides what to do with what is there under OUT. Throws OUTPUT_EXISTS (a complete backup,
 * or files no manifest vouches for, without --force) or BACKUP_RUNNING (its writer runs).
 * Changes nothing on disk except, for a rescue whose image was already renamed when it was
 * stopped, renaming it back to the work name so the rescue goes on from its map.
 */
export function previousBackup(name: string, o: { force?: boolean; mapPath?: string }): Previous {
  const mPath = manifestPath(name);
  const work = `${name}.partial`;
  const notes: string[] = [];
  const { files, others } = scanNames(name);
  // the backup renames and writes these names: a folder, FIFO or device there is refused
  // now, before anything is written, even with --force
  if (others[0] !== undefined)
    throw new UsageError(`${others[0]} is not a regular file (a folder, FIFO or device) and the backup would write that name: move it away or choose another OUT`, 'BAD_OUTPUT', { path: others[0] });
  const finals = files.filter((f) => f === resolve(name) || /\.\d{3,}$/.test(f.slice(resolve(name).length)));
  const exists = (path: string, why: string): RefusedError =>
    new RefusedError('OUTPUT_EXISTS', `${path} already exists${why}: choose another name (a {datetime} template), or --force to replace it`, { path });
  let m: Manifest | undefined;
  if (existsSync(mPath)) {
    try {
      m = loadManifest(mPath);
    } catch (e) {
      if (!o.force) throw exists(mPath, ` and cannot be read (${e instanceof CloneStationError ? e.message : String(e)})`);
    }
  } else if (finals.length > 0 && !o.force) {
    throw exists(finals[0] ?? name, ' (with no manifest to say whether it is a finished backup)');
  }
  if (m && m.image.name !== basename(name) && !o.force) throw exists(mPath, ` (the manifest of ${m.image.name}, renamed?)`);
  const unfinished = m !== undefined && !m.complete;
  if (m && !unfinished && !o.force) throw exists(finals[0] ?? mPath, '');
  if (unfinished) {
    const state = writerState(m?.writer);
    if (state === 'alive')
      throw new RefusedError('BACKUP_RUNNING', `a backup to ${name} is running (process ${m?.writer?.pid}, started ${m?.startedAt}): wait for it, or stop it first`, { path: name, pid: m?.writer?.pid });
    if (state === 'unknown' && !o.force)
      throw new RefusedError('BACKUP_RUNNING', `the unfinished backup ${name} was started on host ${m?.writer?.host}: it may still be running there; --force to replace it`, { path: name, host: m?.writer?.host });
  }
  // A rescue resumes from its map. Stopped after its image got its final name but before
  // the manifest said so: the image goes back to its work name and the rescue goes on.
  let resuming = false;
  if (o.mapPath !== undefined && existsSync(o.mapPath) && (unfinished || o.force)) {
    if (!existsSync(work) && finals.length === 1 && finals[0] === resolve(name) && unfinished) renameSync(name, work);
    if (!existsSync(work))
      throw new RefusedError('OUTPUT_EXISTS', `the map ${o.mapPath} exists but the image it maps (${work}) does not: move the map away to start the rescue over`, { path: o.mapPath });
    resuming = true;
  }
  if (unfinished) notes.push(`${resuming ? 'continuing' : 'replacing'} the unfinished backup ${basename(name)} started ${m?.startedAt}${m?.incompleteReason ? ` (${m.incompleteReason})` : ''}`);
  // Unfinished: its files go now (a rescue keeps its image and map). Complete with --force:
  // they stay until the new backup is complete, then what it did not replace goes.
  const stale = unfinished ? namedFiles(name).filter((f) => !(resuming && f === resolve(work))) : [];
  return { stale, freed: stale.reduce((n, f) => n + allocated(f), 0), resuming, notes };
}

/** Deletes files; a file already gone is fine. */
export function removeFiles(files: readonly string[]): void {
  for (const f of files) {
    try {
      unlinkSync(f);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
