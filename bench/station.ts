/**
 * Station benchmark: many jobs at once, one master to many targets, a slow target in a
 * 1:N job, and the station's memory with 16 jobs. Against parallel dd where a baseline
 * exists. Everything runs on loop devices over tmpfs files (and one nbdkit-backed slow
 * target) that this benchmark creates itself.
 *
 *   npx tsc -p . && node dist/bench/station.js          (or: npm run bench:station)
 *   BENCH_RUNS=1 BENCH_STATION_MIB=64 node dist/bench/station.js --only pairs,rss
 *
 * The acceptance criteria of the station (issue "The station"), each measured here:
 *
 *  1. pairs: 8 clones at once, 8 sources -> 8 targets of BENCH_STATION_MIB (256) each.
 *     clonestation `clone --pair S1:D1 ... --pair S8:D8 --yes --json --no-verify
 *     --max-parallel 8` (one process, one worker thread per job) against 8 x
 *     `dd if=Si of=Di bs=4M iflag=direct oflag=direct` started together. Aggregate
 *     throughput = 8 x size / wall clock (spawn to the last exit). Criterion: >= 1.2x dd.
 *  2. 1n: one source -> 4 targets of BENCH_STATION_1N_MIB (512). clonestation
 *     `clone SRC T1 T2 T3 T4 --yes --json --no-verify` (reads the source once) against 4 dd
 *     from the same source started together. Aggregate written bytes (4 x size) / wall
 *     clock. Criterion: >= 1.5x.
 *  3. slow: the same source -> T1 T2 T3 + a fourth target that writes at
 *     BENCH_STATION_SLOW_MBPS (4 MB/s): nbdkit memory plugin behind the rate filter, exposed
 *     by nbdfuse, attached as a --direct-io=on loop device (as test/helpers/slow-target.ts).
 *     Criterion: "the other three finish within 1.3x their time without it".
 *     How the three fast targets' finishing time is measured (without touching src/): the
 *     station's JSON report has per-job timing only, and its progress events are per job.
 *     But clone-task.ts runs a 1:N job as one shared EngineJob over every target; a target
 *     that alone paces the stream for lagMs (1000 ms) is detached and caught up on its own
 *     AFTER the shared EngineJob has returned, and that return happens only after every
 *     live target's last write and its fdatasync (native Job::run -> syncTargets). The
 *     worker then posts a phase message, which the station logs (--log FILE, pino, sync) as
 *     a second 'job state' line ('catching-up' when something was detached). So, per job:
 *        first 'job state' line   = the shared copy starts,
 *        second 'job state' line  = the shared copy is over: every target still in it is
 *                                   written and fsynced (with --no-verify and nothing
 *                                   detached this line is the 'finished' phase),
 *     and "the fast targets' time" = second - first, to the millisecond, read the same way
 *     for the run with the slow target and for the run without it (SRC -> T1 T2 T3, the
 *     three fast targets alone: the strict reading of "without it"). The 1:4 all-fast run of
 *     benchmark 2 (same devices, same interleaved series) is reported as a second baseline.
 *     Also kept: spawn -> second line (what a user waits for, Node start-up included).
 *     To keep runs short, once the second line appears the slow target's rate is raised
 *     (nbdkit rate-file) so that the catch-up finishes in seconds instead of size/4 MB/s;
 *     this happens after the measured interval and does not affect it. Before each run the
 *     slow rate is set again and 2.5 s are allowed for the change and for the token bucket
 *     (2 s burst, i.e. 8 MB at 4 MB/s) to settle, the same burst for every run. A run in
 *     which the slow target was never detached is reported (not an error).
 *  4. rss: 16 jobs at once, 16 pairs of BENCH_STATION_RSS_MIB (64) each, through a job file
 *     (`run JOBFILE --yes --json --no-verify`, maxParallel 16). The station is one process
 *     (worker threads), so that process's VmHWM is the station's peak RSS; the CLI's done
 *     event has no maxRssBytes for station runs, so /proc/PID/status VmHWM is polled every
 *     20 ms (a high-water mark: the last read before exit is the peak up to that read).
 *     The same is recorded for every station run. Criterion: <= 600 MiB. The same 16 jobs run
 *     again with `--verify --hash sha256` (tool station-16-hash: a hash tap on every copy,
 *     then every target read back): the same criterion.
 *  5. scale: BENCH_STATION_SCALE_JOBS (1000,10000) tiny file jobs (BENCH_STATION_SCALE_KIB,
 *     4 KiB each) from one job file, in a folder of /dev/shm (`run JOBFILE --yes --json
 *     --no-verify`, maxParallel 8 by default), and again with `--verify --hash sha256` (a
 *     hash tap and a read-back per job); targets deleted before every run. Reports
 *     wall seconds and peak RSS (VmHWM as above) per job count, the cost per job, the
 *     marginal cost per job between the smallest and the largest count ((t2 - t1) /
 *     (n2 - n1): start-up left out) and the ratio of the largest count's per-job cost to the
 *     smallest's. Criteria: peak RSS <= 600 MiB at every count, and the marginal cost per job
 *     <= 1.5x the smallest count's cost per job (linear, not quadratic).
 *
 * Runs of a benchmark's tools are interleaved (the order rotates every run), the page cache
 * is dropped before each run and then each tool is run once on its first pair copying
 * next to nothing (`--length 4KiB`: an empty range is refused; dd `count=0`): the drop is for the data, and without this the
 * station's runs also timed reading node (~100 MB), our modules and the addon back from
 * the system disk, ~0.15 s a run here (CLONESTATION_TRACE=1), against dd's 80 KB. Medians are printed with min/max, then ratios and PASS/FAIL
 * lines, a Markdown fragment, and bench/results/station-<ISO date>.json is written.
 * The first run of every tool is verified: 5 regions of each of its targets are zeroed
 * first, then every target is compared in full with its source (cmp) after the run (the
 * slow target starts as zeros in nbdkit's memory and is written by nothing else, so it is
 * compared in full without wiping). Every station run must also end with exit 0 and every
 * job and target 'done' in its report.
 *
 * env: BENCH_RUNS (default 3), BENCH_STATION_MIB (pairs, default 256),
 *      BENCH_STATION_1N_MIB (1:N and slow, default 512), BENCH_STATION_RSS_MIB (default 64),
 *      BENCH_STATION_SLOW_MBPS (default 4, MB = 1e6 bytes), BENCH_STATION_SHM_MIB (most
 *      tmpfs any one benchmark may use, default 8192), BENCH_STATION_SCALE_JOBS (job counts
 *      of scale, default 1000,10000), BENCH_STATION_SCALE_KIB (bytes per scale job, default
 *      4), CLONESTATION_ROOT (repo root).
 * Benchmarks run one after another and each tears its devices down before the next starts.
 *
 * Needs root (losetup, FUSE, drop_caches). Writes only to loop devices it attached itself
 * (checked against their backing files before every run), and detaches them, stops the
 * nbdkit/nbdfuse processes it started and deletes its files on exit, error, SIGINT, SIGTERM
 * and SIGHUP. Exits 0 whatever the ratios are; 1 on real errors (a tool failed, a copy was
 * wrong, a setup could not be built); 2 on bad usage; 128+N on a signal.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  MB,
  MiB,
  UsageError,
  assertOwnedLoop as assertOwnedLoopFile,
  configOrExit,
  describeFailure,
  dropCaches,
  errorMessage,
  fillRandom,
  fillZeros,
  findExecutable,
  findRepoRoot,
  firstLineOf,
  fmtMiB,
  haveRequired,
  installSignalHandlers,
  isRecord,
  isRoot,
  loopDirectIo,
  losetupAttach,
  machineBusySeconds,
  machineInfo,
  machineText,
  median,
  memAvailableBytes,
  onCleanup,
  parseList,
  positiveIntEnv,
  resultsFile,
  runInterleaved,
  runMain,
  runTimed,
  table,
  withOwnCleanups,
  writeJson,
  type TimedResult,
} from './common.js';

// ---------------------------------------------------------------------------------------
// Configuration

const BENCH_NAMES = ['pairs', '1n', 'slow', 'rss', 'scale'] as const;
type BenchName = (typeof BENCH_NAMES)[number];

const PAIRS = 8;
const FAN_OUT = 4;
const RSS_JOBS = 16;
const RSS_LIMIT_BYTES = 600 * MiB;
const SHM_BASE = '/dev/shm';
/** Memory left free beyond the tmpfs files: the station itself, nbdkit, the rest. */
const HEADROOM_BYTES = 1536 * MiB;
/** After setting the slow rate: time for nbdkit to read its rate-file and its bucket to settle. */
const SLOW_SETTLE_MS = 2500;

interface Config {
  runs: number;
  pairsBytes: number;
  fanBytes: number;
  rssBytes: number;
  /** job counts of the scale benchmark, smallest first */
  scaleJobs: number[];
  scaleJobBytes: number;
  slowBytesPerSec: number;
  shmBudgetBytes: number;
  benches: BenchName[];
  repoRoot: string;
}

function sizeEnv(name: string, fallbackMiB: number): number {
  const mib = positiveIntEnv(name, fallbackMiB);
  if (mib < 16) throw new UsageError(`${name} must be at least 16 (MiB)`);
  return mib * MiB;
}

const USAGE = `usage: node dist/bench/station.js [--only ${BENCH_NAMES.join(',')}]
env: BENCH_RUNS (3), BENCH_STATION_MIB (256), BENCH_STATION_1N_MIB (512),
     BENCH_STATION_RSS_MIB (64), BENCH_STATION_SLOW_MBPS (4), BENCH_STATION_SHM_MIB (8192),
     BENCH_STATION_SCALE_JOBS (1000,10000), BENCH_STATION_SCALE_KIB (4),
     CLONESTATION_ROOT (repo root)`;

