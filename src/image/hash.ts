// On-the-fly hashes of the bytes a job moves: a tap per set of algorithms. Each algorithm
// runs where it is fastest on this kind of machine (measured in NOTES.md): node:crypto for
// md5, sha1, sha256 (SHA-NI) and sha512; hash-wasm for xxh3, xxh128 and blake3; zlib for crc32.
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { IHasher } from 'hash-wasm';
import { UsageError } from '../errors.js';
import type { Tap } from '../tap.js';

export const HASH_ALGORITHMS = ['md5', 'sha1', 'sha256', 'sha512', 'xxh3', 'xxh128', 'blake3', 'crc32'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

/** The `*sum -c` tool that checks a hash file of this algorithm, where coreutils has one. */
export const CHECK_TOOL: Partial<Record<HashAlgorithm, string>> = { md5: 'md5sum', sha1: 'sha1sum', sha256: 'sha256sum', sha512: 'sha512sum', blake3: 'b3sum' };

/** A comma-separated list of hash names (`--hash sha256,md5`); `none` alone is the empty list. */
export function parseHashList(text: string, option = 'hash list'): HashAlgorithm[] {
  const out: HashAlgorithm[] = [];
  const names = text.split(',').map((raw) => raw.trim().toLowerCase().replace(/^xxhash3$/, 'xxh3'));
  // "sha256," or ",," is a slip of the keyboard: say so rather than guess what was meant
  if (names.some((n) => n === '')) throw new UsageError(`${option} ${JSON.stringify(text)} has an empty name: list hashes separated by single commas (sha256,md5), or none`, 'USAGE');
  if (names.includes('none') && names.length > 1) throw new UsageError(`${option} ${JSON.stringify(text)}: none cannot be listed with hashes`, 'USAGE');
  for (const [i, name] of names.entries()) {
    if (name === 'none') continue;
    if (!(HASH_ALGORITHMS as readonly string[]).includes(name))
      throw new UsageError(`unknown hash "${text.split(',')[i].trim()}": choose from ${HASH_ALGORITHMS.join(', ')}`, 'USAGE');
    if (!out.includes(name as HashAlgorithm)) out.push(name as HashAlgorithm);
  }
  return out;
}

interface Digest {
  update(data: Uint8Array): void;
  hex(): string;
}

function nodeDigest(algorithm: string): Digest {
  const h: Hash = createHash(algorithm);
  return { update: (d) => h.update(d), hex: () => h.digest('hex') };
}

function wasmDigest(h: IHasher): Digest {
  h.init();
  return { update: (d) => h.update(d), hex: () => h.digest('hex') };
}

function crcDigest(): Digest {
  let v = 0;
  return { update: (d) => (v = crc32(d, v)), hex: () => v.toString(16).padStart(8, '0') };
}

async function makeDigest(a: HashAlgorithm): Promise<Digest> {
  switch (a) {
    case 'md5':
    case 'sha1':
    case 'sha256':
    case 'sha512':
      return nodeDigest(a);
    // hash-wasm is loaded only when one of its algorithms is asked for: it is not on the
    // start-up path of every clone.
    case 'xxh3':
      return wasmDigest(await (await import('hash-wasm')).createXXHash3());
    case 'xxh128':
      return wasmDigest(await (await import('hash-wasm')).createXXHash128());
    case 'blake3':
      return wasmDigest(await (await import('hash-wasm')).createBLAKE3());
    case 'crc32':
      return crcDigest();
  }
}

/** Several hashes over one byte stream, fed in order. */
export class MultiHash implements Tap {
  private constructor(private readonly digests: Map<HashAlgorithm, Digest>) {}
  bytes = 0;

  static async create(algorithms: readonly HashAlgorithm[]): Promise<MultiHash> {
    const m = new Map<HashAlgorithm, Digest>();
    for (const a of algorithms) m.set(a, await makeDigest(a));
    return new MultiHash(m);
  }

  get algorithms(): HashAlgorithm[] {
    return [...this.digests.keys()];
  }

  update(data: Uint8Array): void {
    for (const d of this.digests.values()) d.update(data);
    this.bytes += data.length;
  }

  consume(data: Uint8Array): void {
    this.update(data);
  }

  /** Hex digests by algorithm; the hashes cannot be fed after this. */
  digest(): Partial<Record<HashAlgorithm, string>> {
    const out: Partial<Record<HashAlgorithm, string>> = {};
    for (const [a, d] of this.digests) out[a] = d.hex();
    return out;
  }
}

/**
 * A hash file in the format `sha256sum -c` (md5sum, sha1sum, sha512sum, b3sum) reads:
 * "<hex>  <name>" per line, names relative to the hash file's folder.
 */
export function hashFileText(entries: { name: string; hex: string }[]): string {
  return entries.map((e) => `${e.hex}  ${e.name}\n`).join('');
}
