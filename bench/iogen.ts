/**
 * The I/O generator against fio: the same workloads (CrystalDiskMark's set, read and write)
 * run by `fio --ioengine=io_uring --direct=1` and by src/iogen.ts on one tmpfs-backed loop
 * device, interleaved; MB/s, IOPS, p50, p99 and CPU per I/O of both, and their ratios.
 * `--via cli` runs `clonestation bench DEV --json --test ...` as a process instead (the whole
 * command, its figures read from its fio-shaped JSON by the parser that reads fio's), and
 * `--backing tmpfs,disk` repeats it on a loop over a file on disk (npm run bench:drive).
 *
 *   npm run bench:iogen                                   # 1 GiB, 5 s + 1 s ramp, 3 runs
 *   npm run bench:drive                                   # the bench command, tmpfs and disk
 *   BENCH_RUNS=1 BENCH_RUNTIME_S=2 npm run bench:iogen -- --workloads rnd4k-q32t1-read
 *
 * Needs root (losetup) and fio. Writes only to the loop device it attached itself, over a
 * file it created; detaches it and deletes the file on exit, error, SIGINT and SIGTERM.
 * Exits 0 whatever the ratios are; 1 when a tool failed, 2 on bad usage.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  MB,
  MiB,
  UsageError,
  assertOwnedLoop,
  configOrExit,
  describeFailure,
  errorMessage,
  fillRandom,
  findRepoRoot,
  firstLineOf,
  haveRequired,
  installSignalHandlers,
  isRecord,
  isRoot,
  losetupAttach,
  machineInfo,
  machineText,
  median,
  memAvailableBytes,
  onCleanup,
  parseList,
  positiveIntEnv,
  resultsFile,
  rotate,
  runMain,
  runTimed,
  table,
  writeJson,
} from './common.js';
import { IoGenerator, type IoGenPattern } from '../src/iogen.js';

interface Workload {
  name: string;
  rw: IoGenPattern;
  bs: number;
  depth: number;
  jobs: number;
}

const WORKLOADS: readonly Workload[] = [
  { name: 'seq1m-q8t1-read', rw: 'read', bs: MiB, depth: 8, jobs: 1 },
  { name: 'seq1m-q1t1-read', rw: 'read', bs: MiB, depth: 1, jobs: 1 },
  { name: 'rnd4k-q32t1-read', rw: 'randread', bs: 4096, depth: 32, jobs: 1 },
  { name: 'rnd4k-q1t1-read', rw: 'randread', bs: 4096, depth: 1, jobs: 1 },
  { name: 'seq1m-q8t1-write', rw: 'write', bs: MiB, depth: 8, jobs: 1 },
  { name: 'seq1m-q1t1-write', rw: 'write', bs: MiB, depth: 1, jobs: 1 },
  { name: 'rnd4k-q32t1-write', rw: 'randwrite', bs: 4096, depth: 32, jobs: 1 },
  { name: 'rnd4k-q1t1-write', rw: 'randwrite', bs: 4096, depth: 1, jobs: 1 },
  { name: 'rnd4k-q32t4-read', rw: 'randread', bs: 4096, depth: 32, jobs: 4 },
];
const DEFAULT_WORKLOADS = WORKLOADS.slice(0, 8).map((w) => w.name);

const USAGE = `usage: npm run bench:iogen [-- --workloads NAME,...] [--via generator|cli] [--backing tmpfs,disk]
  workloads: ${WORKLOADS.map((w) => w.name).join(', ')}
  (default: the first 8, CrystalDiskMark's set)
  environment: BENCH_SIZE_MIB (1024), BENCH_RUNTIME_S (5), BENCH_RAMP_S (1), BENCH_RUNS (3),
    BENCH_FIO_PLAIN=1: fio without --fixedbufs --registerfiles (by default fio registers its
    buffers and file as the generator does, so both ask the kernel for the same work)`;

interface Config {
  sizeBytes: number;
  runtimeS: number;
  rampS: number;
  runs: number;
  workloads: Workload[];
  fioPlain: boolean;
  repoRoot: string;
  /** generator: src/iogen.ts in this process; cli: `clonestation bench --json` as a process */
  via: 'generator' | 'cli';
  backings: ('tmpfs' | 'disk')[];
}