/** BENCH_STATION_SCALE_JOBS: at least two job counts, e.g. "1000,10000". */
function scaleJobsEnv(): number[] {
  const raw = process.env['BENCH_STATION_SCALE_JOBS'];
  if (raw === undefined || raw === '') return [1000, 10000];
  const list = raw.split(',').map((x) => Number(x.trim()));
  if (list.length < 2 || list.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000))
    throw new UsageError(`BENCH_STATION_SCALE_JOBS must be two or more job counts from 1 to 100000, comma-separated, got "${raw}"`);
  return [...new Set(list)].sort((a, b) => a - b);
}

function parseConfig(argv: string[]): Config | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: { only: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) return 'help';
  return {
    runs: positiveIntEnv('BENCH_RUNS', 3),
    pairsBytes: sizeEnv('BENCH_STATION_MIB', 256),
    fanBytes: sizeEnv('BENCH_STATION_1N_MIB', 512),
    rssBytes: sizeEnv('BENCH_STATION_RSS_MIB', 64),
    scaleJobs: scaleJobsEnv(),
    scaleJobBytes: positiveIntEnv('BENCH_STATION_SCALE_KIB', 4) * 1024,
    slowBytesPerSec: positiveIntEnv('BENCH_STATION_SLOW_MBPS', 4) * MB,
    shmBudgetBytes: positiveIntEnv('BENCH_STATION_SHM_MIB', 8192) * MiB,
    benches: values.only === undefined ? [...BENCH_NAMES] : parseList(values.only, BENCH_NAMES, 'benchmark'),
    repoRoot: findRepoRoot(),
  };
}

// ---------------------------------------------------------------------------------------
// Small helpers (the shared ones, cleanup and signals are in common.ts)

/** Blocks the (main) thread for ms: for synchronous cleanup only. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function fmtNum(x: number | undefined, digits = 0): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

// ---------------------------------------------------------------------------------------
// Child processes are run by runTimed (common.ts), timed, optionally watched while they run

/** VmHWM (peak resident set) of a live process, in bytes; undefined once it is gone. */
function vmHwmBytes(pid: number): number | undefined {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : undefined;
}

// ---------------------------------------------------------------------------------------
// Loop devices over files of our own

/** A source and the target a tool copies it to. */
type Pair = { src: Device; dst: Device };

interface Device {
  /** what it is, for messages */
  name: string;
  /** the backing file this benchmark created */
  file: string;
  dev: string;
}

/**
 * Safety check before anything writes: d.dev must be a loop device whose backing file is
 * the file this benchmark created (common.ts); a file that can no longer be resolved (its
 * FUSE server is gone) is compared by the path it was attached with. Throws otherwise.
 */
function assertOwnedLoop(d: Device): void {
  assertOwnedLoopFile(d.dev, d.file, { name: d.name, fileMayBeGone: true });
}

function attachLoop(name: string, file: string, directIo: boolean): Device {
  const dev = losetupAttach(file, directIo);
  const d: Device = { name, file, dev };
  // Registered before the ownership check: a loop we attached is detached whatever happens.
  onCleanup(`detach ${dev}`, () => {
    // Detach only if it still is ours (a device number can be reused once detached).
    try {
      assertOwnedLoop(d);
    } catch {
      return;
    }
    execFileSync('losetup', ['--detach', dev]);
  });
  assertOwnedLoop(d);
  if (directIo && !loopDirectIo(dev)) {
    console.warn(`WARNING: ${dev} (${name}) did not enable direct I/O`);
  }
  return d;
}

/** A directory of our own under /dev/shm, removed at cleanup (after what is inside it). */
function makeWorkDir(tag: string): string {
  const dir = mkdtempSync(join(SHM_BASE, `clonestation-bench-station-${tag}-`));
  onCleanup(`remove ${dir}`, () => {
    // Never recurse into a mount (the slow target's FUSE file system lives under here).
    if (readFileSync('/proc/mounts', 'utf8').includes(` ${dir}/`)) {
      console.error(`cleanup: something under ${dir} is still mounted; leaving ${dir} in place`);
      return;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

async function makeLoopFile(dir: string, name: string, sizeBytes: number, content: 'random' | 'zeros'): Promise<Device> {
  const file = join(dir, `${name}.img`);
  if (content === 'random') await fillRandom(file, sizeBytes, { chunkBytes: Math.min(64 * MiB, sizeBytes), sync: false });
  else await fillZeros(file, sizeBytes, { chunkBytes: Math.min(64 * MiB, sizeBytes), sync: false });
  return attachLoop(name, file, false);
}

// ---------------------------------------------------------------------------------------
// The slow target: nbdkit memory + rate filter -> nbdfuse -> a direct-I/O loop device

interface SlowTarget {
  device: Device;
  rateFile: string;
  bytesPerSec: number;
  /** true once anything wrote to it (it starts as zeros: the first write is verifiable) */
  written: boolean;
}

function pidFromFile(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Signals pid only if its command line still names `mark` (our socket or image path). */
function killOurs(pid: number | undefined, mark: string, what: string): void {
  if (pid === undefined) return;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return; // gone
  }
  if (cmdline === '') return; // a zombie (it has exited) or a kernel thread: nothing to stop
  if (!cmdline.includes(mark)) {
    console.error(`cleanup: pid ${pid} is no longer our ${what} (${cmdline.trim()}); not signalling it`);
    return;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 60 && existsSync(`/proc/${pid}`); i++) {
    // A zombie child of ours still has /proc/PID; its cmdline is then empty.
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8') === '') break;
    } catch {
      break;
    }
    sleepSync(50);
  }
}

function writeRate(rateFile: string, bytesPerSec: number): void {
  // nbdkit's rate filter counts bits per second; the file must be replaced atomically.
  const tmp = `${rateFile}.new`;
  writeFileSync(tmp, `${Math.round(bytesPerSec * 8)}\n`);
  renameSync(tmp, rateFile);
}

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`slow target: timed out waiting for ${what}`);
    await sleep(50);
  }
}

const FAST_RATE_BYTES = 100e9; // "unlimited" for the catch-up and the read-back

