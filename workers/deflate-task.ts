// A piscina task: one chunk of a ZIP image compressed as a piece of a deflate stream (see
// src/image/zip/deflate.ts). The input may be a view over shared memory (a ring slot or
// the writer's own buffers): it is read here, never kept, and the writer reuses it as soon
// as this task resolves. The output is a fresh buffer, moved (not copied) back.
import { Piscina } from 'piscina';
import { deflateChunk } from '../src/image/zip/deflate.js';
import type { DeflateTask, DeflateTaskResult } from '../src/contract.js';

export default function deflateTask(task: DeflateTask): DeflateTaskResult {
  const r = deflateChunk(task.input, task.dictionary, task.level);
  const d = r.data;
  // Move only a buffer that is wholly ours: small zlib outputs are slices of node's shared
  // Buffer pool, and transferring that pool would break every other Buffer on this thread.
  if (d.byteOffset === 0 && d.buffer.byteLength === d.byteLength && !(d.buffer instanceof SharedArrayBuffer) && d.byteLength >= 64 * 1024) {
    // piscina's movable protocol: the value to post, and the list of buffers to transfer
    const movable = { [Piscina.transferableSymbol]: [d.buffer], [Piscina.valueSymbol]: r };
    // the casts: piscina types its symbols as plain `symbol`, so the object cannot be typed as
    // its Transferable; and piscina unwraps the movable into its value before posting it
    return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]) as unknown as DeflateTaskResult;
  }
  return { ...r, data: d.slice() };
}
