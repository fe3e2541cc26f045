// The native random pass's stream against an independent BigInt model of its specification
// (8 interleaved xoshiro256** lanes per 4 KiB block, seeded by splitmix64 from the seed and the
// block's index), and the same bytes whatever the offset and length a block is asked for with.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { patternBytes } from '../../src/erase/pattern.js';

const M = (1n << 64n) - 1n;
const rotl = (x: bigint, k: number): bigint => ((x << BigInt(k)) | (x >> BigInt(64 - k))) & M;

/** The block `index` of the stream of `seed`, computed from the specification alone. */
function modelBlock(seed: bigint, index: bigint): Buffer {
  let x = seed ^ ((index * 0xd1b54a32d192ed03n) & M);
  const splitmix = (): bigint => {
    x = (x + 0x9e3779b97f4a7c15n) & M;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    return z ^ (z >> 31n);
  };
  const lanes: bigint[][] = [];
  for (let l = 0; l < 8; l++) lanes.push([splitmix(), splitmix(), splitmix(), splitmix()]);
  const out = Buffer.alloc(4096);
  for (let i = 0; i < 512; i++) {
    const s = lanes[i % 8];
    const r = (rotl((s[1] * 5n) & M, 7) * 9n) & M;
    const t = (s[1] << 17n) & M;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    out.writeBigUInt64LE(r, i * 8);
  }
  return out;
}

describe('the random pass stream', () => {
  const seed = '16045690984503098046';
  const pass = { kind: 'random' as const, seed };

  it('is the specified generator, block by block (first, later and a far block past 2^32 bytes)', () => {
    for (const index of [0n, 1n, 7n, 1234567n]) {
      const got = Buffer.from(patternBytes(pass, Number(index) * 4096, 4096));
      expect(got.equals(modelBlock(BigInt(seed), index)), `block ${index}`).toBe(true);
    }
    // another seed gives other bytes
    expect(Buffer.from(patternBytes({ kind: 'random', seed: '1' }, 0, 4096)).equals(modelBlock(BigInt(seed), 0n))).toBe(false);
  });

  it('gives the same bytes whatever offsets and lengths they are asked for with (as verify asks for them with another block size)', () => {
    const whole = Buffer.from(patternBytes(pass, 0, 64 * 4096));
    expect(createHash('sha256').update(whole).digest('hex')).toBe(
      createHash('sha256')
        .update(Buffer.concat(Array.from({ length: 64 }, (_, i) => modelBlock(BigInt(seed), BigInt(i)))))
        .digest('hex'),
    );
    // cuts at odd places, crossing 4 KiB blocks, and block sizes of 8 KiB, 1 MiB-ish pieces
    const cuts = [0, 1, 511, 4095, 4096, 4097, 12288 + 17, 65536, 65536 + 4096 * 3, 200000, 64 * 4096];
    const parts: Buffer[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) parts.push(Buffer.from(patternBytes(pass, cuts[i], cuts[i + 1] - cuts[i])));
    expect(Buffer.concat(parts).equals(whole)).toBe(true);
    for (const bs of [8192, 12288, 65536]) {
      const blocks: Buffer[] = [];
      for (let at = 0; at < whole.length; at += bs) blocks.push(Buffer.from(patternBytes(pass, at, Math.min(bs, whole.length - at))));
      expect(Buffer.concat(blocks).equals(whole), `pieces of ${bs}`).toBe(true);
    }
  });
});
