/**
 * Copy-throughput benchmark: clonestation against dd, cat, GNU ddrescue and fio's
 * read+write ceiling, on loop devices backed by tmpfs and by disk.
 *
 *   npm run bench                      # 2 GiB, 5 interleaved runs, both setups
 *   BENCH_SIZE_MIB=256 BENCH_RUNS=2 npm run bench -- --only tmpfs --tools clonestation,dd
 *
 * Needs root (losetup, drop_caches). Writes only to loop devices it attached itself, and
 * detaches them and deletes their backing files on exit, error, SIGINT and SIGTERM.
 * Exits 0 whatever the ratios are; non-zero only on real errors (a tool failed, a copy
 * was wrong, a setup could not be built), 2 on bad usage, 128+N on a signal.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  MB,
  MiB,
  UsageError,
  assertOwnedLoop,
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
  tail,
  writeJson,
  type ExecResult,
} from './common.js';

// ---------------------------------------------------------------------------------------
// Configuration

const SETUP_KINDS = ['tmpfs', 'disk'] as const;
type SetupKind = (typeof SETUP_KINDS)[number];
const TOOL_NAMES = ['clonestation', 'dd', 'cat', 'ddrescue', 'fio'] as const;
type ToolName = (typeof TOOL_NAMES)[number];

interface Config {
  sizeBytes: number;
  runs: number;
  setups: SetupKind[];
  tools: ToolName[];
  repoRoot: string;
}

const USAGE = `usage: node dist/bench/clone.js [--only tmpfs|disk] [--tools ${TOOL_NAMES.join(',')}]
env: BENCH_SIZE_MIB (default 2048), BENCH_RUNS (default 5), CLONESTATION_ROOT (repo root)`;

function parseConfig(argv: string[]): Config | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      tools: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const sizeMiB = positiveIntEnv('BENCH_SIZE_MIB', 2048);
  if (sizeMiB < 16) throw new UsageError('BENCH_SIZE_MIB must be at least 16');
  return {
    sizeBytes: sizeMiB * MiB,
    runs: positiveIntEnv('BENCH_RUNS', 5),
    setups: values.only === undefined ? [...SETUP_KINDS] : parseList(values.only, SETUP_KINDS, 'setup'),
    tools: values.tools === undefined ? [...TOOL_NAMES] : parseList(values.tools, TOOL_NAMES, 'tool'),
    repoRoot: findRepoRoot(),
  };
}

// ---------------------------------------------------------------------------------------
// Small helpers (the shared ones, cleanup and signals are in common.ts)

function fmtSize(bytes: number): string {
  return bytes % (1024 * MiB) === 0 ? `${bytes / (1024 * MiB)} GiB` : fmtMiB(bytes);
}

// ---------------------------------------------------------------------------------------
// Running a child process, timed (runTimed in common.ts)

/** Runs a command that must succeed, returning its result. */
async function mustRun(cmd: string, args: string[], opts: { cwd?: string; timeoutMs: number }): Promise<ExecResult> {
  const r = await runTimed(cmd, args, opts);
  if (r.code !== 0) throw new Error(describeFailure(cmd, r));
  return r;
}

// ---------------------------------------------------------------------------------------
// Setups: two loop devices over fresh backing files

interface Setup {
  kind: SetupKind;
  dir: string;
  srcFile: string;
  dstFile: string;
  srcDev: string;
  dstDev: string;
  sizeBytes: number;
  teardown: () => void;
}

const SETUP_BASE: Record<SetupKind, string> = { tmpfs: '/dev/shm', disk: '/var/tmp' };
const HEADROOM_BYTES = 1024 * MiB;

/** Returns why there is no room for two backing files of sizeBytes, or undefined. */
function roomProblem(kind: SetupKind, sizeBytes: number): string | undefined {
  const base = SETUP_BASE[kind];
  const need = 2 * sizeBytes + HEADROOM_BYTES;
  const st = statfsSync(base);
  const avail = st.bavail * st.bsize;
  if (avail < need) return `${base} has ${fmtMiB(avail)} free, needs ${fmtMiB(need)} (2 x size + 1 GiB headroom)`;
  if (kind === 'tmpfs') {
    const mem = memAvailableBytes();
    if (mem < need) return `only ${fmtMiB(mem)} of memory available for tmpfs files, needs ${fmtMiB(need)}`;
  }
  return undefined;
}

