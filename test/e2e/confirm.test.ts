// The question before overwriting a drive, asked on a real terminal (tmux).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { attachLoop, cli, makeFile, scratch, sha256, type Loop } from '../helpers/fixtures.js';
import { hasTmux, TmuxSession } from '../helpers/tmux.js';

describeRoot('clone asks before overwriting a block device (tmux)', () => {
  let s: ReturnType<typeof scratch>;
  const loops: Loop[] = [];
  const sessions: TmuxSession[] = [];
  beforeAll(() => {
    if (!hasTmux) throw new Error('tmux is not installed: run scripts/system-deps.sh as root');
    s = scratch();
  });
  afterAll(() => {
    for (const t of sessions) t.kill();
    for (const l of loops) l.detach();
    s.cleanup();
  });

  const setup = (name: string): { src: Loop; dst: Loop; run: TmuxSession } => {
    const src = attachLoop(makeFile(join(s.dir, `${name}-src.img`), 8 << 20));
    const dst = attachLoop(makeFile(join(s.dir, `${name}-dst.img`), 8 << 20));
    loops.push(src, dst);
    const run = new TmuxSession(`${process.execPath} ${cli} clone ${src.dev} ${dst.dev} --no-ui; echo EXIT=$?; sleep 60`);
    sessions.push(run);
    return { src, dst, run };
  };

  it('shows what will be overwritten, and "no" leaves the drive untouched (exit 4)', async () => {
    const { dst, run } = setup('no');
    const before = sha256(dst.file);
    const screen = await run.waitFor(/Type 'yes' to overwrite/);
    expect(screen).toContain(`About to overwrite ${dst.dev}`);
    // the size in the same unit as everything else (formatBytes), not decimal GB
    expect(screen).toMatch(/\(8\.00 MiB\)/);
    expect(screen).not.toMatch(/\bGB\b/);
    expect(screen).toContain('no partitions');
    run.keys('no', 'Enter');
    const end = await run.waitFor(/EXIT=\d+/);
    expect(end).toContain('EXIT=4');
    expect(end).toContain('[DECLINED]');
    expect(sha256(dst.file)).toBe(before);
  });

  it('"yes" clones, with progress on the terminal', async () => {
    const { src, dst, run } = setup('yes');
    await run.waitFor(/Type 'yes' to overwrite/);
    run.keys('yes', 'Enter');
    const end = await run.waitFor(/EXIT=\d+/);
    expect(end).toContain('EXIT=0');
    expect(end).toMatch(/copy\s+100\.0%/);
    expect(end).toMatch(/cloned 8\.00 MiB/);
    expect(sha256(dst.file)).toBe(sha256(src.file));
  });

  it('Ctrl-C at the question is a "no"', async () => {
    const { dst, run } = setup('ctrlc');
    const before = sha256(dst.file);
    await run.waitFor(/Type 'yes' to overwrite/);
    run.keys('C-c');
    const end = await run.waitFor(/EXIT=\d+/);
    expect(end).toContain('EXIT=4');
    expect(sha256(dst.file)).toBe(before);
  });
});
