// Taps: JS consumers of the engine's filled ring slots (hashers, the ZIP writer). The ring
// lives in a SharedArrayBuffer, so a tap reads a slot in place, and may hand the same view
// to another thread, without a copy. The engine reuses a slot only after every target
// write and every tap are done with it.
import { extentEnd, type Extent } from './extent.js';

export interface Tap {
  /**
   * The job's source bytes, in order, exactly once each. `data` is valid until the call
   * returns, or, when it returns a promise, until that promise settles: a tap that keeps
   * bytes longer must copy them.
   */
  consume(data: Uint8Array, offset: number): void | Promise<void>;
}

export class TapError extends Error {
  readonly code = 'TAP_FAILED';
  constructor(readonly reason: unknown) {
    super(`a tap failed: ${reason instanceof Error ? reason.message : String(reason)}`);
  }
}

/** The chunk offsets a job produces, in the order the engine takes them from its extents. */
class ChunkOrder {
  private index = 0;
  private done = 0;
  constructor(private readonly extents: readonly Extent[], private readonly blockSize: number) {}

  /** The next chunk's offset, or -1 when the extents are exhausted. */
  peek(): number {
    while (this.index < this.extents.length && this.done >= this.extents[this.index].length) {
      this.index++;
      this.done = 0;
    }
    return this.index < this.extents.length ? this.extents[this.index].offset + this.done : -1;
  }

  advance(): void {
    const e = this.extents[this.index];
    this.done += Math.min(this.blockSize, extentEnd(e) - (e.offset + this.done));
  }
}

/**
 * Puts the engine's tap calls (in completion order) back into source order, feeds every
 * tap, and releases each slot when all taps are done with it. A tap failure cancels the job.
 */
export class TapSequencer {
  private readonly order: ChunkOrder;
  private readonly waiting = new Map<number, { buf: number; length: number }>();
  private readonly settling = new Set<Promise<void>>();
  private failure: TapError | undefined;
  /** bytes every tap has been given */
  fed = 0;

  constructor(
    private readonly taps: readonly Tap[],
    extents: readonly Extent[],
    private readonly blockSize: number,
    private readonly view: (buf: number, length: number) => Uint8Array,
    private readonly release: (buf: number) => void,
    private readonly abort: () => void,
  ) {
    this.order = new ChunkOrder(extents, blockSize);
  }

  get error(): TapError | undefined {
    return this.failure;
  }

  /** The engine filled buffer `buf` with `length` bytes from source offset `offset`. */
  filled(buf: number, offset: number, length: number): void {
    if (this.failure) return this.release(buf);
    this.waiting.set(offset, { buf, length });
    for (let next = this.order.peek(); next >= 0; next = this.order.peek()) {
      const chunk = this.waiting.get(next);
      if (!chunk) break;
      this.waiting.delete(next);
      this.order.advance();
      this.feed(chunk.buf, next, chunk.length);
    }
  }

  private feed(buf: number, offset: number, length: number): void {
    const data = this.view(buf, length);
    const pending: Promise<void>[] = [];
    try {
      for (const t of this.taps) {
        const r = t.consume(data, offset);
        if (r) pending.push(r);
      }
    } catch (e) {
      this.fail(e);
    }
    this.fed += length;
    if (pending.length === 0) return this.release(buf);
    // Not awaited here: the next chunk goes to the taps at once (a parallel deflate keeps
    // several in flight); this slot alone waits for its promises.
    const p: Promise<void> = Promise.all(pending).then(
      () => {
        this.settling.delete(p);
        this.release(buf);
      },
      (e: unknown) => {
        this.settling.delete(p);
        this.fail(e);
        this.release(buf);
      },
    );
    this.settling.add(p);
  }

  private fail(e: unknown): void {
    if (this.failure) return;
    this.failure = e instanceof TapError ? e : new TapError(e);
    this.abort();
  }

  /** After the job's end: waits for every tap promise; chunks never fed are let go. */
  async settle(): Promise<void> {
    while (this.settling.size > 0) await Promise.all([...this.settling]);
    for (const { buf } of this.waiting.values()) this.release(buf);
    this.waiting.clear();
  }
}
