/**
 * Rescue benchmark: clonestation rescue against GNU ddrescue on the same real failing drive
 * (test/fixtures/failing-drive.sh: nbdkit delay + ddrescue filters -> nbdfuse -> a read-only
 * direct-I/O loop device whose reads fail with EIO on the injected bad sectors, every read
 * delayed --delay-ms). Both tools use 512-byte sectors and no retries:
 *
 *   clonestation:  node dist/src/cli.js rescue DEV TARGET MAP --json --sector-size 512 --save-interval 1
 *   GNU ddrescue:  ddrescue -q -d -b512 -r0 --mapfile-interval=1 DEV TARGET MAP
 *
 * and measures, over interleaved runs (fresh target and map each run, page cache dropped):
 *   1. the time to rescue 99% of the good (readable) bytes,
 *   2. the total time (spawn to exit),
 *   3. the final set of bad sectors (`ddrescuelog --list-blocks=- -b512 MAP`), which must be
 *      identical for both tools and equal to the injected set; nothing may be left
 *      unfinished, and the target must hold the source's data in every good sector.
 * Acceptance criterion: clonestation / ddrescue <= 1.0 for (1) and for (2), and (3) holds.
 *
 * How "time to 99%" is measured, the same way for both tools: each tool rewrites its mapfile
 * about once a second (ddrescue --mapfile-interval=1, clonestation --save-interval 1). A
 * poller stats the mapfile every 50 ms and, whenever it changed, reads and parses it; a map
 * that does not cover the whole drive (caught mid-write) is ignored until the next poll.
 * Each complete map gives a sample (the file's mtime - the spawn time, bytes marked '+').
 * The 99% time is interpolated linearly between the last sample below 0.99 x good bytes and
 * the first one at or above it (starting from (0 s, 0 bytes)); both bracketing sample times
 * are kept as bounds. So the figure is good to about the save interval (1 s), equally for
 * both tools. For clonestation the same figure is also computed from its JSON progress
 * events (received about once a second) as a cross-check, reported but not judged.
 * ddrescue's --log-reads/--log-rates were not used: the reads log is stdio-buffered (it
 * arrives in 4 KiB bursts) and the rates log has no rescued-bytes column.
 *
 *   npx tsc -p . && node dist/bench/rescue.js     (or: npm run bench:rescue)
 *   BENCH_RESCUE_MIB=32 BENCH_RUNS=1 node dist/bench/rescue.js
 *
 * env: BENCH_RESCUE_MIB (image size, default 64), BENCH_RUNS (default 3),
 *      BENCH_RESCUE_DELAY_MS (per read, default 10, at least 10),
 *      BENCH_BAD_SECTORS (scattered single bad sectors, default 10),
 *      BENCH_BAD_CLUSTERS (bad 64 KiB clusters, default 2),
 *      BENCH_PATCHY_CLUSTERS (64 KiB clusters with 5 bad sectors and good ones between, default 1),
 *      BENCH_BAD_AREA_KIB (one larger bad area, default 256; 0 for none),
 *      BENCH_SEED (layout of the bad sectors, default 1), BENCH_RUN_TIMEOUT_S (default 900),
 *      BENCH_LOOP_NOMERGES (0|1|2, default 0: written to the fixture loop device's
 *      queue/nomerges, which a loop device keeps across detach and re-attach, so it is always
 *      set, and put back at teardown). The block layer may merge adjacent reads that are in
 *      flight together (clonestation keeps 8 clusters in flight) into one request, and the
 *      fixture fails a whole request that touches a bad sector, so the merged neighbours
 *      fail too. 2 turns merging off, for an A/B comparison.
 *      CLONESTATION_ROOT (repo root).
 *
 * Sizing: at 10 ms per read, what costs is not the copy (ddrescue reads 64 KiB clusters one
 * at a time: ~12 s for 64 MiB) but the sector-by-sector passes: trimming a 64 KiB
 * non-trimmed block around one bad sector reads its ~127 good sectors one by one (~1.3 s),
 * and scraping a bad area reads every sector (1 MiB: ~21 s). GNU ddrescue 1.27 took 96 s on
 * 64 MiB with 40 single sectors, 3 clusters and a 1 MiB area; the defaults (~40 s per
 * ddrescue run) keep 3 interleaved runs of both tools within a few minutes. For the heavier
 * layout: BENCH_BAD_SECTORS=40 BENCH_BAD_CLUSTERS=3 BENCH_BAD_AREA_KIB=1024.
 *
 * Needs root (FUSE, loop devices, drop_caches), nbdkit, nbdfuse, fusermount3, ddrescue and
 * ddrescuelog. Works in folders under /dev/shm it creates, tears the fixture down and
 * deletes them on exit, error, SIGINT, SIGTERM and SIGHUP. Writes
 * bench/results/rescue-<ISO date>.json. Exit status: 0 whatever the ratios are; 1 on real
 * errors (a tool failed or hung, the fixture could not be built, or a rescue was wrong:
 * wrong bad set, unfinished map or wrong data); 2 on bad usage; 128+N on a signal.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  KiB,
  MiB,
  UsageError,
  configOrExit,
  describeFailure,
  dropCaches,
  errorMessage,
  fillRandom,
  findExecutable as findOnPath,
  findRepoRoot,
  firstLineOf,
  installSignalHandlers,
  isRecord,
  isRoot,
  killGroup,
  liveChildren,
  machineInfo,
  machineText,
  median,
  onCleanup,
  resultsFile,
  runInterleaved,
  runMain,
  table,
  tail,
  writeJson,
  type ExecResult,
} from './common.js';

// ---------------------------------------------------------------------------------------
// Configuration

const SECTOR = 512;
const CLUSTER = 64 * KiB;
const SHM = '/dev/shm';
const POLL_MS = 50;
const THRESHOLD = 0.99;
const TOOL_NAMES = ['clonestation', 'ddrescue'] as const;
type ToolName = (typeof TOOL_NAMES)[number];

interface Config {
  sizeBytes: number;
  runs: number;
  delayMs: number;
  badSectors: number;
  badClusters: number;
  patchyClusters: number;
  badAreaBytes: number;
  seed: number;
  /** Written to the fixture loop device's queue/nomerges (0 = the kernel's default). */
  loopNomerges: number;
  runTimeoutMs: number;
  repoRoot: string;
}

function intEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

