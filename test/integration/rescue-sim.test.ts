// rescue on image files with the engine's simulated-error mode (like ddrescue's -H): the
// policy (passes, skipping, trimming, scraping, resume, map format) without a real failing
// drive. The real failing drive is in rescue-drive.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cli, lastEvent, makeFile, runCli, scratch, sha256 } from '../helpers/fixtures.js';
import { badAreasMap, parseMap } from '../../src/rescue/mapfile.js';
import { Mapbook } from '../../src/rescue/mapbook.js';

const MiB = 1 << 20;


function blocksOf(mapPath: string, status: string): { pos: number; size: number }[] {
  return parseMap(readFileSync(mapPath, 'utf8'), { path: mapPath })
    .blocks.filter((b) => b.status === status)
    .map(({ pos, size }) => ({ pos, size }));
}

/** Asserts the target equals the source everywhere the map says finished. */
function expectGoodDataCopied(src: string, dst: string, mapPath: string): void {
  const a = readFileSync(src);
  const b = readFileSync(dst);
  for (const blk of blocksOf(mapPath, '+')) expect(b.subarray(blk.pos, blk.pos + blk.size).equals(a.subarray(blk.pos, blk.pos + blk.size))).toBe(true);
}

// Scattered single sectors, a run of sectors, and whole 64 KiB clusters.
const injected = [
  { offset: 1 * MiB, length: 512 },
  { offset: 1 * MiB + 4096, length: 512 },
  { offset: 3 * MiB + 512 * 7, length: 512 * 5 },
  { offset: 5 * MiB, length: 64 * 1024 },
  { offset: 9 * MiB - 64 * 1024, length: 128 * 1024 },
  { offset: 15 * MiB + 512 * 100, length: 512 },
];

