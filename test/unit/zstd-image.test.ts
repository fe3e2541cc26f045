// Seekable zstd images (src/image/zstd): the writer's files read back by our reader, by
// `zstd -d` and by 7-Zip (identical bytes); a range reads only its frames (counted against
// the seek table parsed here by hand); damaged files are refused with the frame named.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPartSink } from '../../src/image/parts.js';
import { MANIFEST_FORMAT, parseManifest, type Manifest } from '../../src/image/manifest.js';
import { ImageError } from '../../src/errors.js';
import { ZstdImageReader } from '../../src/image/zstd/reader.js';
import { ZstdImageWriter, type ZstdImageResult } from '../../src/image/zstd/writer.js';
import { scratch } from '../helpers/fixtures.js';
import { mixedImage, rejectsWithCode, sha256, tool } from '../helpers/zip.js';

const MiB = 1024 * 1024;
const FRAME = 256 * 1024;
let s: ReturnType<typeof scratch>;
beforeAll(() => {
  s = scratch('cs-zstd-');
});
afterAll(() => s.cleanup());

/** Divides neither the frame size nor the split size. */
const image = mixedImage(5 * MiB + 12_345, 7);

async function write(name: string, data: Uint8Array, o: { partSize?: number; writeSize?: number; level?: number } = {}): Promise<{ path: string; r: ZstdImageResult }> {
  const path = join(s.dir, name);
  const w = new ZstdImageWriter({ sink: openPartSink(path, { overwrite: true, partSize: o.partSize }), level: o.level ?? 3, frameSize: FRAME, threads: 2, size: data.length });
  const step = o.writeSize ?? 100_000;
  const pending: Promise<void>[] = [];
  for (let i = 0; i < data.length; i += step) pending.push(w.write(data.subarray(i, Math.min(data.length, i + step))));
  await Promise.all(pending);
  return { path, r: await w.finish() };
}

async function readAll(r: ZstdImageReader, range?: { offset: number; length: number }, unused?: (start: number, length: number) => boolean): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of r.chunks(range, unused)) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

/** The seek table, parsed here independently of src/image/zstd/format.ts. */
function seekTable(file: Buffer): { comp: number[]; decomp: number[]; tableSize: number } {
  const n = file.readUInt32LE(file.length - 9);
  expect(file.readUInt32LE(file.length - 4)).toBe(0x8f92eab1);
  const withSums = (file[file.length - 5]! & 0x80) !== 0;
  const entry = withSums ? 12 : 8;
  const tableSize = 8 + n * entry + 9;
  const start = file.length - tableSize;
  expect(file.readUInt32LE(start)).toBe(0x184d2a5e);
  const comp: number[] = [];
  const decomp: number[] = [];
  for (let i = 0; i < n; i++) {
    comp.push(file.readUInt32LE(start + 8 + i * entry));
    decomp.push(file.readUInt32LE(start + 8 + i * entry + 4));
  }
  return { comp, decomp, tableSize };
}

