// MultiHash on its own thread (workers/hash-thread.ts). A Tap like MultiHash, but consume()
// returns at once with a promise that settles when the worker has hashed the bytes: the
// engine's slot (or TargetWriter's) is released then. The bytes must be in shared memory
// (a SharedArrayBuffer view): they are hashed in place, never copied.
// Measured on a 1 GiB zip restore: see docs/ARCHITECTURE.md ("Restore and verify").
import { Worker } from 'node:worker_threads';
import type { Tap } from '../tap.js';
import { workerFile } from '../worker-file.js';
import type { HashAlgorithm } from './hash.js';
import type { HashThreadReply, HashThreadRequest } from '../contract.js';

export class HashThread implements Tap {
  private readonly waiting = new Map<number, { resolve: (r: HashThreadReply) => void; reject: (e: Error) => void }>();
  private next = 1;
  private failure: Error | undefined;
  bytes = 0;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (r: HashThreadReply) => {
      const w = this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r.id);
      if (r.error) w.reject(new Error(`hashing failed: ${r.error}`));
      else w.resolve(r);
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`the hashing thread exited (${code})`)));
  }

  static async start(algorithms: readonly HashAlgorithm[]): Promise<HashThread> {
    const w = new Worker(workerFile('hash-thread'), { workerData: { algorithms: [...algorithms] } });
    const t = new HashThread(w);
    // the worker says it is ready (its hashes created) with id 0
    await t.request(0);
    return t;
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  private request(id: number, msg?: HashThreadRequest): Promise<HashThreadReply> {
    if (this.failure) return Promise.reject(this.failure);
    const p = new Promise<HashThreadReply>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    if (msg) this.worker.postMessage(msg);
    return p;
  }

  /** Hashes `data` (a view over a SharedArrayBuffer) after everything given before it. */
  update(data: Uint8Array): Promise<void> {
    if (!(data.buffer instanceof SharedArrayBuffer)) throw new TypeError('HashThread.update: the bytes must be in a SharedArrayBuffer');
    this.bytes += data.length;
    const id = this.next++;
    return this.request(id, { op: 'update', id, data }).then(() => undefined);
  }

  consume(data: Uint8Array): Promise<void> {
    return this.update(data);
  }

  /** The digests of everything given; then the thread ends. */
  async digest(): Promise<Partial<Record<HashAlgorithm, string>>> {
    const id = this.next++;
    const r = await this.request(id, { op: 'digest', id });
    await this.close();
    return r.digest ?? {};
  }

  async close(): Promise<void> {
    this.fail(new Error('the hashing thread was closed'));
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
