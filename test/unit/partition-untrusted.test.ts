import { describe, expect, it } from 'vitest';
import { CloneStationError, PartitionTableError } from '../../src/errors.js';
import { bufferReader, crc32, planAdjust, readPartitionTable } from '../../src/partition/index.js';
import { gptImage, MIB, mbrImage } from '../helpers/partition-images.js';

/** A small deterministic PRNG (mulberry32), so a failure can be replayed by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reads and plans on a damaged image: only our typed errors may come out, never a crash. */
async function survive(image: Buffer, ss: number, seed: number): Promise<'table' | 'refused'> {
  try {
    const t = await readPartitionTable(bufferReader(image), { sectorSize: ss, diskSize: image.length });
    for (const targetSize of [image.length, image.length + 8 * MIB, image.length - MIB]) {
      try {
        planAdjust(t, { targetSize, growLast: targetSize > image.length, fit: true });
      } catch (e) {
        if (!(e instanceof CloneStationError) || e.code === 'INTERNAL') throw new Error(`seed ${seed}: planAdjust threw ${String(e)}`);
      }
    }
    return 'table';
  } catch (e) {
    if (e instanceof PartitionTableError) {
      expect(e.message).not.toContain('\n');
      return 'refused';
    }
    throw new Error(`seed ${seed}: ${e instanceof Error ? e.stack : String(e)}`);
  }
}

describe('untrusted tables: random damage gives a table or a clear error, never a crash', () => {
  it('random bytes in the GPT headers, with their CRCs made valid again', async () => {
    const outcomes = { table: 0, refused: 0 };
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = prng(seed);
      const ss = rnd() < 0.5 ? 512 : 4096;
      const { image } = gptImage(ss, 24 * MIB);
      for (const off of [ss, image.length - ss]) {
        for (let i = 0; i < 1 + Math.floor(rnd() * 4); i++) {
          const at = 8 + Math.floor(rnd() * 84);
          image[off + at] = Math.floor(rnd() * 256);
        }
        const size = Math.min(image.readUInt32LE(off + 12), ss);
        if (size >= 92) {
          image.writeUInt32LE(0, off + 16);
          image.writeUInt32LE(crc32(image.subarray(off, off + size)), off + 16);
        }
      }
      outcomes[await survive(image, ss, seed)]++;
    }
    expect(outcomes.refused).toBeGreaterThan(0);
  });

  it('random bytes in the entry arrays and the MBR', async () => {
    const outcomes = { table: 0, refused: 0 };
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = prng(seed * 7919);
      const { image } = gptImage(512, 24 * MIB);
      for (let i = 0; i < 20; i++) image[Math.floor(rnd() * 512 * 34)] = Math.floor(rnd() * 256);
      outcomes[await survive(image, 512, seed)]++;
    }
    expect(outcomes.table).toBeGreaterThan(0);
  });

  it('random bytes in DOS tables and their EBR chains', async () => {
    const outcomes = { table: 0, refused: 0 };
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = prng(seed * 104729);
      const image = mbrImage(512, 24 * MIB);
      const sectors = [0, 9 * 2048, 14 * 2048];
      for (let i = 0; i < 6; i++) {
        const s = sectors[Math.floor(rnd() * sectors.length)];
        image[s * 512 + 446 + Math.floor(rnd() * 64)] = Math.floor(rnd() * 256);
      }
      outcomes[await survive(image, 512, seed)]++;
    }
    expect(outcomes.table + outcomes.refused).toBe(300);
    expect(outcomes.table).toBeGreaterThan(0);
  });
});