const USAGE = `usage: node dist/bench/rescue.js
env: BENCH_RESCUE_MIB (default 64), BENCH_RUNS (default 3), BENCH_RESCUE_DELAY_MS (default 10, >= 10),
     BENCH_BAD_SECTORS (default 10), BENCH_BAD_CLUSTERS (default 2), BENCH_PATCHY_CLUSTERS (default 1),
     BENCH_BAD_AREA_KIB (default 256), BENCH_LOOP_NOMERGES (0|1|2, default 0), BENCH_SEED (default 1), BENCH_RUN_TIMEOUT_S (default 900), CLONESTATION_ROOT (repo root)`;

function parseConfig(argv: string[]): Config | 'help' {
  const { values } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) return 'help';
  const sizeMiB = intEnv('BENCH_RESCUE_MIB', 64, 4);
  const areaKiB = intEnv('BENCH_BAD_AREA_KIB', 256, 0);
  return {
    sizeBytes: sizeMiB * MiB,
    runs: intEnv('BENCH_RUNS', 3, 1),
    // The acceptance criterion is about a drive whose failing reads are slow: >= 10 ms.
    delayMs: intEnv('BENCH_RESCUE_DELAY_MS', 10, 10),
    badSectors: intEnv('BENCH_BAD_SECTORS', 10, 0),
    badClusters: intEnv('BENCH_BAD_CLUSTERS', 2, 0),
    patchyClusters: intEnv('BENCH_PATCHY_CLUSTERS', 1, 0),
    badAreaBytes: areaKiB * KiB,
    seed: intEnv('BENCH_SEED', 1, 0),
    loopNomerges: Math.min(2, intEnv('BENCH_LOOP_NOMERGES', 0, 0)),
    runTimeoutMs: intEnv('BENCH_RUN_TIMEOUT_S', 900, 10) * 1000,
    repoRoot: findRepoRoot(),
  };
}

// ---------------------------------------------------------------------------------------
// Small helpers (the shared ones, cleanup and signals are in common.ts)

/** On PATH, then in /usr/sbin and /sbin (in case PATH lacks the sbin folders). */
function findExecutable(name: string): string | undefined {
  return findOnPath(name, ['/usr/sbin', '/sbin']);
}

function fmtS(x: number | undefined, digits = 2): string {
  return x === undefined || !Number.isFinite(x) ? '-' : `${x.toFixed(digits)}`;
}

function fmtBytes(n: number): string {
  if (n % MiB === 0) return `${n / MiB} MiB`;
  if (n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same bad-sector layout. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------
// Running a child process

/** Runs a short command synchronously and returns its stdout; throws with its stderr. */
function runSync(cmd: string, args: string[], timeoutMs = 60_000): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  } catch (err) {
    const e = err as { stderr?: string | Buffer; status?: number | null };
    const stderr = typeof e.stderr === 'string' ? e.stderr : (e.stderr?.toString('utf8') ?? '');
    throw new Error(`${cmd} ${args.join(' ')} failed (status ${String(e.status)}): ${tail(stderr) || errorMessage(err)}`);
  }
}

// ---------------------------------------------------------------------------------------
// Maps: the injected layout, and parsing the tools' maps while they run

interface Extent {
  offset: number;
  length: number;
}

/** Bad sectors of a "patchy" 64 KiB cluster, by sector index in it: good sectors between. */
const PATCHY_SECTORS = [10, 50, 51, 60, 100];

/**
 * Places the bad areas at random sector-aligned offsets (seeded), at least 128 KiB apart,
 * so each is a separate error area for both tools: first the large area, then the 64 KiB
 * clusters (not cluster-aligned), then the patchy clusters (a few bad sectors with good
 * ones between, which only scraping can tell apart), then the single sectors. Returns the
 * bad extents sorted, adjacent ones merged.
 */
function makeLayout(cfg: Config): Extent[] {
  const rng = mulberry32(cfg.seed);
  const guard = 128 * KiB;
  const units: Extent[] = [];
  const bad: Extent[] = [];
  const place = (length: number, what: string): number => {
    for (let attempt = 0; attempt < 100_000; attempt++) {
      const maxStartSector = (cfg.sizeBytes - length) / SECTOR;
      const offset = Math.floor(rng() * (maxStartSector + 1)) * SECTOR;
      if (units.every((p) => offset + length + guard <= p.offset || p.offset + p.length + guard <= offset)) {
        units.push({ offset, length });
        return offset;
      }
    }
    throw new UsageError(`cannot place ${what} 128 KiB away from the others: the image is too small (BENCH_RESCUE_MIB)`);
  };
  if (cfg.badAreaBytes > 0) bad.push({ offset: place(cfg.badAreaBytes, `a ${fmtBytes(cfg.badAreaBytes)} bad area`), length: cfg.badAreaBytes });
  for (let i = 0; i < cfg.badClusters; i++) bad.push({ offset: place(CLUSTER, 'a bad 64 KiB cluster'), length: CLUSTER });
  for (let i = 0; i < cfg.patchyClusters; i++) {
    const at = place(CLUSTER, 'a patchy 64 KiB cluster');
    for (const s of PATCHY_SECTORS) bad.push({ offset: at + s * SECTOR, length: SECTOR });
  }
  for (let i = 0; i < cfg.badSectors; i++) bad.push({ offset: place(SECTOR, 'a bad sector'), length: SECTOR });
  bad.sort((a, b) => a.offset - b.offset);
  const merged: Extent[] = [];
  for (const b of bad) {
    const last = merged[merged.length - 1];
    if (last && last.offset + last.length === b.offset) last.length += b.length;
    else merged.push({ ...b });
  }
  return merged;
}

const hex = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;

/**
 * The fixture's map: contiguous `pos size status` lines from 0, '+' where reads succeed and
 * '-' where they fail. Bad extents are never adjacent (128 KiB apart), so no two lines of
 * the same status touch, as nbdkit's ddrescue filter needs.
 */
function injectedMapText(size: number, bad: Extent[], seed: number): string {
  const lines = [
    `# Injected bad sectors for bench/rescue (seed ${seed}): reads fail where not +`,
    '# current_pos  current_status  current_pass',
    '0x0     +     1',
    '#      pos        size  status',
  ];
  let at = 0;
  for (const b of bad) {
    if (b.offset > at) lines.push(`${hex(at)}  ${hex(b.offset - at)}  +`);
    lines.push(`${hex(b.offset)}  ${hex(b.length)}  -`);
    at = b.offset + b.length;
  }
  if (at < size) lines.push(`${hex(at)}  ${hex(size - at)}  +`);
  return `${lines.join('\n')}\n`;
}

