// --zero-free's zeroing: a block device zeroes its free extents itself (BLKZEROOUT), so this
// process writes (almost) nothing through write(2); a file gets the zeros written. The kernel's
// count of this process's written bytes (/proc/self/io wchar) tells which happened.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRoot } from '../helpers/root.js';
import { useLoopScratch } from '../helpers/fixtures.js';
import { checkZeros, zeroExtents } from '../../src/zero-free.js';

const MiB = 1 << 20;
const wchar = (): number => Number(/wchar:\s+(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);

describeRoot('--zero-free zeroes free extents', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  const extents = [
    { offset: 0, length: 4 * MiB },
    // unaligned edges: written, the aligned core zeroed by the drive
    { offset: 6 * MiB + 512, length: 3 * MiB - 1024 },
    { offset: 12 * MiB, length: 4096 },
  ];
  const zeroedBytes = extents.reduce((n, e) => n + e.length, 0);

  function garbage(name: string): string {
    const file = join(fx.dir(), name);
    writeFileSync(file, Buffer.alloc(16 * MiB, 0xa5));
    return file;
  }

  /** Every byte of `file`: zero inside the extents (plus `delta`), 0xA5 outside. */
  function expectZeroedOnly(file: string, delta = 0): void {
    const b = readFileSync(file);
    let inside = 0;
    for (const e of extents) {
      const s = b.subarray(e.offset + delta, e.offset + delta + e.length);
      expect(s.every((x) => x === 0)).toBe(true);
      inside += s.length;
    }
    expect(b.filter((x) => x === 0xa5).length).toBe(b.length - inside);
  }

  it('on a loop device: BLKZEROOUT, exact ranges, only the unaligned edges written by us', async () => {
    const file = garbage('dev.img');
    const dev = fx.loop(file).dev;
    const before = wchar();
    const n = await zeroExtents(dev, extents);
    const written = wchar() - before;
    expect(n).toBe(zeroedBytes);
    // the edges: 512 + 512 bytes of the second extent
    expect(written).toBeLessThan(64 << 10);
    await checkZeros(dev, extents);
    expectZeroedOnly(file);
  });

  it('with a target offset (delta), and on a file, where the zeros are written', async () => {
    const devFile = garbage('delta.img');
    const dev = fx.loop(devFile).dev;
    expect(await zeroExtents(dev, extents, 4096)).toBe(zeroedBytes);
    expectZeroedOnly(devFile, 4096);
    const file = garbage('plain.img');
    const before = wchar();
    expect(await zeroExtents(file, extents)).toBe(zeroedBytes);
    expect(wchar() - before).toBeGreaterThanOrEqual(zeroedBytes);
    expectZeroedOnly(file);
  });

  it('a range past the end of the drive fails with WRITE_FAILED and its offset', async () => {
    const dev = fx.loop(garbage('short.img')).dev;
    await expect(zeroExtents(dev, [{ offset: 15 * MiB, length: 2 * MiB }])).rejects.toMatchObject({ code: 'WRITE_FAILED' });
  });
});
