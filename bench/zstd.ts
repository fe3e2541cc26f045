/**
 * zstd image benchmark: `clonestation backup IMAGE OUT.img.zst` against `zstd -T2 -3` on the
 * same data, and against our own ZIP backup; restore against `zstd -d | dd`.
 *
 * One deterministic image (bench/mixed-image.ts, default 1 GiB: ~50% zeros, 25% text, 25%
 * random in runs of 4 KiB..2 MiB) is made once in /dev/shm. Then, interleaved (each run
 * starts with another tool), medians of BENCH_RUNS runs, whole commands timed (start-up
 * included):
 *   backup   zstd         clonestation backup IMAGE x.img.zst --hash none   (level 3, 2 native threads on 2 cores)
 *            zstd+sha256  the same with the default --hash sha256
 *            zstd -T2 -3  zstd -T2 -3 -q -f IMAGE -o x.zst
 *            zip          clonestation backup IMAGE x.zip --hash none      (level 6)
 *   restore  ours         clonestation restore x.img.zst TARGET --no-check  (O_DIRECT target file)
 *            zstd -d|dd   zstd -d -c x.zst | dd of=TARGET bs=4M oflag=direct
 * Targets (PASS/FAIL): zstd / zstd -T2 -3 throughput >= 1.0, size <= 1.02, zstd / zip
 * throughput >= 3. Exit status 1 when one misses.
 *
 *   npm run build && npm run bench:zstd      # BENCH_SIZE_MIB=1024 BENCH_RUNS=3
 *
 * Needs zstd and dd; no root. Results JSON in bench/results/zstd-<date>.json.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeImage } from './mixed-image.js';
import {
  MB,
  MiB,
  UsageError,
  configOrExit,
  describeFailure,
  findRepoRoot,
  haveRequired,
  installSignalHandlers,
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

const USAGE = `usage: node dist/bench/zstd.js
environment: BENCH_SIZE_MIB (default 1024), BENCH_RUNS (default 3)`;

const TARGETS = { vsZstd: 1.0, sizeVsZstd: 1.02, vsZip: 3.0 };

interface Config {
  sizeMiB: number;
  runs: number;
}

function parse(argv: string[]): Config | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  if (argv.length > 0) throw new UsageError(`unexpected arguments: ${argv.join(' ')}`);
  return { sizeMiB: positiveIntEnv('BENCH_SIZE_MIB', 1024), runs: positiveIntEnv('BENCH_RUNS', 3) };
}

interface Rec {
  seconds: number[];
  sizes: number[];
  skipped?: string;
  error?: string;
}

/** Removes OUT and everything beside it that a backup named OUT writes (manifest, parts, hash files). */
function clear(dir: string, out: string): void {
  for (const f of readdirSync(dir)) if (f.startsWith(out)) rmSync(join(dir, f), { force: true });
}

async function timed(cmd: string, args: string[]): Promise<number> {
  const r = await runTimed(cmd, args, { timeoutMs: 3_600_000, reportTimeout: true });
  if (r.code !== 0) throw new Error(describeFailure(cmd, r));
  return r.seconds;
}

