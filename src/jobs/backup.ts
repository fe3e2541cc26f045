// The backup kind: a drive to a raw, split or ZIP image with its manifest and hashes
// (src/image/backup.ts holds the policy); with a map, a resumable rescue into the image.
import { DEFAULT_BLOCK_SIZE, DEFAULT_DEPTH } from '../engine.js';
import { backup, planBackup, usedExtentsForBackup, type BackupOptions, type BackupResult } from '../image/backup.js';
import { previousBackup } from '../image/rerun.js';
import { parseSize } from '../units.js';
import { formatBytes, formatRate } from '../units.js';
import type { HashAlgorithm } from '../image/hash.js';
import { defineKind, driveIdentity, ENDED, type JobEntry } from './kind.js';
import { reportedView, runReported, type ReportedResult } from './reported.js';

/** What a backup job's run gets: backup()'s options without the display hooks. */
export type BackupPayload = Omit<BackupOptions, 'ready' | 'watch' | 'paused'>;

const backupKind = defineKind<BackupPayload, ReportedResult<BackupResult>>({
  name: 'backup',
  summary: 'a drive to an image (raw, split, zip or zstd) with a manifest and hashes',
  module: import.meta.url,
  jsWork: true,
  fields: {
    source: { type: 'path', required: true, help: 'the drive (or image) read' },
    out: { type: 'path', required: true, writes: true, help: 'the image: NAME.img, NAME.zip, NAME.img.zst; may hold {date} {serial} ... fields' },
    split: { type: 'size', help: 'cut the image into parts of this many bytes' },
    hash: { type: 'hashes', help: 'hashes of the image (default sha256)' },
    level: { type: 'count', min: 0, max: 19, help: 'zip: deflate level 0..9; zstd: 1..19' },
    keep: { type: 'count', min: 1, max: 100000, help: 'after success, keep only the newest N complete backups of the same source' },
    force: { type: 'boolean', help: 'replace a complete backup of the same name' },
    rescue: { type: 'boolean', help: 'rescue with a ddrescue map beside the image (OUT.map)' },
    map: { type: 'path', writes: true, help: 'rescue with the ddrescue map at this path' },
    fill: { type: 'string', help: 'rescue: fill unreadable sectors with a byte (0x00) or repeated text' },
    offset: { type: 'size', help: 'start reading the source here' },
    length: { type: 'size', help: 'back up this many bytes' },
    usedOnly: { type: 'boolean', help: "read only the blocks the source's file systems use; the image holds zeros for the rest" },
  },

  async plan(entry: JobEntry, d) {
    const text = (k: string): string | undefined => (entry[k] === undefined ? undefined : String(entry[k]));
    const o: BackupPayload = {
      source: entry.source as string,
      out: entry.out as string,
      offset: text('offset'),
      length: text('length'),
      splitSize: entry.split !== undefined ? parseSize(String(entry.split), '"split"') : undefined,
      hash: (entry.hash as HashAlgorithm[] | undefined) ?? ['sha256'],
      level: entry.level as number | undefined,
      keep: entry.keep as number | undefined,
      force: entry.force as boolean | undefined,
      rescue: entry.rescue as boolean | undefined,
      map: entry.map as string | undefined,
      fill: text('fill'),
      usedOnly: entry.usedOnly as boolean | undefined,
      blockSize: d.blockSize,
      depth: d.depth,
      backend: d.backend,
      direct: d.direct,
      version: d.version,
      commandLine: d.commandLine,
    };
    const plan = planBackup(o);
    // a complete image of the name is kept unless forced, a running one left alone (a rescue
    // resuming its map is judged where it runs: resuming may rename the image back)
    if (plan.mapPath === undefined) previousBackup(plan.name, { force: o.force });
    // a dirty or inconsistent file system is refused now, before any job of the run starts
    // (the run maps it again: the map is milliseconds, the payload stays small)
    if (o.usedOnly) await usedExtentsForBackup(plan.source, plan.range);
    const payload: BackupPayload = { ...o, out: plan.name, now: plan.startedAt };
    return {
      payload,
      source: { path: o.source, drive: plan.source },
      targets: [{ path: plan.name }],
      touches: [
        { path: o.source, drive: plan.source, what: 'the source', writes: false },
        // the image owns the names beside it: NAME.partial, NAME.001, NAME.manifest.json, NAME.sha256, NAME.lock
        { path: plan.name, what: 'the image', writes: true, file: true, ownsFamily: true },
        ...(plan.mapPath !== undefined ? [{ path: plan.mapPath, what: 'the map', writes: true, file: true, ownsFamily: true }] : []),
      ],
      overwrites: [],
      length: plan.range.length,
      counters: {},
      jsWork: true,
      fitRing: () => (d.blockSize ?? DEFAULT_BLOCK_SIZE) * (d.depth ?? DEFAULT_DEPTH),
    };
  },

  run: (payload, io) => runReported(io, (h) => backup({ ...payload, paused: h.paused }, h.reporter, h.signal)),

  view: (j) => reportedView(j, { role: j.planned.payload.map !== undefined || j.planned.payload.rescue ? 'backup (rescue)' : 'backup', canPause: j.planned.payload.map !== undefined || Boolean(j.planned.payload.rescue) }),

  report(j) {
    const p = j.planned.payload;
    const r = j.result?.value;
    const base = { source: driveIdentity(p.source, j.planned.source.drive), image: p.out, bytes: j.planned.length };
    if (!ENDED.has(j.state)) return { ...base, targets: [{ path: p.out, kind: 'file' }] };
    return {
      ...base,
      ...(r ? { manifest: r.manifest, format: r.format, parts: r.parts.length, hashes: r.hashes, badBytes: r.badBytes, pruned: r.pruned } : {}),
      copySeconds: r?.seconds ?? 0,
      averageBytesPerSec: r?.bytesPerSec ?? 0,
      targets: [{ path: r?.image ?? p.out, kind: 'file', state: j.state, ...(j.result?.code && j.state !== 'done' ? { code: j.result.code, reason: j.result.reason } : {}) }],
    };
  },

  rows(j) {
    const r = j.result?.value;
    const p = j.planned.payload;
    const note = r ? `manifest ${r.manifest}${r.badBytes ? `; ${formatBytes(r.badBytes)} unreadable` : ''}` : (j.error ?? j.result?.reason ?? '');
    return [[p.source, r?.image ?? p.out, j.state, formatBytes(r?.bytes ?? 0), r ? formatRate(r.bytesPerSec) : '-', r && Object.keys(r.hashes).length > 0 ? 'hashed' : 'no', note]];
  },
});

export default backupKind;
