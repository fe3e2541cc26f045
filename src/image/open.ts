// Resolving the IMAGE argument of restore and verify: the image file, the base name of a
// split set (X.img when X.img.001, ... exist), one of its parts (X.img.002), or the
// manifest (X.img.manifest.json). The manifest, when there is one, is the truth (format,
// parts, sizes, hashes); without one the format comes from the extension or the ZIP magic
// and the parts from their names. Every check here is cheap (names, sizes, magic, the zip's
// central directory): nothing is read in full, so a damaged image is refused before a single
// byte of a target is written.
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ImageError, UsageError } from '../errors.js';
import { findParts } from './parts.js';
import { loadManifest, manifestPath, type ImageFormat, type Manifest } from './manifest.js';
import type { HashAlgorithm } from './hash.js';

const PART_SUFFIX = /\.\d{3,}$/;
const MANIFEST_SUFFIX = '.manifest.json';
/** The suffix a backup puts on every file until it is complete. */
const PARTIAL_SUFFIX = '.partial';

export interface ImagePart {
  path: string;
  size: number;
  /** where this part's bytes start in the image (raw) or in the archive (zip) */
  start: number;
  /** the manifest's hashes of this file, when there is a manifest */
  hashes: Partial<Record<HashAlgorithm, string>>;
}

export interface ResolvedImage {
  format: ImageFormat;
  /** the image's name: the single file, or the base name of a split set */
  name: string;
  split: boolean;
  /** the files, in order (raw: the image bytes; zip: the archive bytes) */
  parts: ImagePart[];
  /** bytes of the raw image: for zip, the uncompressed size (from the manifest, or 0 until the archive is opened) */
  size: number;
  manifest?: Manifest;
  manifestPath?: string;
  /** whole-image hashes from the manifest (empty without one) */
  hashes: Partial<Record<HashAlgorithm, string>>;
  /** things the user should know (no manifest, forced incomplete image, extra parts) */
  notes: string[];
}

export interface ResolveOptions {
  /** accept a manifest that says complete:false */
  force?: boolean;
}