/** Both backing files: written 64 MiB at a time and fsynced before the first timed run. */
const FILL = { chunkBytes: 64 * MiB, sync: true };

function attachLoop(file: string, directIo: boolean): string {
  const dev = losetupAttach(file, directIo);
  assertOwnedLoop(dev, file);
  if (directIo && !loopDirectIo(dev)) {
    console.warn(`WARNING: ${dev} did not enable direct I/O; disk figures will include double caching`);
  }
  return dev;
}

function detachLoop(dev: string): void {
  execFileSync('losetup', ['--detach', dev]);
}

async function createSetup(kind: SetupKind, sizeBytes: number): Promise<Setup> {
  const dir = mkdtempSync(join(SETUP_BASE[kind], 'clonestation-bench-'));
  const removeDir = onCleanup(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const srcFile = join(dir, 'src.img');
  const dstFile = join(dir, 'dst.img');
  const undo: Array<() => void> = [];
  const teardown = (): void => {
    for (const u of undo.reverse()) u();
    removeDir();
  };
  try {
    console.log(`[${kind}] writing ${fmtMiB(sizeBytes)} of random data to ${srcFile} ...`);
    await fillRandom(srcFile, sizeBytes, FILL);
    console.log(`[${kind}] allocating ${fmtMiB(sizeBytes)} target ${dstFile} ...`);
    await fillZeros(dstFile, sizeBytes, FILL);
    const directIo = kind === 'disk';
    const srcDev = attachLoop(srcFile, directIo);
    undo.push(onCleanup(`detach ${srcDev}`, () => detachLoop(srcDev)));
    const dstDev = attachLoop(dstFile, directIo);
    undo.push(onCleanup(`detach ${dstDev}`, () => detachLoop(dstDev)));
    if (srcDev === dstDev) throw new Error(`source and target are the same device ${srcDev}`);
    console.log(`[${kind}] source ${srcDev} -> target ${dstDev}${directIo ? ' (--direct-io=on)' : ''}`);
    return { kind, dir, srcFile, dstFile, srcDev, dstDev, sizeBytes, teardown };
  } catch (err) {
    teardown();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// Tools

interface RunResult {
  seconds: number;
  bytesPerSec: number;
  rssBytes?: number;
  /** Anything else the tool reported, kept in the JSON results. */
  extra?: Record<string, unknown>;
}

interface Tool {
  name: ToolName;
  /** The command line, for the report. */
  command: string;
  /** True if the tool copies src to dst (so the copy can be verified). */
  copies: boolean;
  /** Why the tool cannot run here, or undefined if it can. */
  missing: () => string | undefined;
  run: (src: string, dst: string, tmp: string) => Promise<RunResult>;
}

interface ToolContext {
  sizeBytes: number;
  repoRoot: string;
  timeoutMs: number;
}

function wallClockResult(r: ExecResult, sizeBytes: number): RunResult {
  return { seconds: r.seconds, bytesPerSec: sizeBytes / r.seconds };
}

function missingExecutable(name: string): () => string | undefined {
  const pkg = name === 'dd' || name === 'cat' ? 'coreutils' : name;
  return () => (findExecutable(name) ? undefined : `${name} is not installed (Debian: apt-get install ${pkg})`);
}

/** The last {"event":"done",...} line of the CLI's JSON-lines stdout. */
function lastDoneEvent(stdout: string): Record<string, unknown> | undefined {
  let done: Record<string, unknown> | undefined;
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const parsed: unknown = JSON.parse(t);
      if (isRecord(parsed) && parsed['event'] === 'done') done = parsed;
    } catch {
      // not a JSON line
    }
  }
  return done;
}

function clonestationTool(ctx: ToolContext): Tool {
  const cli = join(ctx.repoRoot, 'dist', 'src', 'cli.js');
  return {
    name: 'clonestation',
    command: 'node dist/src/cli.js clone SRC DST --yes --json',
    copies: true,
    missing: () => (existsSync(cli) ? undefined : `${cli} does not exist (build the CLI first: npm run build)`),
    run: async (src, dst) => {
      const r = await mustRun(process.execPath, [cli, 'clone', src, dst, '--yes', '--json'], {
        cwd: ctx.repoRoot,
        timeoutMs: ctx.timeoutMs,
      });
      const result = wallClockResult(r, ctx.sizeBytes);
      const done = lastDoneEvent(r.stdout);
      if (!done) {
        console.warn('  WARNING: clonestation printed no {"event":"done"} line; no RSS figure for this run');
        return result;
      }
      const rss = done['maxRssBytes'];
      const extra: Record<string, unknown> = {};
      for (const key of ['backend', 'seconds', 'bytes']) if (key in done) extra[key] = done[key];
      return { ...result, ...(typeof rss === 'number' ? { rssBytes: rss } : {}), extra };
    },
  };
}

function ddTool(ctx: ToolContext): Tool {
  return {
    name: 'dd',
    command: 'dd if=SRC of=DST bs=4M iflag=direct oflag=direct status=none',
    copies: true,
    missing: missingExecutable('dd'),
    run: async (src, dst) => {
      const args = [`if=${src}`, `of=${dst}`, 'bs=4M', 'iflag=direct', 'oflag=direct', 'status=none'];
      return wallClockResult(await mustRun('dd', args, { timeoutMs: ctx.timeoutMs }), ctx.sizeBytes);
    },
  };
}

function catTool(ctx: ToolContext): Tool {
  return {
    name: 'cat',
    command: 'sh -c \'cat SRC > DST && sync\'',
    copies: true,
    missing: missingExecutable('cat'),
    run: async (src, dst) => {
      // Paths go in as positional parameters, never spliced into the script.
      const args = ['-c', 'cat "$1" > "$2" && sync', 'sh', src, dst];
      return wallClockResult(await mustRun('sh', args, { timeoutMs: ctx.timeoutMs }), ctx.sizeBytes);
    },
  };
}

function ddrescueTool(ctx: ToolContext): Tool {
  return {
    name: 'ddrescue',
    command: 'ddrescue -f -d -D -c 2048 SRC DST MAPFILE (fresh mapfile each run)',
    copies: true,
    missing: missingExecutable('ddrescue'),
    run: async (src, dst, tmp) => {
      const args = ['-f', '-d', '-D', '-c', '2048', src, dst, join(tmp, 'ddrescue.map')];
      return wallClockResult(await mustRun('ddrescue', args, { timeoutMs: ctx.timeoutMs }), ctx.sizeBytes);
    },
  };
}

/** Bandwidth in bytes/s of one fio job's read or write leg, from fio's JSON output. */
function fioLegBandwidth(report: unknown, jobname: string, dir: 'read' | 'write'): number {
  const jobs = isRecord(report) ? report['jobs'] : undefined;
  if (!Array.isArray(jobs)) throw new Error('fio JSON output has no jobs array');
  const job: unknown = jobs.find((j: unknown) => isRecord(j) && j['jobname'] === jobname);
  const leg = isRecord(job) ? job[dir] : undefined;
  const bw = isRecord(leg) ? leg['bw_bytes'] : undefined;
  if (typeof bw !== 'number' || !(bw > 0)) throw new Error(`fio JSON output has no ${dir} bandwidth for job ${jobname}`);
  return bw;
}

function parseFioJson(stdout: string): unknown {
  // fio may print warnings before the JSON document.
  const start = stdout.search(/^\{/m);
  if (start < 0) throw new Error(`fio printed no JSON:\n${tail(stdout)}`);
  return JSON.parse(stdout.slice(start));
}

function fioTool(ctx: ToolContext): Tool {
  return {
    name: 'fio',
    command:
      'fio --ioengine=io_uring --direct=1 --bs=1M --iodepth=16 --size=DEVICE --output-format=json ' +
      '--name=read --filename=SRC --rw=read --name=write --filename=DST --rw=write (lower leg)',
    copies: false,
    missing: missingExecutable('fio'),
    run: async (src, dst) => {
      const args = [
        '--ioengine=io_uring', '--direct=1', '--bs=1M', '--iodepth=16', `--size=${ctx.sizeBytes}`,
        '--output-format=json',
        '--name=read', `--filename=${src}`, '--rw=read',
        '--name=write', `--filename=${dst}`, '--rw=write',
      ];
      const r = await mustRun('fio', args, { timeoutMs: ctx.timeoutMs });
      const report = parseFioJson(r.stdout);
      const readBw = fioLegBandwidth(report, 'read', 'read');
      const writeBw = fioLegBandwidth(report, 'write', 'write');
      const bw = Math.min(readBw, writeBw);
      return {
        seconds: ctx.sizeBytes / bw,
        bytesPerSec: bw,
        extra: { readBytesPerSec: readBw, writeBytesPerSec: writeBw, wallSeconds: r.seconds },
      };
    },
  };
}

function makeTools(ctx: ToolContext, names: ToolName[]): Tool[] {
  const all: Record<ToolName, (c: ToolContext) => Tool> = {
    clonestation: clonestationTool,
    dd: ddTool,
    cat: catTool,
    ddrescue: ddrescueTool,
    fio: fioTool,
  };
  return names.map((n) => all[n](ctx));
}

// ---------------------------------------------------------------------------------------
// Verification of a copy: a few regions at the start, middle and end must match.

interface Region {
  offset: number;
  length: number;
}

function verifyRegions(sizeBytes: number): Region[] {
  const length = Math.min(8 * MiB, Math.floor(sizeBytes / 4));
  const middle = Math.floor(sizeBytes / 2 / MiB) * MiB;
  return [
    { offset: 0, length },
    { offset: middle, length },
    { offset: sizeBytes - length, length },
  ];
}

/** Zeroes the regions on the target so that a tool that wrote nothing cannot pass. */
async function wipeRegions(setup: Setup, regions: Region[]): Promise<void> {
  assertOwnedLoop(setup.dstDev, setup.dstFile);
  const zeros = Buffer.alloc(Math.max(...regions.map((r) => r.length)));
  const fh = await open(setup.dstDev, 'r+');
  try {
    for (const r of regions) await fh.write(zeros, 0, r.length, r.offset);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Returns a description of the first mismatch, or undefined if all regions match. */
async function compareRegions(setup: Setup, regions: Region[]): Promise<string | undefined> {
  dropCaches(); // read what reached the devices, not cached pages
  for (const r of regions) {
    const res = await runTimed('cmp', ['-i', String(r.offset), '-n', String(r.length), setup.srcDev, setup.dstDev], {
      timeoutMs: 60_000,
    });
    if (res.code === 1) return `bytes differ in [${r.offset}, ${r.offset + r.length}): ${res.stdout.trim()}`;
    if (res.code !== 0) throw new Error(describeFailure('cmp', res));
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// The benchmark loop

interface ToolRecord {
  name: ToolName;
  command: string;
  runs: RunResult[];
  skipped?: string;
  error?: string;
  verified?: boolean;
}

/** Per-run scratch directories (ddrescue's mapfile) live under one directory of our own. */
let scratchRoot: string | undefined;

function makeRunScratch(): string {
  if (!scratchRoot) {
    const dir = mkdtempSync(join(tmpdir(), 'clonestation-bench-scratch-'));
    scratchRoot = dir;
    onCleanup(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  }
  return mkdtempSync(join(scratchRoot, 'run-'));
}

async function runOnce(setup: Setup, tool: Tool, rec: ToolRecord, runIndex: number, runs: number): Promise<void> {
  const verify = runIndex === 0 && tool.copies;
  const regions = verifyRegions(setup.sizeBytes);
  if (verify) await wipeRegions(setup, regions);
  assertOwnedLoop(setup.srcDev, setup.srcFile);
  assertOwnedLoop(setup.dstDev, setup.dstFile);
  dropCaches();
  const tmp = makeRunScratch();
  try {
    const res = await tool.run(setup.srcDev, setup.dstDev, tmp);
    const rss = res.rssBytes !== undefined ? `, peak RSS ${fmtMiB(res.rssBytes)}` : '';
    console.log(
      `[${setup.kind}] run ${runIndex + 1}/${runs} ${tool.name.padEnd(12)} ${(res.bytesPerSec / MB).toFixed(0).padStart(6)} MB/s` +
        `  (${res.seconds.toFixed(3)} s${rss})`,
    );
    if (verify) {
      const mismatch = await compareRegions(setup, regions);
      if (mismatch) throw new Error(`BROKEN COPY: ${tool.name} produced a wrong copy, ${mismatch}`);
      rec.verified = true;
      console.log(`[${setup.kind}]   ${tool.name}: copy verified (start, middle and end regions match)`);
    }
    rec.runs.push(res);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function benchSetup(setup: Setup, tools: Tool[], runs: number): Promise<ToolRecord[]> {
  const records = new Map<ToolName, ToolRecord>();
  const entries: Array<{ tool: Tool; rec: ToolRecord }> = [];
  for (const tool of tools) {
    const rec: ToolRecord = { name: tool.name, command: tool.command, runs: [] };
    const missing = tool.missing();
    if (missing) {
      rec.skipped = missing;
      console.warn(`\n!!! [${setup.kind}] SKIPPING ${tool.name}: ${missing}\n`);
    }
    records.set(tool.name, rec);
    entries.push({ tool, rec });
  }
  await runInterleaved(
    entries,
    runs,
    (tool, rec, r) => runOnce(setup, tool, rec, r, runs),
    (tool, error) => console.error(`\n!!! [${setup.kind}] ${tool.name} FAILED, no more runs of it: ${error}\n`),
  );
  return [...records.values()];
}

// ---------------------------------------------------------------------------------------
// Statistics and criteria

interface ToolSummary {
  name: ToolName;
  runs: number;
  medianMBps?: number;
  minMBps?: number;
  maxMBps?: number;
  peakRssBytes?: number;
  /**
   * clonestation only: the median of its own copy rate (first I/O to fdatasync done, from
   * the CLI's "seconds"), without Node's ~0.1 s start-up. Compared with fio's bandwidth,
   * which likewise excludes fio's set-up: like for like against the device ceiling.
   */
  engineMedianMBps?: number;
  status: 'ok' | 'skipped' | 'error';
  note?: string;
}

function summarize(rec: ToolRecord): ToolSummary {
  const mbps = rec.runs.map((r) => r.bytesPerSec / MB);
  const rss = rec.runs.map((r) => r.rssBytes).filter((x): x is number => x !== undefined);
  const status = rec.skipped ? 'skipped' : rec.error ? 'error' : 'ok';
  const engine = rec.runs
    .map((r) => (typeof r.extra?.['seconds'] === 'number' && typeof r.extra?.['bytes'] === 'number' ? r.extra['bytes'] / r.extra['seconds'] / MB : undefined))
    .filter((x): x is number => x !== undefined && Number.isFinite(x));
  return {
    ...(engine.length > 0 && !rec.error ? { engineMedianMBps: median(engine) } : {}),
    name: rec.name,
    runs: rec.runs.length,
    ...(mbps.length > 0 && !rec.error
      ? { medianMBps: median(mbps), minMBps: Math.min(...mbps), maxMBps: Math.max(...mbps) }
      : {}),
    ...(rss.length > 0 ? { peakRssBytes: Math.max(...rss) } : {}),
    status,
    ...(rec.skipped || rec.error ? { note: rec.skipped ?? rec.error } : {}),
  };
}

type Ratios = Partial<Record<Exclude<ToolName, 'clonestation'>, number>>;

function ratiosOf(summaries: ToolSummary[]): Ratios {
  const med = (n: ToolName): number | undefined => summaries.find((s) => s.name === n)?.medianMBps;
  const cs = med('clonestation');
  const engine = summaries.find((s) => s.name === 'clonestation')?.engineMedianMBps ?? cs;
  const out: Ratios = {};
  if (cs === undefined || engine === undefined) return out;
  for (const other of ['dd', 'fio', 'ddrescue', 'cat'] as const) {
    const o = med(other);
    // Whole-process wall clock against the other copy tools (what a user waits for);
    // the engine's own rate against fio's own bandwidth (both exclude start-up).
    if (o !== undefined && o > 0) out[other] = (other === 'fio' ? engine : cs) / o;
  }
  return out;
}

interface Criterion {
  text: string;
  value?: number;
  valueText: string;
  status: 'PASS' | 'FAIL' | 'n/a';
}

const RSS_LIMIT_BYTES = 150 * MiB;

function ratioCriterion(ratios: Ratios, tool: keyof Ratios, min: number, label: string): Criterion {
  const v = ratios[tool];
  return {
    text: `clonestation >= ${min}x ${label}`,
    ...(v !== undefined ? { value: v } : {}),
    valueText: v !== undefined ? `${v.toFixed(2)}x` : 'n/a',
    status: v === undefined ? 'n/a' : v >= min ? 'PASS' : 'FAIL',
  };
}

function criteriaFor(kind: SetupKind, ratios: Ratios, summaries: ToolSummary[]): Criterion[] {
  const list: Criterion[] =
    kind === 'tmpfs'
      ? [ratioCriterion(ratios, 'dd', 1.4, 'dd'), ratioCriterion(ratios, 'fio', 0.9, 'fio read+write ceiling (engine rate)')]
      : [ratioCriterion(ratios, 'dd', 1.2, 'dd')];
  const rss = summaries.find((s) => s.name === 'clonestation')?.peakRssBytes;
  list.push({
    text: 'clonestation peak RSS <= 150 MiB',
    ...(rss !== undefined ? { value: rss } : {}),
    valueText: rss !== undefined ? `${(rss / MiB).toFixed(1)} MiB` : 'n/a',
    status: rss === undefined ? 'n/a' : rss <= RSS_LIMIT_BYTES ? 'PASS' : 'FAIL',
  });
  return list;
}

// ---------------------------------------------------------------------------------------
// Reporting

interface SetupReport {
  kind: SetupKind;
  skipped?: string;
  error?: string;
  devices?: { src: string; dst: string; directIo: boolean };
  tools: ToolRecord[];
  summaries: ToolSummary[];
  ratios: Ratios;
  criteria: Criterion[];
}

function fmtNum(x: number | undefined, digits = 0): string {
  return x === undefined ? '-' : x.toFixed(digits);
}

/** Peak RSS and the CLI's own copy rate (its wall clock includes Node's start-up). */
function clonestationNote(rep: SetupReport, s: ToolSummary, sizeBytes: number): string {
  if (s.status !== 'ok') return s.note?.split('\n')[0] ?? '';
  const parts: string[] = [];
  if (s.peakRssBytes !== undefined) parts.push(`peak RSS ${(s.peakRssBytes / MiB).toFixed(1)} MiB`);
  const runs = rep.tools.find((t) => t.name === 'clonestation')?.runs ?? [];
  const self = runs.map((r) => r.extra?.['seconds']).filter((x): x is number => typeof x === 'number' && x > 0);
  if (self.length > 0) parts.push(`self-reported ${(sizeBytes / median(self) / MB).toFixed(0)} MB/s`);
  const backend = runs.map((r) => r.extra?.['backend']).find((b): b is string => typeof b === 'string');
  if (backend) parts.push(`backend ${backend}`);
  return parts.join(', ');
}

function printSetupReport(rep: SetupReport, cfg: Config): void {
  console.log(`\n=== ${rep.kind}: ${fmtSize(cfg.sizeBytes)}, ${cfg.runs} interleaved runs, page cache dropped, MB = 1e6 bytes ===`);
  if (rep.skipped || rep.error) {
    console.log(rep.skipped ? `SKIPPED: ${rep.skipped}` : `ERROR: ${rep.error}`);
    return;
  }
  const rows = [['tool', 'median MB/s', 'min', 'max', 'runs', 'note']];
  for (const s of rep.summaries) {
    const note = s.name === 'clonestation' ? clonestationNote(rep, s, cfg.sizeBytes) : (s.note?.split('\n')[0] ?? '');
    rows.push([
      s.name === 'fio' ? 'fio (ceiling)' : s.name,
      fmtNum(s.medianMBps),
      fmtNum(s.minMBps),
      fmtNum(s.maxMBps),
      String(s.runs),
      s.status === 'ok' ? note : `${s.status.toUpperCase()}: ${note}`,
    ]);
  }
  console.log(table(rows, [5]));
  const ratioRows = (Object.entries(rep.ratios) as Array<[string, number]>).map(([k, v]) => [
    `clonestation / ${k === 'fio' ? 'fio ceiling (engine rate vs fio bandwidth)' : `${k} (wall clock)`}`,
    `${v.toFixed(2)}x`,
  ]);
  if (ratioRows.length > 0) console.log(`\n${table(ratioRows)}`);
  console.log('\nacceptance criteria:');
  console.log(table(rep.criteria.map((c) => [`  ${c.text}`, c.valueText, c.status])));
}

function markdownFragment(reports: SetupReport[], cfg: Config): string {
  const shown = reports.filter((r) => !r.skipped && !r.error);
  if (shown.length === 0) return '(no setup produced results)';
  const header = shown.map((r) => (r.kind === 'tmpfs' ? 'tmpfs-backed loops' : 'disk-backed loops (--direct-io=on)'));
  const lines = [
    `Copy throughput, ${fmtSize(cfg.sizeBytes)} loop device to loop device, median MB/s of ${cfg.runs} ` +
      `interleaved runs, page cache dropped (${machineText()}):`,
    '',
    `| tool | ${header.join(' | ')} |`,
    `|---|${header.map(() => '---:').join('|')}|`,
  ];
  const labels: Record<ToolName, string> = {
    clonestation: '**clonestation** (wall clock, whole process)',
    dd: '`dd bs=4M iflag=direct oflag=direct`',
    cat: '`cat src > dst && sync`',
    ddrescue: '`ddrescue -f -d -D -c 2048`',
    fio: 'fio io_uring QD16 1 MiB read+write ceiling (lower leg)',
  };
  for (const name of cfg.tools) {
    const cells = shown.map((r) => fmtNum(r.summaries.find((s) => s.name === name)?.medianMBps));
    lines.push(`| ${labels[name]} | ${cells.join(' | ')} |`);
    if (name === 'clonestation') {
      const eng = shown.map((r) => fmtNum(r.summaries.find((s) => s.name === name)?.engineMedianMBps));
      lines.push(`| clonestation engine rate (without Node start-up) | ${eng.join(' | ')} |`);
    }
  }
  for (const other of ['dd', 'fio', 'ddrescue', 'cat'] as const) {
    if (!shown.some((r) => r.ratios[other] !== undefined)) continue;
    const cells = shown.map((r) => (r.ratios[other] !== undefined ? `${(r.ratios[other] ?? 0).toFixed(2)}x` : '-'));
    lines.push(`| clonestation / ${other === 'fio' ? 'fio ceiling (engine rate)' : other} | ${cells.join(' | ')} |`);
  }
  const rssCells = shown.map((r) => {
    const rss = r.summaries.find((s) => s.name === 'clonestation')?.peakRssBytes;
    return rss === undefined ? '-' : `${(rss / MiB).toFixed(0)} MiB`;
  });
  if (rssCells.some((c) => c !== '-')) lines.push(`| clonestation peak RSS | ${rssCells.join(' | ')} |`);
  return lines.join('\n');
}

function toolVersions(): Record<string, string | undefined> {
  return {
    dd: firstLineOf('dd', ['--version']),
    ddrescue: firstLineOf('ddrescue', ['--version']),
    fio: firstLineOf('fio', ['--version']),
    losetup: firstLineOf('losetup', ['--version']),
  };
}

function writeResultsJson(reports: SetupReport[], cfg: Config, markdown: string): string {
  const file = resultsFile(cfg.repoRoot, 'clone', { gitkeep: true });
  const doc = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    toolVersions: toolVersions(),
    config: { sizeBytes: cfg.sizeBytes, runs: cfg.runs, setups: cfg.setups, tools: cfg.tools },
    unit: 'MB/s with MB = 1e6 bytes; bytesPerSec per run',
    setups: reports,
    markdown,
  };
  writeJson(file, doc);
  return file;
}

// ---------------------------------------------------------------------------------------
// Main

async function runSetup(kind: SetupKind, cfg: Config, tools: Tool[]): Promise<SetupReport> {
  const empty = { kind, tools: [], summaries: [], ratios: {}, criteria: [] };
  const problem = roomProblem(kind, cfg.sizeBytes);
  if (problem) {
    console.warn(`\n!!! SKIPPING setup ${kind}: not enough room: ${problem}\n`);
    return { ...empty, skipped: `not enough room: ${problem}` };
  }
  let setup: Setup;
  try {
    setup = await createSetup(kind, cfg.sizeBytes);
  } catch (err) {
    console.error(`\n!!! setup ${kind} failed: ${errorMessage(err)}\n`);
    return { ...empty, error: `setup failed: ${errorMessage(err)}` };
  }
  try {
    const records = await benchSetup(setup, tools, cfg.runs);
    const summaries = records.map(summarize);
    const ratios = ratiosOf(summaries);
    return {
      kind,
      devices: { src: setup.srcDev, dst: setup.dstDev, directIo: kind === 'disk' },
      tools: records,
      summaries,
      ratios,
      criteria: criteriaFor(kind, ratios, summaries),
    };
  } finally {
    setup.teardown();
  }
}

async function main(): Promise<number> {
  const cfg = configOrExit(parseConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!isRoot('bench/clone needs root (losetup, /proc/sys/vm/drop_caches)')) return 1;
  if (!haveRequired(['losetup', 'sync', 'cmp'])) return 1;
  installSignalHandlers('stopping running tools, detaching loops, deleting files...', 3000);
  // Generous: 2 minutes plus 10 MB/s, so a hung tool cannot stall the run forever.
  const timeoutMs = 120_000 + (cfg.sizeBytes / (10 * MB)) * 1000;
  const ctx: ToolContext = { sizeBytes: cfg.sizeBytes, repoRoot: cfg.repoRoot, timeoutMs };
  const tools = makeTools(ctx, cfg.tools);
  console.log(
    `clonestation copy benchmark: ${fmtSize(cfg.sizeBytes)} x ${cfg.runs} runs, ` +
      `setups ${cfg.setups.join(', ')}, tools ${cfg.tools.join(', ')}`,
  );

  const reports: SetupReport[] = [];
  for (const kind of cfg.setups) reports.push(await runSetup(kind, cfg, tools));

  for (const rep of reports) printSetupReport(rep, cfg);
  const markdown = markdownFragment(reports, cfg);
  console.log(`\nMarkdown for the README:\n\n${markdown}\n`);
  if (reports.some((r) => !r.skipped && !r.error)) {
    console.log(`results written to ${writeResultsJson(reports, cfg, markdown)}`);
  } else {
    console.log('no setup produced results: nothing written to bench/results/');
  }

  const failed = reports.some((r) => r.error || r.tools.some((t) => t.error));
  if (failed) console.error('\nsome tools or setups FAILED (see above): exiting 1');
  return failed ? 1 : 0;
}

runMain(main);