describe('seekable zstd images', () => {
  it('round-trips through our reader, zstd -d and 7z x with identical bytes', async () => {
    const { path, r } = await write('a.img.zst', image);
    expect(r.size).toBe(image.length);
    expect(r.frames).toBe(Math.ceil(image.length / FRAME));
    const reader = await ZstdImageReader.open([path]);
    try {
      expect(reader.info.size).toBe(image.length);
      expect(sha256(await readAll(reader))).toBe(sha256(image));
    } finally {
      await reader.close();
    }
    const out = join(s.dir, 'a.out');
    expect(tool('zstd', ['-d', '-q', '-f', path, '-o', out]).status).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(image));
    // zstd's own test of every frame's checksum
    expect(tool('zstd', ['-t', '-q', path]).status).toBe(0);
    const x = join(s.dir, '7z');
    const r7 = tool('7z', ['x', '-y', `-o${x}`, path]);
    expect(r7.status, r7.out).toBe(0);
    expect(sha256(readFileSync(join(x, 'a.img')))).toBe(sha256(image));
  });

  it('a byte split reads back, and its parts concatenated are a file zstd -d reads', async () => {
    const { path, r } = await write('b.img.zst', image, { partSize: 1 * MiB + 512, writeSize: FRAME });
    const parts = readdirSync(s.dir).filter((n) => n.startsWith('b.img.zst.')).sort();
    expect(parts.length).toBe(r.parts.parts.length);
    expect(parts.length).toBeGreaterThan(1);
    const reader = await ZstdImageReader.open(parts.map((p) => join(s.dir, p)));
    try {
      expect(sha256(await readAll(reader))).toBe(sha256(image));
    } finally {
      await reader.close();
    }
    const joined = join(s.dir, 'b.joined.zst');
    writeFileSync(joined, Buffer.concat(parts.map((p) => readFileSync(join(s.dir, p)))));
    const out = join(s.dir, 'b.out');
    expect(tool('zstd', ['-d', '-q', '-f', joined, '-o', out]).status).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(image));
    expect(path.endsWith('.zst')).toBe(true);
  });

  it('a middle range reads only the frames holding it', async () => {
    const { path } = await write('c.img.zst', image);
    const file = readFileSync(path);
    const t = seekTable(file);
    // from the middle of frame 6 to the middle of frame 9 (1-based)
    const offset = 5 * FRAME + 1000;
    const length = 3 * FRAME;
    const reader = await ZstdImageReader.open([path]);
    try {
      const got = await readAll(reader, { offset, length });
      expect(sha256(got)).toBe(sha256(image.subarray(offset, offset + length)));
      const frames = t.comp.slice(5, 9).reduce((a, b) => a + b, 0);
      // the footer, the table, and frames 6..9: nothing else
      expect(reader.bytesRead).toBe(9 + t.tableSize + frames);
      expect(reader.bytesRead).toBeLessThan(file.length / 2);
    } finally {
      await reader.close();
    }
  });

  it('an empty image is a seek table alone, and zstd -d makes an empty file of it', async () => {
    const { path, r } = await write('e.img.zst', new Uint8Array(0));
    expect(r.frames).toBe(0);
    const reader = await ZstdImageReader.open([path]);
    try {
      expect(reader.info.size).toBe(0);
      expect((await readAll(reader)).length).toBe(0);
    } finally {
      await reader.close();
    }
    const out = join(s.dir, 'e.out');
    expect(tool('zstd', ['-d', '-q', '-f', path, '-o', out]).status).toBe(0);
    expect(readFileSync(out).length).toBe(0);
  });

  it('a higher level makes a smaller file of compressible data', async () => {
    const text = Buffer.from('a drive of text, a drive of text, and then some numbers 1234567890 '.repeat(40_000));
    const low = (await write('l1.img.zst', text, { level: 1 })).r.compressedSize;
    const high = (await write('l19.img.zst', text, { level: 19 })).r.compressedSize;
    expect(high).toBeLessThan(low);
  });
});