async function main(): Promise<number> {
  const cfg = configOrExit(parse, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!haveRequired(['zstd', 'dd'])) return 2;
  installSignalHandlers('stopping the benchmark', 2000);
  const repo = findRepoRoot();
  const cli = join(repo, 'dist', 'src', 'cli.js');
  const dir = mkdtempSync('/dev/shm/cs-bench-zstd-');
  onCleanup('scratch folder', () => rmSync(dir, { recursive: true, force: true }));
  const size = cfg.sizeMiB * MiB;
  const image = join(dir, 'image.img');
  const mix = await makeImage(image, size);
  process.stdout.write(`zstd bench: ${cfg.sizeMiB} MiB image (${mix.zeros} MiB zeros, ${mix.text} text, ${mix.random} random) in ${dir}; ${cfg.runs} interleaved runs\n`);

  const node = process.execPath;
  const backup: Array<{ tool: string; out: string; rec: Rec; run: () => Promise<number> }> = [
    { tool: 'zstd', out: 'ours.img.zst', rec: { seconds: [], sizes: [] }, run: () => timed(node, [cli, 'backup', image, join(dir, 'ours.img.zst'), '--hash', 'none']) },
    { tool: 'zstd+sha256', out: 'oursh.img.zst', rec: { seconds: [], sizes: [] }, run: () => timed(node, [cli, 'backup', image, join(dir, 'oursh.img.zst')]) },
    { tool: 'zstd -T2 -3', out: 'ref.zst', rec: { seconds: [], sizes: [] }, run: () => timed('zstd', ['-T2', '-3', '-q', '-f', image, '-o', join(dir, 'ref.zst')]) },
    { tool: 'zip', out: 'ours.zip', rec: { seconds: [], sizes: [] }, run: () => timed(node, [cli, 'backup', image, join(dir, 'ours.zip'), '--hash', 'none']) },
  ];
  await runInterleaved(
    backup.map((b) => ({ tool: b.tool, rec: b.rec })),
    cfg.runs,
    async (tool, rec) => {
      const b = backup.find((x) => x.tool === tool);
      if (!b) throw new Error(`unknown tool ${tool}`);
      clear(dir, b.out);
      rec.seconds.push(await b.run());
      rec.sizes.push(statSync(join(dir, b.out)).size);
      process.stdout.write(`  backup  ${tool.padEnd(12)} ${(size / MB / (rec.seconds.at(-1) ?? 1)).toFixed(1).padStart(7)} MB/s  ${rec.sizes.at(-1)} bytes\n`);
    },
    (tool, e) => process.stdout.write(`  backup  ${tool} FAILED: ${e}\n`),
  );

  const target = join(dir, 'target.img');
  const ours = join(dir, 'ours.img.zst');
  const ref = join(dir, 'ref.zst');
  const restore: Array<{ tool: string; rec: Rec; run: () => Promise<number> }> = [
    { tool: 'ours', rec: { seconds: [], sizes: [] }, run: () => timed(node, [cli, 'restore', ours, target, '--no-check']) },
    {
      tool: 'zstd -d|dd',
      rec: { seconds: [], sizes: [] },
      run: () => timed('sh', ['-c', 'zstd -d -q -c "$1" | dd of="$2" bs=4M iflag=fullblock oflag=direct status=none', 'sh', ref, target]),
    },
  ];
  await runInterleaved(
    restore.map((r) => ({ tool: r.tool, rec: r.rec })),
    cfg.runs,
    async (tool, rec) => {
      const r = restore.find((x) => x.tool === tool);
      if (!r) throw new Error(`unknown tool ${tool}`);
      rmSync(target, { force: true });
      rec.seconds.push(await r.run());
      const got = statSync(target).size;
      if (got !== size) throw new Error(`${tool} restored ${got} bytes, not ${size}`);
      process.stdout.write(`  restore ${tool.padEnd(12)} ${(size / MB / (rec.seconds.at(-1) ?? 1)).toFixed(1).padStart(7)} MB/s\n`);
    },
    (tool, e) => process.stdout.write(`  restore ${tool} FAILED: ${e}\n`),
  );

  const rate = (rec: Rec): number => size / MB / median(rec.seconds);
  const rows = [['backup', 'MB/s (median)', 'bytes', 'ratio']];
  for (const b of backup) rows.push([b.tool, b.rec.error ? 'FAILED' : rate(b.rec).toFixed(1), String(b.rec.sizes[0] ?? '-'), b.rec.sizes[0] ? (size / b.rec.sizes[0]).toFixed(2) : '-']);
  const rrows = [['restore', 'MB/s (median)']];
  for (const r of restore) rrows.push([r.tool, r.rec.error ? 'FAILED' : rate(r.rec).toFixed(1)]);
  process.stdout.write(`\n${table(rows)}\n\n${table(rrows)}\n\n`);

  const by = (t: string): Rec | undefined => backup.find((b) => b.tool === t)?.rec;
  const [z, zh, refRec, zip] = [by('zstd'), by('zstd+sha256'), by('zstd -T2 -3'), by('zip')];
  const checks: Check[] = [];
  const ok = (r: Rec | undefined): r is Rec => r !== undefined && !r.error && r.seconds.length > 0;
  if (ok(z) && ok(refRec)) {
    const v = rate(z) / rate(refRec);
    checks.push({ name: 'backup throughput zstd / zstd -T2 -3', value: v, target: `>= ${TARGETS.vsZstd}`, pass: v >= TARGETS.vsZstd });
    const sz = (z.sizes[0] ?? 0) / (refRec.sizes[0] ?? 1);
    checks.push({ name: 'size zstd / zstd -T2 -3', value: sz, target: `<= ${TARGETS.sizeVsZstd}`, pass: sz <= TARGETS.sizeVsZstd });
  }
  if (ok(zh) && ok(refRec)) checks.push({ name: '(info) backup throughput zstd+sha256 / zstd -T2 -3', value: rate(zh) / rate(refRec), target: '-', pass: true });
  if (ok(z) && ok(zip)) {
    const v = rate(z) / rate(zip);
    checks.push({ name: 'backup throughput zstd / zip', value: v, target: `>= ${TARGETS.vsZip}`, pass: v >= TARGETS.vsZip });
  }
  if (ok(zh) && ok(zip)) checks.push({ name: '(info) backup throughput zstd+sha256 / zip', value: rate(zh) / rate(zip), target: '-', pass: true });
  const [ro, rz] = [restore[0]?.rec, restore[1]?.rec];
  if (ok(ro) && ok(rz)) checks.push({ name: '(info) restore throughput ours / zstd -d|dd', value: rate(ro) / rate(rz), target: '-', pass: true });
  printChecks(checks);

  const file = resultsFile(repo, 'zstd');
  writeJson(file, {
    bench: 'zstd',
    date: new Date().toISOString(),
    machine: machineInfo(),
    config: cfg,
    image: { bytes: size, blocksMiB: mix },
    backup: backup.map((b) => ({ tool: b.tool, ...b.rec, medianMBps: b.rec.seconds.length ? rate(b.rec) : null })),
    restore: restore.map((r) => ({ tool: r.tool, ...r.rec, medianMBps: r.rec.seconds.length ? rate(r.rec) : null, target: 'file on tmpfs, O_DIRECT' })),
    checks,
  });
  process.stdout.write(`results: ${file}\n`);
  const failed = checks.some((c) => !c.pass) || backup.some((b) => b.rec.error) || restore.some((r) => r.rec.error);
  return failed ? 1 : 0;
}

runMain(main, 'zstd');
