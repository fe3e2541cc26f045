// The manifest schema: every malformed or hostile manifest of the table is refused with one
// line naming the field; a FIFO, a device, a folder or a huge file named as a manifest is
// refused without hanging or reading it whole; a good manifest passes, typed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ftruncateSync, mkdirSync, openSync, closeSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratch } from '../helpers/fixtures.js';
import { makeImage } from '../helpers/images.js';
import { mixedImage } from '../helpers/zip.js';
import { BAD_MANIFESTS, mutate } from '../helpers/bad-manifests.js';
import { MANIFEST_MAX_BYTES, MAX_UNREADABLE_LISTED, loadManifest, parseManifest, saveManifest, type Manifest } from '../../src/image/manifest.js';
import { CloneStationError, ExitStatus } from '../../src/errors.js';

let s: ReturnType<typeof scratch>;
let good: Manifest;
let goodPath = '';

beforeAll(async () => {
  s = scratch('cs-manifest-unit-');
  const img = await makeImage(s.dir, 'r', 'raw', mixedImage(300 * 1024, 5));
  goodPath = img.manifest;
  good = JSON.parse(readFileSync(goodPath, 'utf8')) as Manifest;
});
afterAll(() => s.cleanup());

function refusal(f: () => unknown): CloneStationError {
  try {
    f();
  } catch (e) {
    if (e instanceof CloneStationError) return e;
    throw new Error(`not a CloneStationError: ${String(e)}`);
  }
  throw new Error('accepted');
}

describe('parseManifest', () => {
  it('accepts a good manifest, ignores unknown fields, and returns only the checked ones', () => {
    const m = parseManifest({ ...good, future: { x: 1 } }, 'm');
    expect(m.range).toEqual(good.range);
    expect(m.image.parts[0]?.name).toBe('r.img');
    expect((m as unknown as Record<string, unknown>).future).toBeUndefined();
    expect(loadManifest(goodPath)).toEqual(parseManifest(good, goodPath));
  });

  it.each(BAD_MANIFESTS.map((b) => [b.label, b] as const))('refuses %s, naming the field in one line', (_label, bad) => {
    const e = refusal(() => parseManifest(mutate(good, bad), '/b/x.img.manifest.json'));
    expect(e.code).toBe(bad.code);
    expect(e.exitStatus).toBe(ExitStatus.usage);
    expect(e.message).toMatch(new RegExp(`^manifest /b/x\\.img\\.manifest\\.json: (${bad.field})`));
    expect(e.message).not.toMatch(/\n/);
  });
});

describe('loadManifest reads only a regular file of bounded size', () => {
  it('a FIFO, /dev/zero, a folder: BAD_PATH at once (no hang)', () => {
    const fifo = join(s.dir, 'fifo.img.manifest.json');
    execFileSync('mkfifo', [fifo]);
    const zero = join(s.dir, 'zero.img.manifest.json');
    symlinkSync('/dev/zero', zero);
    const dir = join(s.dir, 'dir.img.manifest.json');
    mkdirSync(dir);
    for (const [p, what] of [
      [fifo, 'a FIFO'],
      [zero, 'a device'],
      [dir, 'a folder'],
    ] as const) {
      const e = refusal(() => loadManifest(p));
      expect(e.code).toBe('BAD_PATH');
      expect(e.exitStatus).toBe(2);
      expect(e.message).toContain(`is ${what}`);
    }
  });

  it('a file larger than a manifest can be is refused without being read', () => {
    const big = join(s.dir, 'big.img.manifest.json');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, MANIFEST_MAX_BYTES + 1);
    closeSync(fd);
    const e = refusal(() => loadManifest(big));
    expect(e.code).toBe('IMAGE_CORRUPT');
    expect(e.message).toMatch(/more than a manifest can be/);
  });

  it('what saveManifest writes for a rescue with many unreadable areas stays readable: ~40 bytes an area, the cap far below the size limit', () => {
    const n = 100_000;
    const unreadable = Array.from({ length: n }, (_, i) => ({ offset: i * 4096, length: 512 }));
    const m = { ...good, range: { offset: 0, length: n * 4096 }, source: { ...good.source, size: n * 4096 }, image: { ...good.image, parts: [{ ...good.image.parts[0], size: n * 4096 }] } } as Manifest;
    m.rescue = { map: 'r.img.map', badBytes: n * 512, badAreas: n, fill: '0x00', unreadable };
    const p = join(s.dir, 'many.img.manifest.json');
    saveManifest(p, m);
    const perArea = statSync(p).size / n;
    expect(perArea).toBeLessThan(50);
    expect(MAX_UNREADABLE_LISTED * 50).toBeLessThan(MANIFEST_MAX_BYTES);
    expect(loadManifest(p).rescue?.unreadable).toEqual(unreadable);
    const tooMany = { ...m, rescue: { ...m.rescue, unreadable: new Array(MAX_UNREADABLE_LISTED + 1).fill(null) } };
    expect(refusal(() => parseManifest(tooMany, 'x')).message).toMatch(/rescue\.unreadable must be a list of at most 4000000 items/);
  });

  it('not JSON, and missing: their own codes', () => {
    const bad = join(s.dir, 'bad.img.manifest.json');
    writeFileSync(bad, '{"format": ');
    expect(refusal(() => loadManifest(bad)).code).toBe('IMAGE_CORRUPT');
    expect(refusal(() => loadManifest(join(s.dir, 'none.manifest.json'))).code).toBe('NOT_FOUND');
  });
});
