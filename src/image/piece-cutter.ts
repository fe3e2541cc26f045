// Cuts a stream of writes into pieces of one size for a compressor (a ZIP writer's chunks, a
// zstd writer's frames): whole pieces of the caller's memory go on as views, read in place;
// the rest is gathered in a buffer of the writer's. Writes are dispatched one after another,
// and each resolves once the caller's memory is free again.
export class PieceCutter {
  /** serialises write() calls: each dispatches its pieces after the previous one did */
  private chain: Promise<void> = Promise.resolve();
  /** input not yet a whole piece, in a buffer of the writer's */
  private partial: Uint8Array | undefined;
  private partialLength = 0;

  /**
   * `take()`: an empty piece buffer of the writer's. `send(piece, owned)`: hands one piece on
   * (owned: the writer's buffer, else the caller's memory) and returns the promises after which
   * the caller's memory is free. `failure()`: the writer's first error, if any.
   */
  constructor(
    private readonly size: number,
    private readonly take: () => Uint8Array,
    private readonly send: (piece: Uint8Array, owned: boolean) => Promise<Array<Promise<void>>>,
    private readonly failure: () => unknown,
  ) {}

  /** Appends `data`; resolves when the writer no longer needs it (or rejects with its error). */
  write(data: Uint8Array): Promise<void> {
    const dispatched = this.chain.then(() => this.cut(data));
    this.chain = dispatched.then(
      () => undefined,
      () => undefined,
    );
    return dispatched.then(async (releases) => {
      await Promise.all(releases);
      const e = this.failure();
      if (e !== undefined) throw e;
    });
  }

  /** After the last write: the writes dispatched, and the last short piece sent and done. */
  async flush(): Promise<void> {
    await this.chain;
    if (this.partial && this.partialLength > 0) {
      const last = this.partial.subarray(0, this.partialLength);
      this.partial = undefined;
      this.partialLength = 0;
      await Promise.all(await this.send(last, true));
    }
  }

  /** Resolves once every write so far has been dispatched (whatever became of it). */
  settled(): Promise<void> {
    return this.chain;
  }

  private async cut(data: Uint8Array): Promise<Array<Promise<void>>> {
    const e = this.failure();
    if (e !== undefined) throw e;
    const releases: Array<Promise<void>> = [];
    let pos = 0;
    if (this.partialLength > 0) {
      const partial = this.partial ?? this.take();
      this.partial = partial;
      const n = Math.min(this.size - this.partialLength, data.length);
      partial.set(data.subarray(0, n), this.partialLength);
      this.partialLength += n;
      pos = n;
      if (this.partialLength === this.size) {
        this.partial = undefined;
        this.partialLength = 0;
        releases.push(...(await this.send(partial, true)));
      }
    }
    // whole pieces straight from the caller's memory
    while (data.length - pos >= this.size) {
      releases.push(...(await this.send(data.subarray(pos, pos + this.size), false)));
      pos += this.size;
    }
    if (pos < data.length) {
      const partial = this.take();
      partial.set(data.subarray(pos));
      this.partial = partial;
      this.partialLength = data.length - pos;
    }
    return releases;
  }
}
