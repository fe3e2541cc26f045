// Loops are detached by what they map, not by their number: a late or second detach must not
// pull the drive that now has that number from under another test (or another job).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRoot } from '../helpers/root.js';
import { makeFile, sh, useLoopScratch } from '../helpers/fixtures.js';
import { detachLoopIfSame, loopDetacher, loopIdentity } from '../../src/loop.js';

const MiB = 1 << 20;

describeRoot('loop devices are detached by identity', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  const attached = (dev: string): boolean => loopIdentity(dev) !== undefined;

  it('a second detach, after the number went to another file, leaves that other loop attached', () => {
    const a = makeFile(join(fx.dir(), 'a.img'), MiB);
    const b = makeFile(join(fx.dir(), 'b.img'), MiB);
    const devA = sh('losetup', ['--find', '--show', a]);
    const detachA = loopDetacher(devA);
    expect(attached(devA)).toBe(true);
    // detached behind the detacher's back, then the same number reused for another file
    sh('losetup', ['-d', devA]);
    const devB = sh('losetup', [devA, b]) || devA;
    try {
      expect(attached(devB)).toBe(true);
      detachA();
      detachA();
      expect(attached(devA)).toBe(true);
      expect(spawnSync('losetup', ['-n', '-O', 'BACK-FILE', devA], { encoding: 'utf8' }).stdout.trim()).toBe(b);
    } finally {
      spawnSync('losetup', ['-d', devA]);
    }
  });

  it('the same file at another offset is another loop; the same one is detached once', () => {
    const f = makeFile(join(fx.dir(), 'c.img'), 4 * MiB);
    const dev = sh('losetup', ['--find', '--show', f]);
    const id = loopIdentity(dev);
    sh('losetup', ['-d', dev]);
    sh('losetup', ['--offset', String(MiB), dev, f]);
    try {
      expect(loopIdentity(dev)).not.toBe(id);
      expect(detachLoopIfSame(dev, id)).toBe(false);
      expect(attached(dev)).toBe(true);
      expect(detachLoopIfSame(dev, loopIdentity(dev))).toBe(true);
      expect(attached(dev)).toBe(false);
      expect(detachLoopIfSame(dev, id)).toBe(false);
    } finally {
      spawnSync('losetup', ['-d', dev]);
    }
  });
});
