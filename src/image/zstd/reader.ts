// ZstdImageReader: opens a seekable zstd image (one file or a byte split OUT.img.zst.001,
// ...), checks its seek table against the file (format.ts: every size, the count, the
// total), and yields the image's bytes, whole or a range, decompressing only the frames the
// range needs, several at once on the native pool, in order. The file is untrusted: a frame
// that does not decode to exactly its table entry's size and checksum is IMAGE_CORRUPT,
// naming the frame and where it lies.
//
//   const r = await ZstdImageReader.open(['sda.img.zst']);
//   for await (const chunk of r.chunks({ offset, length })) await target.write(chunk);
//   r.bytesRead;   // compressed bytes read so far (seek table included)
import { availableParallelism } from 'node:os';
import { ImageError } from '../../errors.js';
import { PartSet } from '../parts.js';
import { FOOTER_SIZE, SeekTableError, frameChecksum, framesFor, parseFooter, parseSeekTable, type SeekTable } from './format.js';
import { createZstdPool, type NativeZstdPool } from './native.js';
import { ZERO_CHUNK, zeroBytes } from '../../zeros.js';

/** Frames readAt() keeps decompressed (4 MiB each as we write them). */
const RANDOM_CACHE = 4;

export interface ZstdImageInfo {
  /** bytes of the image */
  size: number;
  frames: number;
  /** the first frame's content size (every frame's but the last, as we write them) */
  frameSize: number;
  /** bytes of the file(s), seek table included */
  archiveSize: number;
  checksums: boolean;
}

export class ZstdImageReader {
  /** compressed bytes read from the files so far */
  bytesRead = 0;
  /** readAt(): its pool (made on first use) and the last frames it decompressed */
  private randomPool: NativeZstdPool | undefined;
  private readonly cache = new Map<number, Promise<Uint8Array>>();

  private constructor(
    private readonly set: PartSet,
    private readonly table: SeekTable,
    readonly info: ZstdImageInfo,
    private readonly threads: number,
  ) {}

  /** Opens and checks the seek table. IMAGE_NOT_FOUND, IMAGE_PART_MISSING, IMAGE_TRUNCATED, IMAGE_CORRUPT, IMAGE_READ_FAILED. */
  static async open(path: string | readonly string[], opts: { threads?: number } = {}): Promise<ZstdImageReader> {
    const set = await PartSet.open(path);
    const name = typeof path === 'string' ? path : (path[0] ?? '');
    const hint = set.paths.length > 1 ? ': check that every part is there, complete and in order' : '';
    try {
      if (set.size < FOOTER_SIZE) throw new ImageError('IMAGE_TRUNCATED', `${name} is ${set.size} bytes, too short for a seekable zstd image: it is truncated or not an image${hint}`, { path: name });
      const footer = new Uint8Array(FOOTER_SIZE);
      await set.read(footer, 0, FOOTER_SIZE, set.size - FOOTER_SIZE);
      let bytesRead = FOOTER_SIZE;
      let table: SeekTable;
      try {
        const { tableSize } = parseFooter(footer, set.size);
        const raw = new Uint8Array(tableSize);
        await set.read(raw, 0, tableSize, set.size - tableSize);
        bytesRead += tableSize;
        table = parseSeekTable(raw, set.size);
      } catch (e) {
        if (!(e instanceof SeekTableError)) throw e;
        const truncated = /no seekable zstd magic/.test(e.message);
        throw new ImageError(
          truncated ? 'IMAGE_TRUNCATED' : 'IMAGE_CORRUPT',
          `${name} is not a readable seekable zstd image: ${e.message}${truncated ? ' (an interrupted backup, a missing last part, or a plain .zst: decompress it with zstd -d)' : ''}${hint}`,
          { path: name },
        );
      }
      const info: ZstdImageInfo = {
        size: table.starts[table.frames.length] ?? 0,
        frames: table.frames.length,
        frameSize: table.frames[0]?.decompressedSize ?? 0,
        archiveSize: set.size,
        checksums: table.checksums,
      };
      const r = new ZstdImageReader(set, table, info, Math.max(1, opts.threads ?? availableParallelism()));
      r.bytesRead = bytesRead;
      return r;
    } catch (e) {
      await set.close();
      throw e;
    }
  }

  /** The files, in order, with their sizes. */
  get parts(): Array<{ path: string; size: number }> {
    return this.set.paths.map((p, i) => ({ path: p, size: this.set.sizes[i] ?? 0 }));
  }