async function createSlowTarget(dir: string, sizeBytes: number, bytesPerSec: number): Promise<SlowTarget> {
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt, { recursive: true });
  const sock = join(dir, 'nbd.sock');
  const rateFile = join(dir, 'rate');
  const nbdkitPid = join(dir, 'nbdkit.pid');
  const fusePid = join(dir, 'nbdfuse.pid');
  const img = join(mnt, 'disk.img');
  writeRate(rateFile, bytesPerSec);
  // Cleanups run LIFO: loop detach, then unmount + nbdfuse, then nbdkit, then the directory.
  onCleanup(`stop nbdkit (${sock})`, () => killOurs(pidFromFile(nbdkitPid), sock, 'nbdkit'));
  execFileSync(
    'nbdkit',
    ['-U', sock, '-P', nbdkitPid, '--filter=rate', 'memory', `size=${sizeBytes}`, `rate=${Math.round(bytesPerSec * 8)}`, `rate-file=${rateFile}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  await waitFor(() => existsSync(sock) && pidFromFile(nbdkitPid) !== undefined, 'the nbdkit socket');
  // nbdfuse stays in the foreground: detached gives it its own session (as setsid would).
  const fuse = spawn('nbdfuse', ['-P', fusePid, img, '--unix', sock], { stdio: 'ignore', detached: true });
  fuse.unref();
  onCleanup(`unmount ${mnt} and stop nbdfuse`, () => {
    if (readFileSync('/proc/mounts', 'utf8').includes(` ${mnt} `)) {
      try {
        execFileSync('fusermount3', ['-u', '-z', mnt], { stdio: 'ignore' });
      } catch (e) {
        console.error(`cleanup: fusermount3 -u -z ${mnt} failed: ${errorMessage(e)}`);
      }
    }
    killOurs(pidFromFile(fusePid) ?? fuse.pid, img, 'nbdfuse');
  });
  await waitFor(() => existsSync(img) && pidFromFile(fusePid) !== undefined, 'the nbdfuse file');
  const device = attachLoop('slow target', img, true);
  return { device, rateFile, bytesPerSec, written: false };
}

// ---------------------------------------------------------------------------------------
// Verification: wipe regions of every target, run, compare every target in full

function wipeRegionsOf(sizeBytes: number): Array<{ offset: number; length: number }> {
  const length = Math.min(4 * MiB, Math.floor(sizeBytes / 8 / MiB) * MiB);
  const at = (f: number): number => Math.floor((sizeBytes * f) / MiB) * MiB;
  return [0, 0.25, 0.5, 0.75].map((f) => ({ offset: at(f), length })).concat([{ offset: sizeBytes - length, length }]);
}

/** Zeroes 5 regions on a target so that a tool that wrote nothing cannot pass the compare. */
async function wipeRegions(d: Device, sizeBytes: number): Promise<void> {
  assertOwnedLoop(d);
  const regions = wipeRegionsOf(sizeBytes);
  const zeros = Buffer.alloc(Math.max(...regions.map((r) => r.length)));
  const fh = await open(d.dev, 'r+');
  try {
    for (const r of regions) await fh.write(zeros, 0, r.length, r.offset);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Compares the first sizeBytes of every (source, target) pair; throws on a difference. */
async function compareAll(pairs: Pair[], sizeBytes: number): Promise<void> {
  dropCaches(); // read what reached the devices, not cached pages
  for (const { src, dst } of pairs) {
    const r = await runTimed('cmp', ['-n', String(sizeBytes), src.dev, dst.dev], { timeoutMs: 300_000, reportTimeout: true });
    if (r.code === 1) throw new Error(`BROKEN COPY: ${dst.name} ${dst.dev} differs from ${src.name} ${src.dev}: ${r.stdout.trim()}`);
    if (r.code !== 0) throw new Error(describeFailure('cmp', r));
  }
}

// ---------------------------------------------------------------------------------------
// The station CLI and its outputs

interface LogLine {
  time: number;
  msg: string;
  job?: number;
  state?: string;
}

function readLog(path: string): LogLine[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o: unknown = JSON.parse(line);
      if (!isRecord(o) || typeof o['time'] !== 'number' || typeof o['msg'] !== 'string') continue;
      out.push({
        time: o['time'],
        msg: o['msg'],
        ...(typeof o['job'] === 'number' ? { job: o['job'] } : {}),
        ...(typeof o['state'] === 'string' ? { state: o['state'] } : {}),
      });
    } catch {
      // a line caught mid-write
    }
  }
  return out;
}

/** The 'job state' lines of one job, in order. */
function stateLines(log: LogLine[], job: number): LogLine[] {
  return log.filter((l) => l.msg === 'job state' && l.job === job);
}

interface SharedPhase {
  /** first 'job state' line to the second: the shared copy, every live target fsynced */
  seconds: number;
  startMs: number;
  endMs: number;
  /** the state the second line shows: 'catching-up' when a target was detached */
  endState: string;
}

function sharedPhaseOf(log: LogLine[], job: number): SharedPhase | undefined {
  const lines = stateLines(log, job);
  const first = lines[0];
  const second = lines[1];
  if (!first || !second) return undefined;
  return { seconds: (second.time - first.time) / 1000, startMs: first.time, endMs: second.time, endState: second.state ?? '?' };
}

/** First 'job state' of any job to the last 'job ended': the station's own copy time. */
function inProcessSeconds(log: LogLine[]): number | undefined {
  const starts = log.filter((l) => l.msg === 'job state').map((l) => l.time);
  const ends = log.filter((l) => l.msg === 'job ended').map((l) => l.time);
  if (starts.length === 0 || ends.length === 0) return undefined;
  return (Math.max(...ends) - Math.min(...starts)) / 1000;
}

interface StationOutcome {
  exec: TimedResult;
  peakRssBytes?: number;
  report: Record<string, unknown>;
  log: LogLine[];
}

/**
 * Runs the station CLI with --log and --report in a scratch directory, polling its VmHWM
 * (and, if given, calling onLog with the log so far). Throws unless it exited 0 with every
 * job and every target 'done'.
 */
async function runStationCli(
  ctx: BenchContext,
  args: string[],
  expectJobs: number,
  opts: { timeoutMs: number; onLog?: (log: LogLine[]) => void },
): Promise<StationOutcome> {
  const scratch = mkdtempSync(join(ctx.scratchDir, 'run-'));
  try {
    const logPath = join(scratch, 'station.log');
    const reportPath = join(scratch, 'report.json');
    let peak: number | undefined;
    let ticks = 0;
    const exec = await runTimed(process.execPath, [ctx.cli, ...args, '--log', logPath, '--report', reportPath], {
      cwd: ctx.repoRoot,
      timeoutMs: opts.timeoutMs,
      reportTimeout: true,
      watchMs: 20,
      watch: (pid) => {
        // The log is read every 5th tick (100 ms), and only when someone listens.
        if (opts.onLog && ++ticks % 5 === 0) opts.onLog(readLog(logPath));
        const hwm = vmHwmBytes(pid); // throws once the process is gone: runTimed ignores that
        if (hwm !== undefined) peak = Math.max(peak ?? 0, hwm);
      },
    });
    if (exec.code !== 0) throw new Error(describeFailure('clonestation', exec));
    let report: unknown;
    try {
      report = JSON.parse(readFileSync(reportPath, 'utf8'));
    } catch (e) {
      throw new Error(`clonestation exited 0 but its report ${reportPath} is unreadable: ${errorMessage(e)}`);
    }
    if (!isRecord(report) || !Array.isArray(report['jobs'])) throw new Error('clonestation report has no jobs array');
    const jobs = report['jobs'] as unknown[];
    if (jobs.length !== expectJobs) throw new Error(`clonestation report has ${jobs.length} jobs, expected ${expectJobs}`);
    for (const j of jobs) {
      if (!isRecord(j) || j['state'] !== 'done') throw new Error(`clonestation job not done: ${JSON.stringify(j).slice(0, 500)}`);
      const targets = Array.isArray(j['targets']) ? (j['targets'] as unknown[]) : [];
      for (const t of targets) {
        if (!isRecord(t) || t['state'] !== 'done') throw new Error(`clonestation target not done: ${JSON.stringify(t).slice(0, 500)}`);
      }
    }
    return { exec, ...(peak !== undefined ? { peakRssBytes: peak } : {}), report, log: readLog(logPath) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Backend(s) named in a station report, e.g. "io_uring". */
function backendsOf(report: Record<string, unknown>): string {
  const jobs = Array.isArray(report['jobs']) ? (report['jobs'] as unknown[]) : [];
  const names = new Set(jobs.map((j) => (isRecord(j) && typeof j['backend'] === 'string' ? j['backend'] : '?')));
  return [...names].join(',');
}

/** Per-target detach offsets of job 1 (undefined when a target stayed in the shared stream). */
function detachedOffsets(report: Record<string, unknown>): Array<number | undefined> {
  const jobs = Array.isArray(report['jobs']) ? (report['jobs'] as unknown[]) : [];
  const j = jobs[0];
  const targets = isRecord(j) && Array.isArray(j['targets']) ? (j['targets'] as unknown[]) : [];
  return targets.map((t) => (isRecord(t) && typeof t['detachedAt'] === 'number' ? t['detachedAt'] : undefined));
}

// ---------------------------------------------------------------------------------------
// Tools and runs

interface BenchContext {
  repoRoot: string;
  cli: string;
  scratchDir: string;
  runs: number;
}

interface RunResult {
  /** spawn of the first process to the exit of the last, seconds */
  wallSeconds: number;
  /** bytes the run moved: written bytes summed over every target */
  bytes: number;
  /** bytes / wallSeconds */
  bytesPerSec: number;
  peakRssBytes?: number;
  /** station runs: first 'job state' to last 'job ended' in its log */
  inProcessSeconds?: number;
  /** 1:N station runs: the shared copy (every target still in it written and fsynced) */
  sharedPhaseSeconds?: number;
  /** spawn to the end of the shared copy */
  sharedPhaseFromSpawnSeconds?: number;
  sharedPhaseEndState?: string;
  /** slow runs: whether the slow target was detached, and at which source offset */
  slowDetachedAt?: number | null;
  loadavg1: number;
  /** busy CPU seconds of the whole machine during the run (every process and kernel thread) */
  cpuSeconds?: number;
  backend?: string;
}

interface Tool {
  id: string;
  label: string;
  command: string;
  /** the (source, target) pairs it writes, for wiping and verification */
  copies: Pair[];
  /** every device the run touches, checked before each run */
  devices: Device[];
  missing?: () => string | undefined;
  /** after the cache drop: the tool's programs back in the page cache, nothing copied */
  warm: () => void;
  run: () => Promise<Omit<RunResult, 'loadavg1'>>;
}

interface ToolRecord {
  id: string;
  label: string;
  command: string;
  runs: RunResult[];
  skipped?: string;
  error?: string;
  verified?: boolean;
}

function timeoutFor(bytes: number): number {
  // Generous: 2 minutes plus 10 MB/s, so a hung tool cannot stall the run forever.
  return 120_000 + (bytes / (10 * MB)) * 1000;
}

/** N dd processes started together; wall clock from the first spawn to the last exit. */
function parallelDdTool(id: string, label: string, pairs: Pair[], sizeBytes: number): Tool {
  return {
    id,
    label,
    command: `${pairs.length} x dd if=SRC of=DST bs=4M iflag=direct oflag=direct status=none, started together`,
    copies: pairs,
    devices: pairs.flatMap((p) => [p.src, p.dst]),
    missing: () => (findExecutable('dd') ? undefined : 'dd is not installed (Debian: apt-get install coreutils)'),
    warm: () => execFileSync('dd', [`if=${pairs[0].src.dev}`, `of=${pairs[0].dst.dev}`, 'bs=4M', 'count=0', 'iflag=direct', 'oflag=direct', 'status=none']),
    run: async () => {
      const bytes = pairs.length * sizeBytes;
      const t0 = process.hrtime.bigint();
      const results = await Promise.all(
        pairs.map(({ src, dst }) =>
          runTimed('dd', [`if=${src.dev}`, `of=${dst.dev}`, 'bs=4M', 'iflag=direct', 'oflag=direct', 'status=none'], {
            timeoutMs: timeoutFor(bytes),
            reportTimeout: true,
          }),
        ),
      );
      const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const bad = results.find((r) => r.code !== 0);
      if (bad) throw new Error(describeFailure('dd', bad));
      return { wallSeconds, bytes, bytesPerSec: bytes / wallSeconds };
    },
  };
}

/**
 * The station's programs (node, our modules, piscina, pino, the addon, the worker) back in
 * the page cache after a drop: one station run of the same shape that copies one 4 KiB block.
 */
function warmStation(ctx: BenchContext, pair: Pair): void {
  const scratch = mkdtempSync(join(ctx.scratchDir, 'warm-'));
  try {
    execFileSync(
      process.execPath,
      [ctx.cli, 'clone', '--pair', `${pair.src.dev}:${pair.dst.dev}`, '--length', '4KiB', '--yes', '--json', '--no-verify', '--log', join(scratch, 'station.log'), '--report', join(scratch, 'report.json')],
      { cwd: ctx.repoRoot, stdio: 'ignore' },
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function cliMissing(ctx: BenchContext): () => string | undefined {
  return () => (existsSync(ctx.cli) ? undefined : `${ctx.cli} does not exist (build first: npx tsc -p .)`);
}

async function runOnce(tool: Tool, rec: ToolRecord, tag: string, runIndex: number, runs: number, sizeBytes: number): Promise<void> {
  const verify = runIndex === 0;
  for (const d of tool.devices) assertOwnedLoop(d);
  if (verify) {
    // Targets this run writes lose 5 regions first (not the slow target: nothing but this
    // tool ever writes it, and it starts as zeros).
    for (const { dst } of tool.copies) if (dst.name !== 'slow target') await wipeRegions(dst, sizeBytes);
  }
  dropCaches();
  tool.warm();
  const load = loadavg()[0] ?? 0;
  const cpu0 = machineBusySeconds();
  const res: RunResult = { ...(await tool.run()), loadavg1: load };
  res.cpuSeconds = machineBusySeconds() - cpu0;
  const parts = [
    `${(res.bytesPerSec / MB).toFixed(0).padStart(6)} MB/s aggregate`,
    `${res.wallSeconds.toFixed(3)} s wall`,
  ];
  if (res.sharedPhaseSeconds !== undefined) parts.push(`shared copy ${res.sharedPhaseSeconds.toFixed(3)} s (ends '${res.sharedPhaseEndState}')`);
  if (res.slowDetachedAt !== undefined) parts.push(res.slowDetachedAt === null ? 'slow target NOT detached' : `slow target detached at ${fmtMiB(res.slowDetachedAt)}`);
  if (res.peakRssBytes !== undefined) parts.push(`peak RSS ${fmtMiB(res.peakRssBytes)}`);
  if (res.cpuSeconds !== undefined) parts.push(`machine CPU ${res.cpuSeconds.toFixed(2)} s (${((100 * res.cpuSeconds) / (res.wallSeconds * availableParallelism())).toFixed(0)}% of ${availableParallelism()} cores)`);
  parts.push(`load ${load.toFixed(2)}`);
  console.log(`[${tag}] run ${runIndex + 1}/${runs} ${tool.id.padEnd(16)} ${parts.join(', ')}`);
  if (verify) {
    await compareAll(tool.copies, sizeBytes);
    rec.verified = true;
    console.log(`[${tag}]   ${tool.id}: every target verified in full against its source (${tool.copies.length} target(s))`);
  }
  rec.runs.push(res);
}

async function runSeries(tag: string, tools: Tool[], runs: number, sizeBytes: number): Promise<ToolRecord[]> {
  const records = new Map<string, ToolRecord>();
  const entries: Array<{ tool: Tool; rec: ToolRecord }> = [];
  for (const tool of tools) {
    const rec: ToolRecord = { id: tool.id, label: tool.label, command: tool.command, runs: [] };
    const missing = tool.missing?.();
    if (missing) {
      rec.skipped = missing;
      console.warn(`\n!!! [${tag}] SKIPPING ${tool.id}: ${missing}\n`);
    }
    records.set(tool.id, rec);
    entries.push({ tool, rec });
  }
  await runInterleaved(
    entries,
    runs,
    (tool, rec, r) => runOnce(tool, rec, tag, r, runs, sizeBytes),
    (tool, error) => console.error(`\n!!! [${tag}] ${tool.id} FAILED, no more runs of it: ${error}\n`),
  );
  return [...records.values()];
}

// ---------------------------------------------------------------------------------------
// Summaries and criteria

interface Summary {
  id: string;
  runs: number;
  medianMBps?: number;
  minMBps?: number;
  maxMBps?: number;
  medianWallSeconds?: number;
  medianInProcessSeconds?: number;
  medianSharedSeconds?: number;
  minSharedSeconds?: number;
  maxSharedSeconds?: number;
  medianSharedFromSpawnSeconds?: number;
  medianPeakRssBytes?: number;
  maxPeakRssBytes?: number;
  medianCpuSeconds?: number;
  status: 'ok' | 'skipped' | 'error';
  note?: string;
}

function summarize(rec: ToolRecord): Summary {
  const status = rec.skipped ? 'skipped' : rec.error ? 'error' : 'ok';
  const base: Summary = {
    id: rec.id,
    runs: rec.runs.length,
    status,
    ...(rec.skipped || rec.error ? { note: rec.skipped ?? rec.error } : {}),
  };
  if (status !== 'ok' || rec.runs.length === 0) return base;
  const pick = (f: (r: RunResult) => number | undefined): number[] =>
    rec.runs.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
  const mbps = pick((r) => r.bytesPerSec / MB);
  const shared = pick((r) => r.sharedPhaseSeconds);
  const fromSpawn = pick((r) => r.sharedPhaseFromSpawnSeconds);
  const rss = pick((r) => r.peakRssBytes);
  const inProc = pick((r) => r.inProcessSeconds);
  const cpu = pick((r) => r.cpuSeconds);
  return {
    ...base,
    medianMBps: median(mbps),
    minMBps: Math.min(...mbps),
    maxMBps: Math.max(...mbps),
    medianWallSeconds: median(pick((r) => r.wallSeconds)),
    ...(inProc.length > 0 ? { medianInProcessSeconds: median(inProc) } : {}),
    ...(shared.length > 0
      ? { medianSharedSeconds: median(shared), minSharedSeconds: Math.min(...shared), maxSharedSeconds: Math.max(...shared) }
      : {}),
    ...(fromSpawn.length > 0 ? { medianSharedFromSpawnSeconds: median(fromSpawn) } : {}),
    ...(rss.length > 0 ? { medianPeakRssBytes: median(rss), maxPeakRssBytes: Math.max(...rss) } : {}),
    ...(cpu.length > 0 ? { medianCpuSeconds: median(cpu) } : {}),
  };
}

interface Criterion {
  bench: BenchName;
  text: string;
  value?: number;
  valueText: string;
  status: 'PASS' | 'FAIL' | 'n/a';
  detail?: string;
}

function find(summaries: Summary[], id: string): Summary | undefined {
  return summaries.find((s) => s.id === id && s.status === 'ok');
}

function atLeast(bench: BenchName, text: string, v: number | undefined, min: number, detail?: string): Criterion {
  return {
    bench,
    text,
    ...(v !== undefined ? { value: v } : {}),
    valueText: v !== undefined && Number.isFinite(v) ? `${v.toFixed(2)}x` : 'n/a',
    status: v === undefined || !Number.isFinite(v) ? 'n/a' : v >= min ? 'PASS' : 'FAIL',
    ...(detail ? { detail } : {}),
  };
}

function atMost(bench: BenchName, text: string, v: number | undefined, max: number, fmt: (x: number) => string, detail?: string): Criterion {
  return {
    bench,
    text,
    ...(v !== undefined ? { value: v } : {}),
    valueText: v !== undefined && Number.isFinite(v) ? fmt(v) : 'n/a',
    status: v === undefined || !Number.isFinite(v) ? 'n/a' : v <= max ? 'PASS' : 'FAIL',
    ...(detail ? { detail } : {}),
  };
}

/** A row printed under a criterion, for information only (never PASS/FAIL). */
function info(bench: BenchName, text: string, v: number | undefined, detail?: string): Criterion[] {
  if (v === undefined || !Number.isFinite(v)) return [];
  return [{ bench, text: `  (for information) ${text}`, value: v, valueText: `${v.toFixed(2)}x`, status: 'n/a', ...(detail ? { detail } : {}) }];
}

/** MB/s of a station tool over its own copy time (its log), without process start-up. */
function inProcessMBps(s: Summary | undefined, bytes: number): number | undefined {
  return s?.medianInProcessSeconds !== undefined && s.medianInProcessSeconds > 0 ? bytes / s.medianInProcessSeconds / MB : undefined;
}

// ---------------------------------------------------------------------------------------
// The benchmarks

interface BenchReport {
  name: BenchName;
  title: string;
  sizeBytes: number;
  skipped?: string;
  error?: string;
  devices?: Record<string, string>;
  tools: ToolRecord[];
  summaries: Summary[];
  criteria: Criterion[];
}

/** Why there is no room for tmpfsBytes of files (+ extraRam elsewhere), or undefined. */
function roomProblem(cfg: Config, tmpfsBytes: number, extraRam = 0): string | undefined {
  if (tmpfsBytes > cfg.shmBudgetBytes) {
    return `needs ${fmtMiB(tmpfsBytes)} of tmpfs, more than BENCH_STATION_SHM_MIB allows (${fmtMiB(cfg.shmBudgetBytes)})`;
  }
  const st = statfsSync(SHM_BASE);
  const avail = st.bavail * st.bsize;
  if (avail < tmpfsBytes + HEADROOM_BYTES) return `${SHM_BASE} has ${fmtMiB(avail)} free, needs ${fmtMiB(tmpfsBytes + HEADROOM_BYTES)}`;
  const mem = memAvailableBytes();
  const need = tmpfsBytes + extraRam + HEADROOM_BYTES;
  if (mem < need) return `only ${fmtMiB(mem)} of memory available, needs ${fmtMiB(need)} (files + ${fmtMiB(HEADROOM_BYTES)} headroom)`;
  return undefined;
}

function stationTool(
  ctx: BenchContext,
  id: string,
  label: string,
  command: string,
  copies: Pair[],
  argsOf: () => string[],
  expectJobs: number,
  sizeBytes: number,
): Tool {
  return {
    id,
    label,
    command,
    copies,
    devices: [...new Set(copies.flatMap((p) => [p.src, p.dst]))],
    missing: cliMissing(ctx),
    warm: () => warmStation(ctx, copies[0]),
    run: async () => {
      const bytes = copies.length * sizeBytes;
      const out = await runStationCli(ctx, argsOf(), expectJobs, { timeoutMs: timeoutFor(bytes) });
      const shared = expectJobs === 1 ? sharedPhaseOf(out.log, 1) : undefined;
      return {
        ...runFigures(out, bytes),
        ...(shared
          ? {
              sharedPhaseSeconds: shared.seconds,
              sharedPhaseFromSpawnSeconds: (shared.endMs - out.exec.spawnedAtMs) / 1000,
              sharedPhaseEndState: shared.endState,
            }
          : {}),
        backend: backendsOf(out.report),
      };
    },
  };
}

/**
 * The set-up of benchmarks pairs and rss: checks there is room for n pairs of
 * empty.sizeBytes, then creates n random sources and n zeroed targets in a work directory
 * of their own (tagged empty.name). Returns them, or else the report to return instead:
 * `empty` marked skipped (no room) or failed (setup error).
 */
async function setUpPairs(cfg: Config, empty: BenchReport, n: number): Promise<{ dir: string; pairs: Pair[] } | BenchReport> {
  const tag = empty.name;
  const size = empty.sizeBytes;
  const problem = roomProblem(cfg, 2 * n * size);
  if (problem) {
    console.warn(`\n!!! SKIPPING benchmark ${tag}: not enough room: ${problem}\n`);
    return { ...empty, skipped: `not enough room: ${problem}` };
  }
  const dir = makeWorkDir(tag);
  const pairs: Pair[] = [];
  try {
    console.log(`[${tag}] creating ${n} random sources and ${n} zeroed targets of ${fmtMiB(size)} in ${dir} ...`);
    for (let i = 1; i <= n; i++) {
      const src = await makeLoopFile(dir, `src${i}`, size, 'random');
      const dst = await makeLoopFile(dir, `dst${i}`, size, 'zeros');
      pairs.push({ src, dst });
    }
  } catch (err) {
    console.error(`\n!!! setup ${tag} failed: ${errorMessage(err)}\n`);
    return { ...empty, error: `setup failed: ${errorMessage(err)}` };
  }
  return { dir, pairs };
}

/** The devices of every pair by name, for the report. */
function pairDevices(pairs: Pair[]): Record<string, string> {
  return Object.fromEntries(pairs.flatMap((p) => [[p.src.name, p.src.dev], [p.dst.name, p.dst.dev]]));
}

async function benchPairs(cfg: Config, ctx: BenchContext): Promise<BenchReport> {
  const size = cfg.pairsBytes;
  const title = `${PAIRS} clones at once, ${PAIRS} x ${fmtMiB(size)}, tmpfs-backed loops`;
  const set = await setUpPairs(cfg, { name: 'pairs', title, sizeBytes: size, tools: [], summaries: [], criteria: [] }, PAIRS);
  if (!('pairs' in set)) return set;
  const { pairs } = set;
  console.log(`[pairs] ${pairs.map((p) => `${p.src.dev}->${p.dst.dev}`).join(' ')}`);
  const tools = [
    stationTool(
      ctx,
      'station',
      `clonestation, ${PAIRS} --pair jobs`,
      `node dist/src/cli.js clone --pair S1:D1 ... --pair S${PAIRS}:D${PAIRS} --yes --json --no-verify --max-parallel ${PAIRS}`,
      pairs,
      () => ['clone', ...pairs.flatMap((p) => ['--pair', `${p.src.dev}:${p.dst.dev}`]), '--yes', '--json', '--no-verify', '--max-parallel', String(PAIRS)],
      PAIRS,
      size,
    ),
    parallelDdTool('dd-x8', `${PAIRS} x dd at once`, pairs, size),
  ];
  const records = await runSeries('pairs', tools, cfg.runs, size);
  const summaries = records.map(summarize);
  const st = find(summaries, 'station')?.medianMBps;
  const dd = find(summaries, 'dd-x8')?.medianMBps;
  const stIn = inProcessMBps(find(summaries, 'station'), PAIRS * size);
  const stCpu = find(summaries, 'station')?.medianCpuSeconds;
  const ddCpu = find(summaries, 'dd-x8')?.medianCpuSeconds;
  const ddWall = find(summaries, 'dd-x8')?.medianWallSeconds;
  const cores = availableParallelism();
  const gb = (PAIRS * size) / 1e9;
  return {
    name: 'pairs',
    title,
    sizeBytes: size,
    devices: pairDevices(pairs),
    tools: records,
    summaries,
    criteria: [
      atLeast('pairs', `${PAIRS} parallel clones: station aggregate >= 1.2x ${PAIRS} parallel dd`, st !== undefined && dd !== undefined ? st / dd : undefined, 1.2,
        st !== undefined && dd !== undefined ? `${st.toFixed(0)} vs ${dd.toFixed(0)} MB/s` : undefined),
      ...info('pairs', "station's own copy time (its log: first job start to last job end) vs dd's wall clock",
        stIn !== undefined && dd !== undefined ? stIn / dd : undefined, stIn !== undefined ? `${stIn.toFixed(0)} MB/s without process and worker start-up` : undefined),
      // When dd already keeps every core busy, no tool doing the same copies can beat it by
      // more than the ratio of the CPU the two spend: this is that ceiling.
      ...info('pairs', `CPU spent, whole machine (loop workers included): dd / station, i.e. the wall-clock ceiling when dd's run keeps the ${cores} cores busy`,
        stCpu !== undefined && ddCpu !== undefined ? ddCpu / stCpu : undefined,
        stCpu !== undefined && ddCpu !== undefined && ddWall !== undefined
          ? `${(ddCpu / gb).toFixed(3)} vs ${(stCpu / gb).toFixed(3)} CPU s per GB; dd's runs kept the cores ${((100 * ddCpu) / (ddWall * cores)).toFixed(0)}% busy`
          : undefined),
    ],
  };
}

