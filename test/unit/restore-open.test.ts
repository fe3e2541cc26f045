// Resolving IMAGE and restoring/verifying into plain files (no root): every way of naming an
// image, every kind of damage to its files, and the codes and one-line messages they give.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratch } from '../helpers/fixtures.js';
import { editManifest, makeImage, type Kind, type MadeImage } from '../helpers/images.js';
import { mixedImage, rejectsWithCode, sha256 } from '../helpers/zip.js';
import { fastestAlgorithm, resolveImage } from '../../src/image/open.js';
import { partExtents, restore } from '../../src/image/restore.js';
import { verify } from '../../src/image/verify.js';
import { TargetWriter } from '../../src/image/target-writer.js';
import type { Reporter } from '../../src/progress.js';
import { ExitStatus, ImageError } from '../../src/errors.js';

const KiB = 1024;
const SIZE = 600 * KiB + 4096 + 512;
const data = mixedImage(SIZE, 11);
const quiet: Reporter = { note: () => undefined, progress: () => undefined, phaseEnd: () => undefined, done: () => undefined, error: () => undefined };

let s: ReturnType<typeof scratch>;
const pristine: Partial<Record<Kind, MadeImage>> = {};
let n = 0;

function copyOf(kind: Kind): MadeImage {
  const src = pristine[kind];
  if (!src) throw new Error(kind);
  const dir = join(s.dir, `c${n++}`);
  mkdirSync(dir);
  const to = (p: string): string => join(dir, p.slice(p.lastIndexOf('/') + 1));
  for (const p of [...src.parts, src.manifest]) copyFileSync(p, to(p));
  return { name: to(src.name), manifest: to(src.manifest), parts: src.parts.map(to) };
}

beforeAll(async () => {
  s = scratch('cs-restore-unit-');
  pristine.raw = await makeImage(s.dir, 'r', 'raw', data);
  pristine.split = await makeImage(s.dir, 's', 'split', data, 200 * KiB);
  pristine.zip = await makeImage(s.dir, 'z', 'zip', data);
  pristine.splitzip = await makeImage(s.dir, 'sz', 'splitzip', data, 64 * KiB);
});
afterAll(() => s.cleanup());

