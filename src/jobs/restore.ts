// The restore kind: an image (raw, split, ZIP) to one target or many, read and decompressed
// once, every target checked against the manifest (src/image/restore-many.ts holds the policy).
import { planRestoreMany, restoreMany, type RestoreManyOptions, type RestoreManyResult } from '../image/restore-many.js';
import { DEFAULT_BLOCK_SIZE } from '../engine.js';
import type { HashAlgorithm } from '../image/hash.js';
import { formatBytes, formatRate } from '../units.js';
import { defineKind, driveIdentity, ENDED, type JobEntry } from './kind.js';
import { reportedView, runReported, type ReportedResult } from './reported.js';

/** What a restore job's run gets: restoreMany()'s options without the display hook. */
export type RestorePayload = Omit<RestoreManyOptions, 'ready'>;

/** Ring slots a restore to many holds (restore-many.ts MANY_DEPTH) of its read size. */
const RESTORE_RING = 16 * (4 << 20);

/** A restore's end as its job's result: a target that failed fails the job (the others are still good copies, as its rows say). */
export function restoreResult(r: ReportedResult<RestoreManyResult>): ReportedResult<RestoreManyResult> {
  const targets = r.value?.targets ?? [];
  const failed = targets.filter((t) => t.state === 'failed').length;
  if (targets.some((t) => t.state === 'cancelled')) r.state = 'cancelled';
  else if (failed > 0) Object.assign(r, { state: 'failed', code: 'JOBS_FAILED', reason: `${failed} of ${targets.length} target(s) failed` });
  return r;
}

const restoreKind = defineKind<RestorePayload, ReportedResult<RestoreManyResult>>({
  name: 'restore',
  summary: 'an image (raw, split, zip or zstd) to one drive or many, each checked against the manifest',
  module: import.meta.url,
  jsWork: true,
  fields: {
    image: { type: 'path', required: true, help: 'the image: a raw file, a split set (NAME.001), a ZIP, or its manifest' },
    targets: { type: 'paths', required: true, writes: true, help: 'drives or new image files written' },
    offset: { type: 'size', help: "start at this offset of the image's bytes" },
    length: { type: 'size', help: 'restore this many bytes' },
    targetOffset: { type: 'size', help: 'write at this offset of each target (default: where the backup read them)' },
    force: { type: 'boolean', help: 'use an image whose manifest says it is not complete' },
    noCheck: { type: 'boolean', help: 'do not check the restored bytes against the manifest' },
    zeroFree: { type: 'boolean', help: 'a used-only image: zero its free blocks on the target too' },
    hash: { type: 'hashes', help: 'one target only: more hashes of the restored bytes' },
    growLast: { type: 'boolean', help: 'whole-disk restore to a larger drive: grow the last partition to its end' },
    growFs: { type: 'boolean', help: 'with growLast: grow the ext2/3/4 file system in it (e2fsck -fy, resize2fs)' },
    fit: { type: 'boolean', help: 'whole-disk restore to a smaller drive: allowed when every partition ends inside it' },
  },

  async plan(entry: JobEntry, d, id) {
    const text = (k: string): string | undefined => (entry[k] === undefined ? undefined : String(entry[k]));
    const payload: RestorePayload = {
      image: entry.image as string,
      targets: [...(entry.targets as string[])],
      offset: text('offset'),
      length: text('length'),
      targetOffset: text('targetOffset'),
      force: entry.force as boolean | undefined,
      noCheck: entry.noCheck as boolean | undefined,
      ...(entry.zeroFree === true ? { zeroFree: true } : {}),
      hash: entry.hash as HashAlgorithm[] | undefined,
      ...(entry.growLast === true ? { growLast: true } : {}),
      ...(entry.growFs === true ? { growFs: true } : {}),
      ...(entry.fit === true ? { fit: true } : {}),
      blockSize: d.blockSize,
      depth: d.depth,
      backend: d.backend,
      direct: d.direct,
      // the station asked once for every job's drives
      yes: true,
    };
    // every refusal of a restore (image structure, sizes, same drive, mounted targets) now;
    // the run plans again where it runs (the archive is opened there)
    const plans = await planRestoreMany(payload);
    await plans[0]?.zip?.close();
    await plans[0]?.zstd?.close();
    const first = plans[0];
    const image = first.image;
    const imageFiles = [...image.parts.map((p) => p.path), ...(image.manifestPath ? [image.manifestPath] : [])];
    return {
      payload,
      source: { path: payload.image },
      targets: plans.map((p) => ({ path: p.targetPath, drive: p.target })),
      touches: [
        ...imageFiles.map((path) => ({ path, what: 'the image', writes: false, file: true })),
        ...plans.map((p) => ({ path: p.targetPath, drive: p.target, what: 'a target', writes: true })),
      ],
      overwrites: plans.filter((p) => p.target).map((p) => ({ drive: p.target!, what: `with ${p.range.length} bytes of image ${image.name} (job ${id})` })),
      length: first.range.length,
      counters: {},
      jsWork: true,
      fitRing: () => Math.max(RESTORE_RING, (d.blockSize ?? DEFAULT_BLOCK_SIZE) * 16),
    };
  },

  async run(payload, io) {
    return restoreResult(await runReported(io, (h) => restoreMany(payload, h.reporter, h.signal)));
  },

  view: (j) => reportedView(j, { role: j.planned.targets.length > 1 ? `restore 1:${j.planned.targets.length}` : 'restore', canPause: false }),

  report(j) {
    const p = j.planned.payload;
    const r = j.result?.value;
    const base = { image: p.image, bytes: j.planned.length };
    if (!ENDED.has(j.state) || !r) {
      const reason = j.state !== 'done' ? (j.error ?? j.result?.reason) : undefined;
      return { ...base, targets: j.planned.targets.map((t) => ({ ...driveIdentity(t.path, t.drive), ...(ENDED.has(j.state) ? { state: j.state, ...(reason ? { code: j.result?.code, reason } : {}) } : {}) })) };
    }
    return {
      ...base,
      format: r.format,
      parts: r.parts,
      range: r.range,
      targetOffset: r.targetOffset,
      checked: r.checked,
      ...(r.hashes ? { hashes: r.hashes } : {}),
      copySeconds: r.copySeconds,
      verifySeconds: r.verifySeconds,
      averageBytesPerSec: r.copySeconds > 0 ? r.bytes / r.copySeconds : 0,
      aggregateBytesPerSec: r.aggregateBytesPerSec,
      notes: r.notes,
      targets: r.targets,
    };
  },

  rows(j) {
    const r = j.result?.value;
    const p = j.planned.payload;
    if (!r) return j.planned.targets.map((t) => [p.image, t.path, j.state, formatBytes(0), '-', 'no', j.error ?? j.result?.reason ?? '']);
    const rate = r.copySeconds > 0 ? formatRate(r.bytes / r.copySeconds) : '-';
    return r.targets.map((t) => [p.image, t.path, t.state, formatBytes(r.bytes), rate, t.verified ? `yes (${t.checked ?? 'read back'})` : 'no', t.reason ?? (t.detachedAt !== undefined ? `slow: left the stream at ${t.detachedAt}, caught up` : '')]);
  },
});

export default restoreKind;