async function benchFanOut(cfg: Config, ctx: BenchContext, withFan: boolean, withSlow: boolean): Promise<BenchReport[]> {
  const size = cfg.fanBytes;
  const nTargets = withFan ? FAN_OUT : FAN_OUT - 1;
  const titleFan = `1 source -> ${FAN_OUT} targets, ${fmtMiB(size)}, tmpfs-backed loops`;
  const titleSlow = `1 source -> 3 fast targets + 1 at ${(cfg.slowBytesPerSec / MB).toFixed(0)} MB/s (nbdkit rate), ${fmtMiB(size)}`;
  const emptyFan: BenchReport = { name: '1n', title: titleFan, sizeBytes: size, tools: [], summaries: [], criteria: [] };
  const emptySlow: BenchReport = { name: 'slow', title: titleSlow, sizeBytes: size, tools: [], summaries: [], criteria: [] };
  const both = (patch: Partial<BenchReport>): BenchReport[] => [
    ...(withFan ? [{ ...emptyFan, ...patch }] : []),
    ...(withSlow ? [{ ...emptySlow, ...patch }] : []),
  ];
  let slowMissing: string | undefined;
  if (withSlow) {
    const need = ['nbdkit', 'nbdfuse', 'fusermount3'].filter((x) => !findExecutable(x));
    if (need.length > 0) slowMissing = `${need.join(', ')} not installed (Debian: apt-get install nbdkit libnbd-bin fuse3)`;
    else if (!existsSync('/dev/fuse')) slowMissing = '/dev/fuse does not exist (no FUSE here)';
    if (slowMissing) console.warn(`\n!!! SKIPPING benchmark slow: ${slowMissing}\n`);
  }
  const slowOn = withSlow && slowMissing === undefined;
  const problem = roomProblem(cfg, (1 + nTargets) * size, slowOn ? size : 0);
  if (problem) {
    console.warn(`\n!!! SKIPPING benchmarks ${[withFan ? '1n' : '', withSlow ? 'slow' : ''].filter(Boolean).join(', ')}: not enough room: ${problem}\n`);
    return both({ skipped: `not enough room: ${problem}` });
  }
  const dir = makeWorkDir('fanout');
  let src: Device;
  const targets: Device[] = [];
  let slow: SlowTarget | undefined;
  try {
    console.log(`[1n] creating a random source and ${nTargets} zeroed targets of ${fmtMiB(size)} in ${dir} ...`);
    src = await makeLoopFile(dir, 'src', size, 'random');
    for (let i = 1; i <= nTargets; i++) targets.push(await makeLoopFile(dir, `dst${i}`, size, 'zeros'));
    if (slowOn) {
      console.log(`[1n] starting the slow target: nbdkit memory ${fmtMiB(size)} --filter=rate ${(cfg.slowBytesPerSec / MB).toFixed(1)} MB/s -> nbdfuse -> loop ...`);
      slow = await createSlowTarget(join(dir, 'slow'), size, cfg.slowBytesPerSec);
    }
  } catch (err) {
    console.error(`\n!!! setup 1n failed: ${errorMessage(err)}\n`);
    return both({ error: `setup failed: ${errorMessage(err)}` });
  }
  console.log(`[1n] source ${src.dev}; targets ${targets.map((t) => t.dev).join(' ')}${slow ? `; slow target ${slow.device.dev}` : ''}`);

  const tools: Tool[] = [];
  const fast3 = targets.slice(0, 3);
  /** One 1:N station job from src to dsts. */
  const fanTool = (id: string, label: string, dsts: Device[]): Tool =>
    stationTool(
      ctx,
      id,
      label,
      `node dist/src/cli.js clone SRC ${dsts.map((_, i) => `T${i + 1}`).join(' ')} --yes --json --no-verify`,
      dsts.map((dst) => ({ src, dst })),
      () => ['clone', src.dev, ...dsts.map((t) => t.dev), '--yes', '--json', '--no-verify'],
      1,
      size,
    );
  if (withFan) {
    tools.push(
      fanTool('station-1to4', 'clonestation 1:4', targets),
      parallelDdTool('dd-x4', `${FAN_OUT} x dd from the same source at once`, targets.map((dst) => ({ src, dst })), size),
    );
  }
  if (slow) {
    const s = slow;
    tools.push(
      fanTool('station-1to3', 'clonestation 1:3 (the three fast targets alone)', fast3),
      slowTool(ctx, src, fast3, s, size),
    );
  }
  const records = await runSeries('1n', tools, cfg.runs, size);
  const summaries = records.map(summarize);
  const devices: Record<string, string> = { [src.name]: src.dev, ...Object.fromEntries(targets.map((t) => [t.name, t.dev])) };
  if (slow) devices['slow target'] = slow.device.dev;
  const out: BenchReport[] = [];
  if (withFan) {
    const st = find(summaries, 'station-1to4')?.medianMBps;
    const dd = find(summaries, 'dd-x4')?.medianMBps;
    const stIn = inProcessMBps(find(summaries, 'station-1to4'), FAN_OUT * size);
    const ids = ['station-1to4', 'dd-x4'];
    out.push({
      name: '1n',
      title: titleFan,
      sizeBytes: size,
      devices,
      tools: records.filter((r) => ids.includes(r.id)),
      summaries: summaries.filter((s) => ids.includes(s.id)),
      criteria: [
        atLeast('1n', `1 source -> ${FAN_OUT} targets: station written bytes/s >= 1.5x ${FAN_OUT} parallel dd`, st !== undefined && dd !== undefined ? st / dd : undefined, 1.5,
          st !== undefined && dd !== undefined ? `${st.toFixed(0)} vs ${dd.toFixed(0)} MB/s written` : undefined),
        ...info('1n', "station's own copy time (its log: job start to job end) vs dd's wall clock",
          stIn !== undefined && dd !== undefined ? stIn / dd : undefined, stIn !== undefined ? `${stIn.toFixed(0)} MB/s written without process and worker start-up` : undefined),
      ],
    });
  }
  if (withSlow) {
    if (!slow) {
      out.push({ ...emptySlow, skipped: slowMissing ?? 'slow target unavailable' });
    } else {
      const ids = ['station-1to3', 'station-1to3+slow', ...(withFan ? ['station-1to4'] : [])];
      const withIt = find(summaries, 'station-1to3+slow')?.medianSharedSeconds;
      const without = find(summaries, 'station-1to3')?.medianSharedSeconds;
      const all4 = find(summaries, 'station-1to4')?.medianSharedSeconds;
      const slowRec = records.find((r) => r.id === 'station-1to3+slow');
      const notDetached = slowRec?.runs.filter((r) => r.slowDetachedAt === null).length ?? 0;
      const criteria: Criterion[] = [
        atMost('slow', 'one target rate-limited: the 3 fast targets finish within 1.3x their time without it (1:3)',
          withIt !== undefined && without !== undefined ? withIt / without : undefined, 1.3, (x) => `${x.toFixed(2)}x`,
          withIt !== undefined && without !== undefined
            ? `${withIt.toFixed(3)} s with the slow target vs ${without.toFixed(3)} s without it` +
              (notDetached > 0 ? `; slow target NOT detached in ${notDetached} run(s)` : '')
            : undefined),
      ];
      const spawnWith = find(summaries, 'station-1to3+slow')?.medianSharedFromSpawnSeconds;
      const spawnWithout = find(summaries, 'station-1to3')?.medianSharedFromSpawnSeconds;
      criteria.push(
        ...info('slow', 'the same, counted from the spawn of the CLI (Node start-up included in both)',
          spawnWith !== undefined && spawnWithout !== undefined ? spawnWith / spawnWithout : undefined,
          spawnWith !== undefined && spawnWithout !== undefined ? `${spawnWith.toFixed(3)} s vs ${spawnWithout.toFixed(3)} s` : undefined),
        ...info('slow', 'vs the 1:4 all-fast run of benchmark 1n', all4 !== undefined && withIt !== undefined ? withIt / all4 : undefined,
          all4 !== undefined && withIt !== undefined ? `${withIt.toFixed(3)} s vs ${all4.toFixed(3)} s` : undefined),
      );
      out.push({
        name: 'slow',
        title: titleSlow,
        sizeBytes: size,
        devices,
        tools: records.filter((r) => ids.includes(r.id)),
        summaries: summaries.filter((s) => ids.includes(s.id)),
        criteria,
      });
    }
  }
  return out;
}

