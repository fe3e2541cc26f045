// What each station job reads and writes (drives, targets, maps and the files beside them,
// reports), by identity, and the refusal when two jobs would touch one thing and one writes.
import { lstatSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { RefusedError } from '../errors.js';
import { devKey, splitDev, wholeDisk, type DriveInfo } from '../drive.js';

/** One thing a job touches: the keys that identify it, and whether the job writes it. */
export interface Resource {
  /** the path as the user gave it, for messages */
  path: string;
  /** e.g. "the map", "a target", "the source" */
  what: string;
  writes: boolean;
  /** exact identities: a drive (block:disk), an existing file (ino:dev:ino), a name in a folder (name:dev:ino:base) */
  keys: string[];
  /**
   * a file that writes names beside itself owns them: a rescue map its <map>.tmp and
   * <map>.journal-N, an image its .partial, .001, .manifest.json, .sha256, .lock
   */
  ownsFamily?: string;
  /** the families a name is in: x.img.001 is in x.img's and x's */
  inFamilies?: string[];
}

/** The families of a name: every name it extends by dotted suffixes (a.b.c: a.b and a). */
function familiesOf(folder: string, base: string): string[] {
  const out: string[] = [];
  for (let i = base.lastIndexOf('.'); i > 0; i = base.lastIndexOf('.', i - 1)) out.push(`family:${folder}:${base.slice(0, i)}`);
  return out;
}

function inodeKey(st: Stats): string {
  return `ino:${st.dev}:${st.ino}`;
}

/** The identity of a folder that may not exist yet: its nearest existing ancestor, plus the rest of its path. */
function folderKey(dir: string): string {
  const rest: string[] = [];
  let d = resolve(dir);
  for (let i = 0; i < 256; i++) {
    try {
      const st = statSync(d);
      return [`${st.dev}:${st.ino}`, ...rest].join('/');
    } catch {
      const up = dirname(d);
      if (up === d) break;
      rest.unshift(basename(d));
      d = up;
    }
  }
  return `path:${resolve(dir)}`;
}

function blockKey(st: Stats): string {
  const dev = splitDev(st.rdev);
  return `block:${devKey(wholeDisk(dev)?.dev ?? dev)}`;
}

/**
 * The keys of a path: what it is if it exists (a block device by its whole disk, a file by
 * device and inode), and its name in its folder (that folder by device and inode), so that a
 * path not created yet compares equal to every other spelling of it. A dangling symbolic
 * link names the path it would create.
 */
export function pathResource(path: string, what: string, writes: boolean, opts: { ownsFamily?: boolean } = {}): Resource {
  let p = resolve(path);
  const keys: string[] = [];
  for (let hops = 0; hops < 40; hops++) {
    let st: Stats | undefined;
    try {
      st = statSync(p);
    } catch {
      st = undefined;
    }
    if (st) {
      keys.push(st.isBlockDevice() ? blockKey(st) : inodeKey(st));
      break;
    }
    let link: string | undefined;
    try {
      if (lstatSync(p).isSymbolicLink()) link = readlinkSync(p);
    } catch {
      link = undefined;
    }
    if (link === undefined) break;
    keys.push(`name:${folderKey(dirname(p))}:${basename(p)}`);
    p = resolve(dirname(p), link);
  }
  const folder = folderKey(dirname(resolve(path)));
  const base = basename(resolve(path));
  keys.push(`name:${folder}:${base}`);
  if (p !== resolve(path)) keys.push(`name:${folderKey(dirname(p))}:${basename(p)}`);
  const r: Resource = { path, what, writes, keys: [...new Set(keys)] };
  if (opts.ownsFamily) r.ownsFamily = `family:${folder}:${base}`;
  const families = familiesOf(folder, base);
  if (families.length > 0) r.inFamilies = families;
  return r;
}

/** A drive the station planned (inspected already): block devices by their whole disk, files by inode and name. */
export function driveResource(path: string, drive: DriveInfo | undefined, what: string, writes: boolean): Resource {
  if (drive?.kind === 'block') return { path, what, writes, keys: [`block:${devKey(drive.disk?.dev ?? drive.dev)}`] };
  return pathResource(path, what, writes);
}

interface Holder {
  job: number;
  r: Resource;
}

interface Entry {
  writer?: Holder;
  reader?: Holder;
}

function owner(h: Holder): string {
  return h.job > 0 ? `${h.r.what} of job ${h.job}` : h.r.what;
}

function conflict(mine: Holder, other: Holder): RefusedError {
  const same = mine.job === other.job && mine.job > 0;
  const where = same ? (mine.r.what === other.r.what ? `named twice as ${mine.r.what} of job ${mine.job}` : `${mine.r.what} and ${other.r.what} of job ${mine.job}`) : `${owner(mine)} and ${owner(other)}`;
  const hint = mine.r.path === other.r.path ? '' : ` (${other.r.path})`;
  return new RefusedError(
    'STATION_CONFLICT',
    `${mine.r.path}${hint} is ${where}: a drive or file written by one job cannot be read or written by another, nor twice by one; give each its own`,
  );
}

/**
 * Every resource of every job planned so far. Adding a job's resources checks them against
 * all earlier ones (and each other) in time proportional to the job's own resources, not
 * to the number of jobs: a map from key to its first writer and first reader.
 */
export class ResourceTable {
  private readonly byKey = new Map<string, Entry>();
  private readonly families = new Map<string, Holder>();
  private readonly members = new Map<string, Holder>();

  /** Checks `resources` of job `job` (0: the station's own outputs); records them only when none conflicts (and not on a dry run). */
  claim(job: number, resources: readonly Resource[], opts: { dryRun?: boolean } = {}): void {
    const pending: { key: string; h: Holder }[] = [];
    const local = new Map<string, Entry>();
    const localFamilies = new Map<string, Holder>();
    const localMembers = new Map<string, Holder>();
    for (const r of resources) {
      const h: Holder = { job, r };
      for (const key of r.keys) {
        for (const e of [this.byKey.get(key), local.get(key)]) {
          if (!e) continue;
          // the same resource named twice in one role (a key repeated) is caught by the writer rule
          if (e.writer && e.writer.r !== r) throw conflict(h, e.writer);
          if (r.writes && e.reader && e.reader.r !== r) throw conflict(h, e.reader);
        }
        const e = local.get(key) ?? {};
        if (r.writes) e.writer ??= h;
        else e.reader ??= h;
        local.set(key, e);
        pending.push({ key, h });
      }
      if (r.ownsFamily) {
        const other = this.members.get(r.ownsFamily) ?? localMembers.get(r.ownsFamily) ?? this.families.get(r.ownsFamily) ?? localFamilies.get(r.ownsFamily);
        if (other && other.r !== r) throw conflict(h, other);
        localFamilies.set(r.ownsFamily, h);
      }
      for (const f of r.inFamilies ?? []) {
        const other = this.families.get(f) ?? localFamilies.get(f);
        if (other && other.r !== r) throw conflict(h, other);
        localMembers.set(f, h);
      }
    }
    if (opts.dryRun) return;
    for (const { key, h } of pending) {
      const e = this.byKey.get(key) ?? {};
      if (h.r.writes) e.writer ??= h;
      else e.reader ??= h;
      this.byKey.set(key, e);
    }
    for (const [k, h] of localFamilies) this.families.set(k, h);
    for (const [k, h] of localMembers) if (!this.members.has(k)) this.members.set(k, h);
  }
}
