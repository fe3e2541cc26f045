/**
 * Lean-image benchmark (issue 16): imaging a 4 GiB ext4 drive that is 20% full (incompressible
 * files) with `clonestation backup --used-only` to a raw image, against
 * `partclone.ext4 -c -s DEV -o FILE` to the same folder; restoring each image onto a 4 GiB
 * drive, against `partclone.restore -s FILE -o DEV`.
 *
 * The file system is made once (mke2fs -d over a tree of random files) in a file on /dev/shm,
 * attached as a loop device with direct I/O; images go to the same folder. Interleaved runs
 * (each run starts with another tool), the page cache dropped before every run, whole commands
 * timed (start-up included), medians of BENCH_RUNS:
 *   backup   ours            clonestation backup --used-only --hash none DEV ours.img
 *            ours+xxh3       the same with --hash xxh3 (the hash of the image as restored: 4 GiB)
 *            partclone       partclone.ext4 -c -s DEV -o pc.img (its default CRC32 checksums)
 *            partclone -a0   the same without checksums
 *   restore  ours            clonestation restore --yes --no-check ours.img TARGET
 *            partclone       partclone.restore -s pc.img -o TARGET
 * Targets (PASS/FAIL): partclone / ours backup time >= 1.5; partclone / ours restore time >= 1.0.
 * Exit status 1 when one misses.
 *
 *   npm run build && npm run bench:lean      # BENCH_SIZE_GIB=4 BENCH_FILL_PCT=20 BENCH_RUNS=3 BENCH_DIR=/dev/shm
 *
 * Needs root (loop devices, drop_caches), mke2fs and partclone. Results JSON in bench/results/lean-<date>.json.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  MB,
  MiB,
  UsageError,
  assertOwnedLoop,
  configOrExit,
  describeFailure,
  dropCaches,
  findRepoRoot,
  haveRequired,
  installSignalHandlers,
  isRoot,
  losetupAttach,
  machineInfo,
  median,
  onCleanup,
  positiveIntEnv,
  resultsFile,
  runInterleaved,
  runMain,
  runTimed,
  table,
  writeJson,
  printChecks,
  type Check,
} from './common.js';

const GiB = 1024 * MiB;
const USAGE = `usage: node dist/bench/lean.js
environment: BENCH_SIZE_GIB (default 4), BENCH_FILL_PCT (default 20), BENCH_RUNS (default 3), BENCH_DIR (default /dev/shm)`;

const TARGETS = { backup: 1.5, restore: 1.0 };

interface Config {
  sizeGiB: number;
  fillPct: number;
  runs: number;
  dir: string;
}

function parse(argv: string[]): Config | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  if (argv.length > 0) throw new UsageError(`unexpected arguments: ${argv.join(' ')}`);
  const fillPct = positiveIntEnv('BENCH_FILL_PCT', 20);
  if (fillPct > 90) throw new UsageError('BENCH_FILL_PCT must be at most 90');
  return { sizeGiB: positiveIntEnv('BENCH_SIZE_GIB', 4), fillPct, runs: positiveIntEnv('BENCH_RUNS', 3), dir: process.env.BENCH_DIR ?? '/dev/shm' };
}

interface Rec {
  seconds: number[];
  /** bytes the image file holds on disk (st_blocks), its apparent size */
  allocated: number[];
  skipped?: string;
  error?: string;
}

/** Files of random bytes adding up to `bytes`: a few large ones and many small ones (as bench/usedmap.ts). */
function makeTree(dir: string, bytes: number): number {
  const buf = Buffer.alloc(20 * MiB);
  randomFillSync(buf);
  let left = bytes;
  let n = 0;
  const big = Math.floor((bytes * 0.75) / buf.length);
  for (let i = 0; i < big; i++, n++) {
    randomFillSync(buf, 0, 4096);
    writeFileSync(join(dir, `big-${i}.bin`), buf);
    left -= buf.length;
  }
  mkdirSync(join(dir, 'small'));
  for (let i = 0; left > 0; i++, n++) {
    const size = Math.min(left, 4096 + ((i * 2654435761) % (120 * 1024)));
    randomFillSync(buf, 0, size);
    writeFileSync(join(dir, 'small', `s-${i}.bin`), buf.subarray(0, size));
    left -= size;
  }
  return n;
}