describe('resolveImage', () => {
  it('takes the image, the base of a split, a part, or the manifest', async () => {
    const img = copyOf('split');
    for (const name of [img.name, img.parts[0] ?? '', img.parts[2] ?? '', img.manifest]) {
      const r = await resolveImage(name);
      expect(r.format).toBe('raw');
      expect(r.parts.map((p) => p.path)).toEqual(img.parts);
      expect(r.size).toBe(SIZE);
      expect(r.split).toBe(true);
    }
    const z = await resolveImage(copyOf('splitzip').parts[1] ?? '');
    expect(z.format).toBe('zip');
    expect(z.parts.length).toBeGreaterThan(2);
  });

  it('without a manifest: format from the extension or the ZIP magic, parts from their names', async () => {
    const z = copyOf('zip');
    rmSync(z.manifest);
    const renamed = z.name.replace(/\.zip$/, '.bin');
    renameSync(z.name, renamed);
    const r = await resolveImage(renamed);
    expect(r.format).toBe('zip');
    expect(r.manifest).toBeUndefined();
    expect(r.notes.join()).toMatch(/no manifest/);
    const sp = copyOf('split');
    rmSync(sp.manifest);
    const r2 = await resolveImage(sp.name);
    expect(r2.format).toBe('raw');
    expect(r2.size).toBe(SIZE);
  });

  it('refuses what is missing, cut or unfinished, each with its code', async () => {
    await rejectsWithCode(resolveImage(join(s.dir, 'nothing.img')), 'IMAGE_NOT_FOUND');
    let img = copyOf('split');
    rmSync(img.parts[1] ?? '');
    const e = await rejectsWithCode(resolveImage(img.name), 'IMAGE_PART_MISSING');
    expect(e.message).toMatch(/part 2 of 4, .*\.002, is missing: copy it back/);
    img = copyOf('split');
    writeFileSync(img.parts[0] ?? '', readFileSync(img.parts[0] ?? '').subarray(1));
    await rejectsWithCode(resolveImage(img.name), 'IMAGE_CORRUPT');
    img = copyOf('raw');
    editManifest(img.manifest, (m) => {
      m.complete = false;
      m.incompleteReason = 'interrupted';
    });
    const inc = await rejectsWithCode(resolveImage(img.name), 'IMAGE_INCOMPLETE');
    expect(inc.message).toMatch(/did not finish \(interrupted\): run the backup again/);
    expect((await resolveImage(img.name, { force: true })).notes.join()).toMatch(/--force/);
    // an unfinished backup's files, without a manifest
    const dir = join(s.dir, 'partial');
    mkdirSync(dir);
    writeFileSync(join(dir, 'x.img.partial.001'), 'abc');
    await rejectsWithCode(resolveImage(join(dir, 'x.img')), 'IMAGE_INCOMPLETE');
  });

  it('follows an image renamed together with its manifest', async () => {
    const img = copyOf('split');
    const to = (p: string): string => p.replace('/s.img', '/renamed.img');
    for (const p of [...img.parts, img.manifest]) renameSync(p, to(p));
    const r = await resolveImage(to(img.name));
    expect(r.parts.map((p) => p.path)).toEqual(img.parts.map(to));
    expect(r.notes.join()).toMatch(/renamed to renamed\.img/);
    const out = join(s.dir, `ren-${n++}.img`);
    expect((await restore({ image: to(img.name), target: out }, quiet)).checked).toBe('sha256');
  });

  it('an image file that is a FIFO, a device or a folder is refused (BAD_PATH), never read', async () => {
    const img = copyOf('split');
    rmSync(img.parts[1] ?? '');
    execFileSync('mkfifo', [img.parts[1] ?? '']);
    const e = await rejectsWithCode(resolveImage(img.name), 'BAD_PATH');
    expect(e.message).toMatch(/\.002 is a FIFO, not an image file/);
    const z = copyOf('zip');
    rmSync(z.parts[0] ?? '');
    symlinkSync('/dev/zero', z.parts[0] ?? '');
    await rejectsWithCode(resolveImage(z.name), 'BAD_PATH');
    const d = join(s.dir, `folder-${n++}.img`);
    mkdirSync(d);
    await rejectsWithCode(resolveImage(d), 'BAD_PATH');
  });

  it('a manifest part named ../victim is refused before any file is opened; the victim is not read', async () => {
    const img = copyOf('raw');
    const victim = join(s.dir, `victim-${n++}`);
    writeFileSync(victim, data);
    editManifest(img.manifest, (m) => {
      const p = m.image.parts[0];
      if (p) p.name = `../${victim.slice(s.dir.length + 1)}`;
    });
    const e = await rejectsWithCode(resolveImage(img.name), 'IMAGE_CORRUPT');
    expect(e.message).toMatch(/image\.parts\[0\]\.name must be a plain file name/);
    const out = join(s.dir, `out-${n++}.img`);
    await rejectsWithCode(restore({ image: img.name, target: out }, quiet), 'IMAGE_CORRUPT');
    expect(existsSync(out)).toBe(false);
  });

  it('IMAGE_INCOMPLETE is bad input (exit 2)', () => {
    expect(new ImageError('IMAGE_INCOMPLETE', 'x').exitStatus).toBe(ExitStatus.usage);
  });

  it('picks the fastest manifest hash to check on the way', () => {
    expect(fastestAlgorithm({ sha256: 'a', xxh3: 'b', md5: 'c' })).toBe('xxh3');
    expect(fastestAlgorithm({ md5: 'c', sha256: 'a' })).toBe('sha256');
    expect(fastestAlgorithm({})).toBeUndefined();
  });
});

