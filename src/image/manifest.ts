// The manifest: a JSON file beside every image saying what it is (source identity, range,
// format, parts with sizes and hashes, whole-image hashes, the map of a rescue) and whether
// it is complete. Restore and verify trust nothing else.
import { existsSync, readFileSync, renameSync, writeFileSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { ImageError, UsageError } from '../errors.js';
import type { HashAlgorithm } from './hash.js';

export const MANIFEST_FORMAT = 'clonestation-image/1';

export type ImageFormat = 'raw' | 'zip';

export interface ManifestPart {
  /** file name, relative to the manifest's folder */
  name: string;
  size: number;
  /** hex digests of this file's bytes */
  hashes: Partial<Record<HashAlgorithm, string>>;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  tool: { name: 'clonestation'; version: string };
  /** false until the last byte is written, synced and hashed: an image never looks done early */
  complete: boolean;
  /** why it is not complete (interrupted, failed), when it is not */
  incompleteReason?: string;
  startedAt: string;
  endedAt?: string;
  source: {
    path: string;
    kind: 'block' | 'file';
    model?: string;
    serial?: string;
    wwn?: string;
    size: number;
    logicalSectorSize: number;
    physicalSectorSize: number;
  };
  /** the bytes of the source this image holds */
  range: { offset: number; length: number };
  image: {
    format: ImageFormat;
    /** the image's path as named (single file, or the base name of a split set) */
    name: string;
    /** part size of a byte split (name.001, name.002, ...), absent for one file */
    splitSize?: number;
    /** zip: the entry holding the image, and deflate level */
    entryName?: string;
    level?: number;
    compressedSize?: number;
    /** the files, in order */
    parts: ManifestPart[];
  };
  /** hex digests of the image's bytes (the source range as read; zip: uncompressed) */
  hashes: Partial<Record<HashAlgorithm, string>>;
  /** a rescue of a failing drive: its ddrescue map, and what could not be read */
  rescue?: { map: string; badBytes: number; badAreas: number; fill: string; unreadable: { offset: number; length: number }[] };
  /** how long it took, and how fast */
  seconds?: number;
  bytesPerSec?: number;
}

export function manifestPath(imageName: string): string {
  return `${imageName}.manifest.json`;
}

/** Written to a temporary name, synced and renamed: a crash leaves the old or the new one. */
export function saveManifest(path: string, m: Manifest): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(m, null, 2)}\n`);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function loadManifest(path: string): Manifest {
  if (!existsSync(path)) throw new UsageError(`manifest ${path} does not exist: name the image or its .manifest.json`, 'NOT_FOUND');
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ImageError('IMAGE_CORRUPT', `manifest ${path} is not JSON (${(e as Error).message}): restore it from a copy`, { path });
  }
  const m = doc as Partial<Manifest>;
  if (m.format !== MANIFEST_FORMAT || !m.image || !Array.isArray(m.image.parts) || !m.range || !m.source || typeof m.hashes !== 'object')
    throw new ImageError('IMAGE_CORRUPT', `${path} is not a clonestation image manifest (${MANIFEST_FORMAT}): name the image's .manifest.json`, { path });
  return m as Manifest;
}