async function timed(cmd: string, args: string[]): Promise<number> {
  const r = await runTimed(cmd, args, { timeoutMs: 3_600_000, reportTimeout: true });
  if (r.code !== 0) throw new Error(describeFailure(cmd, r));
  return r.seconds;
}

function clear(dir: string, prefix: string): void {
  for (const f of readdirSync(dir)) if (f.startsWith(prefix)) rmSync(join(dir, f), { force: true });
}

async function main(): Promise<number> {
  const cfg = configOrExit(parse, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!isRoot('bench:lean needs root (loop devices, drop_caches)')) return 2;
  if (!haveRequired(['mke2fs', 'e2fsck', 'partclone.ext4', 'partclone.restore', 'losetup'])) return 2;
  installSignalHandlers('stopping the benchmark', 2000);
  const repo = findRepoRoot();
  const cli = join(repo, 'dist', 'src', 'cli.js');
  const dir = mkdtempSync(join(cfg.dir, 'cs-bench-lean-'));
  onCleanup('scratch folder', () => rmSync(dir, { recursive: true, force: true }));
  const size = cfg.sizeGiB * GiB;
  const fillBytes = Math.floor((size * cfg.fillPct) / 100);

  // the source: ext4 made over a tree of random files
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  const files = makeTree(tree, fillBytes);
  const srcFile = join(dir, 'source.ext4');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, srcFile, `${size / 1024}k`]);
  rmSync(tree, { recursive: true, force: true });
  const src = losetupAttach(srcFile, true);
  onCleanup(`loop ${src}`, () => execFileSync('losetup', ['-d', src]));
  assertOwnedLoop(src, srcFile, { name: 'source' });
  const tgtFile = join(dir, 'target.img');
  execFileSync('truncate', ['-s', String(size), tgtFile]);
  const tgt = losetupAttach(tgtFile, true);
  onCleanup(`loop ${tgt}`, () => execFileSync('losetup', ['-d', tgt]));
  assertOwnedLoop(tgt, tgtFile, { name: 'target' });
  process.stdout.write(`lean bench: ${cfg.sizeGiB} GiB ext4 on ${src}, ${cfg.fillPct}% full (${files} files of random bytes), images in ${dir}; ${cfg.runs} interleaved runs, caches dropped before each\n`);

  const node = process.execPath;
  const log = join(dir, 'partclone.log');
  const image = (name: string): string => join(dir, name);
  const backup: Array<{ tool: string; out: string; rec: Rec; run: () => Promise<number> }> = [
    { tool: 'ours', out: 'ours.img', rec: { seconds: [], allocated: [] }, run: () => timed(node, [cli, 'backup', '--used-only', '--hash', 'none', src, image('ours.img')]) },
    { tool: 'ours+xxh3', out: 'oursx.img', rec: { seconds: [], allocated: [] }, run: () => timed(node, [cli, 'backup', '--used-only', '--hash', 'xxh3', src, image('oursx.img')]) },
    { tool: 'partclone', out: 'pc.img', rec: { seconds: [], allocated: [] }, run: () => timed('partclone.ext4', ['-q', '-c', '-s', src, '-o', image('pc.img'), '-L', log]) },
    { tool: 'partclone -a0', out: 'pc0.img', rec: { seconds: [], allocated: [] }, run: () => timed('partclone.ext4', ['-q', '-a0', '-c', '-s', src, '-o', image('pc0.img'), '-L', log]) },
  ];
  await runInterleaved(
    backup.map((b) => ({ tool: b.tool, rec: b.rec })),
    cfg.runs,
    async (tool, rec) => {
      const b = backup.find((x) => x.tool === tool);
      if (!b) throw new Error(`unknown tool ${tool}`);
      clear(dir, b.out);
      dropCaches();
      rec.seconds.push(await b.run());
      rec.allocated.push(statSync(image(b.out)).blocks * 512);
      process.stdout.write(`  backup  ${tool.padEnd(14)} ${(rec.seconds.at(-1) ?? 0).toFixed(2).padStart(6)} s  ${(size / MB / (rec.seconds.at(-1) ?? 1)).toFixed(0).padStart(6)} MB/s of drive  ${((rec.allocated.at(-1) ?? 0) / MiB).toFixed(0)} MiB on disk\n`);
    },
    (tool, e) => process.stdout.write(`  backup  ${tool} FAILED: ${e}\n`),
  );

  const restore: Array<{ tool: string; rec: Rec; run: () => Promise<number> }> = [
    { tool: 'ours', rec: { seconds: [], allocated: [] }, run: () => timed(node, [cli, 'restore', '--yes', '--no-check', image('ours.img'), tgt]) },
    { tool: 'partclone', rec: { seconds: [], allocated: [] }, run: () => timed('partclone.restore', ['-q', '-s', image('pc.img'), '-o', tgt, '-L', log]) },
  ];
  await runInterleaved(
    restore.map((r) => ({ tool: r.tool, rec: r.rec })),
    cfg.runs,
    async (tool, rec) => {
      const r = restore.find((x) => x.tool === tool);
      if (!r) throw new Error(`unknown tool ${tool}`);
      dropCaches();
      rec.seconds.push(await r.run());
      // what was restored is a clean file system (checked outside the timing)
      execFileSync('e2fsck', ['-fn', tgt], { stdio: 'ignore' });
      process.stdout.write(`  restore ${tool.padEnd(14)} ${(rec.seconds.at(-1) ?? 0).toFixed(2).padStart(6)} s\n`);
    },
    (tool, e) => process.stdout.write(`  restore ${tool} FAILED: ${e}\n`),
  );

  const sec = (rec: Rec): number => median(rec.seconds);
  const rows = [['backup', 's (median)', 'MiB on disk']];
  for (const b of backup) rows.push([b.tool, b.rec.error ? 'FAILED' : sec(b.rec).toFixed(2), b.rec.allocated[0] !== undefined ? (b.rec.allocated[0] / MiB).toFixed(0) : '-']);
  const rrows = [['restore', 's (median)']];
  for (const r of restore) rrows.push([r.tool, r.rec.error ? 'FAILED' : sec(r.rec).toFixed(2)]);
  process.stdout.write(`\n${table(rows)}\n\n${table(rrows)}\n\n`);

  const ok = (r: Rec | undefined): r is Rec => r !== undefined && !r.error && r.seconds.length > 0;
  const by = (t: string): Rec | undefined => backup.find((b) => b.tool === t)?.rec;
  const checks: Check[] = [];
  const [ours, oursx, pc, pc0] = [by('ours'), by('ours+xxh3'), by('partclone'), by('partclone -a0')];
  if (ok(ours) && ok(pc)) {
    const v = sec(pc) / sec(ours);
    checks.push({ name: 'backup speed ours / partclone.ext4 -c', value: v, target: `>= ${TARGETS.backup}`, pass: v >= TARGETS.backup });
  }
  if (ok(ours) && ok(pc0)) checks.push({ name: '(info) backup speed ours / partclone -a0', value: sec(pc0) / sec(ours), target: '-', pass: true });
  if (ok(oursx) && ok(pc)) checks.push({ name: '(info) backup speed ours+xxh3 / partclone.ext4 -c', value: sec(pc) / sec(oursx), target: '-', pass: true });
  const [ro, rp] = [restore[0]?.rec, restore[1]?.rec];
  if (ok(ro) && ok(rp)) {
    const v = sec(rp) / sec(ro);
    checks.push({ name: 'restore speed ours / partclone.restore', value: v, target: `>= ${TARGETS.restore}`, pass: v >= TARGETS.restore });
  }
  printChecks(checks);

  const file = resultsFile(repo, 'lean');
  writeJson(file, {
    bench: 'lean',
    date: new Date().toISOString(),
    machine: machineInfo(),
    config: cfg,
    source: { bytes: size, fillBytes, files, backing: `${cfg.dir} file, loop --direct-io=on` },
    backup: backup.map((b) => ({ tool: b.tool, ...b.rec, medianSeconds: b.rec.seconds.length ? sec(b.rec) : null })),
    restore: restore.map((r) => ({ tool: r.tool, ...r.rec, medianSeconds: r.rec.seconds.length ? sec(r.rec) : null })),
    checks,
  });
  process.stdout.write(`results: ${file}\n`);
  const failed = checks.some((c) => !c.pass) || backup.some((b) => b.rec.error) || restore.some((r) => r.rec.error);
  return failed ? 1 : 0;
}

runMain(main, 'lean');
