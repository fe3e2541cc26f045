// The gate that keeps the ring memory of a station's running jobs within its budget (how much
// each job holds is src/jobs/ring.ts).

/**
 * Admits jobs while the ring memory of those running fits the budget; a job larger than the
 * whole budget runs alone. First come, first served.
 */
export class MemoryGate {
  private used = 0;
  private readonly waiting: { bytes: number; go: () => void }[] = [];
  private head = 0;

  constructor(readonly budget: number) {}

  take(bytes: number): Promise<void> {
    if (this.head === this.waiting.length && this.fits(bytes)) {
      this.used += bytes;
      return Promise.resolve();
    }
    return new Promise((go) => this.waiting.push({ bytes, go }));
  }

  give(bytes: number): void {
    this.used -= bytes;
    while (this.head < this.waiting.length && this.fits(this.waiting[this.head].bytes)) {
      const w = this.waiting[this.head++];
      this.used += w.bytes;
      w.go();
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    }
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.budget;
  }
}
