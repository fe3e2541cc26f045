// ZstdImageWriter: a drive image as a seekable zstd file (format.ts): the input is cut into
// frames of a fixed size (4 MiB by default), each compressed on its own by the native pool
// (native/zstd.cc, one ZSTD_CCtx per thread, checksum flag set), written to the sink in
// order, and closed with the seek table. The caller's memory (an engine ring slot) is read
// in place by the native threads: write() resolves once they are done with it.
//
//   const w = new ZstdImageWriter({ sink: openPartSink('sda.img.zst'), level: 3 });
//   for (const slot of slots) await w.write(slot);   // or several writes in flight
//   const r = await w.finish();                      // r.size, r.compressedSize, r.frames, r.parts
import { availableParallelism } from 'node:os';
import { ImageError, InternalError } from '../../errors.js';
import type { PartSink, PartsSummary } from '../parts.js';
import { MAX_FRAMES, MAX_FRAME_DECOMPRESSED, frameChecksum, seekTableFrame, type FrameEntry } from './format.js';
import { compressBound, createZstdPool, type NativeZstdPool } from './native.js';
import { PieceCutter } from '../piece-cutter.js';

/** Bytes of image per frame: the engine's default block (one ring slot, one frame, no copy). */
export const DEFAULT_FRAME_SIZE = 4 * 1024 * 1024;
export const DEFAULT_ZSTD_LEVEL = 3;

export interface ZstdImageWriterOptions {
  sink: PartSink;
  /** zstd level 1..19 (default 3) */
  level?: number;
  /** bytes of image per frame (default 4 MiB; 64 KiB .. 1 GiB) */
  frameSize?: number;
  /** native compression threads (default: one per core) */
  threads?: number;
  /** the image's size when known: finish() checks it */
  size?: number;
}

export interface ZstdImageResult {
  /** bytes of the image (uncompressed) */
  size: number;
  /** bytes of the whole file, seek table included */
  compressedSize: number;
  frames: number;
  frameSize: number;
  level: number;
  parts: PartsSummary;
}

interface Pending {
  length: number;
  out: Uint8Array;
  compressed?: number;
}

export class ZstdImageWriter {
  readonly level: number;
  readonly frameSize: number;
  private readonly sink: PartSink;
  private readonly pool: NativeZstdPool;
  private readonly maxUnwritten: number;
  private readonly bound: number;
  private readonly declaredSize: number | undefined;

  private readonly cutter: PieceCutter;
  private sinkQueue: Promise<void> = Promise.resolve();
  private error: unknown;
  private finished = false;
  private nextSeq = 0;
  private nextToWrite = 0;
  private readonly pending = new Map<number, Pending>();
  /** frames dispatched and not yet written to the sink */
  private unwritten = 0;
  private waiters: Array<() => void> = [];
  private readonly freeOut: Uint8Array[] = [];
  private readonly freeIn: Uint8Array[] = [];
  private readonly entries: FrameEntry[] = [];
  private size = 0;
  private compressedSize = 0;

  constructor(o: ZstdImageWriterOptions) {
    const level = o.level ?? DEFAULT_ZSTD_LEVEL;
    if (!Number.isInteger(level) || level < 1 || level > 19) throw new RangeError(`zstd level ${level} is not 1..19`);
    const frameSize = o.frameSize ?? DEFAULT_FRAME_SIZE;
    if (!Number.isInteger(frameSize) || frameSize < 64 * 1024 || frameSize > MAX_FRAME_DECOMPRESSED) throw new RangeError(`frame size ${frameSize} is not 64 KiB .. 1 GiB`);
    this.level = level;
    this.frameSize = frameSize;
    this.sink = o.sink;
    this.declaredSize = o.size;
    const threads = Math.max(1, o.threads ?? availableParallelism());
    this.pool = createZstdPool(threads);
    // two frames a thread: one compressing, one queued; plus room for a slow frame at the head
    this.maxUnwritten = 2 * threads + 2;
    this.bound = compressBound(frameSize);
    this.cutter = new PieceCutter(frameSize, () => this.takeIn(), (frame, owned) => this.dispatchFrame(frame, owned), () => this.error);
  }