describe('partExtents', () => {
  it('maps an image range over parts to part-local extents and target deltas', () => {
    const parts = [0, 1, 2].map((i) => ({ path: `p${i}`, size: 100, start: i * 100, hashes: {} }));
    expect(partExtents(parts, { offset: 50, length: 200 }, 1000)).toEqual([
      { part: parts[0], extent: { offset: 50, length: 50 }, delta: 950 },
      { part: parts[1], extent: { offset: 0, length: 100 }, delta: 1050 },
      { part: parts[2], extent: { offset: 0, length: 50 }, delta: 1150 },
    ]);
    expect(partExtents(parts, { offset: 100, length: 100 }, 0)).toEqual([{ part: parts[1], extent: { offset: 0, length: 100 }, delta: 0 }]);
  });
});

describe('TargetWriter', () => {
  it('writes any sequence of pieces through aligned slots, with an unaligned tail, at an offset', async () => {
    for (const [direct, offset] of [
      [true, 8192],
      [false, 333],
      [true, 1000], // unaligned offset: buffered, and says why
    ] as const) {
      const out = join(s.dir, `tw-${n++}.img`);
      writeFileSync(out, Buffer.alloc(offset));
      const w = new TargetWriter({ path: out, kind: 'file', offset, direct, align: 4096, slotSize: 16 * KiB, depth: 2 });
      if (direct && offset % 4096 !== 0) expect(w.directNote).toMatch(/not aligned/);
      else expect(w.direct).toBe(direct);
      let at = 0;
      for (const len of [1, 5000, 16 * KiB, 40000, 3, 70000]) {
        await w.write(data.subarray(at, at + len));
        at += len;
      }
      await w.finish();
      expect(w.written).toBe(at);
      const got = readFileSync(out);
      expect(got.length).toBe(offset + at);
      expect(sha256(got.subarray(offset))).toBe(sha256(data.subarray(0, at)));
    }
  });
});

describe('verify without a manifest', () => {
  it('reads everything, checks a zip CRC, and reports the sha256 of a raw image', async () => {
    const raw = copyOf('split');
    rmSync(raw.manifest);
    const r = await verify({ image: raw.name }, quiet);
    expect(r.hashes?.sha256).toBe(sha256(data));
    expect(r.notes.join()).toMatch(/nothing to compare with/);
    const z = copyOf('zip');
    rmSync(z.manifest);
    expect((await verify({ image: z.name }, quiet)).checked).toContain('zip CRC-32');
  });
});

describe('restore and verify into files', () => {
  for (const kind of ['raw', 'split', 'zip', 'splitzip'] as const) {
    it(`${kind}: restores byte for byte into a new file, and verifies`, async () => {
      const img = copyOf(kind);
      const out = join(s.dir, `out-${kind}-${n++}.img`);
      const r = await restore({ image: img.name, target: out }, quiet);
      expect(r.bytes).toBe(SIZE);
      expect(r.checked).toBe('sha256');
      expect(sha256(readFileSync(out))).toBe(sha256(data));
      expect((await verify({ image: img.name }, quiet)).ok).toBe(true);
      expect((await verify({ image: img.name, drive: out }, quiet)).ok).toBe(true);
      // a range at an offset of an existing file
      const r2 = await restore({ image: img.name, target: out, offset: '4096', length: '100000', targetOffset: '333' }, quiet);
      expect(r2.bytes).toBe(100000);
      expect(r2.checked).toBeUndefined();
      const got = readFileSync(out);
      expect(sha256(got.subarray(333, 100333))).toBe(sha256(data.subarray(4096, 104096)));
      await rejectsWithCode(verify({ image: img.name, drive: out }, quiet), 'VERIFY_MISMATCH');
    });
  }

  it('a manifest hash that does not match: VERIFY_MISMATCH after writing', async () => {
    const img = copyOf('splitzip');
    editManifest(img.manifest, (m) => {
      m.hashes.sha256 = 'f'.repeat(64);
    });
    const e = await rejectsWithCode(restore({ image: img.name, target: join(s.dir, `bad-${n++}.img`) }, quiet), 'VERIFY_MISMATCH');
    expect(e.message).toMatch(/the image differs from its manifest: sha256/);
  });

  it('refuses to restore an image onto one of its own files (SAME_DRIVE)', async () => {
    const img = copyOf('raw');
    await rejectsWithCode(restore({ image: img.name, target: img.name }, quiet), 'SAME_DRIVE');
  });
});
