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

  /** what this sequencer reaches: the taps, the ring's memory and the job (dropped by close()) */
  private hooks:
    | {
        taps: readonly Tap[];
        view: (buf: number, length: number) => Uint8Array;
        release: (buf: number) => void;
        abort: () => void;
      }
    | undefined;

  /** reaches this sequencer until close() */
  private readonly link: { seq?: TapSequencer } = { seq: this };
  /**
   * The function to give the native job for each filled slot. It reaches this sequencer
   * through `link` only (made outside any scope that sees the job), so that close() can cut it.
   */
  readonly onTap = sinkOf(this.link);

  constructor(taps: readonly Tap[], extents: readonly Extent[], blockSize: number, view: (buf: number, length: number) => Uint8Array, release: (buf: number) => void, abort: () => void) {
    this.order = new ChunkOrder(extents, blockSize);
    this.hooks = { taps, view, release, abort };
  }

  private release(buf: number): void {
    this.hooks?.release(buf);
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
    const hooks = this.hooks;
    if (!hooks) return;
    const data = hooks.view(buf, length);
    const pending: Promise<void>[] = [];
    try {
      for (const t of hooks.taps) {
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
    this.hooks?.abort();
  }

  /** After the job's end: waits for every tap promise; chunks never fed are let go. */
  async settle(): Promise<void> {
    while (this.settling.size > 0) await Promise.all([...this.settling]);
    for (const { buf } of this.waiting.values()) this.release(buf);
    this.waiting.clear();
  }

  /**
   * After settle(), once nothing reads or writes the ring any more: lets go of the taps, the
   * ring's memory and the job. The native job holds `onTap` strongly until its wrapper is
   * collected; while `onTap` still reached the job's wrapper (a closure made in the job's
   * constructor shares that scope's context, `this` and the ring included), neither could
   * ever be collected: every tapped job kept its ring's SharedArrayBuffer and native job for
   * the life of the worker (~25 KB a 4 KiB job, 250 MB for 10,000 hashed jobs).
   */
  close(): void {
    this.hooks = undefined;
    this.link.seq = undefined;
  }
}

function sinkOf(link: { seq?: TapSequencer }): (buf: number, offset: number, length: number) => void {
  return (buf, offset, length) => link.seq?.filled(buf, offset, length);
}
