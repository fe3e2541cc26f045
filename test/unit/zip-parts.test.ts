import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloneStationError, ExitStatus, ImageError } from '../../src/errors.js';
import { PartSet, findParts, openPartSink, partPath } from '../../src/image/parts.js';
import { scratch } from '../helpers/fixtures.js';
import { mixedImage, rejectsWithCode } from '../helpers/zip.js';

let s: ReturnType<typeof scratch>;
beforeAll(() => {
  s = scratch('cs-zip-parts-');
});
afterAll(() => s.cleanup());

describe('ImageError', () => {
  it('carries its code and exit status: 1 for writing problems, 2 for a bad image', () => {
    expect(new ImageError('OUTPUT_FULL', 'x').exitStatus).toBe(ExitStatus.io);
    expect(new ImageError('IMAGE_WRITE_FAILED', 'x').exitStatus).toBe(ExitStatus.io);
    expect(new ImageError('IMAGE_READ_FAILED', 'x').exitStatus).toBe(ExitStatus.io);
    for (const code of ['IMAGE_NOT_FOUND', 'IMAGE_PART_MISSING', 'IMAGE_TRUNCATED', 'IMAGE_CORRUPT', 'IMAGE_CRC_MISMATCH'] as const) {
      const e = new ImageError(code, 'x');
      expect(e.exitStatus).toBe(ExitStatus.usage);
      expect(e.code).toBe(code);
      expect(e).toBeInstanceOf(CloneStationError);
      expect(e.name).toBe('ImageError');
    }
  });
});

describe('partPath', () => {
  it('numbers parts from 001, three digits at least', () => {
    expect(partPath('/x/sda.zip', 1)).toBe('/x/sda.zip.001');
    expect(partPath('sda.img', 42)).toBe('sda.img.042');
    expect(partPath('sda.img', 999)).toBe('sda.img.999');
    expect(partPath('sda.img', 1000)).toBe('sda.img.1000');
    expect(() => partPath('x', 0)).toThrow(RangeError);
  });
});

describe('findParts', () => {
  it('finds the parts in numeric order and ignores other names', async () => {
    const d = join(s.dir, 'find');
    const out = join(d, 'img');
    mkdirSync(d);
    for (let i = 1; i <= 10; i++) writeFileSync(partPath(out, i), String(i));
    writeFileSync(`${out}.1`, 'not a part');
    writeFileSync(`${out}.bak`, 'not a part');
    writeFileSync(join(d, 'other.003'), 'not ours');
    expect(await findParts(out)).toEqual(Array.from({ length: 10 }, (_, i) => partPath(out, i + 1)));
  });

  it('names a missing first part, a gap, and no parts at all', async () => {
    const d = join(s.dir, 'gaps');
    mkdirSync(d);
    const out = join(d, 'img');
    await rejectsWithCode(findParts(out), 'IMAGE_NOT_FOUND');
    writeFileSync(partPath(out, 2), 'b');
    writeFileSync(partPath(out, 3), 'c');
    const first = await rejectsWithCode(findParts(out), 'IMAGE_PART_MISSING');
    expect(first.message).toContain('img.001');
    writeFileSync(partPath(out, 1), 'a');
    rmSync(partPath(out, 2));
    const gap = await rejectsWithCode(findParts(out), 'IMAGE_PART_MISSING');
    expect(gap.message).toContain('img.002');
  });
});

