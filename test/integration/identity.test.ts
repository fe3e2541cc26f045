// Every alias of a drive (root, real loop devices): loops over one file, hard links, loops
// stacked on loops, loops over ranges of a file, exclusive claims. Each refusal is checked
// to leave the would-be target byte-identical; each allowed copy is checked byte for byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { failingDrive } from '../helpers/failing-drive.js';
import { pausableDevice } from '../helpers/slow-target.js';
import { attachPartitioned, cli, lastEvent, makeFile, runCli, sha256, sh, useLoopScratch, type Loop } from '../helpers/fixtures.js';
import { inspectDrive } from '../../src/drive.js';
import { engine } from '../../src/native.js';
import { boundLoops, identityOf, sameDrive } from '../../src/identity.js';
import { loopDetacher } from '../../src/loop.js';

const MiB = 1 << 20;

describeRoot('drive identity: no alias escapes the safety checks', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let n = 0;
  const name = (base: string): string => join(fx.dir(), `${n++}-${base}`);

  /** losetup with extra arguments (offsets, a device as backing), detached after the block. */
  function losetup(backing: string, args: string[] = []): Loop {
    const dev = sh('losetup', ['--find', '--show', ...args, backing]);
    return fx.track({ dev, file: backing, detach: loopDetacher(dev) });
  }

  /** Runs the CLI and checks the refusal: status 4, the code, no done, `watch` unchanged. */
  function refused(args: string[], code: string, watch: string): string {
    const before = sha256(watch);
    const r = runCli([...args, '--json']);
    expect(r.status, r.stderr + r.stdout).toBe(4);
    const err = lastEvent(r, 'error');
    expect(err?.code).toBe(code);
    expect(lastEvent(r, 'done')).toBeUndefined();
    expect(sha256(watch)).toBe(before);
    return String(err?.message);
  }

  /** An ext4 file system in a file, mounted through a loop device; returns the unmount. */
  function mountedThroughLoop(file: string, args: string[] = []): { loop: Loop; mnt: string; umount: () => void } {
    const loop = losetup(file, args);
    // no lazy init: a kernel thread writing inode tables later would change the hashes
    sh('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', loop.dev]);
    const mnt = name('mnt');
    mkdirSync(mnt);
    sh('mount', [loop.dev, mnt]);
    return { loop, mnt, umount: () => void spawnSync('umount', [mnt]) };
  }

  describe('a target behind a mounted or held loop (TARGET_MOUNTED)', () => {
    it('refuses clone, rescue and restore onto the backing file of a mounted loop, and onto a hard link of it', () => {
      const src = makeFile(name('src.img'), 8 * MiB);
      const a = makeFile(name('A.img'), 16 * MiB, 'zero');
      const m = mountedThroughLoop(a);
      try {
        const msg = refused(['clone', src, a, '--yes'], 'TARGET_MOUNTED', a);
        // the message names the loop and the mount point, and says what to do
        expect(msg).toContain(m.loop.dev);
        expect(msg).toContain(`umount ${m.mnt}`);
        expect(msg).toContain(`losetup -d ${m.loop.dev}`);
        refused(['rescue', src, a, name('m.map'), '--yes'], 'TARGET_MOUNTED', a);
        refused(['restore', src, a, '--yes'], 'TARGET_MOUNTED', a);
        const hard = name('hard.img');
        sh('ln', [a, hard]);
        refused(['clone', src, hard, '--yes'], 'TARGET_MOUNTED', a);
        // a second loop over the same file: writing it writes the mounted file system too
        const other = losetup(a);
        refused(['clone', src, other.dev, '--yes'], 'TARGET_MOUNTED', a);
        refused(['rescue', src, other.dev, name('m2.map'), '--yes'], 'TARGET_MOUNTED', a);
        refused(['restore', src, other.dev, '--yes'], 'TARGET_MOUNTED', a);
      } finally {
        m.umount();
      }
    });

    it('refuses a target under a loop stacked on a loop that is mounted', () => {
      const src = makeFile(name('src.img'), 4 * MiB);
      const a = makeFile(name('A.img'), 16 * MiB, 'zero');
      const lower = losetup(a);
      const m = mountedThroughLoop(lower.dev);
      try {
        expect(refused(['clone', src, lower.dev, '--yes'], 'TARGET_MOUNTED', a)).toContain(m.loop.dev);
        refused(['clone', src, a, '--yes'], 'TARGET_MOUNTED', a);
      } finally {
        m.umount();
      }
    });

    it('refuses a target whose loop another program holds open exclusively (O_EXCL)', async () => {
      const src = makeFile(name('src.img'), 4 * MiB);
      const a = makeFile(name('A.img'), 8 * MiB);
      const loop = losetup(a);
      const other = losetup(a);
      const holder: ChildProcess = spawn(process.execPath, [
        '-e',
        `const fs = require('fs'); fs.openSync(${JSON.stringify(loop.dev)}, fs.constants.O_RDONLY | fs.constants.O_EXCL); process.stdout.write('held\\n'); setInterval(() => {}, 1000);`,
      ]);
      try {
        await new Promise<void>((resolve, reject) => {
          holder.stdout?.once('data', () => resolve());
          holder.once('exit', (code) => reject(new Error(`the holder exited (${code})`)));
        });
        expect(refused(['clone', src, a, '--yes'], 'TARGET_MOUNTED', a)).toContain(`fuser -v ${loop.dev}`);
        refused(['rescue', src, a, name('x.map'), '--yes'], 'TARGET_MOUNTED', a);
        refused(['restore', src, a, '--yes'], 'TARGET_MOUNTED', a);
        refused(['clone', src, other.dev, '--yes'], 'TARGET_MOUNTED', a);
      } finally {
        holder.kill('SIGKILL');
        await new Promise((resolve) => (holder.exitCode !== null || holder.signalCode !== null ? resolve(undefined) : holder.once('exit', resolve)));
      }
      // released: the same copy is allowed, and exact
      const r = runCli(['clone', src, a, '--yes', '--json']);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(sha256(a, 0, 4 * MiB)).toBe(sha256(src));
    });

    it('refuses it for a user who is not root too (who may not open the loop: sysfs and stat tell)', () => {
      const dir = name('shared');
      mkdirSync(dir, { mode: 0o777 });
      chmodSync(fx.dir(), 0o755);
      chmodSync(dir, 0o777);
      const src = makeFile(join(dir, 'src.img'), 4 * MiB);
      const a = makeFile(join(dir, 'A.img'), 16 * MiB, 'zero');
      chmodSync(src, 0o644);
      chmodSync(a, 0o666);
      const m = mountedThroughLoop(a);
      const asNobody = (): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [cli, 'clone', src, a, '--json'], { encoding: 'utf8', uid: 65534, gid: 65534 });
      try {
        const before = sha256(a);
        const r = asNobody();
        expect(r.status, String(r.stderr)).toBe(4);
        expect(String(r.stdout)).toContain('"code":"TARGET_MOUNTED"');
        expect(sha256(a)).toBe(before);
      } finally {
        m.umount();
      }
      m.loop.detach();
      const r = asNobody();
      expect(r.status, String(r.stderr)).toBe(0);
      expect(sha256(a, 0, 4 * MiB)).toBe(sha256(src));
    });

    it('allows a target beside a mounted loop over bytes of the same file that it does not touch', () => {
      const file = makeFile(name('two.img'), 16 * MiB, 'zero');
      const m = mountedThroughLoop(file, ['--offset', '0', '--sizelimit', String(8 * MiB)]);
      try {
        const upper = losetup(file, ['--offset', String(8 * MiB)]);
        const src = makeFile(name('src.img'), 8 * MiB);
        const low = sha256(file, 0, 8 * MiB);
        const r = runCli(['clone', src, upper.dev, '--yes', '--json']);
        expect(r.status, r.stderr + r.stdout).toBe(0);
        expect(sha256(file, 8 * MiB)).toBe(sha256(src));
        expect(sha256(file, 0, 8 * MiB)).toBe(low);
        // and the loop that overlaps the mounted one is refused
        const overlapping = losetup(file, ['--offset', String(4 * MiB)]);
        refused(['clone', src, overlapping.dev, '--yes', '--length', '1MiB'], 'TARGET_MOUNTED', file);
      } finally {
        m.umount();
      }
    });
  });

  describe('source and target are one drive under two names (SAME_DRIVE)', () => {
    it('refuses two loops over one file, a hard link of the backing file, and a loop stacked on a loop', () => {
      const file = makeFile(name('one.img'), 8 * MiB);
      const a = losetup(file);
      const b = losetup(file);
      refused(['clone', a.dev, b.dev, '--yes'], 'SAME_DRIVE', file);
      refused(['rescue', a.dev, b.dev, name('r.map'), '--yes'], 'SAME_DRIVE', file);
      const hard = name('hard.img');
      sh('ln', [file, hard]);
      refused(['clone', a.dev, hard, '--yes'], 'SAME_DRIVE', file);
      refused(['clone', hard, a.dev, '--yes'], 'SAME_DRIVE', file);
      refused(['restore', hard, b.dev, '--yes'], 'SAME_DRIVE', file);
      const stacked = losetup(a.dev);
      refused(['clone', stacked.dev, a.dev, '--yes'], 'SAME_DRIVE', file);
      refused(['clone', a.dev, stacked.dev, '--yes'], 'SAME_DRIVE', file);
      refused(['clone', stacked.dev, b.dev, '--yes'], 'SAME_DRIVE', file);
      refused(['clone', stacked.dev, hard, '--yes'], 'SAME_DRIVE', file);
      refused(['rescue', stacked.dev, file, name('s.map'), '--yes'], 'SAME_DRIVE', file);
      // a loop over a loop over a file, resolved to the file's inode
      const id = identityOf(inspectDrive(stacked.dev, 'source'));
      expect(id.chain[0]).toBe(stacked.dev);
      expect(id.chain[1]).toBe(a.dev);
      expect(sameDrive(id, identityOf(inspectDrive(hard, 'target')))).toBe(true);
    });

    it('follows the inode, not the name, when the backing file is renamed or deleted', () => {
      const file = makeFile(name('old-name.img'), 4 * MiB);
      const loop = losetup(file);
      const renamed = name('new-name.img');
      sh('mv', [file, renamed]);
      refused(['clone', loop.dev, renamed, '--yes'], 'SAME_DRIVE', renamed);
      const hard = name('survivor.img');
      sh('ln', [renamed, hard]);
      sh('rm', [renamed]);
      expect(sh('cat', [`/sys/block/${loop.dev.replace('/dev/', '')}/loop/backing_file`])).toMatch(/ \(deleted\)$/);
      refused(['clone', loop.dev, hard, '--yes'], 'SAME_DRIVE', hard);
      refused(['clone', hard, loop.dev, '--yes'], 'SAME_DRIVE', hard);
    });

    it('refuses loops over overlapping ranges of one file, and a file against a loop over a range of it', () => {
      const file = makeFile(name('ranges.img'), 8 * MiB);
      const first = losetup(file, ['--offset', '0', '--sizelimit', String(4 * MiB)]);
      const middle = losetup(file, ['--offset', String(3 * MiB), '--sizelimit', String(2 * MiB)]);
      refused(['clone', first.dev, middle.dev, '--yes'], 'SAME_DRIVE', file);
      refused(['clone', middle.dev, first.dev, '--yes'], 'SAME_DRIVE', file);
      refused(['clone', middle.dev, file, '--yes'], 'SAME_DRIVE', file);
      refused(['clone', file, middle.dev, '--yes', '--length', '1MiB'], 'SAME_DRIVE', file);
      // offsets compose through stacked loops: 1 MiB into `middle` (3..5 MiB) is 4..5 MiB
      const inner = losetup(middle.dev, ['--offset', String(MiB)]);
      expect(identityOf(inspectDrive(inner.dev, 'source'))).toMatchObject({ start: 4 * MiB, end: 5 * MiB });
      refused(['clone', inner.dev, middle.dev, '--yes'], 'SAME_DRIVE', file);
    });

    it('resolves a loop over a partition of a loop to its bytes of the file', () => {
      const file = makeFile(name('disk.img'), 8 * MiB);
      const sf = spawnSync('sfdisk', ['-q', file], { input: 'label: dos\nstart=2048, size=4096, type=83\nstart=8192, type=83\n' });
      expect(sf.status, String(sf.stderr)).toBe(0);
      const disk = attachPartitioned(file);
      fx.track(disk);
      expect(disk.partitions).toEqual([`${disk.dev}p1`, `${disk.dev}p2`]);
      const overP2 = losetup(`${disk.dev}p2`);
      const id = identityOf(inspectDrive(overP2.dev, 'source'));
      expect(id).toMatchObject({ start: 4 * MiB, end: 8 * MiB });
      expect(id.chain).toEqual([overP2.dev, `${disk.dev}p2`, disk.dev, expect.stringContaining(file)]);
      refused(['clone', overP2.dev, disk.dev, '--yes'], 'SAME_DRIVE', file);
      refused(['clone', overP2.dev, `${disk.dev}p2`, '--yes'], 'SAME_DRIVE', file);
      refused(['clone', overP2.dev, file, '--yes'], 'SAME_DRIVE', file);
      // p1 (1..3 MiB) shares no byte with it
      const r = runCli(['clone', overP2.dev, `${disk.dev}p1`, '--yes', '--json', '--length', '1MiB']);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(sha256(file, MiB, MiB)).toBe(sha256(file, 4 * MiB, MiB));
    });

    it('allows loops over ranges of one file that do not overlap, and copies exactly', () => {
      const file = makeFile(name('parts.img'), 8 * MiB);
      // two "partitions" mapped by offset loops: 1..3 MiB and 4..6 MiB (and one after)
      const p1 = losetup(file, ['--offset', String(MiB), '--sizelimit', String(2 * MiB)]);
      const p2 = losetup(file, ['--offset', String(4 * MiB), '--sizelimit', String(2 * MiB)]);
      const tail = losetup(file, ['--offset', String(6 * MiB)]);
      const outside = [sha256(file, 0, MiB), sha256(file, 3 * MiB, MiB), sha256(file, 6 * MiB)];
      expect(sameDrive(identityOf(inspectDrive(p1.dev, 'source')), identityOf(inspectDrive(p2.dev, 'target')))).toBe(false);
      const r = runCli(['clone', p1.dev, p2.dev, '--yes', '--json']);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(sha256(file, 4 * MiB, 2 * MiB)).toBe(sha256(file, MiB, 2 * MiB));
      expect([sha256(file, 0, MiB), sha256(file, 3 * MiB, MiB), sha256(file, 6 * MiB)]).toEqual(outside);
      // adjacent windows share no byte either: p2 ends where tail begins
      const r2 = runCli(['clone', tail.dev, p2.dev, '--yes', '--json']);
      expect(r2.status, r2.stderr + r2.stdout).toBe(0);
      expect(sha256(file, 4 * MiB, 2 * MiB)).toBe(sha256(file, 6 * MiB));
    });

    it('lists every bound loop with what it is a view of', () => {
      const file = makeFile(name('listed.img'), 4 * MiB);
      const a = losetup(file, ['--offset', String(MiB)]);
      const st = inspectDrive(file, 'target');
      const found = boundLoops().find((l) => l.node === a.dev || `/dev/${l.name}` === a.dev);
      expect(found?.identity).toMatchObject({ base: `file ${st.dev.major}:${st.dev.minor} ${st.ino}`, start: MiB, end: Infinity });
    });
  });

  describe('a loop whose backing file cannot be read any more', () => {
    it('is taken as any file of its file system, and refuses nothing elsewhere', () => {
      // a loop over a file on FUSE whose daemon is gone: LOOP_GET_STATUS64 and stat fail
      const dir = name('fuse');
      mkdirSync(dir);
      const drive = failingDrive({ dir, size: 2 * MiB, bad: [] });
      try {
        drive.pull();
        // FUSE answers from its attribute cache for a second; then every getattr fails
        const deadline = Date.now() + 10_000;
        let code = '';
        while (code !== 'ENOTCONN' && Date.now() < deadline) {
          try {
            engine.loopStatus(drive.dev);
            spawnSync('sleep', ['0.2']);
          } catch (e) {
            code = String((e as { code?: string }).code);
          }
        }
        expect(code).toBe('ENOTCONN');
        const dead = boundLoops().find((l) => `/dev/${l.name}` === drive.dev);
        expect(dead?.identity.base).toMatch(/^file \d+:\d+ \?$/);
        const src = makeFile(name('src.img'), MiB);
        const dst = makeFile(name('dst.img'), MiB, 'zero');
        const r = runCli(['clone', src, dst, '--json']);
        expect(r.status, r.stderr + r.stdout).toBe(0);
        expect(sha256(dst)).toBe(sha256(src));
      } finally {
        drive.down();
      }
    });
  });

  describe('backup compares drives the same way (SAME_DRIVE)', () => {
    it('refuses an image onto the source under another name, or into a file system that lives in the source', () => {
      const file = makeFile(name('fs.img'), 16 * MiB, 'zero');
      const loop = losetup(file);
      // --force would replace an existing image; never the source itself
      const inode = sh('stat', ['-c', '%i', file]);
      refused(['backup', loop.dev, file, '--force'], 'SAME_DRIVE', file);
      expect(sh('stat', ['-c', '%i', file])).toBe(inode);
      const m = mountedThroughLoop(file);
      try {
        refused(['backup', file, join(m.mnt, 'inside.img')], 'SAME_DRIVE', file);
        refused(['backup', loop.dev, join(m.mnt, 'inside.img')], 'SAME_DRIVE', file);
      } finally {
        m.umount();
      }
    });
  });

  it('a loop over a stalled FUSE file (nbdkit paused mid-read) does not hang a run that names other drives', async () => {
    const dir = name('stalled');
    const drive = pausableDevice(dir, 4 * MiB);
    let readerExit: Promise<unknown> = Promise.resolve();
    try {
      await drive.pause();
      // a read started now is stuck in the daemon: asking it for the backing file's
      // attributes (stat, LOOP_GET_STATUS64) would wait for as long as it stays paused
      const reader = spawn('dd', [`if=${drive.dev}`, 'of=/dev/null', 'bs=4096', 'count=1', 'skip=512', 'iflag=direct'], { stdio: 'ignore' });
      readerExit = new Promise((r) => reader.once('exit', r));
      await new Promise((r) => setTimeout(r, 300));
      expect(reader.exitCode, 'the paused device answered a read: nothing is stalled').toBeNull();
      const a = makeFile(name('fuse-a.img'), 1 * MiB);
      const b = name('fuse-b.img');
      const r = spawnSync(process.execPath, [cli, 'clone', a, b, '--json'], { encoding: 'utf8', timeout: 60_000 });
      expect(r.signal, 'clonestation hung while a FUSE-backed loop was stalled').toBeNull();
      expect(r.status, r.stderr).toBe(0);
      expect(sha256(b)).toBe(sha256(a));
    } finally {
      await drive.resume();
      await readerExit;
      drive.down();
    }
  });

  describe('the station compares drives the same way (STATION_CONFLICT)', () => {
    it('refuses two jobs writing two loops over one file, and allows two jobs on separate ranges of it', () => {
      const file = makeFile(name('st.img'), 8 * MiB);
      const s1 = makeFile(name('s1.img'), 4 * MiB);
      const s2 = makeFile(name('s2.img'), 4 * MiB);
      const whole1 = losetup(file);
      const whole2 = losetup(file);
      refused(['clone', '--pair', `${s1}:${whole1.dev}`, '--pair', `${s2}:${whole2.dev}`, '--yes', '--no-log'], 'STATION_CONFLICT', file);
      refused(['clone', '--pair', `${s1}:${whole1.dev}`, '--pair', `${whole2.dev}:${name('out.img')}`, '--yes', '--no-log'], 'STATION_CONFLICT', file);
      whole2.detach();
      whole1.detach();
      const low = losetup(file, ['--sizelimit', String(4 * MiB)]);
      const high = losetup(file, ['--offset', String(4 * MiB)]);
      const r = runCli(['clone', '--pair', `${s1}:${low.dev}`, '--pair', `${s2}:${high.dev}`, '--yes', '--json', '--no-log']);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(sha256(file, 0, 4 * MiB)).toBe(sha256(s1));
      expect(sha256(file, 4 * MiB)).toBe(sha256(s2));
    });
  });
});