function goodExtents(size: number, bad: Extent[]): Extent[] {
  const out: Extent[] = [];
  let at = 0;
  for (const b of bad) {
    if (b.offset > at) out.push({ offset: at, length: b.offset - at });
    at = b.offset + b.length;
  }
  if (at < size) out.push({ offset: at, length: size - at });
  return out;
}

/** A number in C syntax, as ddrescue writes and reads them (0x hex, 0 octal, decimal). */
function parseCNumber(s: string): number {
  if (/^0x[0-9a-f]+$/i.test(s)) return parseInt(s.slice(2), 16);
  if (/^0[0-7]+$/.test(s)) return parseInt(s.slice(1), 8);
  if (/^\d+$/.test(s)) return parseInt(s, 10);
  return NaN;
}

interface MapTotals {
  rescued: number;
  bad: number;
  unfinished: number;
}

/**
 * Sums a ddrescue-format map by status. Returns undefined unless the blocks are contiguous
 * from 0 and cover exactly `size` bytes: a map caught mid-write is not a sample.
 */
function mapTotals(text: string, size: number): MapTotals | undefined {
  const t: MapTotals = { rescued: 0, bad: 0, unfinished: 0 };
  let sawStatusLine = false;
  let at = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    if (!sawStatusLine) {
      sawStatusLine = true; // current_pos current_status [current_pass]
      continue;
    }
    if (f.length < 3) return undefined;
    const pos = parseCNumber(f[0] ?? '');
    const len = parseCNumber(f[1] ?? '');
    if (!Number.isFinite(pos) || !Number.isFinite(len) || pos !== at) return undefined;
    at += len;
    if (f[2] === '+') t.rescued += len;
    else if (f[2] === '-') t.bad += len;
    else if (f[2] === '?' || f[2] === '*' || f[2] === '/') t.unfinished += len;
    else return undefined;
  }
  return at === size ? t : undefined;
}

/** Sector numbers of the given block types, as GNU ddrescuelog lists them. */
function listBlocks(map: string, types: string): number[] {
  const out = runSync('ddrescuelog', [`--list-blocks=${types}`, `-b${SECTOR}`, map]);
  return out
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const n = parseCNumber(s);
      if (!Number.isFinite(n)) throw new Error(`ddrescuelog printed "${s}", not a sector number`);
      return n;
    });
}

function sectorsOf(extents: Extent[]): number[] {
  const out: number[] = [];
  for (const e of extents) for (let s = e.offset / SECTOR; s < (e.offset + e.length) / SECTOR; s++) out.push(s);
  return out;
}

