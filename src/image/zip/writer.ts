// ZipImageWriter: a drive image as the one entry of a standard ZIP archive (ZIP64 when
// needed), deflated in parallel pigz style on a pool of worker threads.
//
//   const w = new ZipImageWriter({ sink: openPartSink('sda.zip'), entryName: 'sda.img', level: 6 });
//   for (const slot of slots) await w.write(slot);   // or several writes in flight
//   const r = await w.finish();                      // r.crc32, r.size, r.compressedSize, r.parts
//
// The input is cut into chunks (1 MiB by default); each chunk is compressed by a worker
// with the previous 32 KiB as dictionary and sync-flushed (see deflate.ts), the pieces are
// written to the sink in order, and the archive is closed with a data descriptor, the
// central directory and the (ZIP64) end records (see format.ts). Why our own writer and not
// yazl: yazl always runs its own zlib.DeflateRaw over the entry's data and has no way to
// take pre-compressed data (docs/ARCHITECTURE.md, "ZIP images").
import { availableParallelism } from 'node:os';
import { constants, crc32, deflateRawSync } from 'node:zlib';
import type { Piscina } from 'piscina';
import { ImageError, InternalError } from '../../errors.js';
import type { PartSink, PartsSummary } from '../parts.js';
import { FINAL_BLOCK, WINDOW, crc32Combine, isAllZero, storedSize, type ChunkResult } from './deflate.js';
import { METHOD_DEFLATE, METHOD_STORED, centralHeader, dataDescriptor, endRecords, localHeader, type EntryInfo } from './format.js';
import { createDeflatePool } from './pool.js';
import { PieceCutter } from '../piece-cutter.js';

/** Chunk size: measured in bench/zip.ts (docs/ARCHITECTURE.md, "ZIP images"). */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

export interface ZipImageWriterOptions {
  /** where the archive's bytes go (one file or a byte split); closed by finish() */
  sink: PartSink;
  /** the entry's name in the archive, e.g. "sda.img" */
  entryName: string;
  /** 0 = stored entry (method 0), 1..9 = deflate level */
  level: number;
  /** the entry's modification time (default: now) */
  mtime?: Date;
  /**
   * The image's size in bytes, when known. Below 4 GiB (with room for deflate's worst
   * case) the archive is plain ZIP; unknown or larger, ZIP64. finish() checks it.
   */
  size?: number;
  /** a pool from createDeflatePool() to share; default: a private one, destroyed by finish() */
  pool?: Piscina;
  /** threads of the private pool (default: one per core) */
  threads?: number;
  /** bytes per compressed chunk (default DEFAULT_CHUNK_SIZE; at least 64 KiB) */
  chunkSize?: number;
  /** chunks at the workers at once (default 2 x threads): bounds how long input is held */
  maxInFlight?: number;
  /**
   * Bytes of input dispatched but not yet written to the sink (default 32 MiB): the window
   * in which finished chunks wait for a slower one before them. Chunk costs differ 50x
   * (zeros vs text), so with only maxInFlight chunks a slow chunk at the head would idle
   * the other workers.
   */
  reorderWindow?: number;
}

export interface ZipImageResult {
  entryName: string;
  /** bytes of the image (uncompressed) */
  size: number;
  /** bytes of the entry's file data */
  compressedSize: number;
  crc32: number;
  method: 'deflate' | 'stored';
  zip64: boolean;
  /** offset of the local header in the archive (0: the entry comes first) */
  entryOffset: number;
  /** offset of the entry's file data in the archive */
  dataOffset: number;
  /** bytes of the whole archive */
  archiveSize: number;
  /** the files written, with their sizes (and hashes, if the sink computes them) */
  parts: PartsSummary;
  /** how chunks were encoded (deflate only) */
  chunks: { deflate: number; stored: number; mixed: number; zero: number };
}

interface Pending {
  /** the compressed piece, once known */
  result?: ChunkResult;
  inputLength: number;
}

export class ZipImageWriter {
  private readonly sink: PartSink;
  private readonly level: number;
  private readonly chunkSize: number;
  private readonly maxInFlight: number;
  private readonly maxUnwritten: number;
  private readonly pool: Piscina | undefined;
  private readonly ownPool: boolean;
  private readonly entry: Pick<EntryInfo, 'name' | 'method' | 'mtime' | 'zip64'>;
  private readonly declaredSize: number | undefined;
  private readonly dataOffset: number;

  /** cuts the writes into chunks (deflate entries) */
  private readonly cutter: PieceCutter;
  /** serialises sink writes, in stream order */
  private sinkQueue: Promise<void>;
  private error: unknown;
  private finished = false;

  /** the last WINDOW bytes of input so far (a copy): the next chunk's dictionary */
  private dictionary: Uint8Array | undefined;

  private nextSeq = 0;
  private nextToWrite = 0;
  private readonly pending = new Map<number, Pending>();
  /** chunks at the workers */
  private inFlight = 0;
  /** chunks dispatched and not yet written to the sink (includes inFlight) */
  private unwritten = 0;
  private waiters: Array<() => void> = [];
  private readonly freeBuffers: Uint8Array[] = [];
  private readonly zeroPieces = new Map<number, ChunkResult>();