/** The 1:N job with the slow target; raises its rate once the shared copy is over. */
function slowTool(ctx: BenchContext, src: Device, fast3: Device[], slow: SlowTarget, size: number): Tool {
  const copies = [...fast3.map((dst) => ({ src, dst })), { src, dst: slow.device }];
  return {
    id: 'station-1to3+slow',
    label: 'clonestation 1:4 with the 4th target rate-limited',
    command: `node dist/src/cli.js clone SRC T1 T2 T3 SLOW --yes --json --no-verify (SLOW: nbdkit --filter=rate memory, rate=${(slow.bytesPerSec * 8).toFixed(0)} bits/s)`,
    copies,
    devices: [src, ...fast3, slow.device],
    missing: cliMissing(ctx),
    warm: () => warmStation(ctx, copies[0]),
    run: async () => {
      // Only the first run of this tool wipes nothing on the slow target: it must be fresh.
      const firstWrite = !slow.written;
      writeRate(slow.rateFile, slow.bytesPerSec);
      await sleep(SLOW_SETTLE_MS);
      const bytes = copies.length * size;
      let raisedAtMs: number | undefined;
      slow.written = true;
      const out = await runStationCli(
        ctx,
        ['clone', src.dev, ...fast3.map((t) => t.dev), slow.device.dev, '--yes', '--json', '--no-verify'],
        1,
        {
          // If the slow target were never detached, the shared copy runs at its pace.
          timeoutMs: timeoutFor(bytes) + (size / slow.bytesPerSec) * 1000,
          onLog: (log) => {
            if (raisedAtMs === undefined && stateLines(log, 1).length >= 2) {
              // The shared copy is over (measured already): let the catch-up run fast.
              writeRate(slow.rateFile, FAST_RATE_BYTES);
              raisedAtMs = Date.now();
            }
          },
        },
      );
      if (raisedAtMs === undefined) writeRate(slow.rateFile, FAST_RATE_BYTES);
      const shared = sharedPhaseOf(out.log, 1);
      if (!shared) throw new Error('the station log has no end of the shared copy (fewer than two "job state" lines)');
      const detached = detachedOffsets(out.report)[3];
      if (firstWrite && detached === undefined) console.warn('  NOTE: the slow target was never detached: it paced the whole shared copy');
      return {
        ...runFigures(out, bytes),
        sharedPhaseSeconds: shared.seconds,
        sharedPhaseFromSpawnSeconds: (shared.endMs - out.exec.spawnedAtMs) / 1000,
        sharedPhaseEndState: shared.endState,
        slowDetachedAt: detached ?? null,
        backend: backendsOf(out.report),
      };
    },
  };
}