describe('damaged zstd images are refused, saying where', () => {
  let good: Buffer;
  beforeAll(async () => {
    good = readFileSync((await write('good.img.zst', image)).path);
  });
  const variant = (name: string, edit: (b: Buffer) => Buffer): string => {
    const p = join(s.dir, name);
    writeFileSync(p, edit(Buffer.from(good)));
    return p;
  };

  it('a cut file has no seek table: IMAGE_TRUNCATED', async () => {
    await rejectsWithCode(ZstdImageReader.open([variant('cut.zst', (b) => b.subarray(0, b.length - 1))]), 'IMAGE_TRUNCATED');
    await rejectsWithCode(ZstdImageReader.open([variant('tiny.zst', (b) => b.subarray(0, 4))]), 'IMAGE_TRUNCATED');
  });

  it('a seek table whose sizes do not add up to the file: IMAGE_CORRUPT', async () => {
    const t = seekTable(good);
    const bump = variant('bump.zst', (b) => {
      const at = b.length - t.tableSize + 8;
      b.writeUInt32LE(b.readUInt32LE(at) + 1, at);
      return b;
    });
    await rejectsWithCode(ZstdImageReader.open([bump]), 'IMAGE_CORRUPT');
    const count = variant('count.zst', (b) => {
      b.writeUInt32LE(0x7fffffff, b.length - 9);
      return b;
    });
    await rejectsWithCode(ZstdImageReader.open([count]), 'IMAGE_CORRUPT');
    const reserved = variant('reserved.zst', (b) => {
      b[b.length - 5] = 0x80 | 0x04;
      return b;
    });
    await rejectsWithCode(ZstdImageReader.open([reserved]), 'IMAGE_CORRUPT');
    const bytes = variant('extra.zst', (b) => Buffer.concat([Buffer.alloc(3), b]));
    await rejectsWithCode(ZstdImageReader.open([bytes]), 'IMAGE_CORRUPT');
  });

  it('a damaged byte inside frame 3 fails reading it, naming frame 3', async () => {
    const t = seekTable(good);
    const at = t.comp[0]! + t.comp[1]! + Math.floor(t.comp[2]! / 2);
    const p = variant('flip.zst', (b) => {
      b[at] = b[at]! ^ 0x5a;
      return b;
    });
    const reader = await ZstdImageReader.open([p]);
    try {
      // frames 1 and 2 are fine
      expect(sha256(await readAll(reader, { offset: 0, length: 2 * FRAME }))).toBe(sha256(image.subarray(0, 2 * FRAME)));
      const e = await rejectsWithCode(readAll(reader), 'IMAGE_CORRUPT');
      expect(e.message).toContain('frame 3 of');
    } finally {
      await reader.close();
    }
  });

  it('a frame the caller will not use (a used-only image\'s free blocks) is neither read nor decompressed: zeros stand in', async () => {
    const t = seekTable(good);
    const at = t.comp[0]! + t.comp[1]! + Math.floor(t.comp[2]! / 2);
    const p = variant('unused.zst', (b) => {
      b[at] = b[at]! ^ 0x5a;
      return b;
    });
    const reader = await ZstdImageReader.open([p]);
    try {
      // frame 3 (damaged) is unused: no IMAGE_CORRUPT, its bytes are zeros, its compressed bytes never read
      const got = await readAll(reader, undefined, (start) => start === 2 * FRAME);
      expect(got.length).toBe(image.length);
      expect(sha256(got.subarray(0, 2 * FRAME))).toBe(sha256(image.subarray(0, 2 * FRAME)));
      expect(got.subarray(2 * FRAME, 3 * FRAME).every((x) => x === 0)).toBe(true);
      expect(sha256(got.subarray(3 * FRAME))).toBe(sha256(image.subarray(3 * FRAME)));
      // the footer, the table and every frame but the third
      expect(reader.bytesRead).toBe(9 + t.tableSize + t.comp.reduce((a, b) => a + b, 0) - t.comp[2]!);
    } finally {
      await reader.close();
    }
  });

  it('a table entry whose size differs from its frame fails that frame', async () => {
    const t = seekTable(good);
    const p = variant('size.zst', (b) => {
      // frame 2 claims one byte less; the total changes too, but open() cannot know the image size
      const at = b.length - t.tableSize + 8 + 12 + 4;
      b.writeUInt32LE(b.readUInt32LE(at) - 1, at);
      return b;
    });
    const reader = await ZstdImageReader.open([p]);
    try {
      const e = await rejectsWithCode(readAll(reader), 'IMAGE_CORRUPT');
      expect(e.message).toContain('frame 2 of');
    } finally {
      await reader.close();
    }
  });
});