  private crc = 0;
  private size = 0;
  private compressedSize = 0;
  private readonly counts = { deflate: 0, stored: 0, mixed: 0, zero: 0 };

  constructor(opts: ZipImageWriterOptions) {
    if (!Number.isInteger(opts.level) || opts.level < 0 || opts.level > 9) throw new RangeError(`level ${opts.level} is not 0..9`);
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize < 64 * 1024) throw new RangeError(`chunk size ${chunkSize} is below 64 KiB`);
    if (opts.entryName === '' || opts.entryName.includes('\\') || opts.entryName.startsWith('/')) {
      throw new RangeError(`entry name ${JSON.stringify(opts.entryName)} is not a relative path with forward slashes`);
    }
    this.sink = opts.sink;
    this.level = opts.level;
    this.chunkSize = chunkSize;
    this.declaredSize = opts.size;
    const threads = opts.threads ?? availableParallelism();
    this.maxInFlight = opts.maxInFlight ?? 2 * Math.max(1, opts.pool?.options.maxThreads ?? threads);
    this.maxUnwritten = Math.max(this.maxInFlight, Math.ceil((opts.reorderWindow ?? 32 * 1024 * 1024) / chunkSize));
    this.ownPool = opts.level > 0 && opts.pool === undefined;
    this.pool = opts.level === 0 ? undefined : (opts.pool ?? createDeflatePool(threads));
    // ZIP64 unless the size is known to fit with deflate's worst case (stored blocks) and the headers
    const zip64 = opts.size === undefined || storedSize(opts.size) + 64 * 1024 >= 0xffffffff;
    this.entry = {
      name: new TextEncoder().encode(opts.entryName),
      method: opts.level === 0 ? METHOD_STORED : METHOD_DEFLATE,
      mtime: opts.mtime ?? new Date(),
      zip64,
    };
    const header = localHeader(this.entry);
    this.dataOffset = header.length;
    this.sinkQueue = this.sink.write(header).catch((e: unknown) => this.fail(e));
    this.cutter = new PieceCutter(chunkSize, () => this.takeBuffer(), (chunk, owned) => this.dispatchChunk(chunk, owned), () => this.error);
  }

  /**
   * Appends `data` (the image's next bytes). Resolves when the writer no longer needs
   * `data`: the caller may then reuse its memory. Views over a SharedArrayBuffer are read
   * by the workers in place (no copy); other memory is copied first. Further writes may be
   * issued before this one resolves; the promises pace the caller (at most maxInFlight
   * chunks at the workers, at most reorderWindow bytes not yet written).
   */
  write(data: Uint8Array): Promise<void> {
    if (this.finished) return Promise.reject(new Error('ZipImageWriter: write after finish'));
    if (this.pool === undefined) return this.writeStored(data);
    return this.cutter.write(data);
  }

  /** Writes the rest, the data descriptor, the central directory and the end records; closes the sink. */
  async finish(): Promise<ZipImageResult> {
    if (this.finished) throw new Error('ZipImageWriter: finish called twice');
    this.finished = true;
    try {
      await this.cutter.flush();
      while (this.unwritten > 0 && this.error === undefined) await new Promise<void>((r) => this.waiters.push(r));
      await this.sinkQueue;
      if (this.error !== undefined) throw this.error;
      if (this.declaredSize !== undefined && this.declaredSize !== this.size) {
        throw new InternalError(`ZipImageWriter: the image was declared as ${this.declaredSize} bytes but ${this.size} were written`);
      }
      if (this.entry.method === METHOD_DEFLATE) await this.toSink(FINAL_BLOCK, FINAL_BLOCK.length);
      await this.sinkQueue;
      if (this.error !== undefined) throw this.error;
      if (!this.entry.zip64 && (this.compressedSize >= 0xffffffff || this.size >= 0xffffffff)) {
        throw new InternalError('ZipImageWriter: entry outgrew plain ZIP despite its declared size');
      }
      const info: EntryInfo = { ...this.entry, crc32: this.crc, size: this.size, compressedSize: this.compressedSize, localHeaderOffset: 0 };
      const descriptor = dataDescriptor(info);
      const central = centralHeader(info);
      const cdOffset = this.dataOffset + this.compressedSize + descriptor.length;
      const end = endRecords({ zip64: this.entry.zip64, cdOffset, cdSize: central.length, entries: 1 });
      await this.sink.write(Buffer.concat([descriptor, central, end]));
      const parts = await this.sink.close();
      return {
        entryName: new TextDecoder().decode(this.entry.name),
        size: this.size,
        compressedSize: this.compressedSize,
        crc32: this.crc,
        method: this.entry.method === METHOD_DEFLATE ? 'deflate' : 'stored',
        zip64: this.entry.zip64,
        entryOffset: 0,
        dataOffset: this.dataOffset,
        archiveSize: cdOffset + central.length + end.length,
        parts,
        chunks: { ...this.counts },
      };
    } catch (e) {
      await this.sink.abort();
      throw e;
    } finally {
      if (this.ownPool) await this.pool?.destroy();
    }
  }

  /** Stops: closes the sink (keeping what was written) and the private pool. */
  async abort(): Promise<void> {
    this.finished = true;
    this.fail(new ImageError('IMAGE_WRITE_FAILED', 'the ZIP image was aborted: it is incomplete'));
    await this.cutter.settled();
    // a sink write already started completes; the queued ones are skipped (error is set)
    await this.sinkQueue;
    await this.sink.abort();
    if (this.ownPool) await this.pool?.destroy();
  }

  // -------------------------------------------------------------------------------------

  private fail(e: unknown): void {
    if (this.error === undefined) this.error = e;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Queues a piece of the entry's file data for the sink, after everything queued before. */
  private toSink(piece: Uint8Array, compressedLength: number): Promise<void> {
    const p = this.sinkQueue.then(() => {
      if (this.error !== undefined) return;
      return this.sink.write(piece).then(() => {
        this.compressedSize += compressedLength;
      });
    });
    this.sinkQueue = p.catch((e: unknown) => this.fail(e));
    return p;
  }

  /** A stored entry: no compression, each write goes straight to the sink, in order. */
  private async writeStored(data: Uint8Array): Promise<void> {
    if (this.error !== undefined) throw this.error;
    this.crc = crc32(data, this.crc);
    this.size += data.length;
    await this.toSink(data, data.length);
    if (this.error !== undefined) throw this.error;
  }

  /** A SharedArrayBuffer-backed chunk buffer of ours (workers read it without a copy). */
  private takeBuffer(): Uint8Array {
    return this.freeBuffers.pop() ?? new Uint8Array(new SharedArrayBuffer(this.chunkSize));
  }

  /**
   * Sends one chunk to a worker (after waiting for room). `owned`: the chunk is one of our
   * buffers (returned to the free list when done); otherwise the caller's memory, read in
   * place when shared, copied into one of ours when not. Returns the promise after which
   * the caller's memory is free.
   */
  private async dispatchChunk(chunk: Uint8Array, owned: boolean): Promise<Array<Promise<void>>> {
    while ((this.inFlight >= this.maxInFlight || this.unwritten >= this.maxUnwritten) && this.error === undefined) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.error !== undefined) throw this.error;
    const seq = this.nextSeq++;
    const slot: Pending = { inputLength: chunk.length };
    this.pending.set(seq, slot);
    this.unwritten++;
    const dictionary = this.dictionary;
    // the next chunk's dictionary: a copy, since `chunk` may be reused before that chunk runs
    this.dictionary = chunk.slice(Math.max(0, chunk.length - WINDOW));
    this.size += chunk.length;

    if (isAllZero(chunk)) {
      // zeros (unused space: often half a drive) never go to a worker: one deflate of a
      // zero chunk per length, reused. It needs no dictionary, so it fits anywhere.
      slot.result = this.zeroPiece(chunk.length);
      if (owned) this.freeBuffers.push(new Uint8Array(chunk.buffer, 0, this.chunkSize));
      this.completed();
      return [];
    }
    let input = chunk;
    let mine = owned;
    if (!(chunk.buffer instanceof SharedArrayBuffer)) {
      input = this.takeBuffer().subarray(0, chunk.length);
      input.set(chunk);
      mine = true;
    }
    const pool = this.pool;
    if (!pool) throw new InternalError('ZipImageWriter: no pool for a deflate entry');
    this.inFlight++;
    const task = pool.run({ input, dictionary, level: this.level }) as Promise<ChunkResult>;
    const done = task.then(
      (r) => {
        this.inFlight--;
        this.wake();
        if (mine) this.freeBuffers.push(new Uint8Array(input.buffer, 0, this.chunkSize));
        slot.result = r;
        this.completed();
      },
      (e: unknown) => this.fail(e),
    );
    // the caller's memory is free once the worker is done with it (or at once if copied)
    return mine ? [] : [done];
  }

  /** Moves finished chunks, in order, to the sink queue. */
  private completed(): void {
    for (;;) {
      const slot = this.pending.get(this.nextToWrite);
      if (!slot?.result) return;
      this.pending.delete(this.nextToWrite);
      this.nextToWrite++;
      const r = slot.result;
      this.counts[r.kind]++;
      this.crc = crc32Combine(this.crc, r.crc, slot.inputLength);
      void this.toSink(r.data, r.data.length).then(
        () => {
          this.unwritten--;
          this.wake();
        },
        () => undefined, // already recorded by toSink's catch
      );
    }
  }

  private zeroPiece(length: number): ChunkResult {
    let z = this.zeroPieces.get(length);
    if (!z) {
      const zeros = new Uint8Array(length);
      z = {
        data: deflateRawSync(zeros, { level: this.level, finishFlush: constants.Z_SYNC_FLUSH }),
        crc: crc32(zeros),
        kind: 'zero',
      };
      this.zeroPieces.set(length, z);
    }
    return z;
  }
}
