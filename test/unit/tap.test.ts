// Taps on the real engine over plain files: every good byte reaches each tap once, in
// source order, while the targets are written from the same slots.
import { describe, expect, it, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineJob } from '../../src/engine.js';
import type { Tap } from '../../src/tap.js';
import { MultiHash, parseHashList } from '../../src/image/hash.js';

const dir = mkdtempSync(join(tmpdir(), 'cs-tap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, data: Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Collects what it is given, checking order, after an optional async delay per chunk. */
class Recorder implements Tap {
  parts: Buffer[] = [];
  offsets: number[] = [];
  constructor(private readonly delayMs = 0) {}
  consume(data: Uint8Array, offset: number): void | Promise<void> {
    this.offsets.push(offset);
    const copy = Buffer.from(data);
    this.parts.push(copy);
    if (this.delayMs > 0) return new Promise((r) => setTimeout(r, Math.random() * this.delayMs));
  }
}

describe.each(['io_uring', 'threads'] as const)('taps (%s backend)', (backend) => {
  const size = 9 * (1 << 20) + 12345; // not a multiple of the block size: a short last chunk
  const data = randomBytes(size);

  it('gives every chunk in order to each tap while writing the target', async () => {
    const src = file(`src-${backend}.img`, data);
    const dst = file(`dst-${backend}.img`, Buffer.alloc(size));
    const fast = new Recorder();
    const slow = new Recorder(5);
    const hash = await MultiHash.create(parseHashList('sha256,md5,xxh3,crc32'));
    const job = new EngineJob({
      mode: 'copy',
      source: { path: src, direct: false },
      targets: [{ path: dst, direct: false }],
      extents: [{ offset: 0, length: size }],
      blockSize: 1 << 20,
      depth: 4,
      backend,
      taps: [fast, slow, hash],
    });
    const out = await job.run();
    expect(out.state).toBe('done');
    expect(readFileSync(dst).equals(data)).toBe(true);
    for (const r of [fast, slow]) {
      expect(r.offsets).toEqual(r.offsets.slice().sort((a, b) => a - b));
      expect(Buffer.concat(r.parts).equals(data)).toBe(true);
    }
    const d = hash.digest();
    expect(d.sha256).toBe(sha(data));
    expect(d.md5).toBe(createHash('md5').update(data).digest('hex'));
    expect(hash.bytes).toBe(size);
  });

  it('taps a job with no target (a reader feeding JS) over several extents', async () => {
    const src = file(`src2-${backend}.img`, data);
    const rec = new Recorder(2);
    const extents = [
      { offset: 4096, length: 3 << 20 },
      { offset: 5 << 20, length: 2 * (1 << 20) + 4096 },
    ];
    const job = new EngineJob({ mode: 'copy', source: { path: src }, targets: [], extents, blockSize: 1 << 20, depth: 3, backend, taps: [rec] });
    const out = await job.run();
    expect(out.state).toBe('done');
    const want = Buffer.concat(extents.map((e) => data.subarray(e.offset, e.offset + e.length)));
    expect(Buffer.concat(rec.parts).equals(want)).toBe(true);
  });

  it('a tap that fails cancels its job and says why', async () => {
    const src = file(`src3-${backend}.img`, data);
    const dst = file(`dst3-${backend}.img`, Buffer.alloc(size));
    let n = 0;
    const bad: Tap = {
      consume: () => {
        if (++n === 3) return Promise.reject(new Error('disk of the zip is full'));
      },
    };
    const job = new EngineJob({ mode: 'copy', source: { path: src }, targets: [{ path: dst }], extents: [{ offset: 0, length: size }], blockSize: 1 << 20, depth: 2, backend, taps: [bad] });
    const out = await job.run();
    expect(out.state).toBe('failed');
    expect(out.tapError?.code).toBe('TAP_FAILED');
    expect(out.tapError?.message).toContain('disk of the zip is full');
    expect(n).toBeLessThan(10);
  });
});
