// ZipImageWriter round trips, checked by our reader, yauzl, unzip -t and 7z t. Needs the
// deflate worker built (npm test builds first) and zip, unzip, 7z installed.
import { randomFillSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findParts, openPartSink, partPath } from '../../src/image/parts.js';
import { FINAL_BLOCK, SEGMENT, WINDOW, crc32Combine, deflateChunk, isAllZero, looksRandom, storedBlocks } from '../../src/image/zip/deflate.js';
import { createDeflatePool } from '../../src/image/zip/pool.js';
import { ZipImageReader } from '../../src/image/zip/reader.js';
import { ZipImageWriter, type ZipImageResult } from '../../src/image/zip/writer.js';
import { scratch } from '../helpers/fixtures.js';
import { mixedImage, rejectsWithCode, sha256, tool } from '../helpers/zip.js';

const MiB = 1024 * 1024;
let s: ReturnType<typeof scratch>;
let pool: ReturnType<typeof createDeflatePool>;
beforeAll(() => {
  s = scratch('cs-zip-writer-');
  pool = createDeflatePool(2);
});
afterAll(async () => {
  await pool.destroy();
  s.cleanup();
});

/** An image that divides neither the 256 KiB chunks nor the split size. */
const image = mixedImage(5 * MiB + 12_345, 11);

interface WriteOpts {
  level: number;
  partSize?: number;
  size?: number;
  /** write through one reused SharedArrayBuffer slot, as the engine's ring does */
  shared?: boolean;
  writeSize?: number;
}

async function writeZip(out: string, data: Uint8Array, o: WriteOpts): Promise<ZipImageResult> {
  const w = new ZipImageWriter({
    sink: openPartSink(out, { ...(o.partSize ? { partSize: o.partSize } : {}), hash: 'sha256' }),
    entryName: 'sda.img',
    level: o.level,
    mtime: new Date('2026-01-02T03:04:06Z'),
    pool,
    chunkSize: 256 * 1024,
    ...(o.size !== undefined ? { size: o.size } : {}),
  });
  const step = o.writeSize ?? 700_001;
  if (o.shared) {
    // one slot, overwritten as soon as each write resolves: proves the writer keeps no reference
    const slot = new Uint8Array(new SharedArrayBuffer(step));
    for (let off = 0; off < data.length; off += step) {
      const n = Math.min(step, data.length - off);
      slot.set(data.subarray(off, off + n));
      await w.write(slot.subarray(0, n));
      slot.fill(0xa5);
    }
  } else {
    // several writes in flight at once, each from its own memory
    const writes: Array<Promise<void>> = [];
    for (let off = 0; off < data.length; off += step) writes.push(w.write(Buffer.from(data.subarray(off, off + step))));
    await Promise.all(writes);
  }
  return w.finish();
}

async function readBack(path: string): Promise<Buffer> {
  const r = await ZipImageReader.open(path);
  const chunks: Uint8Array[] = [];
  for await (const c of r.chunks()) chunks.push(c);
  await r.close();
  return Buffer.concat(chunks);
}

/** yauzl's own view of the archive: the entry's bytes through its own inflate. */
async function yauzlRead(path: string): Promise<{ name: string; data: Buffer; crc: number }> {
  const zip = await yauzl.openPromise(path, { lazyEntries: true });
  const entry = await new Promise<yauzl.Entry>((res, rej) => {
    zip.once('entry', res);
    zip.once('error', rej);
    zip.readEntry();
  });
  const stream = await zip.openReadStreamPromise(entry);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  zip.close();
  return { name: entry.fileName, data: Buffer.concat(chunks), crc: entry.crc32 };
}

function expectToolsAccept(zipPath: string, firstPart = zipPath): void {
  const u = tool('unzip', ['-t', zipPath]);
  expect(u.out).toContain('No errors detected');
  expect(u.status).toBe(0);
  const z = tool('7z', ['t', firstPart]);
  expect(z.out).toContain('Everything is Ok');
  expect(z.status).toBe(0);
}

