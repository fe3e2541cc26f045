// restore asks before overwriting a drive, on a real terminal (tmux), like clone.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { attachLoop, cli, makeFile, scratch, sha256, type Loop } from '../helpers/fixtures.js';
import { hasTmux, TmuxSession } from '../helpers/tmux.js';
import { makeImage } from '../helpers/images.js';
import { mixedImage, sha256 as sha256Of } from '../helpers/zip.js';

describeRoot('restore asks before overwriting a block device (tmux)', () => {
  let s: ReturnType<typeof scratch>;
  const loops: Loop[] = [];
  const sessions: TmuxSession[] = [];
  const data = mixedImage(6 << 20, 5);
  let image = '';
  beforeAll(async () => {
    if (!hasTmux) throw new Error('tmux is not installed: run scripts/system-deps.sh as root');
    s = scratch();
    image = (await makeImage(s.dir, 'img', 'zip', data)).name;
  });
  afterAll(() => {
    for (const t of sessions) t.kill();
    for (const l of loops) l.detach();
    s.cleanup();
  });

  const setup = (name: string, ui = '--no-ui'): { dst: Loop; run: TmuxSession } => {
    const dst = attachLoop(makeFile(join(s.dir, `${name}-dst.img`), 8 << 20));
    loops.push(dst);
    const run = new TmuxSession(`${process.execPath} ${cli} restore ${image} ${dst.dev} ${ui}; echo EXIT=$?; sleep 60`);
    sessions.push(run);
    return { dst, run };
  };

  it('"no" leaves the drive untouched (exit 4)', async () => {
    const { dst, run } = setup('no');
    const before = sha256(dst.file);
    const screen = await run.waitFor(/Type 'yes' to overwrite/);
    expect(screen).toContain(`About to overwrite ${dst.dev}`);
    expect(screen).toMatch(/with 6291456 bytes of image .*img\.zip \(a backup of \/dev\/test, 20\d\d-/);
    run.keys('no', 'Enter');
    const end = await run.waitFor(/EXIT=\d+/);
    expect(end).toContain('EXIT=4');
    expect(end).toContain('[DECLINED]');
    expect(sha256(dst.file)).toBe(before);
  });

  it('"yes" restores, with progress on the terminal', async () => {
    const { dst, run } = setup('yes');
    await run.waitFor(/Type 'yes' to overwrite/);
    run.keys('yes', 'Enter');
    const end = await run.waitFor(/EXIT=\d+/);
    expect(end).toContain('EXIT=0');
    expect(end).toMatch(/copy\s+100\.0%/);
    expect(end).toMatch(/restored 6\.00 MiB .*sha256 matches the manifest/);
    expect(sha256(dst.file, 0, 6 << 20)).toBe(sha256Of(data));
  });

  it('with --ui the question comes first, then the dashboard, then the summary', async () => {
    const { dst, run } = setup('ui', '--ui');
    await run.waitFor(/Type 'yes' to overwrite/);
    run.keys('yes', 'Enter');
    const dash = await run.waitFor(/every job has ended: q leaves/, 60_000);
    expect(dash).toMatch(/clonestation restore/);
    expect(dash).toMatch(/│\s+1 resto\S*\s+\S*img\.zip → \/dev\/loop/);
    run.keys('q');
    const end = await run.waitFor(/EXIT=\d+/);
    expect(end).toContain('EXIT=0');
    expect(end).toMatch(/restored 6\.00 MiB .*sha256 matches the manifest/);
    expect(sha256(dst.file, 0, 6 << 20)).toBe(sha256Of(data));
  });
});
