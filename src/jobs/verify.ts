// The verify kind: an image against its manifest, or a drive against an image, byte for
// byte (src/image/verify.ts holds the policy). It writes nothing.
import { existsSync } from 'node:fs';
import { resolveImage } from '../image/open.js';
import { verify, type VerifyOptions, type VerifyResult } from '../image/verify.js';
import { inspectDrive } from '../drive.js';
import { formatBytes, formatRate } from '../units.js';
import { UsageError } from '../errors.js';
import { defineKind, driveIdentity, ENDED, type JobEntry } from './kind.js';
import { reportedView, runReported, type ReportedResult } from './reported.js';

/** A verify reads the image's parts whole, 4 MiB at a time, and the drive beside them. */
const VERIFY_RING = 2 * 4 * (4 << 20);

const verifyKind = defineKind<VerifyOptions, ReportedResult<VerifyResult>>({
  name: 'verify',
  summary: 'an image against its manifest, or a drive against an image',
  module: import.meta.url,
  jsWork: true,
  fields: {
    image: { type: 'path', required: true, help: 'the image: a raw file, a split set, a ZIP, or its manifest' },
    drive: { type: 'path', help: 'a drive (or file) compared with the image; without it, the image is checked against its manifest' },
    offset: { type: 'size', help: "start at this offset of the image's bytes" },
    length: { type: 'size', help: 'compare this many bytes' },
    targetOffset: { type: 'size', help: 'the drive holds the bytes from this offset (default: where the backup read them)' },
    force: { type: 'boolean', help: 'use an image whose manifest says it is not complete' },
    zeroFree: { type: 'boolean', help: 'a used-only image: its free blocks were zeroed on the drive: compare them too' },
  },

  async plan(entry: JobEntry, d) {
    const text = (k: string): string | undefined => (entry[k] === undefined ? undefined : String(entry[k]));
    const payload: VerifyOptions = {
      image: entry.image as string,
      drive: text('drive'),
      offset: text('offset'),
      length: text('length'),
      targetOffset: text('targetOffset'),
      force: entry.force as boolean | undefined,
      zeroFree: entry.zeroFree as boolean | undefined,
      blockSize: d.blockSize,
      depth: d.depth,
      backend: d.backend,
    };
    // the image (its manifest, its parts) and the drive, as the run will find them
    const image = await resolveImage(payload.image, { force: payload.force });
    if (payload.drive !== undefined && !existsSync(payload.drive)) throw new UsageError(`drive ${payload.drive} does not exist: check the name (clonestation list shows drives)`, 'NOT_FOUND');
    const drive = payload.drive !== undefined ? inspectDrive(payload.drive, 'target') : undefined;
    const files = [...image.parts.map((p) => p.path), ...(image.manifestPath ? [image.manifestPath] : [])];
    return {
      payload,
      source: { path: payload.image },
      targets: [{ path: payload.drive ?? image.manifestPath ?? payload.image, drive }],
      touches: [
        ...files.map((path) => ({ path, what: 'the image', writes: false, file: true })),
        ...(drive && payload.drive !== undefined ? [{ path: payload.drive, drive, what: 'the drive verified', writes: false }] : []),
      ],
      overwrites: [],
      length: image.size,
      counters: {},
      jsWork: true,
      fitRing: () => VERIFY_RING,
    };
  },

  run: (payload, io) => runReported(io, (h) => verify(payload, h.reporter, h.signal)),

  view: (j) => reportedView(j, { role: 'verify', canPause: false }),

  report(j) {
    const p = j.planned.payload;
    const r = j.result?.value;
    const t = j.planned.targets[0];
    const base = { image: p.image, drive: p.drive };
    if (!ENDED.has(j.state)) return { ...base, targets: [driveIdentity(t.path, t.drive)] };
    const reason = j.state !== 'done' ? (j.error ?? j.result?.reason) : undefined;
    return {
      ...base,
      ...(r ? { format: r.format, parts: r.parts, bytes: r.bytes, checked: r.checked, hashes: r.hashes, notes: r.notes } : {}),
      copySeconds: r?.seconds ?? 0,
      averageBytesPerSec: r && r.seconds > 0 ? r.bytes / r.seconds : 0,
      targets: [{ ...driveIdentity(t.path, t.drive), state: j.state, ...(reason ? { code: j.result?.code, reason } : {}) }],
    };
  },

  rows(j) {
    const r = j.result?.value;
    const p = j.planned.payload;
    const t = j.planned.targets[0];
    return [[p.image, t.path, j.state, formatBytes(r?.bytes ?? 0), r && r.seconds > 0 ? formatRate(r.bytes / r.seconds) : '-', r ? `yes (${r.checked.join(', ')})` : 'no', j.error ?? j.result?.reason ?? '']];
  },
});

export default verifyKind;