describe('deflate pieces', () => {
  it('concatenate into one valid stream: dictionaries, stored fallback, zeros, combined CRC', () => {
    const data = image;
    const chunk = 256 * 1024;
    const pieces: Uint8Array[] = [];
    let crc = 0;
    let dict: Uint8Array | undefined;
    const kinds = new Set<string>();
    for (let off = 0; off < data.length; off += chunk) {
      const input = data.subarray(off, off + chunk);
      const r = deflateChunk(input, dict, 6);
      kinds.add(r.kind);
      pieces.push(r.data);
      crc = crc32Combine(crc, r.crc, input.length);
      dict = input.subarray(Math.max(0, input.length - WINDOW));
    }
    pieces.push(FINAL_BLOCK);
    expect(inflateRawSync(Buffer.concat(pieces)).equals(data)).toBe(true);
    expect(crc).toBe(crc32(data));
    expect(kinds).toContain('stored'); // chunks of random data
    expect(kinds).toContain('mixed'); // random and text in one chunk
    expect(kinds).toContain('deflate');
  });

  it('looksRandom tells random segments from text, zeros and half-random ones', () => {
    const seg = (fill: (b: Buffer) => void): Buffer => {
      const b = Buffer.alloc(SEGMENT);
      fill(b);
      return b;
    };
    const rnd = seg((b) => randomFillSync(b));
    expect(looksRandom(rnd)).toBe(true);
    expect(looksRandom(seg((b) => b.write('the station copies drives, sector 123456 ok\n'.repeat(2000), 'latin1')))).toBe(false);
    expect(looksRandom(seg(() => undefined))).toBe(false);
    expect(looksRandom(seg((b) => randomFillSync(b, 0, SEGMENT / 2)))).toBe(false);
  });

  it('stored blocks hold any length, 65535 bytes per block', () => {
    for (const n of [0, 1, 65_535, 65_536, 200_000]) {
      const d = mixedImage(n, n + 1);
      const z = storedBlocks(d);
      expect(z.length).toBe(n + 5 * Math.max(1, Math.ceil(n / 65_535)));
      expect(inflateRawSync(Buffer.concat([z, FINAL_BLOCK])).equals(d)).toBe(true);
    }
  });

  it('a zero chunk compressed without dictionary fits anywhere in the stream', () => {
    const text = Buffer.from('some text '.repeat(10_000));
    const zeros = new Uint8Array(100_000);
    expect(isAllZero(zeros)).toBe(true);
    expect(isAllZero(text)).toBe(false);
    const z = deflateRawSync(zeros, { finishFlush: constants.Z_SYNC_FLUSH });
    const a = deflateChunk(text, undefined, 6).data;
    expect(inflateRawSync(Buffer.concat([a, z, FINAL_BLOCK])).equals(Buffer.concat([text, zeros]))).toBe(true);
  });
});