async function benchRss(cfg: Config, ctx: BenchContext): Promise<BenchReport> {
  const size = cfg.rssBytes;
  const title = `${RSS_JOBS} jobs at once, ${RSS_JOBS} x ${fmtMiB(size)}, job file, maxParallel ${RSS_JOBS}`;
  const set = await setUpPairs(cfg, { name: 'rss', title, sizeBytes: size, tools: [], summaries: [], criteria: [] }, RSS_JOBS);
  if (!('pairs' in set)) return set;
  const { dir, pairs } = set;
  const jobFile = join(dir, 'jobs.json');
  writeFileSync(
    jobFile,
    `${JSON.stringify({ jobs: pairs.map((p) => ({ source: p.src.dev, targets: [p.dst.dev] })), maxParallel: RSS_JOBS, verify: false }, null, 2)}\n`,
  );
  const tools = [
    stationTool(
      ctx,
      'station-16',
      `clonestation, ${RSS_JOBS} jobs from a job file`,
      `node dist/src/cli.js run JOBFILE --yes --json --no-verify (JOBFILE: ${RSS_JOBS} pairs, "maxParallel": ${RSS_JOBS})`,
      pairs,
      () => ['run', jobFile, '--yes', '--json', '--no-verify'],
      RSS_JOBS,
      size,
    ),
    stationTool(
      ctx,
      'station-16-hash',
      `clonestation, ${RSS_JOBS} jobs from a job file, --verify --hash sha256`,
      `node dist/src/cli.js run JOBFILE --yes --json --verify --hash sha256 (JOBFILE: ${RSS_JOBS} pairs, "maxParallel": ${RSS_JOBS})`,
      pairs,
      () => ['run', jobFile, '--yes', '--json', '--verify', '--hash', 'sha256'],
      RSS_JOBS,
      size,
    ),
  ];
  const records = await runSeries('rss', tools, cfg.runs, size);
  const summaries = records.map(summarize);
  const s = find(summaries, 'station-16');
  const h = find(summaries, 'station-16-hash');
  return {
    name: 'rss',
    title,
    sizeBytes: size,
    devices: pairDevices(pairs),
    tools: records,
    summaries,
    criteria: [
      atMost('rss', `${RSS_JOBS} parallel jobs: station peak RSS <= 600 MiB (highest of the runs)`, s?.maxPeakRssBytes, RSS_LIMIT_BYTES,
        (x) => `${(x / MiB).toFixed(0)} MiB`,
        s?.medianPeakRssBytes !== undefined ? `median ${(s.medianPeakRssBytes / MiB).toFixed(0)} MiB` : undefined),
      atMost('rss', `${RSS_JOBS} parallel jobs, --verify --hash sha256: station peak RSS <= 600 MiB (highest of the runs)`, h?.maxPeakRssBytes, RSS_LIMIT_BYTES,
        (x) => `${(x / MiB).toFixed(0)} MiB`,
        h?.medianPeakRssBytes !== undefined ? `median ${(h.medianPeakRssBytes / MiB).toFixed(0)} MiB` : undefined),
    ],
  };
}