  /**
   * The image's bytes [offset, offset + length) (default: all), in order, as one fresh
   * buffer per frame (cut at the range's ends). Every frame read is checked (zstd's own
   * content checksum, the table's size and checksum): a damaged one throws IMAGE_CORRUPT.
   * `unused(start, length)`: a frame the caller will not use (a used-only image's frame of free
   * blocks) is neither read nor decompressed; zeros stand in for it, as the image as restored
   * holds there.
   */
  async *chunks(range?: { offset: number; length: number }, unused?: (start: number, length: number) => boolean): AsyncGenerator<Uint8Array, void, undefined> {
    const offset = range?.offset ?? 0;
    const length = range?.length ?? this.info.size - offset;
    if (offset < 0 || length < 0 || offset + length > this.info.size) throw new RangeError(`range ${offset}+${length} is outside the image's ${this.info.size} bytes`);
    if (length === 0) return;
    const { first, last } = framesFor(this.table, offset, length);
    const pool = createZstdPool(this.threads);
    const ahead = 2 * this.threads;
    const queue: Array<Promise<Uint8Array>> = [];
    let next = first;
    const skipped = (i: number): boolean => unused !== undefined && unused(this.table.starts[i]!, this.table.frames[i]!.decompressedSize);
    // (a frame larger than the shared zeros gets zeros of its own)
    const zerosOf = (n: number): Uint8Array => (n <= ZERO_CHUNK ? zeroBytes(n) : new Uint8Array(n));
    const fill = (): void => {
      while (next <= last && queue.length < ahead) {
        const i = next++;
        const p = skipped(i) ? Promise.resolve(zerosOf(this.table.frames[i]!.decompressedSize)) : this.frame(pool, i);
        p.catch(() => undefined); // awaited in order below
        queue.push(p);
      }
    };
    try {
      for (let i = first; i <= last; i++) {
        fill();
        const data = await queue.shift()!;
        const start = this.table.starts[i]!;
        const from = Math.max(0, offset - start);
        const to = Math.min(data.length, offset + length - start);
        if (to > from) yield from === 0 && to === data.length ? data : data.subarray(from, to);
      }
    } finally {
      await Promise.allSettled(queue);
      pool.close();
    }
  }

  /** Reads and decompresses frame i, checked against its table entry. */
  private async frame(pool: NativeZstdPool, i: number): Promise<Uint8Array> {
    const e = this.table.frames[i]!;
    const at = this.table.compressedStarts[i]!;
    const input = Buffer.allocUnsafe(e.compressedSize);
    await this.set.read(input, 0, e.compressedSize, at);
    this.bytesRead += e.compressedSize;
    const out = Buffer.allocUnsafe(e.decompressedSize);
    const where = `frame ${i + 1} of ${this.table.frames.length} (bytes ${at}..${at + e.compressedSize - 1} of the file${this.set.paths.length > 1 ? `, in ${this.set.pathAt(at)}` : ''})`;
    let n: number;
    try {
      n = await pool.decompress(input, out);
    } catch (err) {
      throw new ImageError('IMAGE_CORRUPT', `${where} is damaged (${err instanceof Error ? err.message : String(err)}): the image cannot be trusted there; make the backup again`, {
        frame: i + 1,
        offset: at,
      });
    }
    if (n !== e.decompressedSize)
      throw new ImageError('IMAGE_CORRUPT', `${where} decodes to ${n} bytes, the seek table says ${e.decompressedSize}: the image is damaged; make the backup again`, { frame: i + 1, offset: at });
    const sum = frameChecksum(input);
    if (e.checksum !== undefined && sum !== undefined && sum !== e.checksum)
      throw new ImageError('IMAGE_CORRUPT', `${where} does not match the seek table's checksum: the image is damaged; make the backup again`, { frame: i + 1, offset: at });
    return out;
  }

  /**
   * Random access (an image mount, a partition inside the image): reads image bytes
   * [position, position + buf.length) into buf, fewer at the image's end; returns how many.
   * Each frame it needs is read and checked once while it stays among the last few used.
   */
  async readAt(buf: Uint8Array, position: number): Promise<number> {
    if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`position ${position} is not a byte offset`);
    const length = Math.min(buf.length, Math.max(0, this.info.size - position));
    if (length === 0) return 0;
    const pool = (this.randomPool ??= createZstdPool(1));
    const { first, last } = framesFor(this.table, position, length);
    let done = 0;
    for (let i = first; i <= last; i++) {
      let frame = this.cache.get(i);
      if (frame) this.cache.delete(i);
      else frame = this.frame(pool, i);
      // most recently used last; the oldest beyond RANDOM_CACHE go
      this.cache.set(i, frame);
      while (this.cache.size > RANDOM_CACHE) this.cache.delete(this.cache.keys().next().value as number);
      let data: Uint8Array;
      try {
        data = await frame;
      } catch (e) {
        this.cache.delete(i);
        throw e;
      }
      const start = this.table.starts[i]!;
      const from = Math.max(0, position + done - start);
      const n = Math.min(data.length - from, length - done);
      if (n <= 0) continue;
      buf.set(data.subarray(from, from + n), done);
      done += n;
    }
    return done;
  }

  async close(): Promise<void> {
    this.cache.clear();
    this.randomPool?.close();
    this.randomPool = undefined;
    await this.set.close();
  }
}
