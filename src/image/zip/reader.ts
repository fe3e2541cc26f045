// ZipImageReader: opens a ZIP image (one file, or a byte split OUT.zip.001, ...), finds its
// one entry and streams the entry's bytes in order, checking what yauzl does not: the
// CRC-32 and the size at the end, and that the archive's structure is where it says
// (local header, data, data descriptor, central directory), which is how a part that was
// swapped, replaced or cut short shows itself.
//
//   const r = await ZipImageReader.open('sda.zip');          // or 'sda.zip.001'
//   for await (const chunk of r.chunks()) await target.write(chunk);
//   await r.close();
//
// yauzl parses the central directory (through a RandomAccessReader over the parts); the
// file data is read by us in large pieces and inflated by a zlib stream (its work runs on
// libuv's thread pool, beside the reads and the caller's writes).
import { Readable } from 'node:stream';
import { createInflateRaw, crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { ImageError } from '../../errors.js';
import { PartSet } from '../parts.js';
import { FLAG_DESCRIPTOR, METHOD_DEFLATE, METHOD_STORED, SIG_DESCRIPTOR } from './format.js';

/** Bytes per read of compressed data: large reads, as dd bs=4M. */
const READ_SIZE = 4 * 1024 * 1024;
/** Bytes per chunk the reader yields (zlib's output chunk). */
const OUT_CHUNK = 1024 * 1024;

export interface ZipImageInfo {
  entryName: string;
  /** bytes of the image */
  size: number;
  compressedSize: number;
  crc32: number;
  method: 'deflate' | 'stored';
  mtime: Date;
  /** offset of the entry's file data in the archive */
  dataOffset: number;
  /** the files of the archive, in order, with their sizes */
  parts: Array<{ path: string; size: number }>;
  archiveSize: number;
}

/** yauzl's RandomAccessReader over a PartSet (yauzl calls back; we are promise based). */
class PartSetReader extends yauzl.RandomAccessReader {
  constructor(private readonly set: PartSet) {
    super();
  }
  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    this.set.read(buffer, offset, length, position).then(
      () => callback(null),
      (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))),
    );
  }
  override _readStreamForRange(start: number, end: number): Readable {
    return compressedStream(this.set, start, end - start);
  }
  override close(callback: (err: Error | null) => void): void {
    // the PartSet belongs to ZipImageReader, which closes it
    setImmediate(() => callback(null));
  }
}

export class ZipImageReader {
  private used = false;

  private constructor(
    private readonly set: PartSet,
    readonly info: ZipImageInfo,
  ) {}

  /**
   * Opens the image at `path` (a .zip file, its first part OUT.zip.001, or OUT.zip when
   * only its parts exist; or the list of its files, as a manifest names them) and checks
   * its structure. Throws ImageError: IMAGE_NOT_FOUND,
   * IMAGE_PART_MISSING, IMAGE_TRUNCATED, IMAGE_CORRUPT, IMAGE_READ_FAILED.
   */
  static async open(path: string | readonly string[]): Promise<ZipImageReader> {
    const set = await PartSet.open(path);
    try {
      const info = await inspect(set, typeof path === 'string' ? path : (path[0] ?? ''));
      return new ZipImageReader(set, info);
    } catch (e) {
      await set.close();
      throw e;
    }
  }