/** IMAGE as the user typed it → the base name of the image and the manifest path, if any. */
function baseNameOf(path: string): string {
  if (path.endsWith(MANIFEST_SUFFIX)) return path.slice(0, -MANIFEST_SUFFIX.length);
  if (PART_SUFFIX.test(path) && existsSync(path)) return path.replace(PART_SUFFIX, '');
  return path;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The size of an image file; undefined when missing. Only a regular file can be an image file. */
function sizeOf(path: string): number | undefined {
  let st;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  if (!st.isFile()) {
    const what = st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO' : st.isBlockDevice() || st.isCharacterDevice() ? 'a device' : 'not a regular file';
    throw new UsageError(`image file ${path} is ${what}, not an image file: name the image's own files`, 'BAD_PATH', { path });
  }
  return st.size;
}

/** The files to open as a ZIP archive: exactly the image's parts (a manifest's, in its order). */
export function zipFiles(image: ResolvedImage): string | string[] {
  return image.parts.length > 0 ? image.parts.map((p) => p.path) : image.name;
}

/** The ZIP magic (a local file header) at the start of a file. */
function hasZipMagic(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.readUInt32LE(0) === 0x04034b50;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A zstd frame's magic (or, for an empty seekable image, the seek table's skippable frame) at the start of a file. */
function hasZstdMagic(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && (b.readUInt32LE(0) === 0xfd2fb528 || b.readUInt32LE(0) === 0x184d2a5e);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function incomplete(name: string, m: Manifest | undefined, where: string): ImageError {
  const why = m?.incompleteReason ? ` (${m.incompleteReason})` : '';
  return new ImageError(
    'IMAGE_INCOMPLETE',
    `the backup ${name} did not finish${why}: run the backup again (or pass --force to use what is there, knowing it is incomplete)`,
    { path: where, reason: m?.incompleteReason },
  );
}

/**
 * Finds the image's files and checks them against the manifest (presence, order, sizes).
 * Throws ImageError: IMAGE_NOT_FOUND, IMAGE_PART_MISSING, IMAGE_CORRUPT, IMAGE_INCOMPLETE.
 */
export async function resolveImage(input: string, opts: ResolveOptions = {}): Promise<ResolvedImage> {
  const base = baseNameOf(input);
  const mPath = input.endsWith(MANIFEST_SUFFIX) ? input : manifestPath(base);
  if (existsSync(mPath)) return fromManifest(base, mPath, opts);
  // An unfinished backup without its manifest: only its .partial files are there
  // (backup writes X.img.partial, or X.img.partial.001, ...).
  for (const p of [`${mPath}${PARTIAL_SUFFIX}`, `${base}${PARTIAL_SUFFIX}`, `${base}${PARTIAL_SUFFIX}.001`]) {
    if (existsSync(p)) {
      let m: Manifest | undefined;
      try {
        m = p.startsWith(mPath) ? loadManifest(p) : undefined;
      } catch {
        m = undefined;
      }
      throw incomplete(base, m, p);
    }
  }
  return withoutManifest(base);
}

async function fromManifest(base: string, mPath: string, opts: ResolveOptions): Promise<ResolvedImage> {
  const m = loadManifest(mPath);
  const notes: string[] = [];
  if (!m.complete) {
    if (!opts.force) throw incomplete(base, m, mPath);
    notes.push(`the manifest says the backup did not finish${m.incompleteReason ? ` (${m.incompleteReason})` : ''}: using what is there (--force); the result is incomplete`);
  }
  const dir = dirname(mPath);
  // An unfinished backup lists no parts yet: with --force, take the .partial files there are.
  if (!m.complete && m.image.parts.length === 0) return partialFiles(base, m, mPath, notes);
  if (m.image.parts.length === 0) throw new ImageError('IMAGE_CORRUPT', `manifest ${mPath} lists no image files: restore it from a copy or make the backup again`, { path: mPath });
  const parts: ImagePart[] = [];
  let start = 0;
  // An image renamed with its manifest (b.img + b.img.manifest.json from a backup named
  // a.img): the manifest still names a.img's files; b.img's, in the same pattern, are used.
  const recorded = m.image.name;
  const renamed = recorded !== basename(base) && m.image.parts.every((p) => !existsSync(join(dir, p.name)));
  if (renamed) notes.push(`the manifest names the image ${recorded}; it was renamed to ${basename(base)}: using ${basename(base)}'s files`);
  for (const [i, p] of m.image.parts.entries()) {
    const name = p.name; // a plain file name: the schema refuses anything else
    let path = join(dir, renamed && name.startsWith(recorded) ? `${basename(base)}${name.slice(recorded.length)}` : name);
    // --force on an unfinished backup: its files may still carry the .partial suffix
    if (!existsSync(path) && !m.complete && existsSync(`${path}${PARTIAL_SUFFIX}`)) path = `${path}${PARTIAL_SUFFIX}`;
    const size = sizeOf(path);
    if (size === undefined) {
      throw new ImageError(
        'IMAGE_PART_MISSING',
        `${m.image.parts.length > 1 ? `part ${i + 1} of ${m.image.parts.length}, ` : ''}${path}, is missing: copy it back beside ${basename(mPath)}`,
        { path, missing: i + 1 },
      );
    }
    if (size !== p.size && m.complete) {
      throw new ImageError(
        'IMAGE_CORRUPT',
        `${path} is ${size} bytes but the manifest says ${p.size}: it is damaged, cut short, or not the right part (parts out of order?); copy the right file back or make the backup again`,
        { path, size, expected: p.size, part: i + 1 },
      );
    }
    parts.push({ path, size, start, hashes: p.hashes ?? {} });
    start += size;
  }
  // A part past the manifest's last one is not part of this image: say so, use the manifest.
  const last = m.image.parts.length;
  if (last > 1 || m.image.splitSize !== undefined) {
    const extra = join(dir, `${renamed ? basename(base) : recorded}.${String(last + 1).padStart(3, '0')}`);
    if (existsSync(extra)) notes.push(`${extra} is not in the manifest: ignored (the image is the ${last} file(s) the manifest lists)`);
  }
  const format = m.image.format;
  const size = format === 'raw' ? start : m.range.length;
  if (format === 'raw' && m.complete && size !== m.range.length) {
    throw new ImageError('IMAGE_CORRUPT', `the parts of ${base} hold ${size} bytes but the manifest's range is ${m.range.length}: the manifest does not belong to these files`, {
      size,
      expected: m.range.length,
    });
  }
  return {
    format,
    name: join(dir, basename(m.image.name)),
    split: parts.length > 1 || m.image.splitSize !== undefined,
    parts,
    size,
    manifest: m,
    manifestPath: mPath,
    hashes: m.hashes ?? {},
    notes,
  };
}

/** Files as they lie, in order, each at the image offset where the one before it ends. */
function partsOnDisk(paths: string[]): ImagePart[] {
  const parts: ImagePart[] = [];
  let start = 0;
  for (const path of paths) {
    const size = sizeOf(path) ?? 0;
    parts.push({ path, size, start, hashes: {} });
    start += size;
  }
  return parts;
}

/** --force on an unfinished backup: X.img.partial, or X.img.partial.001, ... as they are. */
async function partialFiles(base: string, m: Manifest, mPath: string, notes: string[]): Promise<ResolvedImage> {
  const work = `${base}${PARTIAL_SUFFIX}`;
  const paths = isFile(work) ? [work] : await findParts(work);
  const parts = partsOnDisk(paths);
  const start = parts.reduce((n, p) => n + p.size, 0);
  const format = m.image.format;
  return { format, name: base, split: paths.length > 1 || m.image.splitSize !== undefined, parts, size: format === 'raw' ? start : 0, manifest: m, manifestPath: mPath, hashes: {}, notes };
}

async function withoutManifest(base: string): Promise<ResolvedImage> {
  if (existsSync(base) && statSync(base).isBlockDevice())
    throw new UsageError(`${base} is a drive, not an image file: to copy a drive to a drive use clonestation clone`, 'USAGE', { path: base });
  if (existsSync(base)) sizeOf(base); // a FIFO, a character device or a folder is refused here
  const notes = [`no manifest (${basename(manifestPath(base))}): the image cannot be checked against the hashes of its backup`];
  let paths: string[];
  if (isFile(base) && !PART_SUFFIX.test(base)) paths = [base];
  else {
    try {
      paths = await findParts(base);
    } catch (e) {
      if (e instanceof ImageError && e.code === 'IMAGE_NOT_FOUND')
        throw new ImageError('IMAGE_NOT_FOUND', `image ${base} does not exist (nor its parts ${base}.001, ... or its manifest): check the path`, { path: base });
      throw e;
    }
  }
  const parts = partsOnDisk(paths);
  // Without a manifest a missing *last* part of a raw split cannot be seen; a last part as
  // large as the others is the one sign there may have been more.
  const sizes = parts.map((p) => p.size);
  if (parts.length > 1 && sizes[sizes.length - 1] === sizes[0])
    notes.push(`the last part ${basename(paths[paths.length - 1] ?? '')} is as large as the others: if the backup had more parts, they are missing (no manifest to tell)`);
  const first = paths[0] ?? base;
  const format: ImageFormat = /\.zip$/i.test(base) || hasZipMagic(first) ? 'zip' : /\.zst$/i.test(base) || hasZstdMagic(first) ? 'zstd' : 'raw';
  const size = parts.reduce((n, p) => n + p.size, 0);
  return { format, name: base, split: paths.length > 1, parts, size: format === 'raw' ? size : 0, hashes: {}, notes };
}

/**
 * Where image byte `imageOffset` goes on a target when no --target-offset is given: where it
 * came from. A backup of a range (a partition's area, say) restores to the same place; a
 * whole-drive backup, or an image without a manifest, starts at 0.
 */
export function defaultTargetOffset(image: ResolvedImage, imageOffset: number): number {
  return (image.manifest?.range.offset ?? 0) + imageOffset;
}

/** Algorithms by speed on this kind of machine (NOTES.md): restore checks the fastest one. */
const SPEED_ORDER: HashAlgorithm[] = ['xxh3', 'xxh128', 'sha1', 'sha256', 'crc32', 'md5', 'sha512', 'blake3'];

export function fastestAlgorithm(hashes: Partial<Record<HashAlgorithm, string>>): HashAlgorithm | undefined {
  return SPEED_ORDER.find((a) => typeof hashes[a] === 'string');
}

/** The first algorithm whose digest differs from the expected one, or undefined when all agree. */
export function firstHashMismatch(
  expected: Partial<Record<HashAlgorithm, string>>,
  got: Partial<Record<HashAlgorithm, string>>,
): { algorithm: HashAlgorithm; expected: string; got: string } | undefined {
  for (const [a, want] of Object.entries(expected) as [HashAlgorithm, string][]) {
    const have = got[a];
    if (have !== undefined && have.toLowerCase() !== want.toLowerCase()) return { algorithm: a, expected: want, got: have };
  }
  return undefined;
}
