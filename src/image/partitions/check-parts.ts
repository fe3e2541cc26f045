// Checks partitions on a target against the hashes backup recorded of them (manifest
// `partitions`): for a --fit restore, whose copy stops before the image's end, so the
// whole-image hash cannot be checked but every partition's can.
import { VerifyMismatchError } from '../../errors.js';
import { MultiHash, type HashAlgorithm } from '../hash.js';
import type { Manifest } from '../manifest.js';
import { readBack } from '../../partition/apply.js';

const SPEED: readonly HashAlgorithm[] = ['xxh3', 'xxh128', 'crc32', 'sha1', 'sha256', 'md5', 'blake3', 'sha512'];
const CHUNK = 4 << 20;

/** Reads each recorded partition (inside `length` bytes) back from `target` and compares; returns the numbers checked. */
export async function checkPartitionHashes(target: string, recorded: NonNullable<Manifest['partitions']>, length: number): Promise<{ checked: number[]; algorithm?: HashAlgorithm }> {
  const checked: number[] = [];
  let used: HashAlgorithm | undefined;
  for (const p of recorded) {
    if (p.start + p.size > length) continue;
    const alg = SPEED.find((a) => p.hashes[a] !== undefined);
    if (!alg) continue;
    used = alg;
    const h = await MultiHash.create([alg]);
    for (let at = 0; at < p.size; at += CHUNK) h.update(readBack(target, p.start + at, Math.min(CHUNK, p.size - at)));
    const got = h.digest()[alg];
    const want = p.hashes[alg] as string;
    if (got?.toLowerCase() !== want.toLowerCase()) {
      throw new VerifyMismatchError(`partition ${p.number} on ${target} differs from the manifest: ${alg} ${got}, the manifest says ${want}; the image or the target is damaged (clonestation verify IMAGE finds which)`, { partition: p.number, algorithm: alg, expected: want, got });
    }
    checked.push(p.number);
  }
  return { checked, algorithm: used };
}