  /**
   * Appends the image's next bytes. Resolves when the writer no longer needs `data` (the
   * native threads read it in place). Further writes may be issued before it resolves; the
   * promises pace the caller (at most a few frames in flight).
   */
  write(data: Uint8Array): Promise<void> {
    if (this.finished) return Promise.reject(new Error('ZstdImageWriter: write after finish'));
    return this.cutter.write(data);
  }

  /** Compresses the rest, writes the seek table, closes the sink. */
  async finish(): Promise<ZstdImageResult> {
    if (this.finished) throw new Error('ZstdImageWriter: finish called twice');
    this.finished = true;
    try {
      await this.cutter.flush();
      while (this.unwritten > 0 && this.error === undefined) await new Promise<void>((r) => this.waiters.push(r));
      await this.sinkQueue;
      if (this.error !== undefined) throw this.error;
      if (this.declaredSize !== undefined && this.declaredSize !== this.size)
        throw new InternalError(`ZstdImageWriter: the image was declared as ${this.declaredSize} bytes but ${this.size} were written`);
      const table = seekTableFrame(this.entries);
      await this.sink.write(table);
      this.compressedSize += table.length;
      const parts = await this.sink.close();
      return { size: this.size, compressedSize: this.compressedSize, frames: this.entries.length, frameSize: this.frameSize, level: this.level, parts };
    } catch (e) {
      await this.sink.abort();
      throw e;
    } finally {
      this.pool.close();
    }
  }

  /** Stops: keeps what was written (a file without a seek table: no reader takes it). */
  async abort(): Promise<void> {
    this.finished = true;
    this.fail(new ImageError('IMAGE_WRITE_FAILED', 'the zstd image was aborted: it is incomplete'));
    await this.cutter.settled();
    await this.sinkQueue;
    await this.sink.abort();
    this.pool.close();
  }

  private fail(e: unknown): void {
    if (this.error === undefined) this.error = e;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private takeIn(): Uint8Array {
    return this.freeIn.pop() ?? new Uint8Array(this.frameSize);
  }

  /** Sends one frame to the pool (after waiting for room); returns the promise after which `input` is free. */
  private async dispatchFrame(input: Uint8Array, owned: boolean): Promise<Array<Promise<void>>> {
    while (this.unwritten >= this.maxUnwritten && this.error === undefined) await new Promise<void>((r) => this.waiters.push(r));
    if (this.error !== undefined) throw this.error;
    if (this.nextSeq >= MAX_FRAMES) throw new ImageError('IMAGE_WRITE_FAILED', `the image needs more than ${MAX_FRAMES} frames: use a larger frame size`);
    const seq = this.nextSeq++;
    const out = this.freeOut.pop() ?? new Uint8Array(this.bound);
    const slot: Pending = { length: input.length, out };
    this.pending.set(seq, slot);
    this.unwritten++;
    this.size += input.length;
    const done = this.pool.compress(input, out, this.level).then(
      (n) => {
        if (owned) this.freeIn.push(new Uint8Array(input.buffer, 0, this.frameSize));
        slot.compressed = n;
        this.completed();
      },
      (e: unknown) => this.fail(new ImageError('IMAGE_WRITE_FAILED', `compressing frame ${seq + 1} failed: ${e instanceof Error ? e.message : String(e)}`)),
    );
    return owned ? [] : [done];
  }

  /** Moves compressed frames, in order, to the sink. */
  private completed(): void {
    for (;;) {
      const slot = this.pending.get(this.nextToWrite);
      if (slot?.compressed === undefined) return;
      this.pending.delete(this.nextToWrite);
      this.nextToWrite++;
      const frame = slot.out.subarray(0, slot.compressed);
      this.entries.push({ compressedSize: frame.length, decompressedSize: slot.length, checksum: frameChecksum(frame) ?? 0 });
      const p = this.sinkQueue.then(async () => {
        if (this.error !== undefined) return;
        await this.sink.write(frame);
        this.compressedSize += frame.length;
      });
      this.sinkQueue = p.then(
        () => {
          this.freeOut.push(slot.out);
          this.unwritten--;
          this.wake();
        },
        (e: unknown) => this.fail(e),
      );
    }
  }
}
