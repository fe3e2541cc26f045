// The manifest: a JSON file beside every image saying what it is (source identity, range,
// format, parts with sizes and hashes, whole-image hashes, the map of a rescue) and whether
// it is complete. Restore and verify trust nothing else.
import { closeSync, constants as fsConstants, fstatSync, fsyncSync, openSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { ImageError, UsageError, isSystemCallError } from '../errors.js';
import { HASH_ALGORITHMS, type HashAlgorithm } from './hash.js';
import { MAX_USED_EXTENTS } from '../usedmap/types.js';
import { SchemaError, amount, arr, bool, fail, fileName, int, isoDate, literal, obj, oneOf, opt, someOf, str, type Infer, type Schema } from './schema.js';

export const MANIFEST_FORMAT = 'clonestation-image/1';

/**
 * A manifest is small: a rescue's list of unreadable areas is the only thing that grows.
 * The list is capped (the rescue map lists every area) so that every manifest backup writes
 * stays below the size a reader accepts: about 40 bytes an area as saveManifest writes it.
 */
export const MANIFEST_MAX_BYTES = 256 << 20;
export const MAX_UNREADABLE_LISTED = 4_000_000;

/** Hex digits of each algorithm's digest. */
const HEX_DIGITS: Record<HashAlgorithm, number> = { md5: 32, sha1: 40, sha256: 64, sha512: 128, xxh3: 16, xxh128: 32, blake3: 64, crc32: 8 };

/** hex digests by algorithm; an unknown algorithm, or a digest of the wrong length, is refused */
const hashes = (): Schema<Partial<Record<HashAlgorithm, string>>> =>
  someOf(HASH_ALGORITHMS, (a) => str(HEX_DIGITS[a], new RegExp(`^[0-9a-fA-F]{${HEX_DIGITS[a]}}$`), `${HEX_DIGITS[a]} hex digits`));

const extent = () => obj({ offset: int(), length: int() });

/** Free text shown to the user (a reason, a model, a path): one line, no control characters. */
const text = (max = 4096) => str(max, /^[^\x00-\x1f\x7f]*$/, 'one line of text');

const partSchema = obj({
  /** file name, in the manifest's folder (never a path: a manifest is untrusted input) */
  name: fileName(),
  size: int(),
  /** hex digests of this file's bytes */
  hashes: hashes(),
});

/** A partition of the source's table as backup records it (src/partition/summary.ts, without problems). */
const tablePartition = obj({
  number: int(1, 1 << 20),
  kind: oneOf(['gpt', 'primary', 'extended', 'logical']),
  firstLba: int(),
  lastLba: int(),
  start: int(),
  size: int(),
  typeGuid: opt(text(64)),
  mbrType: opt(int(0, 255)),
  typeName: text(100),
  guid: opt(text(64)),
  name: opt(text(200)),
  attributes: opt(text(32)),
  bootable: opt(bool()),
});

/**
 * The manifest's shape, checked field by field on every load (restore, verify, prune): the
 * types below are inferred from it. Cross-field rules are in `consistency()`.
 */
const manifestSchema = obj({
  format: literal(MANIFEST_FORMAT),
  tool: obj({ name: literal('clonestation'), version: text(100) }),
  /** false until the last byte is written, synced and hashed: an image never looks done early */
  complete: bool(),
  /** why it is not complete (interrupted, failed), when it is not */
  incompleteReason: opt(text()),
  /** while a backup runs: who writes it (a rerun replaces an unfinished backup only when its writer is gone) */
  writer: opt(obj({ host: text(255), pid: int(1, 2 ** 31), since: str(40, /^\d+$/, 'a start time in clock ticks') })),
  startedAt: isoDate(),
  endedAt: opt(isoDate()),
  source: obj({
    path: text(),
    kind: oneOf(['block', 'file']),
    model: opt(text(255)),
    serial: opt(text(255)),
    wwn: opt(text(255)),
    size: int(),
    logicalSectorSize: int(1, 1 << 20),
    physicalSectorSize: int(1, 1 << 20),
  }),
  /** the bytes of the source this image holds */
  range: extent(),
  image: obj({
    format: oneOf(['raw', 'zip', 'zstd']),
    /** the image's file name as written (single file, or the base name of a split set) */
    name: fileName(),
    /** part size of a byte split (name.001, name.002, ...), absent for one file */
    splitSize: opt(int(1)),
    /** zip: the entry holding the image, and deflate level (zstd: the zstd level, 1..19) */
    entryName: opt(text(65535)),
    level: opt(int(0, 19)),
    /** zstd: bytes of image per frame (the seek table in the file is the truth) */
    frameSize: opt(int(1)),
    compressedSize: opt(int()),
    /** the files, in order */
    parts: arr(partSchema),
  }),
  /** hex digests of the image's bytes (the source range as read; zip: uncompressed) */
  hashes: hashes(),
  /** a rescue of a failing drive: its ddrescue map, and what could not be read */
  rescue: opt(obj({ map: fileName(), badBytes: int(), badAreas: int(), fill: text(100), unreadable: arr(extent(), MAX_UNREADABLE_LISTED) })),
  /** the source's partition table when it has one (issue 15): `image info`, `restore --partition` */
  partitionTable: opt(
    obj({
      scheme: oneOf(['none', 'mbr', 'gpt']),
      sectorSize: int(1, 1 << 20),
      diskSize: int(),
      mbr: opt(oneOf(['protective', 'hybrid', 'plain'])),
      diskGuid: opt(text(64)),
      diskSignature: opt(text(16)),
      partitions: arr(tablePartition, 16384),
    }),
  ),
  /** hashes of each partition's bytes inside the image (image offsets), for a partial restore's check */
  partitions: opt(arr(obj({ number: int(1, 1 << 20), start: int(), size: int(), hashes: hashes() }), 16384)),
  /** backup --partition N: the image holds this partition of the source (range says where it was) */
  partition: opt(int(1, 1 << 20)),
  /**
   * backup --used-only: only these extents of the image were read from the source (image
   * offsets, flat [offset0, length0, offset1, ...]); every other byte of the image is zeros, and
   * the hashes are of the image so (as restored). Untrusted: checked sorted, apart, inside.
   */
  usedOnly: opt(obj({ usedBytes: int(), extents: arr(int(), 2 * MAX_USED_EXTENTS) })),
  /** how long it took, and how fast */
  seconds: opt(amount()),
  bytesPerSec: opt(amount()),
});

export type Manifest = Infer<typeof manifestSchema>;
export type ManifestPart = Infer<typeof partSchema>;
export type ImageFormat = Manifest['image']['format'];

/** The name of part `index` (1-based) of a split: NAME.001 (as parts.ts partPath). */
const partName = (name: string, index: number): string => `${name}.${String(index).padStart(3, '0')}`;

/** What the schema cannot say: fields that must agree with each other. Throws SchemaError. */
function consistency(m: Manifest): void {
  const { range, image, source } = m;
  if (range.offset + range.length > source.size) fail('range', `within the source's ${source.size} bytes`, `${range.length} bytes at ${range.offset}`);
  if (!Number.isSafeInteger(range.offset + range.length)) fail('range', 'within 2^53 bytes', 'larger');
  const ext = image.format === 'zip' ? /\.zip$/i : image.format === 'zstd' ? /\.zst$/i : /\.(img|raw)$/i;
  if (!ext.test(image.name)) fail('image.name', `a ${image.format === 'zip' ? '.zip' : image.format === 'zstd' ? '.zst' : '.img or .raw'} name (format ${image.format})`, image.name);
  if (image.format !== 'zstd' && image.level !== undefined && image.level > 9) fail('image.level', 'a deflate level 0..9', image.level);
  if (image.format === 'zstd' && image.level !== undefined && image.level < 1) fail('image.level', 'a zstd level 1..19', image.level);
  const split = image.splitSize !== undefined;
  const seen = new Set<string>();
  image.parts.forEach((p, i) => {
    const want = split ? partName(image.name, i + 1) : image.name;
    if (p.name !== want) fail(`image.parts[${i}].name`, JSON.stringify(want), p.name);
    if (seen.has(p.name)) fail(`image.parts[${i}].name`, 'a name not listed before', p.name);
    seen.add(p.name);
    if (split && image.splitSize !== undefined && p.size > image.splitSize) fail(`image.parts[${i}].size`, `at most the split size ${image.splitSize}`, p.size);
    if (split && i < image.parts.length - 1 && p.size !== image.splitSize) fail(`image.parts[${i}].size`, `the split size ${image.splitSize} (only the last part is shorter)`, p.size);
  });
  if (!split && image.parts.length > 1) fail('image.parts', 'one file (there is no splitSize)', `${image.parts.length} files`);
  if (m.complete) {
    if (image.parts.length === 0) fail('image.parts', 'the image\'s files (the manifest says complete)', 'empty');
    const total = image.parts.reduce((n, p) => n + p.size, 0);
    if (image.format === 'raw' && total !== range.length) fail('image.parts', `files holding range.length ${range.length} bytes`, `${total} bytes in all`);
  }
  if (m.usedOnly) {
    const x = m.usedOnly.extents;
    if (x.length % 2 !== 0) fail('usedOnly.extents', 'offset, length pairs', `${x.length} numbers`);
    let end = 0;
    let sum = 0;
    for (let i = 0; i < x.length; i += 2) {
      const off = x[i]!;
      const len = x[i + 1]!;
      if (len === 0) fail(`usedOnly.extents[${i + 1}]`, 'a length above 0', len);
      if (i > 0 && off <= end) fail(`usedOnly.extents[${i}]`, `an offset past the previous extent's end ${end} (sorted, apart)`, off);
      if (off + len > range.length) fail(`usedOnly.extents[${i}]`, `an extent within the image's ${range.length} bytes`, `${len} bytes at ${off}`);
      end = off + len;
      sum += len;
    }
    if (sum !== m.usedOnly.usedBytes) fail('usedOnly.usedBytes', `the extents' total ${sum}`, m.usedOnly.usedBytes);
  }
  m.rescue?.unreadable.forEach((u, i) => {
    if (u.offset + u.length > range.length) fail(`rescue.unreadable[${i}]`, `within the image's ${range.length} bytes`, `${u.length} bytes at ${u.offset}`);
  });
}

/** A parsed JSON document as a checked Manifest; `where` names it in the message. */
export function parseManifest(doc: unknown, where: string): Manifest {
  try {
    const m = manifestSchema.check(doc, '');
    consistency(m);
    return m;
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    throw new ImageError('IMAGE_CORRUPT', `manifest ${where}: ${e.message}; it is damaged, edited or not clonestation's: restore it from a copy`, { path: where, field: e.at });
  }
}

export function manifestPath(imageName: string): string {
  return `${imageName}.manifest.json`;
}

/** Written to a temporary name, synced and renamed: a crash leaves the old or the new one. */
export function saveManifest(path: string, m: Manifest): void {
  const tmp = `${path}.tmp`;
  // indented for people, but an extent on one line: a rescue's list stays ~40 bytes an area
  const text = JSON.stringify(m, null, 2).replace(/\{\n\s*"offset": (\d+),\n\s*"length": (\d+)\n\s*\}/g, '{ "offset": $1, "length": $2 }')
    // a used-only image's extents: one line of numbers
    .replace(/"extents": \[([\d,\s]*)\]/, (_, list: string) => `"extents": [${list.replace(/\s+/g, '').replace(/,/g, ', ')}]`);
  writeFileSync(tmp, `${text}\n`);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * Reads and checks a manifest. A regular file only, of bounded size: a FIFO, a device or a
 * folder named as a manifest is refused at once (opened non-blocking, checked with fstat on
 * the open file, so nothing swapped in between can hang the read or fill memory).
 */
export function loadManifest(path: string): Manifest {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    if (isSystemCallError(e) && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) throw new UsageError(`manifest ${path} does not exist: name the image or its .manifest.json`, 'NOT_FOUND');
    throw new ImageError('IMAGE_READ_FAILED', `cannot open manifest ${path}: ${(e as Error).message}`, { path });
  }
  let text: string;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`manifest ${path} is ${st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file'}: name the image's .manifest.json`, 'BAD_PATH', { path });
    if (st.size > MANIFEST_MAX_BYTES) throw new ImageError('IMAGE_CORRUPT', `manifest ${path} is ${st.size} bytes, more than a manifest can be (${MANIFEST_MAX_BYTES}): name the image's .manifest.json`, { path });
    // read to the end, but never past the limit (a file that grows while read is refused)
    const buf = Buffer.alloc(Math.min(st.size, MANIFEST_MAX_BYTES) + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
      if (n === buf.length) throw new ImageError('IMAGE_CORRUPT', `manifest ${path} grew while it was read: is something writing it?`, { path });
    }
    text = buf.subarray(0, n).toString('utf8');
  } catch (e) {
    if (e instanceof UsageError || e instanceof ImageError) throw e;
    throw new ImageError('IMAGE_READ_FAILED', `cannot read manifest ${path}: ${(e as Error).message}`, { path });
  } finally {
    closeSync(fd);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ImageError('IMAGE_CORRUPT', `manifest ${path} is not JSON (${(e as Error).message}): restore it from a copy`, { path });
  }
  return parseManifest(doc, path);
}