/**
 * Many tiny jobs from one job file: the station's cost per job, which must not grow with the
 * number of jobs (planning, conflict checks, scheduling, reports), and its memory.
 */
async function benchScale(cfg: Config, ctx: BenchContext): Promise<BenchReport> {
  const counts = cfg.scaleJobs;
  const most = counts[counts.length - 1];
  const title = `${counts.join(' vs ')} tiny jobs (${cfg.scaleJobBytes} bytes each, files in ${SHM_BASE}), one job file`;
  const empty: BenchReport = { name: 'scale', title, sizeBytes: cfg.scaleJobBytes, tools: [], summaries: [], criteria: [] };
  const problem = roomProblem(cfg, 2 * most * Math.max(cfg.scaleJobBytes, 4096));
  if (problem) {
    console.warn(`\n!!! SKIPPING benchmark scale: not enough room: ${problem}\n`);
    return { ...empty, skipped: `not enough room: ${problem}` };
  }
  const dir = makeWorkDir('scale');
  console.log(`[scale] creating ${most} sources of ${cfg.scaleJobBytes} bytes in ${dir} ...`);
  const sources: string[] = [];
  for (let i = 0; i < most; i++) {
    const data = Buffer.alloc(cfg.scaleJobBytes);
    data.writeUInt32LE(i, 0); // every source differs: a mixed-up copy shows
    const f = join(dir, `s${i}`);
    writeFileSync(f, data);
    sources.push(f);
  }
  const targetOf = (i: number): string => join(dir, `t${i}`);
  const jobFiles = new Map<number, string>();
  for (const n of counts) {
    const f = join(dir, `jobs-${n}.json`);
    writeFileSync(f, `${JSON.stringify({ jobs: sources.slice(0, n).map((src, i) => ({ source: src, targets: [targetOf(i)] })) })}\n`);
    jobFiles.set(n, f);
  }
  const clearTargets = (): void => {
    for (let i = 0; i < most; i++) rmSync(targetOf(i), { force: true });
  };
  const checkTargets = (n: number): void => {
    for (let i = 0; i < n; i++) {
      if (!readFileSync(targetOf(i)).equals(readFileSync(sources[i]))) throw new Error(`scale: ${targetOf(i)} differs from ${sources[i]}`);
    }
  };
  // each count plain, and with a hash tap and a verify on every job (taps hold JS memory)
  const variants = [
    { tag: '', label: '', args: ['--no-verify'] },
    { tag: '-hash', label: ', --verify --hash sha256', args: ['--verify', '--hash', 'sha256'] },
  ];
  const runsOf = variants.flatMap((v) => counts.map((n) => ({ n, v })));
  const records: ToolRecord[] = runsOf.map(({ n, v }) => ({
    id: `station-${n}-jobs${v.tag}`,
    label: `clonestation, ${n} jobs${v.label}`,
    command: `node dist/src/cli.js run JOBFILE --yes --json ${v.args.join(' ')} (JOBFILE: ${n} jobs of ${cfg.scaleJobBytes} bytes, file to new file)`,
    runs: [],
  }));
  const missing = cliMissing(ctx)();
  if (missing) return { ...empty, skipped: missing };
  try {
    for (let r = 0; r < cfg.runs; r++) {
      // interleaved: the order rotates every run
      for (let k = 0; k < runsOf.length; k++) {
        const idx = (k + r) % runsOf.length;
        const { n, v } = runsOf[idx];
        const rec = records[idx];
        if (rec.error) continue;
        clearTargets();
        dropCaches();
        const load = loadavg()[0] ?? 0;
        const cpu0 = machineBusySeconds();
        try {
          const out = await runStationCli(ctx, ['run', jobFiles.get(n)!, '--yes', '--json', ...v.args], n, { timeoutMs: 120_000 + n * 100 });
          if (r === 0) checkTargets(n);
          const res: RunResult = { ...runFigures(out, n * cfg.scaleJobBytes), loadavg1: load, cpuSeconds: machineBusySeconds() - cpu0 };
          rec.runs.push(res);
          rec.verified = true;
          console.log(
            `[scale] run ${r + 1}/${cfg.runs} ${rec.id.padEnd(24)} ${res.wallSeconds.toFixed(2)} s wall, ` +
              `${((res.wallSeconds * 1000) / n).toFixed(3)} ms per job, peak RSS ${res.peakRssBytes !== undefined ? fmtMiB(res.peakRssBytes) : '-'}, load ${load.toFixed(2)}` +
              (r === 0 ? ', every target checked' : ''),
          );
        } catch (e) {
          rec.error = errorMessage(e);
          console.error(`\n!!! [scale] ${rec.id} FAILED, no more runs of it: ${rec.error}\n`);
        }
      }
    }
  } finally {
    clearTargets();
  }
  const summaries = records.map(summarize);
  const perJob = (s: Summary | undefined, n: number): number | undefined => (s?.medianWallSeconds !== undefined ? s.medianWallSeconds / n : undefined);
  const ms = (x: number | undefined): string => (x === undefined ? '-' : `${(x * 1000).toFixed(3)} ms`);
  const criteria: Criterion[] = [];
  for (const v of variants) {
    const id = (n: number): string => `station-${n}-jobs${v.tag}`;
    for (const n of counts) {
      const s = find(summaries, id(n));
      criteria.push(
        atMost('scale', `${n} jobs${v.label}: station peak RSS <= 600 MiB (highest of the runs)`, s?.maxPeakRssBytes, RSS_LIMIT_BYTES, (x) => `${(x / MiB).toFixed(0)} MiB`,
          `median ${fmtNum(s?.medianWallSeconds, 2)} s, ${ms(perJob(s, n))} per job`),
      );
    }
    const first = find(summaries, id(counts[0]));
    const last = find(summaries, id(most));
    const p1 = perJob(first, counts[0]);
    const pN = perJob(last, most);
    const marginal =
      first?.medianWallSeconds !== undefined && last?.medianWallSeconds !== undefined ? (last.medianWallSeconds - first.medianWallSeconds) / (most - counts[0]) : undefined;
    const rssPerJob =
      first?.medianPeakRssBytes !== undefined && last?.medianPeakRssBytes !== undefined ? (last.medianPeakRssBytes - first.medianPeakRssBytes) / (most - counts[0]) : undefined;
    criteria.push(
      atMost('scale', `marginal cost per job${v.label} (${counts[0]} -> ${most} jobs) / cost per job at ${counts[0]} <= 1.5x`, marginal !== undefined && p1 !== undefined ? marginal / p1 : undefined, 1.5,
        (x) => `${x.toFixed(2)}x`,
        `marginal ${ms(marginal)}, at ${counts[0]} ${ms(p1)}, at ${most} ${ms(pN)} per job (ratio ${pN !== undefined && p1 !== undefined ? (pN / p1).toFixed(2) : '-'}x); ` +
          `memory ${rssPerJob !== undefined ? `${(rssPerJob / 1024).toFixed(1)} KiB` : '-'} per extra job`),
    );
  }
  return { name: 'scale', title, sizeBytes: cfg.scaleJobBytes, tools: records, summaries, criteria };
}

// ---------------------------------------------------------------------------------------
// Reporting

function printBench(rep: BenchReport, cfg: Config): void {
  console.log(`\n=== ${rep.name}: ${rep.title}; ${cfg.runs} interleaved runs, page cache dropped, MB = 1e6 bytes ===`);
  if (rep.skipped || rep.error) {
    console.log(rep.skipped ? `SKIPPED: ${rep.skipped}` : `ERROR: ${rep.error}`);
    return;
  }
  const rows = [['tool', 'median MB/s', 'min', 'max', 'wall s', 'shared copy s', 'from spawn s', 'peak RSS MiB', 'runs', 'note']];
  for (const s of rep.summaries) {
    const rec = rep.tools.find((t) => t.id === s.id);
    const backend = rec?.runs.map((r) => r.backend).find((b) => b);
    const notes = [backend ? `backend ${backend}` : '', s.status === 'ok' ? '' : `${s.status.toUpperCase()}: ${s.note?.split('\n')[0] ?? ''}`];
    rows.push([
      s.id,
      fmtNum(s.medianMBps),
      fmtNum(s.minMBps),
      fmtNum(s.maxMBps),
      fmtNum(s.medianWallSeconds, 3),
      fmtNum(s.medianSharedSeconds, 3),
      fmtNum(s.medianSharedFromSpawnSeconds, 3),
      s.medianPeakRssBytes !== undefined ? `${fmtNum(s.medianPeakRssBytes / MiB)} (max ${fmtNum((s.maxPeakRssBytes ?? 0) / MiB)})` : '-',
      String(s.runs),
      notes.filter(Boolean).join('; '),
    ]);
  }
  console.log(table(rows, [9]));
  console.log('\nacceptance criteria:');
  console.log(table(rep.criteria.map((c) => [`  ${c.text}`, c.valueText, c.status, c.detail ?? '']), [3]));
}

