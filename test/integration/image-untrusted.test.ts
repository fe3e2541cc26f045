// Untrusted image input through the CLI (plain files, no root needed): every malformed
// manifest of the table makes restore and verify exit 2 with one stderr line and a code, no
// stack trace, the target's bytes unchanged; --keep never deletes outside its folder (a
// manifest naming ../victim); a manifest without hashes needs --no-check; a ZIP holding only
// a folder is refused; a file target larger than the image keeps its other bytes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastEvent, makeFile, runCli, scratch, sha256, type CliRun } from '../helpers/fixtures.js';
import { makeImage, type MadeImage } from '../helpers/images.js';
import { mixedImage, sha256 as sha256Of } from '../helpers/zip.js';
import { BAD_MANIFESTS, mutate } from '../helpers/bad-manifests.js';
import type { Manifest } from '../../src/image/manifest.js';

const KiB = 1024;
const SIZE = 300 * KiB + 512;
const data = mixedImage(SIZE, 9);

let s: ReturnType<typeof scratch>;
let raw: MadeImage;
let good: Manifest;
let n = 0;

beforeAll(async () => {
  s = scratch('cs-untrusted-');
  raw = await makeImage(s.dir, 'r', 'raw', data);
  good = JSON.parse(readFileSync(raw.manifest, 'utf8')) as Manifest;
});
afterAll(() => s.cleanup());

