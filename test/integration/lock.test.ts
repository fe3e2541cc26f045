// Two runs on one map or one file at once (root: the first run's source is a drive that can
// be made to stall): the second is refused at once (IN_USE, exit 4) and writes nothing; the
// first is unaffected; a run killed with -9 leaves no lock behind. A clone to a new file that
// is interrupted leaves TARGET.partial, never a TARGET that looks complete.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { cli, makeFile, runCli, scratch, sha256 } from '../helpers/fixtures.js';
import { spawnSync } from 'node:child_process';
import { pausableDevice, type PausableDevice } from '../helpers/slow-target.js';
import { startCli, type RunningCli } from '../helpers/running-cli.js';
import { parseMap } from '../../src/rescue/mapfile.js';

const MiB = 1 << 20;
const size = 16 * MiB;

/** A refusal as the user sees it: exit 4, one line, the code. */
function expectRefused(r: { status: number | null; stderr: string }, code: string): void {
  expect(r.status, r.stderr).toBe(4);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(`[${code}]`);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describeRoot('one run at a time on a map or a file', () => {
  let s: ReturnType<typeof scratch>;
  let srcFile: string;
  let other: string;
  let drive: PausableDevice;
  beforeAll(() => {
    s = scratch('cs-lock-');
    srcFile = makeFile(join(s.dir, 'src.img'), size);
    // what a refused run would write if it wrote anything
    other = join(s.dir, 'other.img');
    writeFileSync(other, Buffer.alloc(size, 0xab));
    drive = pausableDevice(join(s.dir, 'drive'), size, { file: srcFile });
  });
  afterAll(async () => {
    await drive?.resume().catch(() => undefined);
    drive?.down();
    s.cleanup();
  });

  /** Starts `args` with the source stalled, once it holds its locks (its `ready` line printed). */
  async function stalled(args: string[], ready: RegExp): Promise<RunningCli> {
    await drive.pause();
    const run = startCli(args);
    try {
      await run.waitFor(ready);
    } catch (e) {
      await drive.resume();
      throw e;
    }
    return run;
  }

  const finished = (map: string): boolean => parseMap(readFileSync(map, 'utf8'), { path: map }).blocks.every((b) => b.status === '+');

  it('two rescues on one map: the second is IN_USE at once and writes nothing; the first finishes', async () => {
    const map = join(s.dir, 'a.map');
    const dst = join(s.dir, 'a.img');
    const first = await stalled(['rescue', drive.dev, dst, map, '--json'], /rescuing /);
    const mapBefore = readFileSync(map, 'utf8');
    const second = runCli(['rescue', other, join(s.dir, 'a-second.img'), map]);
    expectRefused(second, 'IN_USE');
    expect(second.stderr).toContain(`pid ${first.child.pid}`);
    expect(existsSync(join(s.dir, 'a-second.img'))).toBe(false);
    expect(readFileSync(map, 'utf8')).toBe(mapBefore);
    await drive.resume();
    expect((await first.ended).status, first.stderr()).toBe(0);
    expect(sha256(dst)).toBe(sha256(srcFile));
    expect(finished(map)).toBe(true);
    // the lock went with the run
    expect(existsSync(`${map}.lock`)).toBe(false);
  });

  it('two clones to one existing file: the second is IN_USE and writes nothing', async () => {
    const dst = makeFile(join(s.dir, 'b.img'), size, 'zero');
    const first = await stalled(['clone', drive.dev, dst, '--json'], /"cloning /);
    const second = runCli(['clone', other, dst]);
    expectRefused(second, 'IN_USE');
    await drive.resume();
    expect((await first.ended).status, first.stderr()).toBe(0);
    expect(sha256(dst)).toBe(sha256(srcFile));
  });

  it('two clones to one new file: the second is IN_USE; the name appears only when the first is complete', async () => {
    const dst = join(s.dir, 'c.img');
    const first = await stalled(['clone', drive.dev, dst, '--json', '--verify'], /"cloning /);
    expect(existsSync(`${dst}.partial`)).toBe(true);
    const second = runCli(['clone', other, dst]);
    expectRefused(second, 'IN_USE');
    expect(existsSync(dst)).toBe(false);
    await drive.resume();
    expect((await first.ended).status, first.stderr()).toBe(0);
    expect(sha256(dst)).toBe(sha256(srcFile));
    expect(existsSync(`${dst}.partial`)).toBe(false);
  });

  it('a rescue killed with -9 leaves no lock in the way: the rerun on the same map finishes', async () => {
    const map = join(s.dir, 'd.map');
    const dst = join(s.dir, 'd.img');
    const first = await stalled(['rescue', drive.dev, dst, map, '--json'], /rescuing /);
    first.child.kill('SIGKILL');
    await drive.resume();
    expect((await first.ended).signal).toBe('SIGKILL');
    // the lock file stays behind; its lock died with the process
    expect(existsSync(`${map}.lock`)).toBe(true);
    const again = runCli(['rescue', drive.dev, dst, map]);
    expect(again.status, again.stderr).toBe(0);
    expect(sha256(dst)).toBe(sha256(srcFile));
    expect(finished(map)).toBe(true);
    expect(existsSync(`${map}.lock`)).toBe(false);
  });

  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    it(`a clone to a new file stopped by ${signal} leaves only TARGET.partial; the rerun completes it`, async () => {
      const dst = join(s.dir, `e-${signal}.img`);
      const first = await stalled(['clone', drive.dev, dst, '--json'], /"cloning /);
      first.child.kill(signal);
      await drive.resume();
      const end = await first.ended;
      if (signal === 'SIGINT') {
        expect(end.status).toBe(130);
        // the reason says where the incomplete copy is, and that the name was not created
        expect(first.stdout() + first.stderr()).toContain(`${dst}.partial`);
        expect(first.stdout() + first.stderr()).toContain('was not created');
      } else {
        expect(end.signal).toBe('SIGKILL');
      }
      expect(existsSync(dst)).toBe(false);
      expect(existsSync(`${dst}.partial`)).toBe(true);
      const again = runCli(['clone', drive.dev, dst]);
      expect(again.status, again.stderr).toBe(0);
      expect(sha256(dst)).toBe(sha256(srcFile));
      expect(existsSync(`${dst}.partial`)).toBe(false);
    });
  }

  it('a station (one master to two new files) stopped by SIGINT leaves only the .partial files; the rerun completes them', async () => {
    const dsts = [join(s.dir, 'st-a.img'), join(s.dir, 'st-b.img')];
    const first = await stalled(['clone', drive.dev, ...dsts, '--json', '--no-ui'], /"station: 1 job/);
    // the station makes its .partial files before the job starts (then it stalls on the source)
    for (const until = Date.now() + 30_000; !dsts.every((d) => existsSync(`${d}.partial`)) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    first.child.kill('SIGINT');
    await drive.resume();
    const end = await first.ended;
    expect(end.status, first.stderr()).toBe(130);
    for (const d of dsts) {
      expect(existsSync(d), d).toBe(false);
      expect(existsSync(`${d}.partial`)).toBe(true);
    }
    const again = runCli(['clone', drive.dev, ...dsts, '--no-ui']);
    expect(again.status, again.stderr).toBe(0);
    for (const d of dsts) {
      expect(sha256(d)).toBe(sha256(srcFile));
      expect(existsSync(`${d}.partial`)).toBe(false);
    }
  });

  it('a restore onto a file another run holds is IN_USE and writes nothing (flock(1) takes the same lock)', () => {
    const img = join(s.dir, 'r.img');
    const b = runCli(['backup', srcFile, img]);
    expect(b.status, b.stderr).toBe(0);
    const dst = makeFile(join(s.dir, 'r-dst.img'), size, 'zero');
    const before = sha256(dst);
    for (const args of [
      ['restore', img, dst],
      ['clone', srcFile, dst],
    ]) {
      const r = spawnSync('flock', ['-n', dst, process.execPath, cli, ...args], { encoding: 'utf8' });
      expectRefused({ status: r.status, stderr: r.stderr }, 'IN_USE');
      expect(sha256(dst)).toBe(before);
    }
    const free = runCli(['restore', img, dst]);
    expect(free.status, free.stderr).toBe(0);
    expect(sha256(dst)).toBe(sha256(srcFile));
  });

  it("a map's lock file that is a symlink (to a victim) is refused and the victim is left alone", () => {
    const victim = makeFile(join(s.dir, 'lock-victim'), 4096);
    const before = sha256(victim);
    const map = join(s.dir, 'k.map');
    symlinkSync(victim, `${map}.lock`);
    const r = runCli(['rescue', srcFile, join(s.dir, 'k.img'), map]);
    expectRefused(r, 'LOCK_FILE_NOT_OURS');
    expect(sha256(victim)).toBe(before);
    expect(existsSync(map)).toBe(false);
    expect(existsSync(join(s.dir, 'k.img'))).toBe(false);
  });

  it('a TARGET.partial that is not an unfinished copy (a symlink, a hard link) is refused and left alone', () => {
    const victim = makeFile(join(s.dir, 'victim.img'), MiB);
    const before = sha256(victim);
    symlinkSync(victim, join(s.dir, 'g.img.partial'));
    linkSync(victim, join(s.dir, 'h.img.partial'));
    for (const name of ['g.img', 'h.img']) {
      const r = runCli(['clone', srcFile, join(s.dir, name)]);
      expectRefused(r, 'OUTPUT_EXISTS');
      expect(existsSync(join(s.dir, name))).toBe(false);
    }
    expect(sha256(victim)).toBe(before);
  });

  it('a clone killed with -9 while writing an existing file leaves no lock: the rerun works', async () => {
    const dst = makeFile(join(s.dir, 'f.img'), size, 'zero');
    const first = await stalled(['clone', drive.dev, dst, '--json'], /"cloning /);
    first.child.kill('SIGKILL');
    await drive.resume();
    await first.ended;
    const again = runCli(['clone', drive.dev, dst]);
    expect(again.status, again.stderr).toBe(0);
    expect(sha256(dst)).toBe(sha256(srcFile));
  });
});