  /**
   * The image's bytes, in order, as chunks of up to 1 MiB (fresh buffers: keep them if you
   * like). After the last chunk the size and CRC-32 have been checked: a mismatch throws
   * IMAGE_CRC_MISMATCH (or IMAGE_CORRUPT / IMAGE_TRUNCATED when the data cannot be
   * decoded) instead of ending, so a consumer that sees the iteration end normally has
   * every byte, verified. Can be iterated once.
   */
  async *chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.used) throw new Error('ZipImageReader: chunks() can be iterated once');
    this.used = true;
    const { info, set } = this;
    const compressed = compressedStream(set, info.dataOffset, info.compressedSize);
    let source: AsyncIterable<Buffer>;
    let inflate: ReturnType<typeof createInflateRaw> | undefined;
    if (info.method === 'deflate') {
      inflate = createInflateRaw({ chunkSize: OUT_CHUNK });
      compressed.on('error', (e) => inflate?.destroy(e));
      compressed.pipe(inflate);
      source = inflate;
    } else {
      source = compressed;
    }
    let crc = 0;
    let size = 0;
    try {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > info.size) break;
        crc = crc32(chunk, crc);
        yield chunk;
      }
    } catch (e) {
      // where in the archive: zlib has consumed this much of the compressed data
      const at = info.dataOffset + (inflate?.bytesWritten ?? 0);
      throw dataError(e, info, size, set.paths.length > 1 ? ` (near byte ${at} of the archive, in ${set.pathAt(at)})` : ` (near byte ${at})`);
    } finally {
      compressed.destroy();
      inflate?.destroy();
    }
    if (inflate && inflate.bytesWritten !== info.compressedSize) {
      throw new ImageError(
        'IMAGE_CORRUPT',
        `the compressed data of ${info.entryName} ends at byte ${inflate.bytesWritten} of ${info.compressedSize} (byte ${info.dataOffset + inflate.bytesWritten} of the archive, in ${set.pathAt(info.dataOffset + inflate.bytesWritten)}): a part is damaged, replaced or out of order: check the parts or make the backup again`,
        { consumed: inflate.bytesWritten, compressedSize: info.compressedSize },
      );
    }
    if (size !== info.size) {
      throw new ImageError(
        'IMAGE_CORRUPT',
        `${info.entryName} decodes to ${size} bytes, the archive says ${info.size}: the archive is damaged or a part is out of order; make the backup again`,
        { size, expected: info.size },
      );
    }
    if (crc >>> 0 !== info.crc32 >>> 0) {
      throw new ImageError(
        'IMAGE_CRC_MISMATCH',
        `${info.entryName} does not match its CRC-32 (${hex(crc)} read, ${hex(info.crc32)} recorded): a part is damaged, replaced or out of order; do not trust this restore`,
        { crc32: crc >>> 0, expected: info.crc32 >>> 0 },
      );
    }
  }

  /** chunks() as a Readable (for pipeline()). */
  stream(): Readable {
    return Readable.from(this.chunks(), { objectMode: false });
  }

  async close(): Promise<void> {
    await this.set.close();
  }
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/** The bytes [start, start+length) of the set as a stream of READ_SIZE buffers, read ahead by one. */
function compressedStream(set: PartSet, start: number, length: number): Readable {
  let pos = start;
  const end = start + length;
  return new Readable({
    highWaterMark: 2 * READ_SIZE,
    read(): void {
      if (pos >= end) {
        this.push(null);
        return;
      }
      const n = Math.min(READ_SIZE, end - pos);
      const buf = Buffer.allocUnsafe(n);
      const at = pos;
      pos += n;
      set.read(buf, 0, n, at).then(
        () => this.push(buf),
        (e: unknown) => this.destroy(e instanceof Error ? e : new Error(String(e))),
      );
    },
  });
}

/** A failure while decoding, as the ImageError that says what it means. */
function dataError(e: unknown, info: ZipImageInfo, produced: number, where: string): ImageError {
  if (e instanceof ImageError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown }).code;
  if (code === 'Z_BUF_ERROR' || /unexpected end/i.test(msg)) {
    return new ImageError('IMAGE_TRUNCATED', `the compressed data of ${info.entryName} ends early (after ${produced} bytes of the image${where}): the archive is truncated or a part is out of order`, {
      produced,
    });
  }
  return new ImageError(
    'IMAGE_CORRUPT',
    `the compressed data of ${info.entryName} is damaged after ${produced} bytes of the image${where}: ${msg}; a part is damaged, replaced or out of order: check the parts or make the backup again`,
    { produced, zlib: msg },
  );
}

/** yauzl's callback API as promises. */
function openZip(set: PartSet): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromRandomAccessReader(new PartSetReader(set), set.size, { lazyEntries: true, autoClose: false, validateEntrySizes: true }, (err, zip) =>
      err ? reject(err) : resolve(zip),
    );
  });
}

function readOneEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry> {
  return new Promise((resolve, reject) => {
    zip.once('entry', resolve);
    zip.once('error', reject);
    zip.once('end', () => reject(new Error('no entry')));
    zip.readEntry();
  });
}

function corrupt(path: string, what: string, details: Record<string, unknown> = {}): ImageError {
  return new ImageError('IMAGE_CORRUPT', `${path} is not a readable ZIP image: ${what}`, { path, ...details });
}