describe('PartSink', () => {
  const data = mixedImage(3 * 1024 * 1024 + 777, 7);

  it('splits a stream into parts of a size that does not divide it, created lazily, hashed', async () => {
    const out = join(s.dir, 'split.bin');
    const partSize = 1024 * 1024 + 1;
    const sink = openPartSink(out, { partSize, hash: 'sha256' });
    expect(existsSync(partPath(out, 1))).toBe(false); // nothing before the first byte
    for (let off = 0; off < data.length; off += 300_001) await sink.write(data.subarray(off, off + 300_001));
    const summary = await sink.close();
    expect(summary.size).toBe(data.length);
    expect(summary.parts.map((p) => p.size)).toEqual([partSize, partSize, partSize, data.length - 3 * partSize]);
    for (const p of summary.parts) {
      expect(statSync(p.path).size).toBe(p.size);
      expect(p.hash).toBe(createHash('sha256').update(readFileSync(p.path)).digest('hex'));
    }
    expect(Buffer.concat((await findParts(out)).map((p) => readFileSync(p))).equals(data)).toBe(true);
  });

  it('hashes every part with every algorithm asked for (sha256, md5, xxh3)', async () => {
    const out = join(s.dir, 'many-hashes.bin');
    const sink = openPartSink(out, { partSize: 1024 * 1024, hash: ['sha256', 'md5', 'xxh3'] });
    await sink.write(data);
    const summary = await sink.close();
    expect(summary.parts).toHaveLength(4);
    for (const p of summary.parts) {
      const bytes = readFileSync(p.path);
      expect(p.hashes?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(p.hashes?.md5).toBe(createHash('md5').update(bytes).digest('hex'));
      expect(p.hashes?.xxh3).toMatch(/^[0-9a-f]{16}$/);
      expect(p.hash).toBe(p.hashes?.sha256);
    }
    expect(new Set(summary.parts.map((p) => p.hashes?.xxh3)).size).toBe(4);
  });

  it('makes no empty part when the size divides exactly, and one file without a part size', async () => {
    const out = join(s.dir, 'exact.bin');
    const sink = openPartSink(out, { partSize: 1024 * 1024 });
    await sink.write(data.subarray(0, 2 * 1024 * 1024));
    const summary = await sink.close();
    expect(summary.parts).toHaveLength(2);
    expect(existsSync(partPath(out, 3))).toBe(false);

    const single = join(s.dir, 'single.bin');
    const one = openPartSink(single);
    await one.write(data);
    expect((await one.close()).parts).toEqual([{ path: single, size: data.length }]);
    expect(readFileSync(single).equals(data)).toBe(true);
  });

  it('refuses to overwrite unless told, and reports a full disk as OUTPUT_FULL', async () => {
    const single = join(s.dir, 'exists.bin');
    writeFileSync(single, 'x');
    await rejectsWithCode(openPartSink(single).write(data.subarray(0, 10)), 'IMAGE_WRITE_FAILED');
    // /dev/full fails every write with ENOSPC, as a full file system does
    const full = openPartSink('/dev/full', { overwrite: true });
    const e = await rejectsWithCode(full.write(data.subarray(0, 4096)), 'OUTPUT_FULL');
    expect(e.message).toContain('/dev/full');
    await full.abort();
  });
});

describe('PartSet', () => {
  it('reads ranges across parts, and says when a range runs past the end', async () => {
    const d = join(s.dir, 'set');
    mkdirSync(d);
    const out = join(d, 'x');
    const data = mixedImage(200_000, 3);
    const sizes = [70_000, 0, 50_000, 80_000];
    let off = 0;
    sizes.forEach((n, i) => {
      writeFileSync(partPath(out, i + 1), data.subarray(off, off + n));
      off += n;
    });
    const set = await PartSet.open(partPath(out, 1));
    expect(set.size).toBe(200_000);
    expect(readdirSync(d)).toHaveLength(4);
    for (const [pos, len] of [
      [0, 200_000],
      [69_990, 20],
      [119_999, 2],
      [150_000, 50_000],
    ] as const) {
      const buf = Buffer.alloc(len);
      await set.read(buf, 0, len, pos);
      expect(buf.equals(data.subarray(pos, pos + len))).toBe(true);
    }
    await rejectsWithCode(set.read(Buffer.alloc(10), 0, 10, 199_995), 'IMAGE_TRUNCATED');
    await set.close();
    // the base name finds the parts too
    const again = await PartSet.open(out);
    expect(again.paths).toHaveLength(4);
    await again.close();
    await rejectsWithCode(PartSet.open(join(d, 'nothing')), 'IMAGE_NOT_FOUND');
  });
});