describe('ZipImageWriter', () => {
  it('level 6, unknown size (ZIP64): reader, yauzl, unzip -t and 7z t agree', async () => {
    const out = join(s.dir, 'l6.zip');
    const r = await writeZip(out, image, { level: 6 });
    expect(r).toMatchObject({ size: image.length, crc32: crc32(image), method: 'deflate', zip64: true, entryOffset: 0 });
    expect(r.chunks.zero + r.chunks.stored + r.chunks.mixed + r.chunks.deflate).toBe(Math.ceil(image.length / (256 * 1024)));
    expect(r.chunks.zero).toBeGreaterThan(0);
    expect(r.chunks.stored + r.chunks.mixed).toBeGreaterThan(0); // the random runs
    expect(r.archiveSize).toBe(readFileSync(out).length);
    expect(r.parts.parts[0]?.hash).toBe(sha256(readFileSync(out)));
    expect(sha256(await readBack(out))).toBe(sha256(image));
    const y = await yauzlRead(out);
    expect(y.name).toBe('sda.img');
    expect(y.crc).toBe(crc32(image));
    expect(y.data.equals(image)).toBe(true);
    expectToolsAccept(out);
  });

  it('writes from a reused SharedArrayBuffer slot without keeping references, known size (plain ZIP)', async () => {
    const out = join(s.dir, 'sab.zip');
    const r = await writeZip(out, image, { level: 6, shared: true, size: image.length, writeSize: 1024 * 1024 });
    expect(r.zip64).toBe(false);
    expect(sha256(await readBack(out))).toBe(sha256(image));
    expectToolsAccept(out);
    const info = tool('zipinfo', ['-v', out]).out;
    expect(info).not.toContain('64-bit sizes');
  });

  it('level 0 is a stored entry', async () => {
    const out = join(s.dir, 'l0.zip');
    const r = await writeZip(out, image, { level: 0, shared: true });
    expect(r.method).toBe('stored');
    expect(r.compressedSize).toBe(image.length);
    expect(sha256(await readBack(out))).toBe(sha256(image));
    expect((await yauzlRead(out)).data.equals(image)).toBe(true);
    expectToolsAccept(out);
  });

  it('a byte split opens in 7-Zip from .001, and as one file in unzip when concatenated', async () => {
    const out = join(s.dir, 'split.zip');
    const partSize = 300_007;
    const r = await writeZip(out, image, { level: 6, partSize });
    const parts = await findParts(out);
    expect(parts).toEqual(r.parts.parts.map((p) => p.path));
    expect(r.parts.parts.slice(0, -1).every((p) => p.size === partSize)).toBe(true);
    const whole = join(s.dir, 'split-whole.zip');
    writeFileSync(whole, Buffer.concat(parts.map((p) => readFileSync(p))));
    expectToolsAccept(whole, partPath(out, 1));
    expect(sha256(await readBack(partPath(out, 1)))).toBe(sha256(image));
    expect(sha256(await readBack(out))).toBe(sha256(image)); // the base name finds the parts
  });

  it('compresses about as well as zip -6 (within 5%)', async () => {
    const raw = join(s.dir, 'ratio.img');
    writeFileSync(raw, image);
    const ours = await writeZip(join(s.dir, 'ratio.zip'), image, { level: 6 });
    const theirs = join(s.dir, 'ratio-info.zip');
    expect(tool('zip', ['-6', '-q', '-j', theirs, raw]).status).toBe(0);
    const zipSize = readFileSync(theirs).length;
    expect(ours.archiveSize / zipSize).toBeLessThan(1.05);
  });

  it('an empty image is a valid archive', async () => {
    for (const level of [0, 6]) {
      const out = join(s.dir, `empty${level}.zip`);
      const w = new ZipImageWriter({ sink: openPartSink(out), entryName: 'empty.img', level, pool, size: 0 });
      const r = await w.finish();
      expect(r.size).toBe(0);
      expect((await readBack(out)).length).toBe(0);
      expectToolsAccept(out);
    }
  });

  it('reads archives written by Info-ZIP zip and by yazl', async () => {
    const raw = join(s.dir, 'sdb.img');
    writeFileSync(raw, image.subarray(0, 2 * MiB + 3));
    const infozip = join(s.dir, 'infozip.zip');
    expect(tool('zip', ['-6', '-q', '-j', infozip, raw]).status).toBe(0);
    expect((await readBack(infozip)).equals(image.subarray(0, 2 * MiB + 3))).toBe(true);
    const viaYazl = join(s.dir, 'yazl.zip');
    const z = new yazl.ZipFile();
    z.addBuffer(image.subarray(0, MiB), 'sdc.img', { compress: true });
    z.end();
    const bufs: Buffer[] = [];
    for await (const c of z.outputStream) bufs.push(c as Buffer);
    writeFileSync(viaYazl, Buffer.concat(bufs));
    expect((await readBack(viaYazl)).equals(image.subarray(0, MiB))).toBe(true);
  });

  it('abort() stops, keeps what was written, and makes later writes fail', async () => {
    const out = join(s.dir, 'aborted.zip');
    const w = new ZipImageWriter({ sink: openPartSink(out), entryName: 'x.img', level: 6, pool, chunkSize: 256 * 1024 });
    await w.write(image.subarray(0, MiB));
    await w.abort();
    await expect(w.write(image.subarray(0, 10))).rejects.toThrow(/after finish/);
    expect(readFileSync(out).length).toBeGreaterThan(0);
    await rejectsWithCode(ZipImageReader.open(out), 'IMAGE_TRUNCATED'); // no end records: not a finished image
  });

  it('stream() gives the same bytes as chunks()', async () => {
    const out = join(s.dir, 'stream.zip');
    await writeZip(out, image, { level: 1 });
    const r = await ZipImageReader.open(out);
    const bufs: Buffer[] = [];
    for await (const c of r.stream()) bufs.push(c as Buffer);
    await r.close();
    expect(sha256(Buffer.concat(bufs))).toBe(sha256(image));
  });

  it('fails with OUTPUT_FULL when the disk is full, and INTERNAL when the declared size is wrong', async () => {
    const full = new ZipImageWriter({ sink: openPartSink('/dev/full', { overwrite: true }), entryName: 'x.img', level: 6, pool, chunkSize: 256 * 1024 });
    const writing = (async (): Promise<void> => {
      for (let off = 0; off < image.length; off += MiB) await full.write(image.subarray(off, off + MiB));
    })();
    await rejectsWithCode(writing.then(() => full.finish()), 'OUTPUT_FULL');

    const w = new ZipImageWriter({ sink: openPartSink(join(s.dir, 'wrong.zip')), entryName: 'x.img', level: 6, pool, size: 100 });
    await w.write(image.subarray(0, 99));
    await rejectsWithCode(w.finish(), 'INTERNAL');
  });
});
