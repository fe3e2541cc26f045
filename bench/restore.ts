/**
 * Restore benchmark (root): `clonestation restore` against the commands people use, onto a
 * loop device over tmpfs.
 *
 * One deterministic image (default 1 GiB: about 50% zeros, 25% text, 25% random; see
 * bench/mixed-image.ts) is backed up once with `clonestation backup` (default hashes: sha256)
 * as a ZIP and as a raw image. Then, interleaved (each run starts with a different tool),
 * page cache dropped before each, medians of BENCH_RUNS runs, wall clock of the whole command:
 *   zip  ours         clonestation restore X.zip LOOP --yes   (inflate + sha256 check, O_DIRECT)
 *        ours-buffered  the same with --no-direct            (buffered writes + fdatasync)
 *        unzip        unzip -p X.zip | dd of=LOOP bs=4M iflag=fullblock oflag=direct
 *   raw  ours         clonestation restore X.img LOOP --yes   (engine, O_DIRECT, sha256 check)
 *        ours-no-check  the same with --no-check             (no sha256: the engine alone)
 *        dd           dd if=X.img of=LOOP bs=4M iflag=direct oflag=direct
 * To 4 targets at once (4 loop devices over tmpfs files; bytes/s = 4 x the image / wall clock):
 *   many-zip  ours        clonestation restore X.zip L1 L2 L3 L4 --yes  (one inflate, 4 sha256 read-backs)
 *             ours-x4-seq the single restore four times, one after the other
 *             unzip-x4    four parallel unzip -p X.zip | dd of=Ln bs=4M iflag=fullblock oflag=direct
 *   many-raw  ours        clonestation restore X.img L1 L2 L3 L4 --yes  (engine 1:N, 4 sha256 read-backs)
 *             dd-x4       four parallel dd if=X.img of=Ln bs=4M iflag=direct oflag=direct
 * After every run of ours the target (every target) is compared with the image (cmp): a wrong
 * byte fails the bench. Ratios ours / baseline are printed; results JSON in
 * bench/results/restore-*.json.
 *
 *   npm run build && npm run bench:restore      # BENCH_SIZE_MIB=1024 BENCH_RUNS=3 BENCH_SETS=single,many
 */
import { rmSync, mkdtempSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeImage } from './mixed-image.js';
import {
  MB,
  MiB,
  UsageError,
  assertOwnedLoop,
  configOrExit,
  describeFailure,
  dropCaches,
  fillZeros,
  findRepoRoot,
  haveRequired,
  installSignalHandlers,
  isRoot,
  losetupAttach,
  machineInfo,
  median,
  onCleanup,
  parseList,
  positiveIntEnv,
  resultsFile,
  runInterleaved,
  runMain,
  runTimed,
  table,
  writeJson,
} from './common.js';
import { execFileSync } from 'node:child_process';

const USAGE = `usage: node dist/bench/restore.js   (as root)
environment: BENCH_SIZE_MIB (default 1024), BENCH_RUNS (default 3), BENCH_SETS (default single,many)`;

type BenchSet = 'single' | 'many';

interface Config {
  sizeMiB: number;
  runs: number;
  sets: BenchSet[];
}

function parse(argv: string[]): Config | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  if (argv.length > 0) throw new UsageError(`unexpected arguments: ${argv.join(' ')}`);
  return {
    sizeMiB: positiveIntEnv('BENCH_SIZE_MIB', 1024),
    runs: positiveIntEnv('BENCH_RUNS', 3),
    sets: parseList<BenchSet>(process.env.BENCH_SETS ?? 'single,many', ['single', 'many'], 'BENCH_SETS'),
  };
}

interface Rec {
  seconds: number[];
  skipped?: string;
  error?: string;
}

type SingleTool = 'zip:ours' | 'zip:ours-buffered' | 'zip:unzip' | 'raw:ours' | 'raw:ours-no-check' | 'raw:dd';
type ManyTool = 'many-zip:ours' | 'many-zip:ours-x4-seq' | 'many-zip:unzip-x4' | 'many-raw:ours' | 'many-raw:dd-x4';
type Tool = SingleTool | ManyTool;
/** targets of the many-target runs */
const N = 4;

