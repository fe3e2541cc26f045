// The CLI's contract for bad input: one line, a code, a documented exit status. No root.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { lastEvent, makeFile, runCli, scratch } from '../helpers/fixtures.js';

describe('cli', () => {
  it('prints usage with --help and exit 0; with no command, exit 2', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('clonestation clone SOURCE TARGET');
    expect(r.stdout).toContain('Exit status');
    expect(runCli([]).status).toBe(2);
  });
  it('prints its version', () => {
    expect(runCli(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
  it.each([
    [['frobnicate'], 'USAGE'],
    [['clone'], 'USAGE'],
    [['clone', 'a'], 'USAGE'],
    [['clone', 'a', 'b', 'c'], 'NOT_FOUND'],
    [['clone', 'a', 'b', '--depth'], 'USAGE'],
    [['clone', 'a', 'b', '--nope'], 'USAGE'],
    [['clone', '/definitely/missing', '/tmp/x'], 'NOT_FOUND'],
  ])('%j is bad input: one line, exit 2', (args, code) => {
    const r = runCli(args);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^clonestation: .+ \\[${code}\\]\\n$`));
  });
  it('reports errors as JSON with --json', () => {
    const r = runCli(['clone', '/definitely/missing', '/tmp/x', '--json']);
    expect(r.status).toBe(2);
    expect(lastEvent(r, 'error')).toMatchObject({ code: 'NOT_FOUND', exitStatus: 2 });
  });
  it('clones one file to a new file, no root needed', () => {
    const s = scratch();
    try {
      const src = makeFile(join(s.dir, 'a.img'), (3 << 20) + 17);
      const r = runCli(['clone', src, join(s.dir, 'b.img'), '--json', '--verify']);
      expect(r.status, r.stderr).toBe(0);
      expect(lastEvent(r, 'done')).toMatchObject({ bytes: (3 << 20) + 17, verified: true });
    } finally {
      s.cleanup();
    }
  });
  it('refuses to create a file where a device name was mistyped', () => {
    const r = runCli(['clone', '/proc/self/exe', '/dev/sdzz9', '--json']);
    expect(r.status).toBe(2);
    expect(lastEvent(r, 'error')?.code).toBe('NOT_FOUND');
  });
  it('runs the demo station on generated images (16 MiB: the 4 MiB failing image holds one of its bad areas)', () => {
    const r = runCli(['demo', '--size', '16MiB', '--json']);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const done = lastEvent(r, 'done');
    expect(String(done?.message)).toMatch(/station of 3 jobs .* every target verified; rescue of a failing image: .* in 1 bad area\(s\) mapped/);
    // the station part reported every target good
    const station = r.events.find((e) => e.event === 'done' && typeof e.summary === 'object') as { summary: { targetsDone: number; targetsFailed: number } } | undefined;
    expect(station?.summary).toMatchObject({ targetsDone: 5, targetsFailed: 0 });
  });
});
