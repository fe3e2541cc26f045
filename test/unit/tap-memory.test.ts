// A tapped engine job lets go of its ring when it has ended: the native job holds the tap
// callback strongly, and that callback once reached the job itself, so neither was ever
// collected (every hashed station job kept its ring for the life of its worker).
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from '../helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'cs-tapmem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `count` tapped jobs in a fresh node with --expose-gc; prints how many of their rings are still alive after collection. */
function aliveAfter(count: number, targets: number): number {
  writeFileSync(join(dir, 's'), Buffer.alloc(64 * 1024, 7));
  const engine = pathToFileURL(join(root, 'dist', 'src', 'engine.js')).href;
  const script = `
    import { EngineJob } from ${JSON.stringify(engine)};
    const refs = [];
    for (let i = 0; i < ${count}; i++) {
      let bytes = 0;
      const job = new EngineJob({
        mode: 'copy',
        source: { path: ${JSON.stringify(join(dir, 's'))} },
        targets: Array.from({ length: ${targets} }, (_, t) => ({ path: ${JSON.stringify(dir)} + '/t' + t, delta: 0 })),
        extents: [{ offset: 0, length: 64 * 1024 }],
        blockSize: 16384,
        depth: 2,
        taps: [{ consume: (d) => { bytes += d.length; } }],
      });
      const out = await job.run();
      if (out.state !== 'done' || bytes !== 64 * 1024) throw new Error('job failed: ' + out.state + ' ' + bytes);
      refs.push(new WeakRef(job));
    }
    for (let round = 0; round < 10; round++) {
      globalThis.gc();
      await new Promise((r) => setImmediate(r));
    }
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    process.stdout.write(String(alive) + ' ' + process.memoryUsage().arrayBuffers);
  `;
  for (let t = 0; t < targets; t++) writeFileSync(join(dir, `t${t}`), Buffer.alloc(64 * 1024));
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const [alive, arrayBuffers] = r.stdout.trim().split(' ').map(Number);
  // every ring still alive would hold 2 x 16 KiB (+4 KiB) of array buffers
  expect(arrayBuffers).toBeLessThan(alive * 32768 + 1024 * 1024);
  return alive;
}

describe('tap memory', () => {
  it('is collected once a tapped job has ended (1:1 and 1:N)', () => {
    expect(aliveAfter(50, 1)).toBeLessThanOrEqual(1); // (the last may still be on the stack)
    expect(aliveAfter(20, 3)).toBeLessThanOrEqual(1);
  });
});
