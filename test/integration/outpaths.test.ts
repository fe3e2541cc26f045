// Bad paths and empty values through the CLI (issue 11, items 2, 7, 8, 10): each case runs
// `node dist/src/cli.js ...` and must exit 2 with one line on stderr naming its code, no
// stack trace, and nothing changed: the scratch folder (names, kinds, contents) and
// /dev/null are as before, and so are the loop devices' backing files. FIFOs and /dev/zero
// given as maps must be refused, not read: a hang would end in the run's timeout (status
// null) and fail the case. The devices named are private nodes made with mknod in the
// scratch folder (null.dev is 1:3, zero.dev 1:5), never the machine's own /dev/null: a
// regression (the old code renamed a map over it) must not break the machine it runs on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot, isRoot } from '../helpers/root.js';
import { cli, makeFile, scratch, sha256, useLoopScratch, type Loop } from '../helpers/fixtures.js';

/** Everything under `dir`: each name with its kind and, for files, a hash of the contents. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else if (st.isFile()) out.push(`${p} ${st.size} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
      else if (st.isSymbolicLink()) out.push(`${p} -> ${readlinkSync(p)}`);
      else out.push(`${p} ${st.isFIFO() ? 'fifo' : 'special'}`);
    }
  };
  walk(dir);
  return out;
}

function devNull(): string {
  const st = statSync('/dev/null');
  return `${st.isCharacterDevice()} ${st.rdev}`;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI in `cwd`, with a bound far above any refusal's time: a hang shows as status null. */
function run(args: string[], cwd: string): Run {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', timeout: 30_000, env: { ...process.env, CLONESTATION_LOG_DIR: join(cwd, '..', 'logs-outside') } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** [name, the CLI's arguments (a function: loop devices exist only once the tests run), the code, a setup] */
type Case = [name: string, args: string[] | (() => string[]), code: string, setup?: () => void];

