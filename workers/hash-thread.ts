// A hashing thread: one MultiHash fed in order with views of shared memory (ring slots),
// so hashing runs beside the main thread's work (inflate bookkeeping, CRC, copies) instead of
// in turn with it. Each update is answered when the bytes have been hashed: the slot may be
// reused then. Started by src/image/hash-thread.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { MultiHash, type HashAlgorithm } from '../src/image/hash.js';
import type { HashThreadReply, HashThreadRequest } from '../src/contract.js';

const port = parentPort;
if (!port) throw new Error('workers/hash-thread.js runs as a worker thread');
const hash = await MultiHash.create((workerData as { algorithms: HashAlgorithm[] }).algorithms);
port.on('message', (m: HashThreadRequest) => {
  try {
    if (m.op === 'update') {
      hash.update(m.data);
      port.postMessage({ id: m.id } satisfies HashThreadReply);
    } else {
      port.postMessage({ id: m.id, digest: hash.digest() } satisfies HashThreadReply);
    }
  } catch (e) {
    port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) } satisfies HashThreadReply);
  }
});
port.postMessage({ id: 0 } satisfies HashThreadReply);