function sameList(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function listHash(xs: number[]): string {
  return createHash('sha256').update(xs.join(',')).digest('hex').slice(0, 16);
}

/** How `got` differs from `want` (both sorted sector lists), for the report. */
function listDiff(got: number[], want: number[]): { missing: number; extra: number; firstMissing: number[]; firstExtra: number[] } {
  const g = new Set(got);
  const w = new Set(want);
  const missing = want.filter((s) => !g.has(s));
  const extra = got.filter((s) => !w.has(s));
  return { missing: missing.length, extra: extra.length, firstMissing: missing.slice(0, 10), firstExtra: extra.slice(0, 10) };
}

// ---------------------------------------------------------------------------------------
// The failing drive

interface Fixture {
  dir: string;
  image: string;
  map: string;
  dev: string;
  size: number;
  bad: Extent[];
  badSectors: number[];
  goodBytes: number;
  /** The loop device's queue/nomerges while the tools ran. */
  loopNomerges: number;
}

const fixtureScript = (cfg: Config): string => join(cfg.repoRoot, 'test', 'fixtures', 'failing-drive.sh');

/** Why the fixture cannot be built here, or undefined. */
function fixtureMissing(cfg: Config): string | undefined {
  if (!existsSync(fixtureScript(cfg))) return `${fixtureScript(cfg)} does not exist`;
  const missing = ['nbdkit', 'nbdfuse', 'fusermount3', 'losetup', 'setsid', 'bash'].filter((t) => !findExecutable(t));
  if (missing.length > 0) return `missing ${missing.join(', ')} (Debian: apt-get install nbdkit libnbd-bin fuse3)`;
  try {
    execFileSync('nbdkit', ['--filter=ddrescue', '--filter=delay', 'null', '--dump-plugin'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return "nbdkit has no ddrescue or delay filter";
  }
  return undefined;
}

async function upFixture(cfg: Config): Promise<Fixture> {
  // Short path: the nbdkit socket lives in it (unix socket paths are limited to ~100 bytes).
  const dir = mkdtempSync(join(SHM, 'cs-bench-rescue-'));
  onCleanup(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const image = join(dir, 'src.img');
  const map = join(dir, 'bad.map');
  const bad = makeLayout(cfg);
  const badBytes = bad.reduce((s, b) => s + b.length, 0);
  await fillRandom(image, cfg.sizeBytes, { chunkBytes: Math.min(16 * MiB, cfg.sizeBytes), sync: false });
  writeFileSync(map, injectedMapText(cfg.sizeBytes, bad, cfg.seed));

  // The injected set, listed by ddrescuelog, must be the one we meant to inject.
  const badSectors = sectorsOf(bad);
  const listed = listBlocks(map, '-');
  if (!sameList(listed, badSectors)) throw new Error(`ddrescuelog reads the injected map ${map} differently from the layout (a bug in this benchmark)`);
  const totals = mapTotals(readFileSync(map, 'utf8'), cfg.sizeBytes);
  if (!totals || totals.bad !== badBytes) throw new Error(`the injected map ${map} does not parse back (a bug in this benchmark)`);

  const script = fixtureScript(cfg);
  // Registered before `up`: `down` is idempotent, and `up` tears down after itself on failure.
  onCleanup(`failing drive down ${dir}`, () => {
    execFileSync('bash', [script, 'down', dir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
  });
  const args = [script, 'up', dir, image, map, '--sector-size', String(SECTOR), '--delay-ms', String(cfg.delayMs)];
  const dev = runSync('bash', args, 120_000).trim();
  if (!/^\/dev\/loop\d+$/.test(dev)) throw new Error(`failing-drive.sh up printed "${dev}", not a loop device`);
  // queue/nomerges outlives an attachment (the loopN queue stays): set it every time, and
  // put the old value back before `down` (cleanups run last-registered first).
  const nomerges = `/sys/block/${dev.slice('/dev/'.length)}/queue/nomerges`;
  const before = readFileSync(nomerges, 'utf8').trim();
  onCleanup(`restore ${nomerges}`, () => writeFileSync(nomerges, `${before}\n`));
  writeFileSync(nomerges, `${cfg.loopNomerges}\n`);
  const loopNomerges = Number(readFileSync(nomerges, 'utf8').trim());
  if (loopNomerges !== cfg.loopNomerges) throw new Error(`${nomerges} reads ${loopNomerges} after writing ${cfg.loopNomerges}`);
  return { dir, image, map, dev, size: cfg.sizeBytes, bad, badSectors, goodBytes: cfg.sizeBytes - badBytes, loopNomerges };
}

// ---------------------------------------------------------------------------------------
// Tools, and one timed run that samples the mapfile while the tool runs

interface Sample {
  /** Seconds since spawn. */
  t: number;
  /** Bytes marked finished ('+'). */
  rescued: number;
}

interface Tool {
  name: ToolName;
  label: string;
  command: string;
  missing: () => string | undefined;
  args: (dev: string, target: string, map: string) => { cmd: string; args: string[] };
  /** Parse JSON progress events from stdout (clonestation). */
  events: boolean;
}

function tools(cfg: Config): Tool[] {
  const cli = join(cfg.repoRoot, 'dist', 'src', 'cli.js');
  return [
    {
      name: 'clonestation',
      label: 'clonestation rescue',
      command: `node dist/src/cli.js rescue DEV TARGET MAP --json --sector-size ${SECTOR} --save-interval 1`,
      missing: () => (existsSync(cli) ? undefined : `${cli} does not exist (build first: npx tsc -p . / npm run build)`),
      args: (dev, target, map) => ({
        cmd: process.execPath,
        args: [cli, 'rescue', dev, target, map, '--json', '--sector-size', String(SECTOR), '--save-interval', '1'],
      }),
      events: true,
    },
    {
      name: 'ddrescue',
      label: 'GNU ddrescue',
      command: `ddrescue -q -d -b${SECTOR} -r0 --mapfile-interval=1 DEV TARGET MAP`,
      missing: () => {
        const lacking = ['ddrescue', 'ddrescuelog'].filter((t) => !findExecutable(t));
        return lacking.length > 0 ? `${lacking.join(' and ')} not installed (Debian: apt-get install gddrescue)` : undefined;
      },
      args: (dev, target, map) => ({
        cmd: 'ddrescue',
        args: ['-q', '-d', `-b${SECTOR}`, '-r0', '--mapfile-interval=1', dev, target, map],
      }),
      events: false,
    },
  ];
}

interface SampledRun extends ExecResult {
  mapSamples: Sample[];
  eventSamples: Sample[];
  doneEvent?: Record<string, unknown>;
  timedOut: boolean;
}

/**
 * Spawns the tool and, until it exits, polls its mapfile every POLL_MS: each new complete
 * map becomes a sample stamped with the file's mtime (when the tool wrote it). For
 * clonestation, progress events are also recorded, stamped on receipt.
 */
function runSampled(tool: Tool, dev: string, target: string, map: string, size: number, timeoutMs: number): Promise<SampledRun> {
  const { cmd, args } = tool.args(dev, target, map);
  return new Promise((resolvePromise, reject) => {
    const mapSamples: Sample[] = [];
    const eventSamples: Sample[] = [];
    let doneEvent: Record<string, unknown> | undefined;
    let lastMtimeMs = -1;
    let polling: Promise<void> | undefined;
    let timedOut = false;
    const startWallMs = Date.now(); // mtimes are wall-clock (CLOCK_REALTIME) too
    const started = process.hrtime.bigint();
    const since = (): number => Number(process.hrtime.bigint() - started) / 1e9;

    const pollOnce = async (): Promise<void> => {
      try {
        const st = await stat(map);
        if (st.mtimeMs === lastMtimeMs) return;
        const totals = mapTotals(await readFile(map, 'utf8'), size);
        const after = await stat(map);
        // Mid-write (incomplete, or rewritten while we read): try again on the next poll.
        if (!totals || after.mtimeMs !== st.mtimeMs) return;
        lastMtimeMs = st.mtimeMs;
        mapSamples.push({ t: Math.max(0, (st.mtimeMs - startWallMs) / 1000), rescued: totals.rescued });
      } catch {
        // not there yet, or being replaced (ddrescue renames the old map to .bak)
      }
    };
    const poll = (): void => {
      if (polling) return;
      polling = pollOnce().finally(() => {
        polling = undefined;
      });
    };

    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    liveChildren.add(child);
    const timer = setInterval(poll, POLL_MS);
    const killer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, timeoutMs);

    const out: string[] = [];
    const err: Buffer[] = [];
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const t = since();
      out.push(chunk);
      if (!tool.events) return;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        let ev: unknown;
        try {
          ev = JSON.parse(line);
        } catch {
          continue;
        }
        if (!isRecord(ev)) continue;
        if (ev['event'] === 'progress' && typeof ev['done'] === 'number') eventSamples.push({ t, rescued: ev['done'] });
        if (ev['event'] === 'done') {
          doneEvent = ev;
          if (typeof ev['rescuedBytes'] === 'number') eventSamples.push({ t, rescued: ev['rescuedBytes'] });
        }
      }
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearInterval(timer);
      clearTimeout(killer);
      liveChildren.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      const seconds = since();
      clearInterval(timer);
      clearTimeout(killer);
      liveChildren.delete(child);
      // The last save happens at exit: wait for a poll in flight, then read the final map.
      void (async () => {
        if (polling) await polling;
        await pollOnce();
        resolvePromise({
          code,
          signal,
          stdout: out.join(''),
          stderr: Buffer.concat(err).toString('utf8'),
          seconds,
          mapSamples,
          eventSamples,
          ...(doneEvent ? { doneEvent } : {}),
          timedOut,
        });
      })();
    });
  });
}

interface Crossing {
  /** Interpolated seconds since spawn at which `threshold` bytes were rescued. */
  t: number;
  /** The bracketing sample times. */
  lo: number;
  hi: number;
}

/**
 * When the rescued bytes first reached `threshold`: linear interpolation between the last
 * sample below and the first at or above it, starting from (0 s, 0 bytes).
 */
function crossing(samples: Sample[], threshold: number): Crossing | undefined {
  const s = [{ t: 0, rescued: 0 }, ...[...samples].sort((a, b) => a.t - b.t)];
  let prev = s[0] as Sample;
  for (const cur of s.slice(1)) {
    if (cur.rescued >= threshold) {
      const span = cur.rescued - prev.rescued;
      const frac = span > 0 ? (threshold - prev.rescued) / span : 1;
      return { t: prev.t + Math.min(1, Math.max(0, frac)) * (cur.t - prev.t), lo: prev.t, hi: cur.t };
    }
    if (cur.rescued > prev.rescued) prev = cur;
    else prev = { t: cur.t, rescued: prev.rescued }; // keep the running maximum, latest time
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// One run, checked

interface RunRecord {
  run: number;
  /** Total wall-clock seconds, spawn to exit. */
  totalSeconds: number;
  t99?: Crossing;
  /** clonestation only: the 99% time from its progress events (cross-check). */
  t99Events?: Crossing;
  rescuedBytes: number;
  badBytes: number;
  unfinishedBytes: number;
  badSectors: number;
  badSetHash: string;
  badSetEqualsInjected: boolean;
  badSetDiff?: ReturnType<typeof listDiff>;
  /** Every good sector of the target holds the source's data. */
  dataMatches: boolean;
  dataMismatch?: string;
  mapSamples: Array<[number, number]>;
  eventSamples?: Array<[number, number]>;
  /** clonestation's pass breakdown from its done event. */
  passes?: unknown;
  /** The final map, kept only when the run was wrong. */
  finalMap?: string;
}

interface ToolRecord {
  name: ToolName;
  label: string;
  command: string;
  runs: RunRecord[];
  /** Sorted bad-sector lists per run (not written to JSON: too long). */
  badLists: number[][];
  skipped?: string;
  error?: string;
}

/** Compares the target with the source image over the good extents. */
async function checkData(fx: Fixture, target: string, source: Buffer): Promise<string | undefined> {
  const fh = await open(target, 'r');
  try {
    for (const g of goodExtents(fx.size, fx.bad)) {
      const buf = Buffer.alloc(g.length);
      const { bytesRead } = await fh.read(buf, 0, g.length, g.offset);
      if (bytesRead !== g.length) return `target ends inside good extent [${g.offset}, ${g.offset + g.length}) (read ${bytesRead} bytes)`;
      if (!buf.equals(source.subarray(g.offset, g.offset + g.length))) {
        let i = 0;
        while (i < g.length && buf[i] === source[g.offset + i]) i++;
        return `target differs from the source at byte ${g.offset + i} (in good extent [${g.offset}, ${g.offset + g.length}))`;
      }
    }
  } finally {
    await fh.close();
  }
  return undefined;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

async function runOnce(cfg: Config, fx: Fixture, tool: Tool, rec: ToolRecord, source: Buffer, runIndex: number): Promise<void> {
  // Fresh target and map in a fresh folder each run; nothing cached from the last run.
  const scratch = mkdtempSync(join(SHM, `cs-bench-rescue-run-`));
  const removeScratch = onCleanup(`remove ${scratch}`, () => rmSync(scratch, { recursive: true, force: true }));
  try {
    const target = join(scratch, 'target.img');
    const map = join(scratch, 'rescue.map');
    if (!/^\/dev\/loop\d+$/.test(fx.dev) || !existsSync(fx.dev)) throw new Error(`the failing drive ${fx.dev} is gone`);
    dropCaches();
    const r = await runSampled(tool, fx.dev, target, map, fx.size, cfg.runTimeoutMs);
    if (r.timedOut) throw new Error(`${tool.name} did not finish within ${cfg.runTimeoutMs / 1000} s (BENCH_RUN_TIMEOUT_S): killed. Last output:\n${tail(r.stderr) || tail(r.stdout)}`);
    if (r.code !== 0) throw new Error(describeFailure(tool.name, r));
    if (!existsSync(map)) throw new Error(`${tool.name} exited 0 but left no mapfile`);

    const mapText = readFileSync(map, 'utf8');
    const totals = mapTotals(mapText, fx.size);
    if (!totals) throw new Error(`${tool.name}'s final map ${map} does not cover the drive:\n${tail(mapText, 12)}`);
    const badList = listBlocks(map, '-');
    const unfinishedList = listBlocks(map, '?*/');
    const badSetEqualsInjected = sameList(badList, fx.badSectors);
    const dataMismatch = await checkData(fx, target, source);
    const threshold = THRESHOLD * fx.goodBytes;
    const t99 = crossing(r.mapSamples, threshold);
    const t99Events = tool.events ? crossing(r.eventSamples, threshold) : undefined;
    const wrong = !badSetEqualsInjected || unfinishedList.length > 0 || dataMismatch !== undefined;

    const record: RunRecord = {
      run: runIndex + 1,
      totalSeconds: round3(r.seconds),
      ...(t99 ? { t99: { t: round3(t99.t), lo: round3(t99.lo), hi: round3(t99.hi) } } : {}),
      ...(t99Events ? { t99Events: { t: round3(t99Events.t), lo: round3(t99Events.lo), hi: round3(t99Events.hi) } } : {}),
      rescuedBytes: totals.rescued,
      badBytes: totals.bad,
      unfinishedBytes: totals.unfinished,
      badSectors: badList.length,
      badSetHash: listHash(badList),
      badSetEqualsInjected,
      ...(badSetEqualsInjected ? {} : { badSetDiff: listDiff(badList, fx.badSectors) }),
      dataMatches: dataMismatch === undefined,
      ...(dataMismatch ? { dataMismatch } : {}),
      mapSamples: r.mapSamples.map((s) => [round3(s.t), s.rescued]),
      ...(tool.events ? { eventSamples: r.eventSamples.map((s): [number, number] => [round3(s.t), s.rescued]) } : {}),
      ...(r.doneEvent && 'passes' in r.doneEvent ? { passes: r.doneEvent['passes'] } : {}),
      ...(wrong ? { finalMap: mapText } : {}),
    };
    rec.runs.push(record);
    rec.badLists.push(badList);

    const t99Text = t99 ? `${fmtS(t99.t)} s (samples ${fmtS(t99.lo)}-${fmtS(t99.hi)})` : 'never';
    const evText = t99Events ? `; from progress events ${fmtS(t99Events.t)} s` : '';
    console.log(
      `run ${runIndex + 1}/${cfg.runs} ${tool.name.padEnd(12)} 99% of good data at ${t99Text}${evText}; ` +
        `total ${fmtS(r.seconds)} s; ${r.mapSamples.length} map samples`,
    );
    const badNote = badSetEqualsInjected
      ? `bad set = injected (${badList.length} sectors)`
      : `BAD SET DIFFERS from the injected one: ${JSON.stringify(record.badSetDiff)}`;
    const unfNote = unfinishedList.length > 0 ? `; ${unfinishedList.length} sectors LEFT UNFINISHED` : '';
    const dataNote = dataMismatch ? `; WRONG DATA: ${dataMismatch}` : '; good sectors match the source';
    console.log(`    ${badNote}${unfNote}${dataNote}`);
    if (r.doneEvent) {
      const d = r.doneEvent;
      const passes = Array.isArray(d['passes'])
        ? d['passes']
            .map((p: unknown) => (isRecord(p) && typeof p['name'] === 'string' && typeof p['seconds'] === 'number'
                ? `${p['name']} ${p['seconds'].toFixed(1)} s${typeof p['bytesRescued'] === 'number' ? ` (${p['bytesRescued']} B)` : ''}`
                : ''),
            )
            .filter((s) => s !== '')
            .join(', ')
        : '';
      console.log(`    clonestation says: rescued ${String(d['rescuedBytes'])}, bad ${String(d['badBytes'])} in ${String(d['badAreas'])} areas; passes: ${passes}`);
    }
  } finally {
    removeScratch();
  }
}

// ---------------------------------------------------------------------------------------
// Statistics, criteria and reports

interface ToolSummary {
  name: ToolName;
  runs: number;
  t99Median?: number;
  t99Min?: number;
  t99Max?: number;
  /** Medians of the bracketing sample times (the 99% point lies between them). */
  t99LoMedian?: number;
  t99HiMedian?: number;
  t99EventsMedian?: number;
  totalMedian?: number;
  totalMin?: number;
  totalMax?: number;
  allBadSetsEqualInjected: boolean;
  allDataMatches: boolean;
  allFinished: boolean;
  status: 'ok' | 'skipped' | 'error';
  note?: string;
}

function summarize(rec: ToolRecord): ToolSummary {
  const t99 = rec.runs.map((r) => r.t99?.t).filter((x): x is number => x !== undefined);
  const lo = rec.runs.map((r) => r.t99?.lo).filter((x): x is number => x !== undefined);
  const hi = rec.runs.map((r) => r.t99?.hi).filter((x): x is number => x !== undefined);
  const ev = rec.runs.map((r) => r.t99Events?.t).filter((x): x is number => x !== undefined);
  const total = rec.runs.map((r) => r.totalSeconds);
  const status = rec.skipped ? 'skipped' : rec.error ? 'error' : 'ok';
  const usable = !rec.error && rec.runs.length > 0;
  return {
    name: rec.name,
    runs: rec.runs.length,
    ...(usable && t99.length === rec.runs.length ? { t99Median: median(t99), t99Min: Math.min(...t99), t99Max: Math.max(...t99), t99LoMedian: median(lo), t99HiMedian: median(hi) } : {}),
    ...(usable && ev.length > 0 ? { t99EventsMedian: median(ev) } : {}),
    ...(usable ? { totalMedian: median(total), totalMin: Math.min(...total), totalMax: Math.max(...total) } : {}),
    allBadSetsEqualInjected: rec.runs.length > 0 && rec.runs.every((r) => r.badSetEqualsInjected),
    allDataMatches: rec.runs.length > 0 && rec.runs.every((r) => r.dataMatches),
    allFinished: rec.runs.length > 0 && rec.runs.every((r) => r.unfinishedBytes === 0),
    status,
    ...(rec.skipped || rec.error ? { note: rec.skipped ?? rec.error } : {}),
  };
}

interface Criterion {
  text: string;
  valueText: string;
  value?: number;
  status: 'PASS' | 'FAIL' | 'n/a';
}

interface Outcome {
  summaries: ToolSummary[];
  /** t99Worst: clonestation's upper bracket over ddrescue's lower one (t99Best the reverse). */
  ratios: { t99?: number; total?: number; t99Worst?: number; t99Best?: number };
  /** Every run of both tools found the same bad sectors (and those are the injected ones). */
  identicalBadSets?: boolean;
  criteria: Criterion[];
}

function evaluate(records: ToolRecord[], fx: Fixture): Outcome {
  const summaries = records.map(summarize);
  const cs = summaries.find((s) => s.name === 'clonestation');
  const dd = summaries.find((s) => s.name === 'ddrescue');
  const ratio = (a?: number, b?: number): number | undefined => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  const ratios = {
    t99: ratio(cs?.t99Median, dd?.t99Median),
    total: ratio(cs?.totalMedian, dd?.totalMedian),
    t99Worst: ratio(cs?.t99HiMedian, dd?.t99LoMedian),
    t99Best: ratio(cs?.t99LoMedian, dd?.t99HiMedian),
  };

  const csRec = records.find((r) => r.name === 'clonestation');
  const ddRec = records.find((r) => r.name === 'ddrescue');
  const all = [...(csRec?.badLists ?? []), ...(ddRec?.badLists ?? [])];
  const identicalBadSets =
    (csRec?.badLists.length ?? 0) > 0 && (ddRec?.badLists.length ?? 0) > 0 ? all.every((l) => sameList(l, all[0] ?? [])) : undefined;

  const ratioCriterion = (v: number | undefined, text: string): Criterion => ({
    text,
    ...(v !== undefined ? { value: v } : {}),
    valueText: v !== undefined ? `${v.toFixed(2)}x` : 'n/a',
    status: v === undefined ? 'n/a' : v <= 1.0 ? 'PASS' : 'FAIL',
  });
  const bothRan = cs?.status === 'ok' && dd?.status === 'ok';
  const correct = bothRan && identicalBadSets === true && !!cs?.allBadSetsEqualInjected && !!dd?.allBadSetsEqualInjected && !!cs?.allFinished && !!dd?.allFinished;
  const criteria: Criterion[] = [
    ratioCriterion(ratios.t99, 'time to 99% of good data: clonestation / ddrescue <= 1.0'),
    ratioCriterion(ratios.total, 'total time: clonestation / ddrescue <= 1.0'),
    {
      text: `identical final bad sets (both tools, every run, = injected ${fx.badSectors.length} sectors)`,
      valueText: !bothRan ? 'n/a' : correct ? 'identical' : 'DIFFERENT',
      status: !bothRan ? 'n/a' : correct ? 'PASS' : 'FAIL',
    },
    {
      text: 'clonestation target holds the source data in every good sector',
      valueText: cs?.status === 'ok' ? (cs.allDataMatches ? 'yes' : 'NO') : 'n/a',
      status: cs?.status === 'ok' ? (cs.allDataMatches ? 'PASS' : 'FAIL') : 'n/a',
    },
  ];
  return { summaries, ratios, ...(identicalBadSets !== undefined ? { identicalBadSets } : {}), criteria };
}

function layoutText(cfg: Config): string {
  const parts = [`${cfg.badSectors} single bad sectors`, `${cfg.badClusters} bad 64 KiB clusters`];
  if (cfg.patchyClusters > 0) parts.push(`${cfg.patchyClusters} patchy 64 KiB cluster(s) (${PATCHY_SECTORS.length} bad sectors each, good ones between)`);
  if (cfg.badAreaBytes > 0) parts.push(`one ${fmtBytes(cfg.badAreaBytes)} bad area`);
  return parts.join(', ');
}

function printReport(cfg: Config, fx: Fixture, records: ToolRecord[], o: Outcome): void {
  console.log(
    `\n=== rescue of a ${fmtBytes(cfg.sizeBytes)} failing drive (${layoutText(cfg)}; ${fx.badSectors.length} bad sectors), ` +
      `${cfg.delayMs} ms per read, ${SECTOR}-byte sectors, no retries; ${cfg.runs} interleaved runs ===`,
  );
  const rows = [['tool', '99% median s', 'min', 'max', 'total median s', 'min', 'max', 'runs', 'bad set / data']];
  for (const s of o.summaries) {
    const check =
      s.status !== 'ok'
        ? `${s.status.toUpperCase()}: ${s.note?.split('\n')[0] ?? ''}`
        : `${s.allBadSetsEqualInjected ? 'bad set = injected' : 'BAD SET WRONG'}${s.allFinished ? '' : ', UNFINISHED'}, ${s.allDataMatches ? 'data ok' : 'DATA WRONG'}`;
    rows.push([
      s.name,
      fmtS(s.t99Median),
      fmtS(s.t99Min),
      fmtS(s.t99Max),
      fmtS(s.totalMedian),
      fmtS(s.totalMin),
      fmtS(s.totalMax),
      String(s.runs),
      check,
    ]);
  }
  console.log(table(rows, [8]));
  const cs = o.summaries.find((s) => s.name === 'clonestation');
  if (cs?.t99EventsMedian !== undefined) {
    console.log(`(clonestation's 99% time from its progress events instead of its map: median ${fmtS(cs.t99EventsMedian)} s; not judged)`);
  }
  const csRec = records.find((r) => r.name === 'clonestation');
  const ddRec = records.find((r) => r.name === 'ddrescue');
  console.log(
    `\nbad-set hashes: clonestation ${[...new Set(csRec?.runs.map((r) => r.badSetHash))].join(',') || '-'}; ` +
      `ddrescue ${[...new Set(ddRec?.runs.map((r) => r.badSetHash))].join(',') || '-'}; injected ${listHash(fx.badSectors)}`,
  );
  console.log(`identical bad sets across tools: ${o.identicalBadSets === undefined ? 'n/a' : o.identicalBadSets ? 'yes' : 'NO'}`);
  console.log('\nclonestation / ddrescue (lower is better):');
  const x = (v?: number): string => (v !== undefined ? `${v.toFixed(2)}x` : 'n/a');
  const bounds = o.ratios.t99Best !== undefined && o.ratios.t99Worst !== undefined ? `(sampling bounds ${x(o.ratios.t99Best)} to ${x(o.ratios.t99Worst)})` : '';
  console.log(table([[`  time to 99% of good data`, x(o.ratios.t99), bounds], [`  total time`, x(o.ratios.total), '']], [2]));
  console.log('\nacceptance criteria:');
  console.log(table(o.criteria.map((c) => [`  ${c.status} ${c.text}`, c.valueText])));
}

function ddrescueVersion(): string {
  return firstLineOf('ddrescue', ['--version']) ?? 'GNU ddrescue';
}

function markdownFragment(cfg: Config, fx: Fixture, o: Outcome): string {
  const cs = o.summaries.find((s) => s.name === 'clonestation');
  const dd = o.summaries.find((s) => s.name === 'ddrescue');
  const sec = (x?: number): string => (x === undefined ? '-' : `${x.toFixed(1)} s`);
  const rat = (x?: number): string => (x === undefined ? '-' : `${x.toFixed(2)}x`);
  const badCell = (s?: ToolSummary): string =>
    !s || s.status !== 'ok' ? '-' : s.allBadSetsEqualInjected && s.allFinished ? `${fx.badSectors.length} (= injected)` : 'WRONG';
  return [
    `Rescue of a failing drive: ${fmtBytes(cfg.sizeBytes)} loop device whose reads fail with EIO on ${fx.badSectors.length} injected ` +
      `bad sectors (${layoutText(cfg)}), every read delayed ${cfg.delayMs} ms (nbdkit); ${SECTOR}-byte sectors, no retries; ` +
      `${fx.loopNomerges !== 0 ? `loop queue/nomerges ${fx.loopNomerges}; ` : ''}median of ${cfg.runs} interleaved runs, page cache dropped (${machineText()}). ` +
      `Time to 99% is interpolated between the tools' mapfile saves (at least one a second each).`,
    '',
    `| | clonestation | ${ddrescueVersion()} \`-d -b512 -r0\` | clonestation / ddrescue |`,
    '|---|---:|---:|---:|',
    `| time to 99% of good data | ${sec(cs?.t99Median)} | ${sec(dd?.t99Median)} | ${rat(o.ratios.t99)} |`,
    `| total time | ${sec(cs?.totalMedian)} | ${sec(dd?.totalMedian)} | ${rat(o.ratios.total)} |`,
    `| bad sectors found | ${badCell(cs)} | ${badCell(dd)} | ${o.identicalBadSets === undefined ? '-' : o.identicalBadSets ? 'identical' : '**different**'} |`,
  ].join('\n');
}

/** The commit the CLI was built from, and whether src/ or native/ had uncommitted changes. */
function gitState(repoRoot: string): { commit?: string; uncommittedSrcOrNative?: boolean } {
  const commit = firstLineOf('git', ['-C', repoRoot, 'rev-parse', 'HEAD']);
  let dirty: boolean | undefined;
  try {
    dirty = execFileSync('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src', 'native'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
  } catch {
    dirty = undefined;
  }
  return { ...(commit ? { commit } : {}), ...(dirty !== undefined ? { uncommittedSrcOrNative: dirty } : {}) };
}

function writeResultsJson(cfg: Config, fx: Fixture, records: ToolRecord[], o: Outcome, markdown: string): string {
  const file = resultsFile(cfg.repoRoot, 'rescue');
  const doc = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    clonestation: gitState(cfg.repoRoot),
    toolVersions: {
      ddrescue: firstLineOf('ddrescue', ['--version']),
      ddrescuelog: firstLineOf('ddrescuelog', ['--version']),
      nbdkit: firstLineOf('nbdkit', ['--version']),
    },
    config: {
      sizeBytes: cfg.sizeBytes,
      runs: cfg.runs,
      delayMs: cfg.delayMs,
      sectorSize: SECTOR,
      badSectors: cfg.badSectors,
      badClusters: cfg.badClusters,
      patchyClusters: cfg.patchyClusters,
      badAreaBytes: cfg.badAreaBytes,
      seed: cfg.seed,
    },
    method:
      'Interleaved runs, fresh target and map each run, page cache dropped. t99 = seconds from spawn until 99% of the good ' +
      'bytes are marked + in the tool\'s mapfile, interpolated linearly between mapfile saves (both tools save every 1 s; ' +
      'samples stamped with the file mtime); lo/hi are the bracketing samples. mapSamples are [seconds, rescued bytes]. ' +
      'Bad sets from ddrescuelog --list-blocks=- -b512.',
    fixture: {
      goodBytes: fx.goodBytes,
      badBytes: fx.size - fx.goodBytes,
      badSectorCount: fx.badSectors.length,
      badSetHash: listHash(fx.badSectors),
      loopNomerges: fx.loopNomerges,
      thresholdBytes: Math.ceil(THRESHOLD * fx.goodBytes),
      badExtents: fx.bad,
    },
    tools: records.map(({ badLists: _lists, ...rest }) => rest),
    summaries: o.summaries,
    ratios: o.ratios,
    identicalBadSets: o.identicalBadSets,
    criteria: o.criteria,
    markdown,
  };
  writeJson(file, doc);
  return file;
}

// ---------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const cfg = configOrExit(parseConfig, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!isRoot('bench/rescue needs root (FUSE mount, loop devices, /proc/sys/vm/drop_caches)')) return 1;
  const fxMissing = fixtureMissing(cfg);
  if (fxMissing) {
    console.warn(`\n!!! SKIPPING the rescue benchmark: cannot build the failing drive: ${fxMissing}\n`);
    return 0;
  }
  installSignalHandlers('stopping running tools, tearing the failing drive down, deleting files...', 3000);

  const allTools = tools(cfg);
  const records: ToolRecord[] = allTools.map((t) => ({ name: t.name, label: t.label, command: t.command, runs: [], badLists: [] }));
  for (const t of allTools) {
    const why = t.missing();
    const rec = records.find((r) => r.name === t.name);
    if (why && rec) {
      rec.skipped = why;
      console.warn(`\n!!! SKIPPING ${t.name}: ${why}\n`);
    }
  }
  if (!findExecutable('ddrescuelog')) {
    console.warn('\n!!! SKIPPING the rescue benchmark: ddrescuelog (package gddrescue) is needed to list bad sectors\n');
    return 0;
  }

  console.log(
    `clonestation rescue benchmark: ${fmtBytes(cfg.sizeBytes)} failing drive, ${layoutText(cfg)} (seed ${cfg.seed}), ` +
      `${cfg.delayMs} ms per read, ${cfg.runs} interleaved runs`,
  );
  let fx: Fixture;
  try {
    fx = await upFixture(cfg);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n${USAGE}`);
      return 2;
    }
    console.error(`\n!!! the failing drive could not be built: ${errorMessage(err)}\n`);
    return 1;
  }
  console.log(
    `failing drive ${fx.dev}: ${fx.badSectors.length} bad sectors (${fx.size - fx.goodBytes} bytes) in ${fx.bad.length} areas; ` +
      `good ${fx.goodBytes} bytes, 99% = ${Math.ceil(THRESHOLD * fx.goodBytes)} bytes; queue/nomerges ${fx.loopNomerges}`,
  );
  for (const t of allTools) console.log(`  ${t.name}: ${t.command}`);
  const source = readFileSync(fx.image);

  const entries = allTools.flatMap((tool) => {
    const rec = records.find((x) => x.name === tool.name);
    return rec ? [{ tool, rec }] : [];
  });
  await runInterleaved(
    entries,
    cfg.runs,
    (tool, rec, r) => runOnce(cfg, fx, tool, rec, source, r),
    (tool, error) => console.error(`\n!!! ${tool.name} FAILED, no more runs of it: ${error}\n`),
  );

  const outcome = evaluate(records, fx);
  printReport(cfg, fx, records, outcome);
  const markdown = markdownFragment(cfg, fx, outcome);
  console.log(`\nMarkdown for the README:\n\n${markdown}\n`);
  if (records.some((r) => r.runs.length > 0)) console.log(`results written to ${writeResultsJson(cfg, fx, records, outcome, markdown)}`);
  else console.log('no tool produced results: nothing written to bench/results/');

  const toolFailed = records.some((r) => r.error);
  const wrongResult = records.some((r) => r.runs.some((x) => !x.badSetEqualsInjected || x.unfinishedBytes > 0 || !x.dataMatches));
  if (toolFailed) console.error('\na tool FAILED (see above): exiting 1');
  if (wrongResult) console.error('\na rescue was WRONG (bad set, unfinished map or data; see above): exiting 1');
  return toolFailed || wrongResult ? 1 : 0;
}

runMain(main);