/** Runs each case, asserting the refusal and that nothing changed. */
function refuses(cases: () => Case[], dir: () => string, watched: () => string[] = () => []): void {
  // the device nodes exist only when root could make them
  const usable = (c: Case): boolean => isRoot || (typeof c[1] !== 'function' && !c[1].some((a) => a.endsWith('.dev') || a === 'null-link.map') && !c[0].includes('char device'));
  it.each(cases().filter(usable).map((c) => [c[0], c] as const))('%s', (_, [, args, code, setup]) => {
    setup?.();
    const before = snapshot(dir());
    const null0 = devNull();
    const hashes = watched().map((f) => sha256(f));
    const r = run(typeof args === 'function' ? args() : args, dir());
    expect(r.status, `${r.stderr}${r.stdout}`).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^clonestation: [^\\n]+ \\[${code}\\]\\n$`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(snapshot(dir())).toEqual(before);
    expect(devNull()).toBe(null0);
    expect(watched().map((f) => sha256(f))).toEqual(hashes);
  });
}

const long = 'n'.repeat(256);
const tooLongPath = `${'d/'.repeat(2050)}x.img`; // 4105 bytes, every name short

describe('bad output and input paths, through the CLI (files)', () => {
  let s: ReturnType<typeof scratch>;
  let d: string;
  beforeAll(() => {
    s = scratch('cs-outpaths-');
    d = join(s.dir, 'work');
    mkdirSync(d);
    makeFile(join(d, 's.img'), 4 << 20);
    makeFile(join(d, 't.img'), 8 << 20);
    writeFileSync(join(d, 'empty.img'), '');
    writeFileSync(join(d, 'plain'), 'a plain file\n');
    mkdirSync(join(d, 'fold'));
    execFileSync('mkfifo', [join(d, 'fifo')]);
    if (isRoot) {
      execFileSync('mknod', ['-m', '666', join(d, 'null.dev'), 'c', '1', '3']);
      execFileSync('mknod', ['-m', '444', join(d, 'zero.dev'), 'c', '1', '5']);
    }
    symlinkSync('null.dev', join(d, 'null-link.map'));
    linkSync(join(d, 't.img'), join(d, 't-hardlink.map'));
    linkSync(join(d, 's.img'), join(d, 's-hardlink.json'));
    writeFileSync(join(d, 'job-fifo-map.json'), JSON.stringify({ jobs: [{ source: 's.img', targets: ['t.img'], map: 'fifo' }] }));
    writeFileSync(join(d, 'job-empty-offset.json'), JSON.stringify({ jobs: [{ source: 's.img', targets: ['t.img'], offset: '' }] }));
    writeFileSync(join(d, 'job-empty-length.json'), JSON.stringify({ jobs: [{ source: 's.img', targets: ['t.img'], length: ' ' }] }));
    writeFileSync(join(d, 'job-empty-target.json'), JSON.stringify({ jobs: [{ source: 's.img', targets: ['new.img/'] }] }));
  });
  afterAll(() => s.cleanup());
  const dir = (): string => d;

  describe('item 2: a map, journal or --domain/--simulate-errors map that is a device, FIFO or folder', () => {
    refuses(
      () => [
        ['rescue s t a char device (null) (was: a file renamed over /dev/null)', ['rescue', 's.img', 't.img', 'null.dev', '--yes'], 'BAD_MAP'],
        ['rescue s t FIFO (would block reading it)', ['rescue', 's.img', 't.img', 'fifo', '--yes'], 'BAD_MAP'],
        ['rescue s t a char device (zero) (would read forever)', ['rescue', 's.img', 't.img', 'zero.dev', '--yes'], 'BAD_MAP'],
        ['rescue s t a symlink to a char device', ['rescue', 's.img', 't.img', 'null-link.map', '--yes'], 'BAD_MAP'],
        ['rescue s t a folder', ['rescue', 's.img', 't.img', 'fold', '--yes'], 'BAD_MAP'],
        ['rescue s t a folder with a slash', ['rescue', 's.img', 't.img', 'fold/', '--yes'], 'BAD_MAP'],
        ['rescue s t a map with a trailing slash', ['rescue', 's.img', 't.img', 'm.map/', '--yes'], 'BAD_MAP'],
        ['rescue s t a map name of 256 bytes', ['rescue', 's.img', 't.img', long, '--yes'], 'BAD_MAP'],
        ['rescue s t a map in a missing folder', ['rescue', 's.img', 't.img', 'missing/m.map', '--yes'], 'NOT_FOUND'],
        ['rescue s t a map under a file', ['rescue', 's.img', 't.img', 'plain/m.map', '--yes'], 'BAD_MAP'],
        ['rescue s t a hard link of the target as map', ['rescue', 's.img', 't.img', 't-hardlink.map', '--yes'], 'USAGE'],
        ['rescue --domain FIFO', ['rescue', 's.img', 't.img', 'm.map', '--domain', 'fifo', '--yes'], 'BAD_MAP'],
        ['rescue --domain zero.dev', ['rescue', 's.img', 't.img', 'm.map', '--domain', 'zero.dev', '--yes'], 'BAD_MAP'],
        ['rescue --domain a folder', ['rescue', 's.img', 't.img', 'm.map', '--domain', 'fold', '--yes'], 'BAD_MAP'],
        ['rescue --simulate-errors FIFO', ['rescue', 's.img', 't.img', 'm.map', '--simulate-errors', 'fifo', '--yes'], 'BAD_MAP'],
        ['rescue --simulate-errors zero.dev', ['rescue', 's.img', 't.img', 'm.map', '--simulate-errors', 'zero.dev', '--yes'], 'BAD_MAP'],
        ['clone --map FIFO', ['clone', 's.img', 't.img', '--map', 'fifo', '--yes'], 'BAD_MAP'],
        ['clone --map a char device', ['clone', 's.img', 't.img', '--map', 'null.dev', '--yes'], 'BAD_MAP'],
        ['map show FIFO', ['map', 'show', 'fifo'], 'BAD_MAP'],
        ['map show zero.dev', ['map', 'show', 'zero.dev'], 'BAD_MAP'],
        ['map show a folder', ['map', 'show', 'fold'], 'BAD_MAP'],
        ['run: a job whose map is a FIFO', ['run', 'job-fifo-map.json'], 'BAD_MAP'],
        ['run: a job file that is a FIFO', ['run', 'fifo'], 'BAD_JOBFILE'],
        ['run: a job file that is zero.dev', ['run', 'zero.dev'], 'BAD_JOBFILE'],
        [
          'rescue with a crash journal that is a FIFO',
          ['rescue', 's.img', 't.img', 'j1.map', '--yes'],
          'BAD_MAP',
          () => {
            spawnSync('mkfifo', [join(d, 'j1.map.journal-1')]);
          },
        ],
        [
          'rescue with a crash journal that is a folder',
          ['rescue', 's.img', 't.img', 'j2.map', '--yes'],
          'BAD_MAP',
          () => {
            mkdirSync(join(d, 'j2.map.journal-3'), { recursive: true });
          },
        ],
        ['backup --map FIFO', ['backup', 's.img', 'b1.img', '--map', 'fifo'], 'BAD_MAP'],
      ],
      dir,
    );
  });

  describe('item 7: targets, reports, logs and backup outputs that cannot be files', () => {
    refuses(
      () => [
        ['clone to an empty target', ['clone', 's.img', ''], 'USAGE'],
        ['clone to a new name with a trailing slash', ['clone', 's.img', 'out.img/'], 'BAD_TARGET'],
        ['clone to a file name with a trailing slash', ['clone', 's.img', 'plain/'], 'BAD_TARGET'],
        ['clone to a name of 256 bytes', ['clone', 's.img', long], 'BAD_TARGET'],
        ['clone to a path of 4105 bytes', ['clone', 's.img', tooLongPath], 'BAD_TARGET'],
        ['clone to a name in a missing folder', ['clone', 's.img', 'missing/x.img'], 'NOT_FOUND'],
        ['clone to a name under a file', ['clone', 's.img', 'plain/x.img'], 'BAD_TARGET'],
        ['clone to a FIFO', ['clone', 's.img', 'fifo'], 'BAD_TARGET'],
        ['a station with one bad target among good ones', ['clone', 's.img', 'a.img', 'out.img/'], 'BAD_TARGET'],
        ['run: a job file with a target ending in a slash', ['run', 'job-empty-target.json'], 'BAD_TARGET'],
        ['restore to a target with a trailing slash', ['restore', 's.img', 'out.img/', '--yes'], 'BAD_TARGET'],
        ['restore to a target name of 256 bytes', ['restore', 's.img', long, '--yes'], 'BAD_TARGET'],
        ['restore to a name under a file', ['restore', 's.img', 'plain/x.img', '--yes'], 'BAD_TARGET'],
        ['rescue to a target with a trailing slash', ['rescue', 's.img', 'out.img/', 'm.map', '--yes'], 'BAD_TARGET'],
        ['rescue to a target name of 256 bytes', ['rescue', 's.img', long, 'm.map', '--yes'], 'BAD_TARGET'],
        ['--report into a missing folder (was: ran, wrote, exit 3)', ['clone', 's.img', 'a.img', 'b.img', '--report', 'missing/r.json'], 'NOT_FOUND'],
        ['--report onto a folder', ['clone', 's.img', 'a.img', 'b.img', '--report', 'fold'], 'BAD_REPORT'],
        ['--report onto a FIFO', ['clone', 's.img', 'a.img', 'b.img', '--report', 'fifo'], 'BAD_REPORT'],
        ['--report onto a char device', ['clone', 's.img', 'a.img', 'b.img', '--report', 'null.dev'], 'BAD_REPORT'],
        ['--report under a file', ['clone', 's.img', 'a.img', 'b.img', '--report', 'plain/r.json'], 'BAD_REPORT'],
        ['--report with a trailing slash', ['clone', 's.img', 'a.img', 'b.img', '--report', 'r.json/'], 'BAD_REPORT'],
        ['--report with a name of 256 bytes', ['clone', 's.img', 'a.img', 'b.img', '--report', long], 'BAD_REPORT'],
        ['--report of a job file run into a folder', ['run', 'job-fifo-map.json', '--report', 'fold'], 'BAD_REPORT'],
        ['--report that is a new target of the same run', ['clone', 's.img', 'a.img', 'b.img', '--report', 'a.img'], 'BAD_REPORT'],
        ['--report that is the source', ['clone', 's.img', 'a.img', 'b.img', '--report', 's.img'], 'BAD_REPORT'],
        ['--report that is a hard link of the source', ['clone', 's.img', 'a.img', 'b.img', '--report', 's-hardlink.json'], 'BAD_REPORT'],
        ['--report that is an existing target', ['clone', 's.img', 't.img', 'b.img', '--report', './t.img'], 'BAD_REPORT'],
        ['--report that is the log', ['clone', 's.img', 'a.img', 'b.img', '--report', 'x.log', '--log', './x.log'], 'BAD_REPORT'],
        ['--log that is the source', ['clone', 's.img', 'a.img', 'b.img', '--log', 's.img'], 'BAD_LOG'],
        ['--log that is a target', ['clone', 's.img', 'a.img', 'b.img', '--log', 'b.img'], 'BAD_LOG'],
        ['--log onto a FIFO', ['clone', 's.img', 'a.img', 'b.img', '--log', 'fifo'], 'BAD_LOG'],
        ['--log onto a char device', ['clone', 's.img', 'a.img', 'b.img', '--log', 'null.dev'], 'BAD_LOG'],
        ['--log onto a folder', ['clone', 's.img', 'a.img', 'b.img', '--log', 'fold'], 'BAD_LOG'],
        ['--log under a file', ['clone', 's.img', 'a.img', 'b.img', '--log', 'plain/x.log'], 'BAD_LOG'],
        ['backup to a folder', ['backup', 's.img', 'fold.img'], 'BAD_OUTPUT', () => mkdirSync(join(d, 'fold.img'), { recursive: true })],
        [
          'backup whose hash file is a link to a char device',
          ['backup', 's.img', 'h.img'],
          'BAD_OUTPUT',
          () => {
            if (!readdirSync(d).includes('h.img.sha256')) symlinkSync('null.dev', join(d, 'h.img.sha256'));
          },
        ],
      ],
      dir,
    );
  });

  describe('item 10: empty option values and --offset past the end', () => {
    const emptyClone = ['offset', 'length', 'target-offset', 'block-size', 'depth', 'backend', 'hash', 'max-parallel', 'report', 'log', 'map'];
    const emptyRescue = ['sector-size', 'cluster', 'retries', 'min-read-rate', 'timeout', 'max-errors', 'fill', 'domain', 'simulate-errors', 'gone-after', 'save-interval', 'offset', 'length', 'target-offset', 'depth'];
    const emptyBackup = ['split', 'hash', 'level', 'map', 'fill', 'keep', 'offset', 'length', 'block-size'];
    refuses(
      () => [
        ...emptyClone.map((o): Case => [`clone --${o}=`, ['clone', 's.img', 't.img', `--${o}=`], 'USAGE']),
        ...emptyClone.map((o): Case => [`clone --${o} '' (a separate empty argument)`, ['clone', 's.img', 't.img', `--${o}`, ''], 'USAGE']),
        ['clone --pair=', ['clone', '--pair='], 'USAGE'],
        ['clone --offset=" " (blank)', ['clone', 's.img', 't.img', '--offset= '], 'USAGE'],
        ...emptyRescue.map((o): Case => [`rescue --${o}=`, ['rescue', 's.img', 't.img', 'm.map', `--${o}=`, '--yes'], 'USAGE']),
        ...emptyBackup.map((o): Case => [`backup --${o}=`, ['backup', 's.img', 'e.img', `--${o}=`], 'USAGE']),
        ['restore --target-offset=', ['restore', 's.img', 't.img', '--target-offset='], 'USAGE'],
        ['verify --block-size=', ['verify', 's.img', '--block-size='], 'USAGE'],
        ['map show --width=', ['map', 'show', 'm.map', '--width='], 'USAGE'],
        ['demo --size=', ['demo', '--size='], 'USAGE'],
        ['--hash sha256, (a trailing comma)', ['clone', 's.img', 't.img', '--hash', 'sha256,'], 'USAGE'],
        ['--hash ,md5', ['clone', 's.img', 't.img', '--hash', ',md5'], 'USAGE'],
        ['--hash sha256,,md5', ['clone', 's.img', 't.img', '--hash', 'sha256,,md5'], 'USAGE'],
        ['--hash none,md5', ['clone', 's.img', 't.img', '--hash', 'none,md5'], 'USAGE'],
        ['backup --hash sha256,', ['backup', 's.img', 'e.img', '--hash', 'sha256,'], 'USAGE'],
        ['an empty SOURCE', ['clone', '', 't.img'], 'USAGE'],
        ['an empty MAPFILE', ['rescue', 's.img', 't.img', ''], 'USAGE'],
        ['run: a job with "offset": "" (not the default)', ['run', 'job-empty-offset.json'], 'BAD_JOBFILE'],
        ['run: a job with "length": " "', ['run', 'job-empty-length.json'], 'BAD_JOBFILE'],
        ['rescue --offset past the end', ['rescue', 's.img', 't.img', 'm.map', '--offset', '5MiB', '--yes'], 'RANGE'],
        ['rescue --offset one byte past the end', ['rescue', 's.img', 't.img', 'm.map', '--offset', String((4 << 20) + 1), '--yes'], 'RANGE'],
        ['rescue --offset in range, --length past the end', ['rescue', 's.img', 't.img', 'm.map', '--offset', '3MiB', '--length', '2MiB', '--yes'], 'RANGE'],
      ],
      dir,
    );
  });

  describe('item 8: a source that reads 0 bytes is an error, never a truncated or new target', () => {
    refuses(
      () => [
        ['clone an empty file onto a file', ['clone', 'empty.img', 't.img'], 'RANGE'],
        ['clone an empty file to a new file', ['clone', 'empty.img', 'new.img'], 'RANGE'],
        ['clone --length 0', ['clone', 's.img', 't.img', '--length', '0'], 'RANGE'],
        ['clone --offset at the very end', ['clone', 's.img', 't.img', '--offset', '4MiB'], 'RANGE'],
        ['a station with an empty source', ['clone', 'empty.img', 'a.img', 'b.img'], 'RANGE'],
      ],
      dir,
    );
  });

  describe('item 8: an existing file target keeps every byte outside the range written', () => {
    // [what, extra options, source range start, target start, length]
    const cases: [string, string[], number, number, number][] = [
      ['--length into a larger file', ['--length', '1MiB'], 0, 0, 1 << 20],
      ['--offset and --length into a larger file', ['--offset', '1MiB', '--length', '1MiB'], 1 << 20, 0, 1 << 20],
      ['--target-offset into a larger file', ['--length', '1MiB', '--target-offset', '3MiB'], 0, 3 << 20, 1 << 20],
      ['the whole source into a larger file', [], 0, 0, 4 << 20],
      ['--target-offset past its end: the file grows, the rest is kept', ['--target-offset', '6MiB'], 0, 6 << 20, 4 << 20],
    ];
    it.each(cases)('clone %s', (_, opts, from, at, length) => {
      const t = join(d, 'keep.img');
      makeFile(t, 8 << 20);
      const size = statSync(t).size;
      const head = sha256(t, 0, at);
      const tail = sha256(t, at + length, Math.max(0, size - at - length));
      const r = run(['clone', 's.img', 'keep.img', ...opts], d);
      expect(r.status, r.stderr).toBe(0);
      expect(statSync(t).size).toBe(Math.max(size, at + length));
      expect(sha256(t, 0, at)).toBe(head);
      expect(sha256(t, at, length)).toBe(sha256(join(d, 's.img'), from, length));
      expect(sha256(t, at + length, Math.max(0, size - at - length))).toBe(tail);
    });

    it('a station (one source, two larger file targets) keeps their tails too', () => {
      const a = makeFile(join(d, 'keep-a.img'), 8 << 20);
      const b = makeFile(join(d, 'keep-b.img'), 8 << 20);
      const tails = [sha256(a, 2 << 20), sha256(b, 2 << 20)];
      const r = run(['clone', 's.img', 'keep-a.img', 'keep-b.img', '--length', '2MiB', '--no-log', '--no-ui'], d);
      expect(r.status, r.stderr).toBe(0);
      expect([sha256(a, 2 << 20), sha256(b, 2 << 20)]).toEqual(tails);
      expect(sha256(a, 0, 2 << 20)).toBe(sha256(join(d, 's.img'), 0, 2 << 20));
      expect(statSync(a).size).toBe(8 << 20);
    });
  });
});

describeRoot('bad paths with loop devices as source and target', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let src: Loop;
  let dst: Loop;
  let d: string;
  beforeAll(() => {
    d = join(fx.dir(), 'work');
    mkdirSync(d);
    src = fx.loop(makeFile(join(fx.dir(), 'src.img'), 4 << 20), 512);
    dst = fx.loop(makeFile(join(fx.dir(), 'dst.img'), 8 << 20), 4096);
    execFileSync('mkfifo', [join(d, 'fifo')]);
    mkdirSync(join(d, 'fold'));
    execFileSync('mknod', ['-m', '666', join(d, 'null.dev'), 'c', '1', '3']);
    execFileSync('mknod', ['-m', '444', join(d, 'zero.dev'), 'c', '1', '5']);
  });
  const dir = (): string => d;
  const watched = (): string[] => [src.file, dst.file];
  refuses(
    () => [
      ['rescue LOOP LOOP a char device (null)', () => ['rescue', src.dev, dst.dev, 'null.dev', '--yes'], 'BAD_MAP'],
      ['rescue LOOP LOOP FIFO', () => ['rescue', src.dev, dst.dev, 'fifo', '--yes'], 'BAD_MAP'],
      ['rescue LOOP LOOP a char device (zero)', () => ['rescue', src.dev, dst.dev, 'zero.dev', '--yes'], 'BAD_MAP'],
      ['rescue LOOP LOOP the target device as map', () => ['rescue', src.dev, dst.dev, dst.dev, '--yes'], 'BAD_MAP'],
      ['rescue LOOP LOOP --domain FIFO', () => ['rescue', src.dev, dst.dev, 'm.map', '--domain', 'fifo', '--yes'], 'BAD_MAP'],
      ['rescue LOOP LOOP --simulate-errors a char device (zero)', () => ['rescue', src.dev, dst.dev, 'm.map', '--simulate-errors', 'zero.dev', '--yes'], 'BAD_MAP'],
      ['rescue LOOP LOOP --offset past the end', () => ['rescue', src.dev, dst.dev, 'm.map', '--offset', '8MiB', '--yes'], 'RANGE'],
      ['rescue LOOP LOOP --sector-size=', () => ['rescue', src.dev, dst.dev, 'm.map', '--sector-size=', '--yes'], 'USAGE'],
      ['clone LOOP LOOP --map FIFO', () => ['clone', src.dev, dst.dev, '--map', 'fifo', '--yes'], 'BAD_MAP'],
      ['clone LOOP LOOP --length 0', () => ['clone', src.dev, dst.dev, '--length', '0', '--yes'], 'RANGE'],
      ['clone LOOP LOOP --block-size=', () => ['clone', src.dev, dst.dev, '--block-size=', '--yes'], 'USAGE'],
      ['clone LOOP LOOP --hash sha256,', () => ['clone', src.dev, dst.dev, '--hash', 'sha256,', '--yes'], 'USAGE'],
      ['clone LOOP to two targets, --report onto a folder', () => ['clone', src.dev, dst.dev, 'x.img', '--report', 'fold', '--yes'], 'BAD_REPORT'],
      ['clone LOOP to two targets, --report into a missing folder', () => ['clone', src.dev, dst.dev, 'x.img', '--report', 'missing/r.json', '--yes'], 'NOT_FOUND'],
      ['clone LOOP to two targets, --log onto a FIFO', () => ['clone', src.dev, dst.dev, 'x.img', '--log', 'fifo', '--yes'], 'BAD_LOG'],
    ],
    dir,
    watched,
  );
});
