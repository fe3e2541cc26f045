// zstd images on real loop devices (root): backup of a block device to OUT.img.zst (one file
// and a split), read back by `zstd -d` and 7-Zip with identical bytes, restored to drives of
// 512 and 4096-byte sectors (one target and many), verified, a middle range restored, and a
// damaged frame refused by name.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync, readdirSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { lastEvent, makeFile, runCli, useLoopScratch } from '../helpers/fixtures.js';
import { mixedImage, sha256 as sha256Of, tool } from '../helpers/zip.js';
import type { Manifest } from '../../src/image/manifest.js';
import { slowTarget, type SlowTarget } from '../helpers/slow-target.js';
import { openPartSink } from '../../src/image/parts.js';
import { ZstdImageWriter } from '../../src/image/zstd/writer.js';

const MiB = 1024 * 1024;
const SIZE = 13 * MiB + 3 * 4096;
const data = mixedImage(SIZE, 5);
const dataHash = sha256Of(data);

describeRoot('zstd images on loop devices', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let src: string;
  let dir: string;
  let n = 0;
  const target = (sector: 512 | 4096 = 512, size = SIZE): string => fx.loop(makeFile(join(fx.dir(), `t-${n++}.img`), size, 'random'), sector).dev;
  const devHash = (dev: string, length = SIZE, offset = 0): string => sha256Of(readFileSync(dev).subarray(offset, offset + length));

  const nbd: SlowTarget[] = [];
  afterAll(() => {
    for (const t of nbd) t.down();
  });
  beforeAll(() => {
    dir = join(fx.dir(), 'images');
    mkdirSync(dir);
    const f = join(fx.dir(), 'src.img');
    writeFileSync(f, data);
    src = fx.loop(f, 4096, true).dev;
  });

  it('backs up a drive to OUT.img.zst that zstd -d and 7z x read back byte for byte', () => {
    const out = join(dir, 'a.img.zst');
    const r = runCli(['backup', src, out, '--hash', 'sha256,xxh3', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8')) as Manifest;
    expect(m.complete).toBe(true);
    expect(m.image.format).toBe('zstd');
    expect(m.image.level).toBe(3);
    expect(m.image.frameSize).toBe(4 * MiB);
    expect(m.hashes.sha256).toBe(dataHash);
    expect(m.image.compressedSize).toBeLessThan(SIZE);
    // the coreutils hash file checks the compressed file as it lies
    expect(tool('sha256sum', ['-c', 'a.img.zst.sha256'], dir).status).toBe(0);
    const plain = join(fx.dir(), 'a.zstd-d');
    expect(tool('zstd', ['-d', '-q', '-f', out, '-o', plain]).status).toBe(0);
    expect(sha256Of(readFileSync(plain))).toBe(dataHash);
    const x = join(fx.dir(), 'a7z');
    const r7 = tool('7z', ['x', '-y', `-o${x}`, out]);
    expect(r7.status, r7.out).toBe(0);
    expect(sha256Of(readFileSync(join(x, 'a.img')))).toBe(dataHash);
    // without its manifest, verify decompresses every frame and reports the image's sha256
    const lone = join(fx.dir(), 'lone');
    mkdirSync(lone);
    copyFileSync(out, join(lone, 'a.img.zst'));
    const v = runCli(['verify', join(lone, 'a.img.zst')]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout + v.stderr).toContain(dataHash);
  });

  it('restores it to drives of 512 and 4096-byte sectors, checked against the manifest, and verify agrees', () => {
    const out = join(dir, 'a.img.zst');
    for (const sector of [512, 4096] as const) {
      const t = target(sector);
      const r = runCli(['restore', out, t, '--yes', '--json']);
      expect(r.status, r.stderr).toBe(0);
      expect(lastEvent(r, 'done')?.checked).toBeTruthy();
      expect(devHash(t)).toBe(dataHash);
      expect(runCli(['verify', out, t]).status).toBe(0);
    }
    const v = runCli(['verify', out]);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout + v.stderr).toContain('frame checksums');
  });

  it('a split backup (OUT.img.zst.001, ...) restores, and its parts concatenated decompress with zstd -d', () => {
    const out = join(dir, 's.img.zst');
    const r = runCli(['backup', src, out, '--split', '3M', '--level', '6']);
    expect(r.status, r.stderr).toBe(0);
    const parts = readdirSync(dir).filter((f) => /^s\.img\.zst\.\d{3}$/.test(f)).sort();
    expect(parts.length).toBeGreaterThan(1);
    const joined = join(fx.dir(), 's.joined.zst');
    writeFileSync(joined, Buffer.concat(parts.map((p) => readFileSync(join(dir, p)))));
    const plain = join(fx.dir(), 's.plain');
    expect(tool('zstd', ['-d', '-q', '-f', joined, '-o', plain]).status).toBe(0);
    expect(sha256Of(readFileSync(plain))).toBe(dataHash);
    const t = target(512);
    expect(runCli(['restore', out, t, '--yes']).status).toBe(0);
    expect(devHash(t)).toBe(dataHash);
    expect(runCli(['verify', join(dir, parts[1]!)]).status).toBe(0);
  });

  it('restores a middle range (spanning a frame boundary) to its place, and verify compares that range', () => {
    const out = join(dir, 'a.img.zst');
    const t = target(512);
    const before = readFileSync(t);
    const offset = 4 * MiB - 8192;
    const length = 5 * MiB;
    const r = runCli(['restore', out, t, '--yes', '--offset', String(offset), '--length', String(length)]);
    expect(r.status, r.stderr).toBe(0);
    const after = readFileSync(t);
    expect(sha256Of(after.subarray(offset, offset + length))).toBe(sha256Of(data.subarray(offset, offset + length)));
    // nothing outside the range was written
    expect(sha256Of(after.subarray(0, offset))).toBe(sha256Of(before.subarray(0, offset)));
    expect(sha256Of(after.subarray(offset + length))).toBe(sha256Of(before.subarray(offset + length)));
    expect(runCli(['verify', out, t, '--offset', String(offset), '--length', String(length)]).status).toBe(0);
  });

  it('restores to many targets at once, each checked', () => {
    const out = join(dir, 'a.img.zst');
    const ts = [target(512), target(4096), target(512, 16 * MiB)];
    const r = runCli(['restore', out, ...ts, '--yes', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const rows = lastEvent(r, 'done')?.targets as { state: string; verified: boolean }[];
    expect(rows.map((x) => x.state)).toEqual(['done', 'done', 'done']);
    expect(rows.every((x) => x.verified)).toBe(true);
    for (const t of ts) expect(devHash(t)).toBe(dataHash);
  });

  it('a target that falls behind leaves the shared stream and catches up from its own reader', async () => {
    // small frames (no manifest), so the shared stream has many chunks to fall behind by
    const out = join(fx.dir(), 'small-frames.img.zst');
    const w = new ZstdImageWriter({ sink: openPartSink(out, { overwrite: true }), frameSize: 256 * 1024, threads: 2 });
    await w.write(data);
    await w.finish();
    const slow = slowTarget(join(fx.dir(), `slow-${n++}`), SIZE, 3 * MiB);
    nbd.push(slow);
    const fast = target(512);
    const r = runCli(['restore', out, fast, slow.dev, '--yes', '--json'], undefined, { CLONESTATION_ZIP_WINDOW: String(2 * MiB) });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.events.some((e) => e.event === 'note' && e.target === slow.dev && /left the shared stream/.test(String(e.message)))).toBe(true);
    const rows = lastEvent(r, 'done')?.targets as { state: string }[];
    expect(rows.map((x) => x.state)).toEqual(['done', 'done']);
    expect(devHash(fast)).toBe(dataHash);
    expect(devHash(slow.dev)).toBe(dataHash);
  });

  it('a damaged frame: restore fails with IMAGE_CORRUPT naming the frame (exit 2); verify fails too', () => {
    const bad = join(dir, 'bad.img.zst');
    copyFileSync(join(dir, 'a.img.zst'), bad);
    copyFileSync(join(dir, 'a.img.zst.manifest.json'), `${bad}.manifest.json`);
    const m = JSON.parse(readFileSync(`${bad}.manifest.json`, 'utf8')) as Manifest;
    m.image.name = 'bad.img.zst';
    m.image.parts[0]!.name = 'bad.img.zst';
    writeFileSync(`${bad}.manifest.json`, JSON.stringify(m));
    const b = readFileSync(bad);
    // the seek table's first entry: frame 1's compressed size; flip a byte inside frame 2
    const frames = b.readUInt32LE(b.length - 9);
    const table = b.length - (8 + 12 * frames + 9);
    const at = b.readUInt32LE(table + 8) + 100;
    b[at] = b[at]! ^ 0xff;
    writeFileSync(bad, b);
    const t = target(512);
    const r = runCli(['restore', bad, t, '--yes']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/frame 2 of \d+.*\[IMAGE_CORRUPT\]/);
    // one error line, no stack trace
    expect(r.stderr.split('\n').filter((l) => l.startsWith('clonestation:'))).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(runCli(['verify', bad]).status).not.toBe(0);
  });

  it('a zstd backup that outgrows its file system is OUTPUT_FULL (exit 1), marked incomplete, its partial file deleted', () => {
    const mnt = join(fx.dir(), 'small');
    mkdirSync(mnt);
    // random bytes do not shrink: 8 MiB cannot fit in 3 MiB
    const rnd = join(fx.dir(), 'random.img');
    makeFile(rnd, 8 * MiB, 'random');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3M', 'tmpfs', mnt]);
    try {
      const out = join(mnt, 'f.img.zst');
      const r = runCli(['backup', rnd, out]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('[OUTPUT_FULL]');
      const m = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8')) as Manifest;
      expect(m.complete).toBe(false);
      expect(readdirSync(mnt).filter((f) => f.includes('partial') && !f.endsWith('.json'))).toEqual([]);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('refuses a level a format does not have (BAD_NUMBER, exit 2), writing nothing', () => {
    for (const [name, level] of [
      ['l0.img.zst', '0'],
      ['l12.zip', '12'],
    ] as const) {
      const r = runCli(['backup', src, join(dir, name), '--level', level]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('[BAD_NUMBER]');
      expect(readdirSync(dir).some((f) => f.startsWith(name))).toBe(false);
    }
  });
});
