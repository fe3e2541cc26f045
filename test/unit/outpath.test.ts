// The output-path checker and the bounded map reader (src/outpath.ts): every kind of path
// that cannot be written as a regular file, as a table; FIFOs and devices are refused
// without being opened for a blocking read, and reads are bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkOutputPath, checkOwnFile, pathShapeProblem, readInputFile, sameFile, writeOutputFile, why } from '../../src/outpath.js';
import { UsageError } from '../../src/errors.js';
import { scratch } from '../helpers/fixtures.js';

describe('outpath', () => {
  let s: ReturnType<typeof scratch>;
  const at = (name: string): string => join(s.dir, name);
  beforeAll(() => {
    s = scratch('cs-outpath-');
    writeFileSync(at('file'), 'hello\n');
    mkdirSync(at('folder'));
    execFileSync('mkfifo', [at('fifo')]);
    symlinkSync(at('file'), at('link-to-file'));
    symlinkSync('/dev/null', at('link-to-null'));
    symlinkSync(at('fifo'), at('link-to-fifo'));
  });
  afterAll(() => s.cleanup());

  // [what the path is, the path, the words the message must hold, the code]
  const bad: [string, () => string, RegExp, string][] = [
    ['empty', () => '', /the path is empty/, 'BAD_X'],
    ['a trailing slash on a new name', () => at('new.img/'), /cannot end with a slash/, 'BAD_X'],
    ['a trailing slash on a file', () => `${at('file')}/`, /cannot end with a slash/, 'BAD_X'],
    ['a NUL byte', () => at('a\0b'), /NUL byte/, 'BAD_X'],
    ['a name of 256 bytes', () => at('n'.repeat(256)), /longer than 255 bytes/, 'BAD_X'],
    ['a name of 128 two-byte characters (256 bytes)', () => at('é'.repeat(128)), /longer than 255 bytes/, 'BAD_X'],
    ['a path of 4096 bytes', () => `${s.dir}/${'d/'.repeat(2048)}`.slice(0, 4095) + 'x', /longer than 4095 bytes/, 'BAD_X'],
    ['a folder', () => at('folder'), /it is a folder/, 'BAD_X'],
    ['a FIFO', () => at('fifo'), /FIFO/, 'BAD_X'],
    ['a link to a FIFO', () => at('link-to-fifo'), /FIFO/, 'BAD_X'],
    ['a character device', () => '/dev/null', /character device/, 'BAD_X'],
    ['a link to a character device', () => at('link-to-null'), /character device/, 'BAD_X'],
    ['/dev/zero', () => '/dev/zero', /character device/, 'BAD_X'],
    ['a name in a missing folder', () => at('missing/x.map'), /its folder .*missing does not exist/, 'NOT_FOUND'],
    ['a name under a file', () => at('file/x.map'), /a folder on the way is a file/, 'BAD_X'],
    ['a name under a file deeper', () => at('file/a/x.map'), /a folder on the way is a file/, 'BAD_X'],
  ];
  it.each(bad)('refuses %s, writing nothing', (_, path, words, code) => {
    const before = readdirSync(s.dir).sort();
    let err: unknown;
    try {
      checkOutputPath(path(), 'the thing', { code: 'BAD_X', fix: 'do better' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    const u = err as UsageError;
    expect(u.code).toBe(code);
    expect(u.exitStatus).toBe(2);
    expect(u.message).toMatch(words);
    expect(u.message).toMatch(/^cannot write the thing /);
    expect(u.message).not.toContain('\n');
    expect(readdirSync(s.dir).sort()).toEqual(before);
    expect(lstatSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('accepts a regular file, a link to one, a new name, and a new name in new folders when they may be made', () => {
    for (const p of [at('file'), at('link-to-file'), at('new.map'), 'relative-new-name.map', at('n'.repeat(255))]) expect(() => checkOutputPath(p, 'x')).not.toThrow();
    expect(() => checkOutputPath(at('missing/deeper/x.log'), 'x', { createFolders: true })).not.toThrow();
    // the nearest folder that exists must still be a folder
    expect(() => checkOutputPath(at('file/deeper/x.log'), 'x', { createFolders: true })).toThrow(/a folder on the way is a file/);
    expect(existsSync(at('missing'))).toBe(false);
    expect(existsSync(at('new.map'))).toBe(false);
  });

  it('names each shape problem, and none for good names', () => {
    expect(pathShapeProblem('a/b.img')).toBeUndefined();
    expect(pathShapeProblem('/')).toBe('a file name cannot end with a slash');
    expect(pathShapeProblem('')).toBe('the path is empty');
  });

  it('knows a file by its identity, not its spelling, and refuses an output that is a job file', () => {
    expect(sameFile(at('file'), at('link-to-file'))).toBe(true);
    expect(sameFile(at('file'), `${s.dir}/./file`)).toBe(true);
    expect(sameFile(at('new-a'), at('new-a'))).toBe(true); // neither exists yet
    expect(sameFile(at('file'), at('folder'))).toBe(false);
    expect(sameFile(at('new-a'), at('new-b'))).toBe(false);
    const others = [{ path: at('file'), role: 'the source of job 1' }];
    expect(() => checkOwnFile(at('link-to-file'), 'the report', others, { code: 'BAD_REPORT' })).toThrow(/the report .*: it is also the source of job 1: give it a file of its own/);
    expect(() => checkOwnFile(at('report.json'), 'the report', others)).not.toThrow();
  });

  describe('readInputFile', () => {
    it('reads a regular file and says undefined for a missing one', () => {
      expect(readInputFile(at('file'), 'map', 100)?.toString()).toBe('hello\n');
      expect(readInputFile(at('link-to-file'), 'map', 6)?.toString()).toBe('hello\n');
      expect(readInputFile(at('nothing-here'), 'map', 100)).toBeUndefined();
    });

    // Each of these would hang (a FIFO with no writer) or never end (/dev/zero) if read.
    it.each([
      ['a FIFO', () => at('fifo'), /FIFO/],
      ['a link to a FIFO', () => at('link-to-fifo'), /FIFO/],
      ['/dev/zero', () => '/dev/zero', /character device/],
      ['/dev/null', () => '/dev/null', /character device/],
      ['a folder', () => at('folder'), /folder/],
      ['a trailing slash', () => `${at('file')}/`, /slash/],
      ['empty', () => '', /empty/],
    ])('refuses %s without reading it', (_, path, words) => {
      expect(() => readInputFile(path(), 'map', 1 << 20, { code: 'BAD_MAP' })).toThrow(words);
      expect(() => readInputFile(path(), 'map', 1 << 20, { code: 'BAD_MAP' })).toThrow(expect.objectContaining({ code: 'BAD_MAP', exitStatus: 2 }));
    });

    it('refuses a file over the bound, reading none of it', () => {
      writeFileSync(at('big'), Buffer.alloc(101));
      expect(() => readInputFile(at('big'), 'map', 100, { tooLarge: 'too large to be a map' })).toThrow(/is 101 bytes, too large to be a map/);
      expect(readInputFile(at('big'), 'map', 101)?.length).toBe(101);
    });
  });

  describe('writeOutputFile', () => {
    it('writes a regular file whole, replacing what was there', () => {
      writeFileSync(at('report.json'), 'an older and longer report\n');
      writeOutputFile(at('report.json'), '{}\n');
      expect(readFileSync(at('report.json'), 'utf8')).toBe('{}\n');
    });
    it('fails at once on a FIFO (no reader) and on a device, writing nothing', () => {
      expect(() => writeOutputFile(at('fifo'), 'x')).toThrow();
      let e: unknown;
      try {
        writeOutputFile('/dev/null', 'x');
      } catch (x) {
        e = x;
      }
      expect(why(e)).toMatch(/character device/);
      expect(statSync(at('fifo')).isFIFO()).toBe(true);
      expect(lstatSync('/dev/null').isCharacterDevice()).toBe(true);
    });
  });
});
