/**
 * The benchmark drive image (bench/zip.ts, bench/restore.ts): runs of 4 KiB..2 MiB of zeros,
 * log-like text and random bytes, weights 2:1:1 (about 50% zeros, 25% text, 25% random),
 * deterministic, not lined up with anyone's chunks.
 */
import { createCipheriv } from 'node:crypto';
import { open } from 'node:fs/promises';
import { MiB } from './common.js';

/** Log-like text: words and numbers from a fixed PRNG; compresses like real text (~3-4x). */
function textPool(bytes: number): Buffer {
  const words = ['disk', 'sector', 'read', 'write', 'ok', 'error', 'station', 'clone', 'usb', 'sata', 'nvme', 'the', 'a', 'of', 'to', 'and', 'block', 'map'];
  let x = 12345;
  const rnd = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
  const lines: string[] = [];
  let len = 0;
  while (len < bytes) {
    let line = `2026-11-${String(1 + (rnd() % 28)).padStart(2, '0')} ${String(rnd() % 24).padStart(2, '0')}:${String(rnd() % 60).padStart(2, '0')} `;
    const n = 4 + (rnd() % 10);
    for (let i = 0; i < n; i++) line += `${words[rnd() % words.length] ?? ''}${rnd() % 3 === 0 ? `=${rnd() % 100000}` : ''} `;
    line += '\n';
    lines.push(line);
    len += line.length;
  }
  return Buffer.from(lines.join('').slice(0, bytes), 'latin1');
}

/**
 * Writes the image: runs of 4 KiB..2 MiB (whole 4 KiB blocks, as a file system allocates),
 * each zeros, text or random with weights 2:1:1, from a fixed PRNG. Runs do not line up
 * with the writer's chunks, so a chunk often holds two or three kinds, as on a real drive.
 */
export async function makeImage(path: string, sizeBytes: number): Promise<{ zeros: number; text: number; random: number }> {
  const text = textPool(16 * MiB);
  // AES-CTR over zeros: fast, deterministic, incompressible
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const zero = Buffer.alloc(2 * MiB);
  let x = 987654321;
  const rnd = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
  const fh = await open(path, 'w');
  const bytes = { zeros: 0, text: 0, random: 0 };
  try {
    for (let off = 0; off < sizeBytes; ) {
      const n = Math.min(sizeBytes - off, 4096 * (1 + (rnd() % 512)));
      const kind = (['zeros', 'zeros', 'text', 'random'] as const)[rnd() % 4] ?? 'zeros';
      let block: Buffer;
      if (kind === 'zeros') block = zero.subarray(0, n);
      else if (kind === 'text') {
        const at = rnd() % (text.length - n);
        block = text.subarray(at, at + n);
      } else block = cipher.update(zero.subarray(0, n));
      bytes[kind] += n;
      await fh.write(block, 0, n, off);
      off += n;
    }
  } finally {
    await fh.close();
  }
  return { zeros: Math.round(bytes.zeros / MiB), text: Math.round(bytes.text / MiB), random: Math.round(bytes.random / MiB) };
}

// ---------------------------------------------------------------------------------------
// The tools
