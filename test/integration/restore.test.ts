// restore and verify on real loop devices (root). Every round trip is checked byte for
// byte; every refusal and every damaged image is checked to leave the target byte-identical
// (or, once writing started, never to be reported complete).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, truncateSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { cli, lastEvent, makeFile, runCli, sha256, useLoopScratch } from '../helpers/fixtures.js';
import { editManifest, makeImage, type Kind, type MadeImage } from '../helpers/images.js';
import { mixedImage, sha256 as sha256Of } from '../helpers/zip.js';
import { BAD_MANIFESTS, mutate } from '../helpers/bad-manifests.js';
import type { Manifest } from '../../src/image/manifest.js';

const MiB = 1024 * 1024;
/** not a multiple of any split size below, nor of 1 MiB */
const SIZE = 12 * MiB + 3 * 4096;
const data = mixedImage(SIZE, 7);
const dataHash = sha256Of(data);

describeRoot('restore and verify on loop devices', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  const images: Partial<Record<Kind, MadeImage>> = {};
  let srcDev = '';
  let n = 0;

  /** A fresh copy of a pristine image in its own folder. */
  function copyOf(kind: Kind): MadeImage {
    const src = images[kind];
    if (!src) throw new Error(`no ${kind} image`);
    const dir = join(fx.dir(), `copy-${kind}-${n++}`);
    mkdirSync(dir);
    const to = (p: string): string => join(dir, p.slice(p.lastIndexOf('/') + 1));
    for (const p of [...src.parts, src.manifest]) copyFileSync(p, to(p));
    return { name: to(src.name), manifest: to(src.manifest), parts: src.parts.map(to) };
  }

  /** A 16 MiB loop device (larger than the image) full of random bytes. */
  function target(size = 16 * MiB): { dev: string; file: string } {
    return fx.loop(makeFile(join(fx.dir(), `target-${n++}.img`), size), 512);
  }

  // The images are made by `clonestation backup` from a loop device holding `data`: each
  // round trip below is drive -> backup -> restore -> drive, end to end.
  beforeAll(() => {
    const dir = join(fx.dir(), 'pristine');
    mkdirSync(dir);
    const srcFile = join(fx.dir(), 'source.img');
    writeFileSync(srcFile, data);
    const src = fx.loop(srcFile, 512, true);
    srcDev = src.dev;
    const made = (kind: Kind, out: string, split?: string): MadeImage => {
      const r = runCli(['backup', src.dev, join(dir, out), '--hash', 'sha256,md5', '--json', ...(split ? ['--split', split] : [])]);
      if (r.status !== 0) throw new Error(`backup for the ${kind} round trip failed: ${r.stderr}${r.stdout}`);
      const done = lastEvent(r, 'done');
      const name = join(dir, out);
      const parts = ((done?.parts as { name: string }[] | undefined) ?? []).map((p) => join(dir, p.name));
      return { name, manifest: `${name}.manifest.json`, parts };
    };
    images.raw = made('raw', 'raw.img');
    images.split = made('split', 'split.img', '5MiB');
    images.zip = made('zip', 'zip.zip');
    images.splitzip = made('splitzip', 'splitzip.zip', '1MiB');
  });

  for (const kind of ['raw', 'split', 'zip', 'splitzip'] as const) {
    it(`restores a ${kind} image byte for byte and verifies it`, () => {
      const img = copyOf(kind);
      if (kind === 'split') expect(img.parts.length).toBe(3);
      if (kind === 'splitzip') expect(img.parts.length).toBeGreaterThan(2);
      const t = target();
      const tail = sha256(t.file, SIZE);
      const r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      const done = lastEvent(r, 'done');
      expect(done?.bytes).toBe(SIZE);
      expect(done?.checked).toBe('sha256');
      expect(done?.targetDirect).toBe(true);
      // the larger target is said so, and its other bytes are kept
      expect(r.events.some((e) => e.event === 'note' && /is larger than what is restored/.test(String(e.message)))).toBe(true);
      expect(sha256(t.file, 0, SIZE)).toBe(dataHash);
      expect(sha256(t.file, SIZE)).toBe(tail);
      // verify the image against its manifest, and the drive against the image
      let v = runCli(['verify', img.name, '--json']);
      expect(v.status, v.stderr + v.stdout).toBe(0);
      expect(lastEvent(v, 'done')?.checked).toEqual(expect.arrayContaining(['part hashes', 'image sha256, md5']));
      v = runCli(['verify', img.name, t.dev, '--json']);
      expect(v.status, v.stderr + v.stdout).toBe(0);
    });
  }

  it('restores onto a drive with 4096-byte sectors (O_DIRECT at that alignment)', () => {
    for (const kind of ['split', 'splitzip'] as const) {
      const img = copyOf(kind);
      const t = fx.loop(makeFile(join(fx.dir(), `t4k-${n++}.img`), 16 * MiB), 4096);
      const r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(lastEvent(r, 'done')?.targetDirect).toBe(true);
      expect(sha256(t.file, 0, SIZE)).toBe(dataHash);
      expect(runCli(['verify', img.name, t.dev]).status).toBe(0);
    }
  });

  it('takes a part or the manifest as IMAGE, and restores a range at a target offset', () => {
    for (const kind of ['split', 'splitzip'] as const) {
      const img = copyOf(kind);
      const t = target();
      const before = readFileSync(t.file);
      const r = runCli(['restore', img.parts[1] ?? '', t.dev, '--yes', '--json', '--offset', '1MiB', '--length', '6MiB', '--target-offset', '2MiB']);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      const after = readFileSync(t.file);
      expect(sha256Of(after.subarray(2 * MiB, 8 * MiB))).toBe(sha256Of(data.subarray(1 * MiB, 7 * MiB)));
      expect(sha256Of(after.subarray(0, 2 * MiB))).toBe(sha256Of(before.subarray(0, 2 * MiB)));
      expect(sha256Of(after.subarray(8 * MiB))).toBe(sha256Of(before.subarray(8 * MiB)));
      const v = runCli(['verify', img.manifest, t.dev, '--offset', '1MiB', '--length', '6MiB', '--target-offset', '2MiB']);
      expect(v.status, v.stderr).toBe(0);
    }
  });

  it('puts a backup of a range back where it came from, unless --target-offset says otherwise', () => {
    const dir = join(fx.dir(), 'range');
    mkdirSync(dir);
    for (const out of ['part.img', 'part.zip']) {
      const b = runCli(['backup', srcDev, join(dir, out), '--offset', '1MiB', '--length', '4MiB', '--split', '3MiB']);
      expect(b.status, b.stderr).toBe(0);
      const t = target();
      const before = readFileSync(t.file);
      const r = runCli(['restore', join(dir, out), t.dev, '--yes', '--json']);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(r.events.some((e) => e.event === 'note' && /go back to the same offset \(1048576\)/.test(String(e.message)))).toBe(true);
      const after = readFileSync(t.file);
      expect(sha256Of(after.subarray(1 * MiB, 5 * MiB))).toBe(sha256Of(data.subarray(1 * MiB, 5 * MiB)));
      expect(sha256Of(after.subarray(0, 1 * MiB))).toBe(sha256Of(before.subarray(0, 1 * MiB)));
      expect(runCli(['verify', join(dir, out), t.dev]).status).toBe(0);
      // elsewhere, on request
      const t2 = target();
      expect(runCli(['restore', join(dir, out), t2.dev, '--yes', '--target-offset', '0']).status).toBe(0);
      expect(sha256(t2.file, 0, 4 * MiB)).toBe(sha256Of(data.subarray(1 * MiB, 5 * MiB)));
    }
  });

  // backup only makes sector-multiple splits; `split -b 3000001` makes others
  it('restores a split whose part size is not sector-aligned (buffered where it must be)', async () => {
    const dir = join(fx.dir(), 'odd');
    mkdirSync(dir);
    const img = await makeImage(dir, 'odd', 'split', data, 3_000_001);
    const t = target();
    const r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(sha256(t.file, 0, SIZE)).toBe(dataHash);
    expect(runCli(['verify', img.name, t.dev]).status).toBe(0);
  });

  it('refuses a target smaller than the image (TARGET_TOO_SMALL, exit 4), writing nothing', () => {
    const img = copyOf('zip');
    const t = target(8 * MiB);
    const before = sha256(t.file);
    const r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
    expect(r.status).toBe(4);
    expect(lastEvent(r, 'error')?.code).toBe('TARGET_TOO_SMALL');
    expect(lastEvent(r, 'done')).toBeUndefined();
    expect(sha256(t.file)).toBe(before);
  });

  it('asks before writing a block device (no terminal, no --yes: CONFIRMATION_REQUIRED)', () => {
    const img = copyOf('raw');
    const t = target();
    const before = sha256(t.file);
    const r = runCli(['restore', img.name, t.dev]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/CONFIRMATION_REQUIRED/);
    expect(sha256(t.file)).toBe(before);
  });

  it('a drive as IMAGE is not an image (USAGE, exit 2): that is clone', () => {
    const src = target(1 * MiB);
    const t = target();
    const before = sha256(t.file);
    const r = runCli(['restore', src.dev, t.dev, '--yes']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is a drive, not an image file: .*clonestation clone/);
    expect(sha256(t.file)).toBe(before);
  });

  it('a missing part: IMAGE_PART_MISSING (exit 2), target untouched', () => {
    for (const kind of ['split', 'splitzip'] as const) {
      const img = copyOf(kind);
      rmSync(img.parts[1] ?? '');
      const t = target();
      const before = sha256(t.file);
      const r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
      expect(r.status, r.stdout).toBe(2);
      const err = lastEvent(r, 'error');
      expect(err?.code).toBe('IMAGE_PART_MISSING');
      expect(String(err?.message)).toMatch(/is missing: copy it back/);
      expect(sha256(t.file)).toBe(before);
      expect(runCli(['verify', img.name]).status).toBe(2);
    }
  });

  it('parts out of order: different sizes are refused up front (IMAGE_CORRUPT), equal ones fail the hash check (exit 5)', () => {
    // .002 (5 MiB) and .003 (2 MiB + 12 KiB) swapped by name: sizes disagree with the manifest
    let img = copyOf('split');
    const [, p2, p3] = img.parts as [string, string, string];
    renameSync(p2, `${p2}.tmp`);
    renameSync(p3, p2);
    renameSync(`${p2}.tmp`, p3);
    let t = target();
    let before = sha256(t.file);
    let r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
    expect(r.status).toBe(2);
    expect(lastEvent(r, 'error')?.code).toBe('IMAGE_CORRUPT');
    expect(sha256(t.file)).toBe(before);
    // .001 and .002 (both 5 MiB) swapped: only the hashes can tell
    img = copyOf('split');
    const [q1, q2] = img.parts as [string, string];
    renameSync(q1, `${q1}.tmp`);
    renameSync(q2, q1);
    renameSync(`${q1}.tmp`, q2);
    t = target();
    r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
    expect(r.status).toBe(5);
    const err = lastEvent(r, 'error');
    expect(err?.code).toBe('VERIFY_MISMATCH');
    expect(String(err?.message)).toMatch(/the image differs from its manifest/);
    expect(lastEvent(r, 'done')).toBeUndefined();
    const v = runCli(['verify', img.name, '--json']);
    expect(v.status).toBe(5);
    expect(String(lastEvent(v, 'error')?.message)).toMatch(/part 1 of 3/);
    // a zip split with two parts swapped: caught by the archive checks, nothing reported done
    img = copyOf('splitzip');
    const [z1, z2] = img.parts as [string, string];
    const a = readFileSync(z1);
    const b = readFileSync(z2);
    copyFileSync(z2, `${z1}.b`);
    copyFileSync(z1, `${z2}.a`);
    renameSync(`${z1}.b`, z1);
    renameSync(`${z2}.a`, z2);
    expect(a.length).toBe(b.length);
    t = target();
    before = sha256(t.file);
    r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
    expect([2, 5]).toContain(r.status);
    expect(['IMAGE_CORRUPT', 'IMAGE_CRC_MISMATCH', 'VERIFY_MISMATCH', 'IMAGE_TRUNCATED']).toContain(lastEvent(r, 'error')?.code);
    expect(lastEvent(r, 'done')).toBeUndefined();
  });

  it('a truncated zip: IMAGE_TRUNCATED (exit 2), target untouched', () => {
    const img = copyOf('zip');
    truncateSync(img.name, Math.floor(readFileSync(img.name).length / 2));
    const t = target();
    const before = sha256(t.file);
    // without its manifest too (the size check would catch it first)
    rmSync(img.manifest);
    const r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
    expect(r.status).toBe(2);
    expect(lastEvent(r, 'error')?.code).toBe('IMAGE_TRUNCATED');
    expect(sha256(t.file)).toBe(before);
  });

  it('a manifest hash that does not match: VERIFY_MISMATCH (exit 5), never reported done', () => {
    for (const kind of ['raw', 'zip'] as const) {
      const img = copyOf(kind);
      editManifest(img.manifest, (m) => {
        m.hashes.sha256 = '0'.repeat(64);
      });
      const t = target();
      const r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
      expect(r.status, r.stderr + r.stdout).toBe(5);
      expect(String(lastEvent(r, 'error')?.message)).toMatch(/the image differs from its manifest: sha256/);
      expect(lastEvent(r, 'done')).toBeUndefined();
      const v = runCli(['verify', img.name, '--json']);
      expect(v.status).toBe(5);
      expect(lastEvent(v, 'error')?.code).toBe('VERIFY_MISMATCH');
    }
  });

  it('a malformed manifest (negative offset, ../victim part, unknown format, no hashes) never touches a block target', () => {
    const picks = BAD_MANIFESTS.filter((b) => ['range.offset negative', 'part ../victim', 'image.format tar'].includes(b.label));
    expect(picks).toHaveLength(3);
    for (const bad of picks) {
      const img = copyOf('raw');
      const good = JSON.parse(readFileSync(img.manifest, 'utf8')) as Manifest;
      // the table's mutations are of an image named r.img: rename this one's files alike
      writeFileSync(img.manifest, JSON.stringify(mutate({ ...good, image: { ...good.image, name: 'raw.img' } }, bad)));
      const t = target();
      const before = sha256(t.file);
      for (const args of [['restore', img.name, t.dev, '--yes', '--json'], ['verify', img.name, t.dev, '--json']]) {
        const r = runCli(args);
        expect(r.status, r.stdout).toBe(2);
        expect(lastEvent(r, 'error')?.code).toBe(bad.code);
        expect(String(lastEvent(r, 'error')?.message)).toMatch(new RegExp(bad.field.replace('r\\.img', 'raw\\.img')));
      }
      expect(sha256(t.file)).toBe(before);
    }
    // a finished backup without hashes: NO_HASHES unless --no-check
    const img = copyOf('raw');
    editManifest(img.manifest, (m) => {
      m.hashes = {};
      for (const p of m.image.parts) p.hashes = {};
    });
    const t = target();
    const before = sha256(t.file);
    const r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
    expect(r.status).toBe(2);
    expect(lastEvent(r, 'error')?.code).toBe('NO_HASHES');
    expect(sha256(t.file)).toBe(before);
    expect(runCli(['restore', img.name, t.dev, '--yes', '--no-check']).status).toBe(0);
    expect(sha256(t.file, 0, SIZE)).toBe(dataHash);
  });

  it('an unfinished backup: IMAGE_INCOMPLETE (exit 2) unless --force', () => {
    const img = copyOf('raw');
    editManifest(img.manifest, (m) => {
      m.complete = false;
      m.incompleteReason = 'interrupted';
    });
    const t = target();
    const before = sha256(t.file);
    let r = runCli(['restore', img.name, t.dev, '--yes', '--json']);
    expect(r.status).toBe(2);
    const err = lastEvent(r, 'error');
    expect(err?.code).toBe('IMAGE_INCOMPLETE');
    expect(String(err?.message)).toMatch(/did not finish \(interrupted\): run the backup again/);
    expect(sha256(t.file)).toBe(before);
    expect(runCli(['verify', img.name]).status).toBe(2);
    r = runCli(['restore', img.name, t.dev, '--yes', '--json', '--force']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(sha256(t.file, 0, SIZE)).toBe(dataHash);
  });

  it('verify finds a flipped byte in a part and in the drive, and names where', () => {
    for (const kind of ['split', 'zip'] as const) {
      const img = copyOf(kind);
      const t = target();
      expect(runCli(['restore', img.name, t.dev, '--yes']).status).toBe(0);
      // the drive: one byte at 7 MiB + 5
      const at = 7 * MiB + 5;
      const fd = openSync(t.file, 'r+');
      writeSync(fd, Buffer.from([data[at] ^ 0xff]), 0, 1, at);
      closeSync(fd);
      const v = runCli(['verify', img.name, t.dev, '--json']);
      expect(v.status, v.stdout).toBe(5);
      const err = lastEvent(v, 'error');
      expect(err?.code).toBe('VERIFY_MISMATCH');
      expect(err?.driveOffset).toBe(at);
      // a part: one byte in the second file
      const part = img.parts[kind === 'split' ? 1 : 0] ?? '';
      const pf = openSync(part, 'r+');
      const b = Buffer.alloc(1);
      readSync(pf, b, 0, 1, 1000);
      writeSync(pf, Buffer.from([b[0] ^ 0x01]), 0, 1, 1000);
      closeSync(pf);
      const w = runCli(['verify', img.name, '--json']);
      expect(w.status, w.stdout).toBe(5);
      expect(String(lastEvent(w, 'error')?.message)).toMatch(kind === 'split' ? /part 2 of 3, .*split\.img\.002, differs from the manifest/ : /zip\.zip, differs from the manifest/);
    }
  });

  for (const kind of ['raw', 'zip'] as const) {
    it(`Ctrl-C stops a ${kind} restore: exit 130, target incomplete, never done`, async () => {
      const img = copyOf(kind);
      const t = target();
      // small blocks at depth 1, buffered: slow enough to be interrupted
      const child = spawn(process.execPath, [cli, 'restore', img.name, t.dev, '--yes', '--json', '--block-size', '4KiB', '--depth', '1', '--no-direct'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/restoring/.test(out) && !child.killed) child.kill('SIGINT');
      });
      const status = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
      const events = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      if (events.some((e) => e.event === 'done')) {
        process.stderr.write(`note: the ${kind} restore finished before SIGINT landed; the cancel path was not exercised\n`);
        return;
      }
      const err = [...events].reverse().find((e) => e.event === 'error');
      expect(status).toBe(130);
      expect(err?.code).toBe('CANCELLED');
      expect(String(err?.message)).toMatch(/target .* is incomplete/);
    });
  }
});