function markdownFragment(reports: BenchReport[], cfg: Config): string {
  const lines = [
    `Station benchmarks: tmpfs-backed loop devices, median of ${cfg.runs} interleaved runs, page cache dropped, ` +
      `MB = 1e6 bytes (${machineText()}):`,
    '',
    '| benchmark | clonestation | baseline | ratio | criterion | result |',
    '|---|---:|---:|---:|---|---|',
  ];
  const crit = (rep: BenchReport, i = 0): Criterion | undefined => rep.criteria[i];
  for (const rep of reports) {
    if (rep.skipped || rep.error) {
      lines.push(`| ${rep.title} | ${rep.skipped ? 'skipped' : 'error'}: ${(rep.skipped ?? rep.error ?? '').split('\n')[0]} | | | | |`);
      continue;
    }
    const c = crit(rep);
    const s = (id: string): Summary | undefined => find(rep.summaries, id);
    if (rep.name === 'pairs') {
      lines.push(`| ${rep.title}: aggregate MB/s | ${fmtNum(s('station')?.medianMBps)} | ${fmtNum(s('dd-x8')?.medianMBps)} (8 x dd at once) | ${c?.valueText ?? '-'} | >= 1.2x | ${c?.status ?? 'n/a'} |`);
    } else if (rep.name === '1n') {
      lines.push(`| ${rep.title}: written MB/s | ${fmtNum(s('station-1to4')?.medianMBps)} | ${fmtNum(s('dd-x4')?.medianMBps)} (4 x dd at once) | ${c?.valueText ?? '-'} | >= 1.5x | ${c?.status ?? 'n/a'} |`);
    } else if (rep.name === 'slow') {
      lines.push(
        `| ${rep.title}: time until the 3 fast targets are written and synced, s | ${fmtNum(s('station-1to3+slow')?.medianSharedSeconds, 3)} | ` +
          `${fmtNum(s('station-1to3')?.medianSharedSeconds, 3)} (1:3 without it) | ${c?.valueText ?? '-'} | <= 1.3x | ${c?.status ?? 'n/a'} |`,
      );
    } else if (rep.name === 'rss') {
      const st = s('station-16');
      lines.push(`| ${rep.title}: peak RSS of the station process | ${st?.maxPeakRssBytes !== undefined ? `${fmtNum(st.maxPeakRssBytes / MiB)} MiB` : '-'} | - | - | <= 600 MiB | ${c?.status ?? 'n/a'} |`);
      const sh = s('station-16-hash');
      lines.push(`| ${rep.title}, --verify --hash sha256: peak RSS | ${sh?.maxPeakRssBytes !== undefined ? `${fmtNum(sh.maxPeakRssBytes / MiB)} MiB` : '-'} | - | - | <= 600 MiB | ${crit(rep, 1)?.status ?? 'n/a'} |`);
    } else if (rep.name === 'scale') {
      for (const t of rep.tools) {
        const st = s(t.id);
        const n = Number(/\d+/.exec(t.id)?.[0]);
        const what = t.label.replace(/^clonestation, /, '');
        lines.push(`| ${t.label}: s, ms per job, peak RSS | ${fmtNum(st?.medianWallSeconds, 2)} s, ${fmtNum(((st?.medianWallSeconds ?? NaN) * 1000) / n, 2)} ms, ${fmtNum((st?.maxPeakRssBytes ?? NaN) / MiB)} MiB | - | - | RSS <= 600 MiB | ${rep.criteria.find((x) => x.text.startsWith(`${what}:`))?.status ?? 'n/a'} |`);
      }
      for (const lin of rep.criteria.filter((x) => x.text.startsWith('marginal'))) {
        lines.push(`| ${rep.title}: ${lin.text.replace(/ <= 1\.5x$/, '')} | ${lin.valueText} | - | - | <= 1.5x | ${lin.status} |`);
      }
    }
  }
  return lines.join('\n');
}

function toolVersions(): Record<string, string | undefined> {
  return {
    dd: firstLineOf('dd', ['--version']),
    losetup: firstLineOf('losetup', ['--version']),
    nbdkit: firstLineOf('nbdkit', ['--version']),
    nbdfuse: firstLineOf('nbdfuse', ['--version']),
  };
}

function writeResultsJson(reports: BenchReport[], cfg: Config, markdown: string): string {
  const file = resultsFile(cfg.repoRoot, 'station');
  const doc = {
    date: new Date().toISOString(),
    machine: { ...machineInfo(), loadavgAtEnd: loadavg() },
    toolVersions: toolVersions(),
    config: {
      runs: cfg.runs,
      pairsBytes: cfg.pairsBytes,
      fanBytes: cfg.fanBytes,
      rssBytes: cfg.rssBytes,
      scaleJobs: cfg.scaleJobs,
      scaleJobBytes: cfg.scaleJobBytes,
      slowBytesPerSec: cfg.slowBytesPerSec,
      benches: cfg.benches,
    },
    method: {
      unit: 'MB/s with MB = 1e6 bytes; bytesPerSec = written bytes summed over targets / wall clock (spawn to last exit)',
      sharedPhase:
        "station log (--log): first 'job state' line of job 1 to the second, i.e. the shared 1:N copy, ended after every " +
        'target still in it was written and fdatasync-ed; the slow target is raised to full rate after that line',
      peakRss: '/proc/PID/status VmHWM of the station CLI process, polled every 20 ms',
    },
    benchmarks: reports,
    markdown,
  };
  writeJson(file, doc);
  return file;
}

/** The figures every station run reports first, in this order (the results JSON keeps it). */
function runFigures(
  out: Awaited<ReturnType<typeof runStationCli>>,
  bytes: number,
): Pick<RunResult, 'wallSeconds' | 'bytes' | 'bytesPerSec' | 'peakRssBytes' | 'inProcessSeconds'> {
  const inProc = inProcessSeconds(out.log);
  return {
    wallSeconds: out.exec.seconds,
    bytes,
    bytesPerSec: bytes / out.exec.seconds,
    ...(out.peakRssBytes !== undefined ? { peakRssBytes: out.peakRssBytes } : {}),
    ...(inProc !== undefined ? { inProcessSeconds: inProc } : {}),
  };
}

// ---------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const cfg = configOrExit(parseConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!isRoot('bench/station needs root (losetup, FUSE, /proc/sys/vm/drop_caches)')) return 1;
  if (!haveRequired(['losetup', 'sync', 'cmp'])) return 1;
  installSignalHandlers('stopping running tools, detaching loops, stopping nbdkit, deleting files...', 5000);
  const scratchDir = mkdtempSync(join(SHM_BASE, 'clonestation-bench-station-scratch-'));
  onCleanup(`remove ${scratchDir}`, () => rmSync(scratchDir, { recursive: true, force: true }));
  const ctx: BenchContext = { repoRoot: cfg.repoRoot, cli: join(cfg.repoRoot, 'dist', 'src', 'cli.js'), scratchDir, runs: cfg.runs };
  console.log(
    `clonestation station benchmark: ${cfg.benches.join(', ')}; ${cfg.runs} runs; pairs ${fmtMiB(cfg.pairsBytes)}, ` +
      `1:N ${fmtMiB(cfg.fanBytes)}, rss ${fmtMiB(cfg.rssBytes)}, scale ${cfg.scaleJobs.join('/')} jobs of ${cfg.scaleJobBytes} bytes, slow target ${(cfg.slowBytesPerSec / MB).toFixed(1)} MB/s; ` +
      `load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`,
  );

  const reports: BenchReport[] = [];
  // Each benchmark's devices are torn down before the next one is built: tmpfs stays bounded.
  if (cfg.benches.includes('pairs')) reports.push(await withOwnCleanups(() => benchPairs(cfg, ctx)));
  if (cfg.benches.includes('1n') || cfg.benches.includes('slow')) {
    reports.push(...(await withOwnCleanups(() => benchFanOut(cfg, ctx, cfg.benches.includes('1n'), cfg.benches.includes('slow')))));
  }
  if (cfg.benches.includes('rss')) reports.push(await withOwnCleanups(() => benchRss(cfg, ctx)));
  if (cfg.benches.includes('scale')) reports.push(await withOwnCleanups(() => benchScale(cfg, ctx)));

  for (const rep of reports) printBench(rep, cfg);
  console.log('\n=== summary ===');
  console.log(table(reports.flatMap((r) => r.criteria).map((c) => [c.text, c.valueText, c.status, c.detail ?? '']), [3]));
  const markdown = markdownFragment(reports, cfg);
  console.log(`\nMarkdown for the README:\n\n${markdown}\n`);
  if (reports.some((r) => !r.skipped && !r.error)) {
    console.log(`results written to ${writeResultsJson(reports, cfg, markdown)}`);
  } else {
    console.log('no benchmark produced results: nothing written to bench/results/');
  }
  const failed = reports.some((r) => r.error || r.tools.some((t) => t.error));
  if (failed) console.error('\nsome tools or setups FAILED (see above): exiting 1');
  return failed ? 1 : 0;
}

runMain(main);