describe('a zstd manifest', () => {
  const base = (): Manifest => ({
    format: MANIFEST_FORMAT,
    tool: { name: 'clonestation', version: '0.1.0' },
    complete: true,
    startedAt: new Date().toISOString(),
    source: { path: '/dev/sdb', kind: 'block', size: 1 << 20, logicalSectorSize: 512, physicalSectorSize: 4096 },
    range: { offset: 0, length: 1 << 20 },
    image: { format: 'zstd', name: 'sdb.img.zst', level: 19, frameSize: 4 << 20, compressedSize: 1000, parts: [{ name: 'sdb.img.zst', size: 1000, hashes: {} }] },
    hashes: {},
  });
  it('is accepted with a zstd level up to 19 and a compressed file smaller than the range', () => {
    expect(parseManifest(base(), 'm').image.format).toBe('zstd');
  });
  it('is refused with a name that is not .zst, a level of 0 or 20, or a zip with level 12 (IMAGE_CORRUPT, the field named)', () => {
    const cases: Array<[string, (m: Manifest) => void]> = [
      ['image.name', (m) => (m.image.name = 'sdb.img')],
      ['image.level', (m) => (m.image.level = 0)],
      ['image.level', (m) => (m.image.level = 20)],
      ['image.level', (m) => Object.assign(m.image, { format: 'zip', name: 'sdb.zip', level: 12, parts: [{ name: 'sdb.zip', size: 1000, hashes: {} }] })],
    ];
    for (const [field, edit] of cases) {
      const m = base();
      edit(m);
      let err: unknown;
      try {
        parseManifest(m, 'm');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ImageError);
      expect((err as ImageError).code).toBe('IMAGE_CORRUPT');
      expect((err as ImageError).message).toContain(field);
    }
  });
});

describe('reading seekable zstd files', () => {
  let path: string;
  let file: Buffer;
  beforeAll(async () => {
    path = (await write('rand.img.zst', image)).path;
    file = readFileSync(path);
  });

  it('readAt gives any byte range (across frames, at the end), reading each frame once while it is cached', async () => {
    const reader = await ZstdImageReader.open([path]);
    try {
      let x = 99;
      for (let k = 0; k < 40; k++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const pos = x % image.length;
        const len = 1 + ((x >>> 3) % (FRAME + 5000));
        const buf = new Uint8Array(len);
        const n = await reader.readAt(buf, pos);
        expect(n).toBe(Math.min(len, image.length - pos));
        expect(Buffer.compare(buf.subarray(0, n), image.subarray(pos, pos + n))).toBe(0);
      }
      expect(await reader.readAt(new Uint8Array(10), image.length)).toBe(0);
      // the same small range again and again: its frame is read once
      const before = reader.bytesRead;
      const t = seekTable(file);
      for (let k = 0; k < 5; k++) await reader.readAt(new Uint8Array(100), 3 * FRAME + 10 * k);
      expect(reader.bytesRead - before).toBeLessThanOrEqual(t.comp[3]!);
    } finally {
      await reader.close();
    }
  });

  /** The file with its seek table rebuilt from `entries` (8-byte entries when no checksums). */
  function withTable(frames: Buffer[], entries: Array<{ c: number; d: number; sum?: number }>, checksums: boolean): Buffer {
    const size = entries.length * (checksums ? 12 : 8) + 9;
    const t = Buffer.alloc(8 + size);
    t.writeUInt32LE(0x184d2a5e, 0);
    t.writeUInt32LE(size, 4);
    let o = 8;
    for (const e of entries) {
      t.writeUInt32LE(e.c, o);
      t.writeUInt32LE(e.d, o + 4);
      o += 8;
      if (checksums) {
        t.writeUInt32LE(e.sum ?? 0, o);
        o += 4;
      }
    }
    t.writeUInt32LE(entries.length, o);
    t[o + 4] = checksums ? 0x80 : 0;
    t.writeUInt32LE(0x8f92eab1, o + 5);
    return Buffer.concat([...frames, t]);
  }

  it('a table without checksums, and a skippable frame among the frames, read as the format allows (and zstd -d agrees)', async () => {
    const t = seekTable(file);
    const frames: Buffer[] = [];
    let at = 0;
    for (const c of t.comp) {
      frames.push(file.subarray(at, at + c));
      at += c;
    }
    const skippable = Buffer.alloc(12);
    skippable.writeUInt32LE(0x184d2a53, 0);
    skippable.writeUInt32LE(4, 4);
    const entries = t.comp.map((c, i) => ({ c, d: t.decomp[i]! }));
    const mixed = withTable([frames[0]!, skippable, ...frames.slice(1)], [entries[0]!, { c: 12, d: 0 }, ...entries.slice(1)], false);
    const p = join(s.dir, 'foreign.img.zst');
    writeFileSync(p, mixed);
    const reader = await ZstdImageReader.open([p]);
    try {
      expect(reader.info.checksums).toBe(false);
      expect(reader.info.size).toBe(image.length);
      expect(sha256(await readAll(reader))).toBe(sha256(image));
      const buf = new Uint8Array(2000);
      await reader.readAt(buf, FRAME - 1000);
      expect(Buffer.compare(buf, image.subarray(FRAME - 1000, FRAME + 1000))).toBe(0);
    } finally {
      await reader.close();
    }
    const out = join(s.dir, 'foreign.out');
    expect(tool('zstd', ['-d', '-q', '-f', p, '-o', out]).status).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(image));
  });
});

