// Claims on files and rescue maps (flock through the native lockFile): a second claimer is
// refused with IN_USE, release lets the next one in, a stale lock file is no obstacle.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Claims, isClaimed, mapLockPath } from '../../src/claim.js';
import { scratch } from '../helpers/fixtures.js';

describe('claims on files and maps', () => {
  let s: ReturnType<typeof scratch>;
  beforeAll(() => {
    s = scratch('cs-claim-');
  });
  afterAll(() => s.cleanup());

  const code = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (e) {
      return (e as { code?: string }).code;
    }
    return undefined;
  };

  it('a file claimed once cannot be claimed again until it is released', () => {
    const file = join(s.dir, 'a.img');
    writeFileSync(file, 'x');
    const first = new Claims().target(file);
    expect(code(() => new Claims().target(file))).toBe('IN_USE');
    // a file is not a device: engine jobs keep their own flags for it
    expect(isClaimed(file)).toBe(false);
    first.release();
    first.release(); // twice is harmless
    new Claims().target(file).release();
  });

  it('creates a missing file only when asked, and refuses what is neither a file nor a device', () => {
    const missing = join(s.dir, 'new.img');
    expect(code(() => new Claims().target(missing))).toBe('NOT_FOUND');
    expect(existsSync(missing)).toBe(false);
    const c = new Claims().target(missing, { create: true });
    expect(existsSync(missing)).toBe(true);
    c.release();
    const dir = join(s.dir, 'folder');
    mkdirSync(dir);
    expect(code(() => new Claims().target(dir))).toBe('BAD_TARGET');
  });

  it('targets(): a refusal releases the ones already claimed', () => {
    const [a, b] = ['t1.img', 't2.img'].map((n) => join(s.dir, n));
    for (const p of [a, b]) writeFileSync(p, 'x');
    const holder = new Claims().target(b);
    expect(code(() => new Claims().targets([a, b]))).toBe('IN_USE');
    // a was let go again
    new Claims().target(a).release();
    holder.release();
  });

  it('a map is locked through MAP.lock, which names our pid and goes at release', () => {
    const map = join(s.dir, 'r.map');
    const lock = mapLockPath(map);
    expect(lock).toBe(`${map}.lock`);
    {
      using first = new Claims();
      first.map(map);
      expect(readFileSync(lock, 'utf8').trim()).toBe(String(process.pid));
      let message = '';
      try {
        new Claims().map(map);
      } catch (e) {
        message = (e as Error).message;
        expect((e as { code?: string }).code).toBe('IN_USE');
      }
      expect(message).toContain(`pid ${process.pid}`);
    }
    // `using` released it: the lock file is gone and the next run gets in
    expect(existsSync(lock)).toBe(false);
    // a lock file left by a killed run (nobody holds its lock) is no obstacle
    writeFileSync(lock, '999999\n');
    const again = new Claims().map(map);
    again.release();
    expect(existsSync(lock)).toBe(false);
  });
});