/** Parses and checks the archive's structure; returns what chunks() needs. */
async function inspect(set: PartSet, path: string): Promise<ZipImageInfo> {
  const split = set.paths.length > 1;
  const partsHint = split ? '; check that every part is there, complete and in order' : '';
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(set);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    if (/end of central directory record signature not found/i.test(msg)) {
      throw new ImageError(
        'IMAGE_TRUNCATED',
        `${path} has no end-of-archive record: it is truncated (an interrupted backup?)${split ? ', its last part is missing, or its parts are out of order' : ' or is not a ZIP file'}`,
        { path },
      );
    }
    throw corrupt(path, `${msg}${partsHint}`);
  }
  // where the central directory starts: yauzl keeps it as the entry cursor before the first read
  // (the cast: @types/yauzl declares readEntryCursor as boolean, it is the offset)
  const cdOffset = zip.readEntryCursor as unknown as number;
  if (zip.entryCount !== 1) throw corrupt(path, `it has ${zip.entryCount} entries, a drive image has exactly one`);
  let entry: yauzl.Entry;
  try {
    entry = await readOneEntry(zip);
  } catch (e) {
    throw corrupt(path, `${e instanceof Error ? e.message : String(e)}${partsHint}`);
  }
  if (entry.isEncrypted()) throw corrupt(path, 'its entry is encrypted');
  // A folder entry ("d/") holds no file: restoring it would write nothing and call it done.
  if (entry.fileName.endsWith('/') || entry.fileName.endsWith('\\')) throw corrupt(path, `its one entry ${JSON.stringify(entry.fileName)} is a folder, not a drive image file`);
  if (entry.compressionMethod !== METHOD_DEFLATE && entry.compressionMethod !== METHOD_STORED) {
    throw corrupt(path, `compression method ${entry.compressionMethod} is not supported (only deflate and stored)`);
  }
  let local: yauzl.LocalFileHeader;
  try {
    local = await zip.readLocalFileHeaderPromise(entry);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof ImageError && e.code !== 'IMAGE_TRUNCATED') throw e;
    throw corrupt(path, `no entry header at byte ${entry.relativeOffsetOfLocalHeader} (${msg})${split ? ': the first part is not the first, or parts are out of order' : ''}`);
  }
  // The local header must describe the same entry as the central directory.
  if (!Buffer.from(local.fileName).equals(entry.fileNameRaw) || local.compressionMethod !== entry.compressionMethod) {
    throw corrupt(path, `the entry header does not match the central directory${partsHint}`);
  }
  const dataOffset = local.fileDataStart;
  const dataEnd = dataOffset + entry.compressedSize;
  if (dataEnd > cdOffset) throw corrupt(path, `the entry's data (to byte ${dataEnd}) overlaps the central directory at ${cdOffset}${partsHint}`);
  // With a data descriptor (bit 3, as ours), it must sit right after the data, with the
  // central directory's CRC: a part swapped in the middle of a split shifts nothing, but a
  // part from another backup or a cut one does not get past this.
  if (entry.generalPurposeBitFlag & FLAG_DESCRIPTOR) {
    const d = Buffer.alloc(8);
    if (dataEnd + 8 > cdOffset) throw corrupt(path, `no room for the data descriptor before the central directory${partsHint}`);
    await set.read(d, 0, 8, dataEnd);
    const hasSig = d.readUInt32LE(0) === SIG_DESCRIPTOR;
    const crc = hasSig ? d.readUInt32LE(4) : d.readUInt32LE(0);
    if (crc !== entry.crc32 >>> 0) throw corrupt(path, `the data descriptor after the entry's data does not match the central directory${partsHint}`);
  }
  if (entry.compressedSize === 0 && entry.compressionMethod === METHOD_DEFLATE) throw corrupt(path, 'the deflate entry has no data');
  if (entry.compressionMethod === METHOD_STORED && entry.compressedSize !== entry.uncompressedSize) {
    throw corrupt(path, 'the stored entry has different compressed and uncompressed sizes');
  }
  return {
    entryName: entry.fileName,
    size: entry.uncompressedSize,
    compressedSize: entry.compressedSize,
    crc32: entry.crc32 >>> 0,
    method: entry.compressionMethod === METHOD_DEFLATE ? 'deflate' : 'stored',
    mtime: entry.getLastModDate(),
    dataOffset,
    parts: set.paths.map((p, i) => ({ path: p, size: set.sizes[i] ?? 0 })),
    archiveSize: set.size,
  };
}
