// Helpers for the ZIP image tests: deterministic mixed images (zeros, text, random), the
// external tools (which must be installed: a missing one fails the test, never skips it),
// and checks on thrown errors.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { expect } from 'vitest';

/** Debian packages of the tools (scripts/system-packages.txt installs them). */
const packages: Record<string, string> = { unzip: 'unzip', zip: 'zip', '7z': 'p7zip-full', zipinfo: 'unzip', zstd: 'zstd' };

/** Runs a tool; throws (fails the test loudly) when it is not installed. */
export function tool(cmd: string, args: string[], cwd?: string): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd, maxBuffer: 64 * 1024 * 1024 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${cmd} is not installed: apt-get install ${packages[cmd] ?? cmd} (scripts/system-packages.txt; npm test installs it as root)`);
  }
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A tiny deterministic PRNG (xorshift32): the same "random" bytes on every run. */
function fillRandom(buf: Uint8Array, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf[i] = x & 0xff;
  }
}

const words = 'the station copies drives block by block and keeps a map of every sector it read '.split(' ');

/**
 * `size` bytes of a drive-like image: 64 KiB..1 MiB runs of zeros, text and random bytes
 * in a fixed pseudo-random order (about half zeros), the same for the same seed.
 */
export function mixedImage(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let s = seed;
  const next = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 8;
  };
  let pos = 0;
  while (pos < size) {
    const len = Math.min(size - pos, 64 * 1024 + (next() % (1024 * 1024 - 64 * 1024)));
    const kind = next() % 4;
    const piece = out.subarray(pos, pos + len);
    if (kind === 1) {
      let t = '';
      let w = next();
      while (t.length < len) {
        t += `${words[w % words.length] ?? ''} ${w % 1000} `;
        w = (Math.imul(w, 69069) + 1) >>> 0;
      }
      piece.write(t.slice(0, len), 'latin1');
    } else if (kind === 2) {
      fillRandom(piece, next());
    } // 0 and 3: zeros
    pos += len;
  }
  return out;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Awaits `p` and checks it rejects with a CloneStationError of `code`; returns the error. */
export async function rejectsWithCode(p: Promise<unknown>, code: string | string[]): Promise<Error & { code: string }> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a rejection').toBeInstanceOf(Error);
  const e = err as Error & { code: string };
  const codes = Array.isArray(code) ? code : [code];
  expect(codes, `got ${e.code}: ${e.message}`).toContain(e.code);
  // one line that says what to do
  expect(e.message).not.toContain('\n');
  return e;
}