function parseConfig(argv: string[]): Config | 'help' {
  const { values } = parseArgs({ args: argv, options: { workloads: { type: 'string' }, via: { type: 'string' }, backing: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return 'help';
  const names = values.workloads ? values.workloads.split(',').map((s) => s.trim()).filter(Boolean) : DEFAULT_WORKLOADS;
  const workloads = names.map((n) => {
    const w = WORKLOADS.find((x) => x.name === n);
    if (!w) throw new UsageError(`unknown workload "${n}"`);
    return w;
  });
  const rampEnv = process.env['BENCH_RAMP_S'];
  const rampS = rampEnv === undefined || rampEnv === '' ? 1 : Number(rampEnv);
  if (!Number.isInteger(rampS) || rampS < 0) throw new UsageError(`BENCH_RAMP_S must be a whole number of seconds, got "${rampEnv}"`);
  return {
    sizeBytes: positiveIntEnv('BENCH_SIZE_MIB', 1024) * MiB,
    runtimeS: positiveIntEnv('BENCH_RUNTIME_S', 5),
    rampS,
    runs: positiveIntEnv('BENCH_RUNS', 3),
    workloads,
    fioPlain: process.env['BENCH_FIO_PLAIN'] === '1',
    repoRoot: findRepoRoot(),
    via: values.via === undefined ? 'generator' : values.via === 'cli' || values.via === 'generator' ? values.via : ((): never => { throw new UsageError(`--via must be generator or cli, got "${values.via}"`); })(),
    backings: parseList(values.backing ?? 'tmpfs', ['tmpfs', 'disk'] as const, 'backing'),
  };
}

/** One run's figures; latencies in µs, CPU in µs per I/O. */
interface Figures {
  mbps: number;
  iops: number;
  p50us: number;
  p99us: number;
  cpuUsPerIo: number;
}

function dirOf(w: Workload): 'read' | 'write' {
  return w.rw.includes('read') ? 'read' : 'write';
}

async function runFio(dev: string, w: Workload, cfg: Config): Promise<Figures> {
  const args = [
    '--name=bench',
    `--filename=${dev}`,
    '--ioengine=io_uring',
    '--direct=1',
    `--rw=${w.rw}`,
    `--bs=${w.bs}`,
    `--iodepth=${w.depth}`,
    `--numjobs=${w.jobs}`,
    `--size=${cfg.sizeBytes}`,
    '--time_based',
    `--runtime=${cfg.runtimeS}`,
    `--ramp_time=${cfg.rampS}`,
    '--group_reporting',
    '--output-format=json',
    ...(cfg.fioPlain ? [] : ['--fixedbufs', '--registerfiles']),
  ];
  const r = await runTimed('fio', args, { timeoutMs: (cfg.runtimeS + cfg.rampS + 60) * 1000 });
  if (r.code !== 0) throw new Error(describeFailure('fio', r));
  return fioFigures(JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))), w, 'fio');
}

/** The figures of a fio-shaped JSON document's first job (fio's, or clonestation bench --json's). */
function fioFigures(doc: unknown, w: Workload, who: string): Figures {
  const job = isRecord(doc) && Array.isArray(doc['jobs']) ? (doc['jobs'][0] as Record<string, unknown>) : undefined;
  const d = job?.[dirOf(w)] as Record<string, unknown> | undefined;
  if (!job || !d) throw new Error(`${who} printed no job figures`);
  const clat = d['clat_ns'] as { percentile?: Record<string, number> };
  const pct = clat.percentile ?? {};
  const ios = Number(d['total_ios']);
  const cpuS = ((Number(job['usr_cpu']) + Number(job['sys_cpu'])) / 100) * (Number(job['job_runtime']) / 1000);
  return {
    mbps: Number(d['bw_bytes']) / MB,
    iops: Number(d['iops']),
    p50us: Number(pct['50.000000']) / 1000,
    p99us: Number(pct['99.000000']) / 1000,
    cpuUsPerIo: ios > 0 ? (cpuS / ios) * 1e6 : NaN,
  };
}

/** `clonestation bench DEV --json` with the workload as its one --test, as a user runs it. */
async function runCli(dev: string, w: Workload, cfg: Config): Promise<Figures> {
  const cli = join(cfg.repoRoot, 'dist', 'src', 'cli.js');
  const test = `rw=${w.rw},bs=${w.bs},qd=${w.depth},jobs=${w.jobs}`;
  const args = [cli, 'bench', dev, '--test', test, '--size', String(cfg.sizeBytes), '--runtime', String(cfg.runtimeS), '--ramp', String(cfg.rampS), '--backend', 'io_uring', '--yes', '--no-ui', '--no-log', '--json'];
  const r = await runTimed(process.execPath, args, { timeoutMs: (cfg.runtimeS + cfg.rampS + 60) * 1000 });
  if (r.code !== 0) throw new Error(describeFailure('clonestation bench', r));
  return fioFigures(JSON.parse(r.stdout), w, 'clonestation bench');
}

async function runOurs(dev: string, w: Workload, cfg: Config): Promise<Figures> {
  if (cfg.via === 'cli') return runCli(dev, w, cfg);
  const gen = new IoGenerator({
    path: dev,
    rw: w.rw,
    blockSize: w.bs,
    depth: w.depth,
    jobs: w.jobs,
    size: cfg.sizeBytes,
    runtimeMs: cfg.runtimeS * 1000,
    rampMs: cfg.rampS * 1000,
    backend: 'io_uring',
    exclusive: false,
    seed: Date.now() % 1_000_000,
  });
  const r = await gen.run();
  if (r.state !== 'done') throw new Error(`generator ${r.state}: ${r.error?.message ?? ''}`);
  const d = r[dirOf(w)];
  const p = (x: number): number => (d.lat.percentiles.find((q) => q.percent === x)?.ns ?? NaN) / 1000;
  // the I/O threads' own CPU after the ramp, as fio's usr_cpu + sys_cpu count its job thread
  return { mbps: d.bw / MB, iops: d.iops, p50us: p(50), p99us: p(99), cpuUsPerIo: d.ops > 0 ? (r.cpuSeconds / d.ops) * 1e6 : NaN };
}