/** One line on stderr, `clonestation: ... [CODE]`, no stack trace. */
function expectOneLineError(r: CliRun, code: string, status = 2): void {
  expect(r.status, r.stderr + r.stdout).toBe(status);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^clonestation: .* \\[${code}\\]$`));
  expect(r.stderr).not.toMatch(/\n\s+at |Error:/);
}

describe('a malformed manifest: restore and verify exit 2, one line, target unchanged', () => {
  it.each(BAD_MANIFESTS.map((b) => [b.label, b] as const))('%s', (_label, bad) => {
    const dir = join(s.dir, `bad-${n++}`);
    mkdirSync(dir);
    copyFileSync(raw.name, join(dir, 'r.img'));
    writeFileSync(join(dir, 'r.img.manifest.json'), JSON.stringify(mutate(good, bad)));
    const target = makeFile(join(dir, 'target.bin'), 2 * SIZE);
    const before = sha256(target);
    const r = runCli(['restore', join(dir, 'r.img'), target, '--yes']);
    expectOneLineError(r, bad.code);
    expect(r.stderr).toMatch(new RegExp(bad.field));
    expect(sha256(target)).toBe(before);
    expectOneLineError(runCli(['verify', join(dir, 'r.img')]), bad.code);
    expectOneLineError(runCli(['verify', join(dir, 'r.img'), target]), bad.code);
    expect(sha256(target)).toBe(before);
    // nothing else appeared or went
    expect(readdirSync(dir).sort()).toEqual(['r.img', 'r.img.manifest.json', 'target.bin']);
  });

  it('a FIFO or /dev/zero as the manifest: BAD_PATH at once, no hang', () => {
    const dir = join(s.dir, `fifo-${n++}`);
    mkdirSync(dir);
    copyFileSync(raw.name, join(dir, 'r.img'));
    spawnSync('mkfifo', [join(dir, 'r.img.manifest.json')]);
    const target = makeFile(join(dir, 'target.bin'), SIZE);
    const before = sha256(target);
    expectOneLineError(runCli(['restore', join(dir, 'r.img'), target, '--yes']), 'BAD_PATH');
    expectOneLineError(runCli(['restore', '/dev/zero', target, '--yes']), 'BAD_PATH');
    expectOneLineError(runCli(['verify', join(dir, 'r.img.manifest.json')]), 'BAD_PATH');
    expect(sha256(target)).toBe(before);
  });
});

describe('--keep never deletes outside the backup folder', () => {
  it('manifests naming ../victim (a part, a map), a renamed manifest: skipped with a note, every outside file survives; real old backups go', () => {
    const top = join(s.dir, `keep-${n++}`);
    const dir = join(top, 'backups');
    mkdirSync(dir, { recursive: true });
    const src = makeFile(join(top, 'src.bin'), 64 * KiB);
    const victim = join(top, 'victim');
    writeFileSync(victim, 'precious');
    const victimMap = join(top, 'victim.map');
    writeFileSync(victimMap, 'precious map');
    // one real, older backup of the same source (it must go), made by the CLI itself
    const old = runCli(['backup', src, join(dir, 'old.img'), '--json']);
    expect(old.status, old.stderr).toBe(0);
    const oldM = JSON.parse(readFileSync(join(dir, 'old.img.manifest.json'), 'utf8')) as Manifest;
    const older = (m: Manifest, name: string): Manifest => ({ ...m, startedAt: '2001-01-01T00:00:00.000Z', image: { ...m.image, name, parts: [{ ...m.image.parts[0], name } as Manifest['image']['parts'][0]] } });
    // hostile: a part ../victim; a rescue map ../victim.map; a manifest file naming another image
    writeFileSync(join(dir, 'evil.img.manifest.json'), JSON.stringify({ ...older(oldM, 'evil.img'), image: { ...oldM.image, name: 'evil.img', parts: [{ name: '../victim', size: 8, hashes: {} }] } }));
    writeFileSync(join(dir, 'evil.img'), 'x');
    writeFileSync(join(dir, 'evilmap.img.manifest.json'), JSON.stringify({ ...older(oldM, 'evilmap.img'), rescue: { map: '../victim.map', badBytes: 0, badAreas: 0, fill: '0x00', unreadable: [] } }));
    writeFileSync(join(dir, 'evilmap.img'), Buffer.alloc(64 * KiB));
    copyFileSync(join(dir, 'old.img'), join(dir, 'kept.img'));
    writeFileSync(join(dir, 'renamed.img.manifest.json'), JSON.stringify(older(oldM, 'kept.img')));
    const r = runCli(['backup', src, join(dir, 'new.img'), '--keep', '1', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const notes = r.events.filter((e) => e.event === 'note').map((e) => String(e.message));
    expect(notes.some((m) => /--keep: skipped evil\.img\.manifest\.json, nothing of it deleted .*image\.parts\[0\]\.name must be a plain file name/.test(m)), notes.join('\n')).toBe(true);
    expect(notes.some((m) => /--keep: skipped evilmap\.img\.manifest\.json, nothing of it deleted .*rescue\.map/.test(m))).toBe(true);
    expect(notes.some((m) => /--keep: skipped renamed\.img\.manifest\.json, nothing of it deleted: it is the manifest of kept\.img/.test(m))).toBe(true);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(readFileSync(victimMap, 'utf8')).toBe('precious map');
    expect(existsSync(join(dir, 'evil.img')) && existsSync(join(dir, 'evilmap.img')) && existsSync(join(dir, 'kept.img'))).toBe(true);
    // the real older backup was pruned, the new one kept
    expect(existsSync(join(dir, 'old.img')) || existsSync(join(dir, 'old.img.manifest.json'))).toBe(false);
    expect(sha256(join(dir, 'new.img'))).toBe(sha256(src));
    expect((lastEvent(r, 'done')?.pruned as string[]).map((p) => p.slice(dir.length + 1)).sort()).toEqual(['old.img', 'old.img.manifest.json', 'old.img.sha256']);
  });
});

describe('backup: names it would write that are not files', () => {
  it('OUT, OUT.sha256 or OUT.manifest.json a folder or FIFO: BAD_OUTPUT (exit 2) before anything is written, even with --force', () => {
    for (const [what, make] of [
      ['disk.img', 'dir'],
      ['disk.img.sha256', 'dir'],
      ['disk.img.manifest.json', 'fifo'],
      ['disk.img.002', 'fifo'],
    ] as const) {
      const dir = join(s.dir, `outbad-${n++}`);
      mkdirSync(dir);
      const src = makeFile(join(dir, 'src.bin'), 64 * KiB);
      if (make === 'dir') mkdirSync(join(dir, what));
      else spawnSync('mkfifo', [join(dir, what)]);
      for (const force of [[], ['--force']]) {
        const r = runCli(['backup', src, join(dir, 'disk.img'), ...force]);
        expectOneLineError(r, 'BAD_OUTPUT');
        expect(r.stderr).toContain(join(dir, what));
        expect(readdirSync(dir).sort()).toEqual([what, 'src.bin'].sort());
      }
    }
  });
});

describe('restore: what is checked, and what is kept', () => {
  it('a manifest without hashes: NO_HASHES (exit 2) unless --no-check, which says the bytes go unchecked', () => {
    for (const kind of ['raw', 'zip'] as const) {
      const dir = join(s.dir, `nohash-${n++}`);
      mkdirSync(dir);
      const src = join(dir, 'src.bin');
      writeFileSync(src, data);
      const out = join(dir, `b.${kind === 'zip' ? 'zip' : 'img'}`);
      expect(runCli(['backup', src, out, '--hash', 'none']).status).toBe(0);
      const target = makeFile(join(dir, 'target.bin'), SIZE);
      const before = sha256(target);
      const r = runCli(['restore', out, target, '--yes']);
      expectOneLineError(r, 'NO_HASHES');
      expect(r.stderr).toMatch(/has no hashes: .* pass --no-check/);
      expect(sha256(target)).toBe(before);
      const ok = runCli(['restore', out, target, '--yes', '--no-check', '--json']);
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.events.some((e) => e.event === 'note' && /the manifest has no hashes: the restored bytes are not checked/.test(String(e.message)))).toBe(true);
      expect(sha256(target)).toBe(sha256Of(data));
      const v = runCli(['verify', out, '--json']);
      expect(v.status).toBe(0);
      expect(v.stdout).toMatch(/the manifest has no hashes: only the files' sizes/);
    }
  });

  it('a ZIP whose one entry is a folder, or with no entry or two, is refused (IMAGE_CORRUPT), the target untouched', () => {
    const dir = join(s.dir, `zipdir-${n++}`);
    mkdirSync(join(dir, 'd'), { recursive: true });
    expect(spawnSync('zip', ['-q', 'e.zip', 'd/'], { cwd: dir }).status).toBe(0);
    const target = makeFile(join(dir, 'target.bin'), SIZE);
    const before = sha256(target);
    const r = runCli(['restore', join(dir, 'e.zip'), target, '--yes']);
    expectOneLineError(r, 'IMAGE_CORRUPT');
    expect(r.stderr).toMatch(/"d\/" is a folder, not a drive image file/);
    expect(sha256(target)).toBe(before);
    // no entry at all (an end record only), and two entries
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    writeFileSync(join(dir, 'empty.zip'), eocd);
    writeFileSync(join(dir, 'a'), 'a');
    writeFileSync(join(dir, 'b'), 'b');
    expect(spawnSync('zip', ['-q', 'two.zip', 'a', 'b'], { cwd: dir }).status).toBe(0);
    for (const [zip, count] of [['empty.zip', 0], ['two.zip', 2]] as const) {
      const e = runCli(['restore', join(dir, zip), target, '--yes']);
      expectOneLineError(e, 'IMAGE_CORRUPT');
      expect(e.stderr).toContain(`it has ${count} entries`);
    }
    expect(sha256(target)).toBe(before);
  });

  it('onto a larger existing file (raw and zip, whole and at an offset): the bytes outside the range keep their hashes', async () => {
    for (const kind of ['raw', 'zip', 'split', 'splitzip'] as const) {
      const dir = join(s.dir, `larger-${n++}`);
      mkdirSync(dir);
      const img = await makeImage(dir, 'x', kind, data, 64 * KiB);
      for (const at of [0, 8192]) {
        const target = makeFile(join(dir, `target-${at}.bin`), 3 * SIZE);
        const whole = readFileSync(target);
        const r = runCli(['restore', img.name, target, '--yes', '--json', ...(at ? ['--target-offset', String(at)] : [])]);
        expect(r.status, r.stderr + r.stdout).toBe(0);
        expect(r.events.some((e) => e.event === 'note' && /is larger than what is restored/.test(String(e.message)))).toBe(true);
        const after = readFileSync(target);
        expect(after.length).toBe(3 * SIZE);
        expect(sha256Of(after.subarray(0, at))).toBe(sha256Of(whole.subarray(0, at)));
        expect(sha256Of(after.subarray(at, at + SIZE))).toBe(sha256Of(data));
        expect(sha256Of(after.subarray(at + SIZE))).toBe(sha256Of(whole.subarray(at + SIZE)));
      }
    }
  });

  it('a split set with a part beyond the manifest\'s: read as the manifest says, the extra part ignored with a note', async () => {
    for (const kind of ['split', 'splitzip'] as const) {
      const dir = join(s.dir, `extra-${n++}`);
      mkdirSync(dir);
      const img = await makeImage(dir, 'x', kind, data, 64 * KiB);
      const count = img.parts.length;
      const extra = `${img.name}.${String(count + 1).padStart(3, '0')}`;
      writeFileSync(extra, mixedImage(64 * KiB, 99));
      const target = join(dir, 'out.bin');
      const r = runCli(['restore', img.name, target, '--json']);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(r.events.some((e) => e.event === 'note' && new RegExp(`${extra.replace(/\./g, '\\.')} is not in the manifest: ignored`).test(String(e.message)))).toBe(true);
      expect(sha256(target)).toBe(sha256Of(data));
      expect(readFileSync(target).length).toBe(SIZE);
      expect(runCli(['verify', img.name]).status).toBe(0);
      expect(runCli(['verify', img.manifest, target]).status).toBe(0);
    }
  });
});
