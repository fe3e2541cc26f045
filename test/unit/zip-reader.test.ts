// ZipImageReader on damaged archives: each kind of damage gives its code and a one-line
// message that says what to do.
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPartSink, partPath } from '../../src/image/parts.js';
import { createDeflatePool } from '../../src/image/zip/pool.js';
import { ZipImageReader } from '../../src/image/zip/reader.js';
import { ZipImageWriter } from '../../src/image/zip/writer.js';
import { scratch } from '../helpers/fixtures.js';
import { mixedImage, rejectsWithCode, tool } from '../helpers/zip.js';

const MiB = 1024 * 1024;
const PART = 150_000;
const image = mixedImage(3 * MiB + 999, 21);
let s: ReturnType<typeof scratch>;
let pool: ReturnType<typeof createDeflatePool>;

/** A fresh copy of a pristine archive (single or split) in its own folder; returns its path. */
let pristine: Record<string, string[]> = {};
function copyOf(name: string): { dir: string; out: string; parts: string[] } {
  const dir = join(s.dir, `${name}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir);
  const files = pristine[name] ?? [];
  const parts = files.map((f) => {
    const to = join(dir, f.slice(f.lastIndexOf('/') + 1));
    copyFileSync(f, to);
    return to;
  });
  const first = parts[0] ?? '';
  return { dir, out: first.replace(/\.001$/, ''), parts };
}

async function drain(path: string): Promise<number> {
  const r = await ZipImageReader.open(path);
  let n = 0;
  try {
    for await (const c of r.chunks()) n += c.length;
  } finally {
    await r.close();
  }
  return n;
}

beforeAll(async () => {
  s = scratch('cs-zip-reader-');
  pool = createDeflatePool(2);
  for (const [name, level, partSize] of [
    ['single6', 6, undefined],
    ['split6', 6, PART],
    ['split0', 0, PART],
    ['single0', 0, undefined],
  ] as const) {
    const dir = join(s.dir, `pristine-${name}`);
    mkdirSync(dir);
    const w = new ZipImageWriter({
      sink: openPartSink(join(dir, 'img.zip'), partSize ? { partSize } : {}),
      entryName: 'img',
      level,
      pool,
      chunkSize: 256 * 1024,
    });
    await w.write(image);
    const r = await w.finish();
    pristine[name] = r.parts.parts.map((p) => p.path);
  }
});
afterAll(async () => {
  await pool.destroy();
  s.cleanup();
  pristine = {};
});

describe('ZipImageReader checks', () => {
  it('reads the pristine archives', async () => {
    expect(pristine['split6']?.length).toBeGreaterThan(2);
    for (const name of ['single6', 'split6', 'split0', 'single0']) {
      const { parts } = copyOf(name);
      expect(await drain(parts[0] ?? '')).toBe(image.length);
    }
  });

  it('a truncated archive: IMAGE_TRUNCATED', async () => {
    const { out } = copyOf('single6');
    const size = readFileSync(out).length;
    truncateSync(out, size - 100);
    const e = await rejectsWithCode(ZipImageReader.open(out), 'IMAGE_TRUNCATED');
    expect(e.message).toMatch(/truncated/);
    truncateSync(out, Math.floor(size / 2));
    await rejectsWithCode(ZipImageReader.open(out), 'IMAGE_TRUNCATED');
  });

  it('a missing part: IMAGE_PART_MISSING in the middle or at the start, IMAGE_TRUNCATED at the end', async () => {
    const a = copyOf('split6');
    rmSync(partPath(a.out, 2));
    const mid = await rejectsWithCode(ZipImageReader.open(partPath(a.out, 1)), 'IMAGE_PART_MISSING');
    expect(mid.message).toContain('img.zip.002');
    const b = copyOf('split6');
    rmSync(partPath(b.out, 1));
    await rejectsWithCode(ZipImageReader.open(b.out), 'IMAGE_PART_MISSING');
    const c = copyOf('split6');
    rmSync(c.parts[c.parts.length - 1] ?? '');
    const last = await rejectsWithCode(ZipImageReader.open(partPath(c.out, 1)), 'IMAGE_TRUNCATED');
    expect(last.message).toMatch(/last part/);
  });

  it('reordered parts: the first swapped is IMAGE_CORRUPT at open; the last swapped has no end record', async () => {
    const swap = (x: string, y: string): void => {
      renameSync(x, `${x}.tmp`);
      renameSync(y, x);
      renameSync(`${x}.tmp`, y);
    };
    const a = copyOf('split6');
    swap(partPath(a.out, 1), partPath(a.out, 2));
    const first = await rejectsWithCode(ZipImageReader.open(partPath(a.out, 1)), 'IMAGE_CORRUPT');
    expect(first.message).toMatch(/out of order/);
    const b = copyOf('split6');
    swap(partPath(b.out, 2), b.parts[b.parts.length - 1] ?? '');
    await rejectsWithCode(ZipImageReader.open(partPath(b.out, 1)), ['IMAGE_TRUNCATED', 'IMAGE_CORRUPT']);
  });

  it('middle parts swapped: the data does not decode (deflate) or fails its CRC (stored)', async () => {
    const swap = (x: string, y: string): void => {
      const bx = readFileSync(x);
      writeFileSync(x, readFileSync(y));
      writeFileSync(y, bx);
    };
    const a = copyOf('split6');
    swap(partPath(a.out, 2), partPath(a.out, 3));
    const d = await rejectsWithCode(drain(partPath(a.out, 1)), ['IMAGE_CORRUPT', 'IMAGE_CRC_MISMATCH']);
    if (d.code === 'IMAGE_CORRUPT') expect(d.message).toMatch(/in .*img\.zip\.00[234]/); // names the part (zlib reads ahead a little)
    const b = copyOf('split0');
    swap(partPath(b.out, 2), partPath(b.out, 3));
    const e = await rejectsWithCode(drain(partPath(b.out, 1)), 'IMAGE_CRC_MISMATCH');
    expect(e.message).toMatch(/CRC-32/);
  });

  it('a flipped byte: IMAGE_CRC_MISMATCH (stored) or IMAGE_CORRUPT / IMAGE_CRC_MISMATCH (deflate)', async () => {
    const flip = (path: string, at: number): void => {
      const b = readFileSync(path);
      b[at] = (b[at] ?? 0) ^ 0x40;
      writeFileSync(path, b);
    };
    const a = copyOf('single0');
    flip(a.out, 100_000);
    await rejectsWithCode(drain(a.out), 'IMAGE_CRC_MISMATCH');
    const b = copyOf('single6');
    flip(b.out, 5_000);
    await rejectsWithCode(drain(b.out), ['IMAGE_CORRUPT', 'IMAGE_CRC_MISMATCH']);
  });

  it('a different central directory CRC: the data descriptor check catches it at open', async () => {
    const a = copyOf('single6');
    const buf = readFileSync(a.out);
    const cd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    buf[cd + 16] = (buf[cd + 16] ?? 0) ^ 1;
    writeFileSync(a.out, buf);
    const e = await rejectsWithCode(ZipImageReader.open(a.out), 'IMAGE_CORRUPT');
    expect(e.message).toMatch(/data descriptor/);
  });

  it('not a zip, a missing file, an archive of several files', async () => {
    const junk = join(s.dir, 'junk.zip');
    writeFileSync(junk, mixedImage(10_000, 5));
    await rejectsWithCode(ZipImageReader.open(junk), 'IMAGE_TRUNCATED');
    await rejectsWithCode(ZipImageReader.open(join(s.dir, 'nope.zip')), 'IMAGE_NOT_FOUND');
    const a = join(s.dir, 'a.txt');
    const b = join(s.dir, 'b.txt');
    writeFileSync(a, 'a');
    writeFileSync(b, 'b');
    const two = join(s.dir, 'two.zip');
    expect(tool('zip', ['-q', '-j', two, a, b]).status).toBe(0);
    const e = await rejectsWithCode(ZipImageReader.open(two), 'IMAGE_CORRUPT');
    expect(e.message).toMatch(/2 entries/);
  });
});