describe('rescue with simulated errors', () => {
  let s: ReturnType<typeof scratch>;
  let src: string;
  let bad: string;
  const size = 16 * MiB;
  beforeAll(() => {
    s = scratch('cs-rescue-');
    src = makeFile(join(s.dir, 'src.img'), size);
    bad = join(s.dir, 'bad.map');
    writeFileSync(bad, badAreasMap(size, injected));
  });
  afterAll(() => s.cleanup());

  for (const [name, extra] of [
    ['forward', [] as string[]],
    ['reverse', ['--reverse']],
    ['threads backend', ['--backend', 'threads']],
    ['4 KiB clusters, depth 2', ['--cluster', '4KiB', '--depth', '2']],
  ] as const) {
    it(`marks exactly the injected bad sectors and copies everything else (${name})`, () => {
      const dst = join(s.dir, `dst-${name}.img`);
      const map = join(s.dir, `run-${name}.map`);
      const r = runCli(['rescue', src, dst, map, '--simulate-errors', bad, '--json', ...extra]);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(blocksOf(map, '-')).toEqual(injected.map((b) => ({ pos: b.offset, size: b.length })));
      for (const st of ['?', '*', '/']) expect(blocksOf(map, st)).toEqual([]);
      expectGoodDataCopied(src, dst, map);
      const done = lastEvent(r, 'done');
      expect(done?.badBytes).toBe(injected.reduce((t, b) => t + b.length, 0));
      expect(done?.badAreas).toBe(injected.length); // the two sectors 4 KiB apart are separate areas
      expect(done?.finished).toBe(true);
      // no journal left behind after a clean finish
      expect(readdirSync(s.dir).filter((f) => f.startsWith(`run-${name}.map.journal`))).toEqual([]);
    });
  }

  it('resumes: a second run reads nothing finished again and changes nothing', () => {
    const dst = join(s.dir, 'resume.img');
    const map = join(s.dir, 'resume.map');
    expect(runCli(['rescue', src, dst, map, '--simulate-errors', bad]).status).toBe(0);
    const before = readFileSync(map, 'utf8').split('\n').filter((l) => !l.startsWith('#'));
    const r = runCli(['rescue', src, dst, map, '--simulate-errors', bad, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(lastEvent(r, 'done')?.passes).toEqual([]); // nothing left to try: no pass ran
    expect(readFileSync(map, 'utf8').split('\n').filter((l) => !l.startsWith('#'))).toEqual(before);
  });

  it('retries bad sectors with --retries, alternating direction', () => {
    const dst = join(s.dir, 'retry.img');
    const map = join(s.dir, 'retry.map');
    const r = runCli(['rescue', src, dst, map, '--simulate-errors', bad, '--retries', '2', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const names = (lastEvent(r, 'done')?.passes as { name: string }[]).map((p) => p.name);
    expect(names).toContain('retry 1');
    expect(names).toContain('retry 2');
    expect(blocksOf(map, '-')).toHaveLength(injected.length);
  });

  it('rescues only the finished blocks of a --domain map, within --offset/--length', () => {
    const domain = join(s.dir, 'domain.map');
    writeFileSync(domain, `0 + 1\n0 0x400000 +\n0x400000 0x400000 ?\n0x800000 0x800000 +\n`);
    const dst = join(s.dir, 'domain.img');
    const map = join(s.dir, 'domain-run.map');
    const r = runCli(['rescue', src, dst, map, '--simulate-errors', bad, '--domain', domain, '--length', '12MiB', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const book = new Mapbook(size, parseMap(readFileSync(map, 'utf8'), { path: map, deviceSize: size }));
    expect(book.statusAt(4 * MiB)).toBe('?'); // outside the domain: untouched
    expect(book.statusAt(12 * MiB)).toBe('?'); // beyond --length
    expect(book.statusAt(2 * MiB)).toBe('+');
    expect(book.statusAt(10 * MiB)).toBe('+');
    expect(book.statusAt(5 * MiB)).toBe('?'); // bad, but outside the domain
    expect(book.statusAt(9 * MiB - 1)).toBe('-');
  });

  it('fills unreadable sectors in the target with --fill', () => {
    const dst = join(s.dir, 'fill.img');
    const map = join(s.dir, 'fill.map');
    const r = runCli(['rescue', src, dst, map, '--simulate-errors', bad, '--fill', 'BAD!', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const out = readFileSync(dst);
    for (const b of injected) {
      const piece = out.subarray(b.offset, b.offset + b.length).toString('latin1');
      // the pattern continues across the drive as if laid from offset 0
      expect(piece).toBe('BAD!'.repeat(b.length / 4 + 1).slice(b.offset % 4, (b.offset % 4) + b.length));
    }
    expectGoodDataCopied(src, dst, map);
  });

  it('stops at --max-errors with the map saved, and resumes to the same result', () => {
    const dst = join(s.dir, 'maxerr.img');
    const map = join(s.dir, 'maxerr.map');
    const r = runCli(['rescue', src, dst, map, '--simulate-errors', bad, '--max-errors', '1', '--json']);
    expect(r.status).toBe(1);
    expect(lastEvent(r, 'error')?.code).toBe('TOO_MANY_ERRORS');
    expect(existsSync(map)).toBe(true);
    const again = runCli(['rescue', src, dst, map, '--simulate-errors', bad, '--json']);
    expect(again.status, again.stderr).toBe(0);
    expect(blocksOf(map, '-')).toEqual(injected.map((b) => ({ pos: b.offset, size: b.length })));
    expectGoodDataCopied(src, dst, map);
  });

  it('resumes from a map GNU ddrescue wrote, and ddrescue resumes from ours', () => {
    if (spawnSync('ddrescue', ['--version']).status !== 0) throw new Error('GNU ddrescue is not installed: run scripts/system-deps.sh as root');
    // ddrescue copies the first 6 MiB (its -s), we finish the rest from its map
    const dst = join(s.dir, 'mixed.img');
    const map = join(s.dir, 'mixed.map');
    const half = spawnSync('ddrescue', ['-q', '-s', '6Mi', src, dst, map]);
    expect(half.status, String(half.stderr)).toBe(0);
    expect(blocksOf(map, '+')).toEqual([{ pos: 0, size: 6 * MiB }]);
    const r = runCli(['rescue', src, dst, map, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(dst)).toBe(sha256(src));
    // and the other way: we rescue a part (--length), ddrescue completes from our map
    const dst2 = join(s.dir, 'mixed2.img');
    const map2 = join(s.dir, 'mixed2.map');
    expect(runCli(['rescue', src, dst2, map2, '--length', '5MiB']).status).toBe(0);
    const rest = spawnSync('ddrescue', ['-q', src, dst2, map2]);
    expect(rest.status, String(rest.stderr)).toBe(0);
    expect(sha256(dst2)).toBe(sha256(src));
    expect(blocksOf(map2, '+')).toEqual([{ pos: 0, size }]);
  });

  it('survives kill -9: the rerun gives the same result, and at most one ring of finished data was unrecorded', async () => {
    const big = makeFile(join(s.dir, 'big.img'), 192 * MiB);
    const dst = join(s.dir, 'killed.img');
    const map = join(s.dir, 'killed.map');
    const cluster = 4096;
    const depth = 2;
    // threads backend, 4 KiB clusters, buffered: slow enough to kill in the middle; killed
    // as soon as the journal holds records, so the map on disk is mostly behind
    const child = spawn(process.execPath, [cli, 'rescue', big, dst, map, '--json', '--cluster', '4KiB', '--depth', String(depth), '--backend', 'threads', '--no-direct']);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const js = readdirSync(s.dir).filter((f) => f.startsWith('killed.map.journal-'));
      if (js.some((j) => statSync(join(s.dir, j)).size > 4096) || Date.now() > deadline) break;
      await new Promise((res) => setTimeout(res, 5));
    }
    child.kill('SIGKILL');
    await new Promise((res) => child.on('close', res));
    // What the map and the journals say is finished, as the rerun will see it
    const book = new Mapbook(192 * MiB, parseMap(readFileSync(map, 'utf8'), { path: map, deviceSize: 192 * MiB }));
    const journals = readdirSync(s.dir).filter((f) => f.startsWith('killed.map.journal-'));
    for (const j of journals)
      for (const line of readFileSync(join(s.dir, j), 'utf8').split('\n')) {
        const m = /^(0x[0-9A-F]+)\s+(0x[0-9A-F]+)\s+\+$/.exec(line.trim());
        if (m) book.set(Number(m[1]), Number(m[2]), '+');
      }
    const recorded = book.totals()['+'];
    expect(recorded).toBeGreaterThan(0);
    expect(recorded).toBeLessThan(192 * MiB);
    // Clusters the target already holds (written before the kill) but no record covers:
    // the rerun will read them again. At most one ring's worth.
    const a = readFileSync(big);
    const b = readFileSync(dst);
    let unrecorded = 0;
    for (let off = 0; off < 192 * MiB; off += cluster) {
      if (book.statusAt(off) === '+') continue;
      if (b.subarray(off, off + cluster).equals(a.subarray(off, off + cluster))) unrecorded += cluster;
    }
    expect(unrecorded).toBeLessThanOrEqual(depth * cluster);
    const r = runCli(['rescue', big, dst, map, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(lastEvent(r, 'note') ?? {}).toBeDefined();
    expect(sha256(dst)).toBe(sha256(big));
    expect(blocksOf(map, '+')).toEqual([{ pos: 0, size: 192 * MiB }]);
    expect(statSync(dst).size).toBe(192 * MiB);
  });

  describe('bad input: exit 2, nothing written', () => {
    const cases: [string, string, string][] = [
      ['overlapping blocks', '0 + 1\n0 0x800000 +\n0x700000 0x900000 +\n', 'BAD_MAP'],
      ['a gap', '0 + 1\n0 0x400000 +\n0x500000 0xB00000 +\n', 'BAD_MAP'],
      ['an unknown status', '0 + 1\n0 0x1000000 X\n', 'BAD_MAP'],
      ['garbage', 'hello world\n', 'BAD_MAP'],
      ['a map of a larger drive', '0 + 1\n0 0x2000000 +\n', 'MAP_LARGER_THAN_DRIVE'],
    ];
    for (const [what, text, code] of cases) {
      it(`refuses a map with ${what}`, () => {
        const map = join(s.dir, `badinput-${code}-${what.replace(/\W/g, '')}.map`);
        writeFileSync(map, text);
        const dst = join(s.dir, `badinput-${what.replace(/\W/g, '')}.img`);
        const r = runCli(['rescue', src, dst, map, '--json']);
        expect(r.status, r.stdout).toBe(2);
        expect(lastEvent(r, 'error')?.code).toBe(code);
        expect(existsSync(dst)).toBe(false);
        expect(readFileSync(map, 'utf8')).toBe(text); // the user's map is not touched
      });
    }
    it('refuses a --simulate-errors map that does not exist', () => {
      const r = runCli(['rescue', src, join(s.dir, 'x.img'), join(s.dir, 'x.map'), '--simulate-errors', join(s.dir, 'nope.map'), '--json']);
      expect(r.status).toBe(2);
      expect(existsSync(join(s.dir, 'x.img'))).toBe(false);
    });
  });

  it('shows a map: summary and block picture', () => {
    const map = join(s.dir, 'run-forward.map');
    const r = spawnSync(process.execPath, [cli, 'map', 'show', map, '--width', '64', '--rows', '4', '--no-color'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/bad-sector\s+.*in\s+6 area\(s\)/);
    const pic = r.stdout.split('\n').filter((l) => /^[+?*/\-@]{64}$/.test(l));
    expect(pic).toHaveLength(4);
    expect(pic.join('')).toContain('-');
    const j = spawnSync(process.execPath, [cli, 'map', 'show', map, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(j.stdout).bytes['-']).toBe(injected.reduce((t, b) => t + b.length, 0));
  });
});