type Tool = 'fio' | 'clonestation';
interface Row {
  workload: string;
  runs: Record<Tool, Figures[]>;
  error?: string;
}

function med(rows: Figures[], k: keyof Figures): number {
  return median(rows.map((f) => f[k]));
}

async function main(): Promise<number> {
  const cfg = configOrExit(parseConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!isRoot('bench/iogen needs root (losetup)')) return 1;
  if (!haveRequired(['fio', 'losetup'])) return 1;
  if (memAvailableBytes() < cfg.sizeBytes * 1.5) {
    console.error(`not enough free memory for a ${cfg.sizeBytes / MiB} MiB tmpfs loop: set BENCH_SIZE_MIB lower`);
    return 1;
  }
  installSignalHandlers('stopping fio, detaching the loop, deleting its file...', 3000);
  const fioVersion = firstLineOf('fio', ['--version']) ?? 'fio';
  const ours = cfg.via === 'cli' ? 'clonestation bench (the command, as a process)' : 'the I/O generator';
  const rows: Row[] = [];
  for (const backing of cfg.backings) {
    // tmpfs: the loop driver copies memory (the tools' own cost shows); disk: a file on the
    // root file system's disk, through its direct I/O
    const dir = mkdtempSync(join(backing === 'tmpfs' ? '/dev/shm' : '/var/tmp', 'clonestation-bench-iogen-'));
    onCleanup(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'drive.img');
    await fillRandom(file, cfg.sizeBytes, { chunkBytes: 4 * MiB, sync: backing === 'disk' });
    const dev = losetupAttach(file, true);
    onCleanup(`detach ${dev}`, () => execFileSync('losetup', ['--detach', dev]));
    assertOwnedLoop(dev, file);
    console.log(`${ours} vs ${fioVersion}${cfg.fioPlain ? '' : ' --fixedbufs --registerfiles'}: ${dev} over ${backing} (${cfg.sizeBytes / MiB} MiB, direct-io=on), ` +
      `${cfg.runtimeS} s + ${cfg.rampS} s ramp, ${cfg.runs} interleaved runs; ${machineText()}`);
    for (const w of cfg.workloads) {
      const row: Row = { workload: cfg.backings.length > 1 ? `${w.name} (${backing})` : w.name, runs: { fio: [], clonestation: [] } };
      rows.push(row);
      try {
        for (let r = 0; r < cfg.runs; r++) {
          for (const tool of rotate<Tool>(['fio', 'clonestation'], r)) {
            assertOwnedLoop(dev, file);
            const f = tool === 'fio' ? await runFio(dev, w, cfg) : await runOurs(dev, w, cfg);
            row.runs[tool].push(f);
            console.log(`  ${row.workload} run ${r + 1} ${tool}: ${f.mbps.toFixed(0)} MB/s, ${f.iops.toFixed(0)} IOPS, p50 ${f.p50us.toFixed(1)} µs, p99 ${f.p99us.toFixed(1)} µs, ${f.cpuUsPerIo.toFixed(2)} µs CPU/IO`);
          }
        }
      } catch (err) {
        row.error = errorMessage(err);
        console.error(`  ${row.workload} FAILED: ${row.error}`);
      }
    }
  }

  const ratio = (a: number, b: number): string => (b > 0 ? (a / b).toFixed(2) : '-');
  const header = ['workload', 'fio MB/s', 'ours', 'x', 'fio IOPS', 'ours', 'x', 'fio p50 µs', 'ours', 'x', 'fio p99 µs', 'ours', 'x', 'fio CPU µs/IO', 'ours', 'x'];
  const lines = [header];
  for (const row of rows) {
    if (row.error || row.runs.fio.length === 0 || row.runs.clonestation.length === 0) {
      lines.push([row.workload, 'FAILED']);
      continue;
    }
    const cells = [row.workload];
    for (const [k, digits] of [['mbps', 0], ['iops', 0], ['p50us', 1], ['p99us', 1], ['cpuUsPerIo', 2]] as const) {
      const a = med(row.runs.fio, k);
      const b = med(row.runs.clonestation, k);
      cells.push(a.toFixed(digits), b.toFixed(digits), ratio(b, a));
    }
    lines.push(cells);
  }
  console.log(`\nmedians of ${cfg.runs} runs; x = ours / fio (CPU: of the I/O threads after the ramp, as fio counts its job thread; neither counts io_uring's io-wq workers nor the loop driver's threads)\n`);
  console.log(table(lines));
  const out = resultsFile(cfg.repoRoot, cfg.via === 'cli' ? 'drive' : 'iogen');
  writeJson(out, { machine: machineInfo(), fio: fioVersion, config: { ...cfg, workloads: cfg.workloads.map((w) => w.name) }, rows });
  console.log(`\nresults written to ${out}`);
  return rows.some((r) => r.error) ? 1 : 0;
}

runMain(main);