describe('the native zstd pool', () => {
  it('compresses and decompresses frames on its threads, many at once, from shared and plain memory', async () => {
    const { createZstdPool, compressBound } = await import('../../src/image/zstd/native.js');
    const pool = createZstdPool(2);
    try {
      const inputs = Array.from({ length: 12 }, (_, i) => {
        const shared = new Uint8Array(new SharedArrayBuffer(FRAME));
        shared.set(image.subarray(i * FRAME, (i + 1) * FRAME));
        return i % 2 === 0 ? shared : new Uint8Array(image.subarray(i * FRAME, (i + 1) * FRAME));
      });
      const outs = inputs.map(() => new Uint8Array(compressBound(FRAME)));
      const sizes = await Promise.all(inputs.map((d, i) => pool.compress(d, outs[i]!, 3)));
      const back = await Promise.all(sizes.map(async (n, i) => {
        const o = new Uint8Array(FRAME);
        expect(await pool.decompress(outs[i]!.subarray(0, n), o)).toBe(FRAME);
        return o;
      }));
      back.forEach((b, i) => expect(Buffer.compare(b, inputs[i]!)).toBe(0));
    } finally {
      pool.close();
    }
  });

  it('rejects (code ZSTD_FAILED) an output too small, garbage, two frames as one, and content larger than the output', async () => {
    const { createZstdPool, compressBound } = await import('../../src/image/zstd/native.js');
    const pool = createZstdPool(1);
    try {
      const data = image.subarray(0, FRAME);
      const out = new Uint8Array(compressBound(FRAME));
      const n = await pool.compress(data, out, 3);
      const frame = out.subarray(0, n);
      const codeOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'resolved', (e: { code?: string }) => e.code ?? 'no code');
      expect(await codeOf(pool.compress(data, new Uint8Array(16), 3))).toBe('ZSTD_FAILED');
      expect(await codeOf(pool.decompress(new Uint8Array(64).fill(7), new Uint8Array(FRAME)))).toBe('ZSTD_FAILED');
      expect(await codeOf(pool.decompress(Buffer.concat([frame, frame]), new Uint8Array(2 * FRAME)))).toBe('ZSTD_FAILED');
      expect(await codeOf(pool.decompress(frame, new Uint8Array(FRAME - 1)))).toBe('ZSTD_FAILED');
      // and it still works after failures
      expect(await pool.decompress(frame, new Uint8Array(FRAME))).toBe(FRAME);
    } finally {
      pool.close();
    }
  });

  it('settles the tasks queued before close()', async () => {
    const { createZstdPool, compressBound } = await import('../../src/image/zstd/native.js');
    const pool = createZstdPool(1);
    const tasks = Array.from({ length: 6 }, (_, i) => pool.compress(image.subarray(i * FRAME, (i + 1) * FRAME), new Uint8Array(compressBound(FRAME)), 1));
    pool.close();
    const sizes = await Promise.all(tasks);
    expect(sizes.every((n) => n > 0)).toBe(true);
    expect(() => pool.compress(image.subarray(0, 10), new Uint8Array(100), 1)).toThrow(/closed/);
  });
});