async function main(): Promise<number> {
  const cfg = configOrExit(parse, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!isRoot('bench/restore needs root (loop devices, drop_caches)')) return 2;
  if (!haveRequired(['unzip', 'dd', 'losetup', 'cmp'])) return 2;
  installSignalHandlers('stopping the benchmark', 2000);
  const repo = findRepoRoot();
  const cli = join(repo, 'dist', 'src', 'cli.js');
  const dir = mkdtempSync('/dev/shm/cs-bench-restore-');
  onCleanup('scratch folder', () => rmSync(dir, { recursive: true, force: true }));
  const size = cfg.sizeMiB * MiB;

  // The image, then its two backups made by clonestation itself; the source goes (tmpfs room).
  const src = join(dir, 'source.img');
  process.stdout.write(`generating a ${cfg.sizeMiB} MiB mixed image ...\n`);
  const mix = await makeImage(src, size);
  const zip = join(dir, 'x.zip');
  const raw = join(dir, 'x.img');
  for (const out of [zip, raw]) {
    const r = await runTimed(process.execPath, [cli, 'backup', src, out], { timeoutMs: 3_600_000 });
    if (r.code !== 0) throw new Error(describeFailure(`clonestation backup ${out}`, r));
  }
  rmSync(src);
  process.stdout.write(`zip ${(statSync(zip).size / MiB).toFixed(0)} MiB, raw ${cfg.sizeMiB} MiB; mix (MiB) ${JSON.stringify(mix)}\n`);

  const loops: string[] = [];
  for (let i = 0; i < (cfg.sets.includes('many') ? N : 1); i++) {
    const tfile = join(dir, `target-${i}.img`);
    await fillZeros(tfile, size, { chunkBytes: 4 * MiB, sync: false });
    const l = losetupAttach(tfile, false);
    onCleanup(`losetup -d ${l}`, () => execFileSync('losetup', ['-d', l]));
    assertOwnedLoop(l, tfile);
    loops.push(l);
  }
  const loop = loops[0] as string;
  // every command's exit status counts: a failed dd in the background fails the run
  const parallel = (one: string): [string, string[]] => ['sh', ['-c', `img="$1"; shift; pids=""; for d; do ${one} & pids="$pids $!"; done; for p in $pids; do wait $p || exit 1; done`, 'sh']];
  const withArgs = (c: [string, string[]], args: string[]): [string, string[]] => [c[0], [...c[1], ...args]];

  const singles: Record<SingleTool, [string, string[]]> = {
    'zip:ours': [process.execPath, [cli, 'restore', zip, loop, '--yes']],
    'zip:ours-buffered': [process.execPath, [cli, 'restore', zip, loop, '--yes', '--no-direct']],
    'zip:unzip': ['sh', ['-c', 'unzip -p "$1" | dd of="$2" bs=4M iflag=fullblock oflag=direct status=none', 'sh', zip, loop]],
    'raw:ours': [process.execPath, [cli, 'restore', raw, loop, '--yes']],
    'raw:ours-no-check': [process.execPath, [cli, 'restore', raw, loop, '--yes', '--no-check']],
    'raw:dd': ['dd', [`if=${raw}`, `of=${loop}`, 'bs=4M', 'iflag=direct', 'oflag=direct', 'status=none']],
  };
  const many: Record<ManyTool, [string, string[]]> = {
    'many-zip:ours': [process.execPath, [cli, 'restore', zip, ...loops, '--yes']],
    'many-zip:ours-x4-seq': ['sh', ['-c', 'cli="$1"; img="$2"; shift 2; for d; do node "$cli" restore "$img" "$d" --yes || exit 1; done', 'sh', cli, zip, ...loops]],
    'many-zip:unzip-x4': withArgs(parallel('unzip -p "$img" | dd of="$d" bs=4M iflag=fullblock oflag=direct status=none'), [zip, ...loops]),
    'many-raw:ours': [process.execPath, [cli, 'restore', raw, ...loops, '--yes']],
    'many-raw:dd-x4': withArgs(parallel('dd if="$img" of="$d" bs=4M iflag=direct oflag=direct status=none'), [raw, ...loops]),
  };
  const commands: Partial<Record<Tool, [string, string[]]>> = { ...(cfg.sets.includes('single') ? singles : {}), ...(cfg.sets.includes('many') ? many : {}) };
  const bytesOf = (t: Tool): number => (t.startsWith('many-') ? N * size : size);
  const entries = (Object.keys(commands) as Tool[]).map((tool) => ({ tool, rec: { seconds: [] } as Rec }));
  await runInterleaved(
    entries,
    cfg.runs,
    async (tool, rec) => {
      dropCaches();
      const [cmd, args] = commands[tool] as [string, string[]];
      const r = await runTimed(cmd, args, { timeoutMs: 3_600_000 });
      if (r.code !== 0) throw new Error(describeFailure(tool, r));
      rec.seconds.push(r.seconds);
      process.stdout.write(`  ${tool.padEnd(22)} ${r.seconds.toFixed(2)} s  ${((bytesOf(tool) / r.seconds) / MB).toFixed(0)} MB/s\n`);
      if (tool.includes('ours')) {
        for (const l of tool.startsWith('many-') ? loops : [loop]) {
          const c = await runTimed('cmp', ['-n', String(size), raw, l], { timeoutMs: 600_000 });
          if (c.code !== 0) throw new Error(`${tool}: target ${l} differs from the image: ${c.stdout}${c.stderr}`);
        }
      }
    },
    (tool, e) => process.stdout.write(`  ${tool} FAILED: ${e}\n`),
  );

  const rate = (t: Tool): number => {
    const rec = entries.find((e) => e.tool === t)?.rec;
    return rec && rec.seconds.length > 0 && !rec.error ? bytesOf(t) / median(rec.seconds) / MB : NaN;
  };
  const rows = entries.map((e) => [e.tool, e.rec.error ? 'failed' : rate(e.tool).toFixed(0), e.rec.seconds.map((s) => s.toFixed(2)).join(' ')]);
  process.stdout.write(`\n${table([['tool', 'MB/s (median)', 'seconds'], ...rows], [2])}\n\n`);
  const ratios: Record<string, number> = {};
  if (cfg.sets.includes('single')) {
    ratios['zip: ours / unzip|dd'] = rate('zip:ours') / rate('zip:unzip');
    ratios['zip: ours O_DIRECT / ours buffered'] = rate('zip:ours') / rate('zip:ours-buffered');
    ratios['raw: ours / dd'] = rate('raw:ours') / rate('raw:dd');
    ratios['raw: ours --no-check / dd'] = rate('raw:ours-no-check') / rate('raw:dd');
  }
  if (cfg.sets.includes('many')) {
    // aggregate bytes/s to 4 targets (targets: >= 3x, >= 1.5x, >= 1.5x)
    ratios['4 targets, zip: ours / 4 consecutive single restores'] = rate('many-zip:ours') / rate('many-zip:ours-x4-seq');
    ratios['4 targets, zip: ours / 4 parallel unzip|dd'] = rate('many-zip:ours') / rate('many-zip:unzip-x4');
    ratios['4 targets, raw: ours / 4 parallel dd'] = rate('many-raw:ours') / rate('many-raw:dd-x4');
  }
  process.stdout.write(`${table([['ratio', 'value'], ...Object.entries(ratios).map(([k, v]) => [k, `${v.toFixed(2)}x`])])}\n`);
  const file = resultsFile(repo, 'restore');
  writeJson(file, {
    bench: 'restore',
    date: new Date().toISOString(),
    machine: machineInfo(),
    config: cfg,
    image: { bytes: size, blocksMiB: mix, zipBytes: statSync(zip).size, hashes: 'sha256 (backup default), checked by restore' },
    target: `loop device over a file on tmpfs (${loops.length} for the many-target runs)`,
    tools: entries.map((e) => ({ tool: e.tool, command: (commands[e.tool] ?? []).flat().join(' '), bytesPerRun: bytesOf(e.tool), ...e.rec, medianMBps: rate(e.tool) })),
    ratios,
  });
  process.stdout.write(`results: ${file}\n`);
  return entries.some((e) => e.rec.error) ? 1 : 0;
}

runMain(main, 'restore');
