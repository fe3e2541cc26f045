/**
 * Helpers shared by the root benchmarks (bench/clone.ts, bench/rescue.ts, bench/station.ts):
 * command line and environment parsing, the cleanup registry and signal handling, child
 * processes in their own process groups, loop-device safety checks, statistics, plain-text
 * tables and the results JSON file. Each function keeps the exact behaviour the benchmarks
 * had when each carried its own copy; where they differed, the difference is a parameter.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomFill } from 'node:crypto';
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KiB = 1024;
export const MiB = 1024 * KiB;
/** Throughput unit of every benchmark: MB = 1e6 bytes. */
export const MB = 1e6;

// ---------------------------------------------------------------------------------------
// Configuration

/** Bad command line or environment: main() prints it with the usage text and exits 2. */
export class UsageError extends Error {}

/** A positive integer from the environment variable `name`, or `fallback` when unset or empty. */
export function positiveIntEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

/** A comma-separated subset of `allowed`, returned in the order of `allowed`. */
export function parseList<T extends string>(raw: string, allowed: readonly T[], what: string): T[] {
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new UsageError(`unknown ${what} "${item}" (expected one of: ${allowed.join(', ')})`);
    }
  }
  if (items.length === 0) throw new UsageError(`empty ${what} list`);
  return allowed.filter((a) => items.includes(a));
}

/** The repository root: $CLONESTATION_ROOT, else two levels above dist/bench/*.js. */
export function findRepoRoot(): string {
  const fromEnv = process.env['CLONESTATION_ROOT'];
  if (fromEnv) return resolve(fromEnv);
  const guess = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return existsSync(join(guess, 'package.json')) ? guess : process.cwd();
}

/**
 * Parses the command line with `parse`. Returns the configuration, or the exit status when
 * there is nothing to run: 0 after printing the usage for --help, 2 after a usage error.
 */
export function configOrExit<C extends object>(parse: (argv: string[]) => C | 'help', usage: string): C | number {
  let parsed: C | 'help';
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`${errorMessage(err)}\n${usage}`);
    return 2;
  }
  if (parsed === 'help') {
    console.log(usage);
    return 0;
  }
  return parsed;
}

/** True when running as root; otherwise prints `message` and returns false. */
export function isRoot(message: string): boolean {
  if (process.getuid?.() !== 0) {
    console.error(message);
    return false;
  }
  return true;
}

/** True when every one of `names` is on PATH; otherwise reports the first missing one. */
export function haveRequired(names: readonly string[]): boolean {
  for (const needed of names) {
    if (!findExecutable(needed)) {
      console.error(`${needed} is required and not installed`);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Cleanup and signals: every resource registers a synchronous undo action, run LIFO once.

interface CleanupEntry {
  label: string;
  fn: () => void;
}
const cleanups: CleanupEntry[] = [];

/** Registers an undo action; the returned function runs it now and unregisters it. */
export function onCleanup(label: string, fn: () => void): () => void {
  const entry: CleanupEntry = { label, fn };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) {
      cleanups.splice(i, 1);
      runCleanup(entry);
    }
  };
}

function runCleanup(entry: CleanupEntry): void {
  try {
    entry.fn();
  } catch (err) {
    console.error(`cleanup failed (${entry.label}): ${errorMessage(err)}`);
  }
}

/** Runs (LIFO) and unregisters every undo action registered since `mark` (a cleanupMark()). */
function runCleanupsAbove(mark: number): void {
  while (cleanups.length > mark) {
    const entry = cleanups.pop();
    if (entry) runCleanup(entry);
  }
}

/** Runs every registered undo action, last registered first. */
export function runAllCleanups(): void {
  runCleanupsAbove(0);
}

/** Runs f, then undoes (LIFO) whatever f registered, whether it succeeded or not. */
export async function withOwnCleanups<T>(f: () => Promise<T>): Promise<T> {
  const mark = cleanups.length;
  try {
    return await f();
  } finally {
    runCleanupsAbove(mark);
  }
}

/** Children started by runTimed() (or added by a benchmark) that are still running. */
export const liveChildren = new Set<ChildProcess>();

/** Resolves when child has exited or after ms, whichever comes first. */
export function waitForExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
  });
}

/**
 * Children run in their own process group (spawned detached), so that a shell's own
 * children (cat under sh -c) are signalled too and cannot keep a loop device busy.
 */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal); // group already gone
  }
}

/** SIGTERM to every live child's group, then SIGKILL to those still there after termWaitMs. */
async function stopChildren(termWaitMs: number): Promise<void> {
  await Promise.all(
    [...liveChildren].map(async (child) => {
      killGroup(child, 'SIGTERM');
      await waitForExit(child, termWaitMs);
      if (child.exitCode === null && child.signalCode === null) {
        killGroup(child, 'SIGKILL');
        await waitForExit(child, 2000);
      }
    }),
  );
}

/**
 * On SIGINT, SIGTERM and SIGHUP: prints `\n${SIG}: ${stoppingMessage}`, stops the live
 * children (SIGTERM, SIGKILL after termWaitMs), runs every cleanup and exits 128+N. A second
 * signal cleans up and exits at once. Cleanups also run on a normal exit.
 */
export function installSignalHandlers(stoppingMessage: string, termWaitMs: number): void {
  const signals: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
  let stopping = false;
  for (const [sig, num] of Object.entries(signals)) {
    process.on(sig, () => {
      if (stopping) {
        // A second signal: do not wait for children any more.
        runAllCleanups();
        process.exit(128 + num);
      }
      stopping = true;
      console.error(`\n${sig}: ${stoppingMessage}`);
      void stopChildren(termWaitMs).finally(() => {
        runAllCleanups();
        process.exit(128 + num);
      });
    });
  }
  process.on('exit', runAllCleanups);
}

/** Runs main, then every cleanup, and sets the exit status (1 on an uncaught error). */
export function runMain(main: () => Promise<number>, name?: string): void {
  main().then(
    (code) => {
      runAllCleanups();
      process.exitCode = code;
    },
    (err: unknown) => {
      // a named bench says what failed in one line; an unnamed one shows the whole stack
      console.error(name ? `bench/${name}: ${errorMessage(err)}` : `fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      runAllCleanups();
      process.exitCode = 1;
    },
  );
}

// ---------------------------------------------------------------------------------------
// Small helpers

/** A ratio a bench checks against its target ('-' for figures shown for information). */
export interface Check {
  name: string;
  value: number;
  target: string;
  pass: boolean;
}

/** The checks as a table on stdout: PASS or FAIL where there is a target. */
export function printChecks(checks: readonly Check[]): void {
  process.stdout.write(`${table([['check', 'value', 'target', ''], ...checks.map((c) => [c.name, c.value.toFixed(3), c.target, c.target === '-' ? '' : c.pass ? 'PASS' : 'FAIL'])], [2])}\n`);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The first executable `name` in $PATH, then in extraDirs; undefined if there is none. */
export function findExecutable(name: string, extraDirs: readonly string[] = []): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter).concat(extraDirs)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The first line a command prints on stdout, or undefined if it fails. */
export function firstLineOf(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch {
    return undefined;
  }
}

/** The last `lines` lines of text. */
export function tail(text: string, lines = 8): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** sync, then drop the page cache, dentries and inodes (needs root). */
export function dropCaches(): void {
  execFileSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3\n');
}

/**
 * Busy CPU seconds of the whole machine so far: every core, user + nice + system + irq +
 * softirq + steal, not idle or iowait (/proc/stat, USER_HZ = 100). Kernel threads count too:
 * on loop devices the copying itself happens in the loop driver's workers.
 */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / 100;
}

/** MemAvailable from /proc/meminfo in bytes (Infinity if the kernel does not say). */
export function memAvailableBytes(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.POSITIVE_INFINITY;
}

export function fmtMiB(bytes: number): string {
  return `${(bytes / MiB).toFixed(0)} MiB`;
}

/** The median (the mean of the two middle values for an even count; NaN for none). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/** items rotated left by `by`: run r of an interleaved series starts with a different tool. */
export function rotate<T>(items: T[], by: number): T[] {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/**
 * Interleaved runs: in run r, every tool whose record is not skipped runs once, in an order
 * rotated by r. A tool whose run throws gets rec.error set, `failed` is told, and it runs
 * no more.
 */
export async function runInterleaved<T, R extends { skipped?: string; error?: string }>(
  entries: ReadonlyArray<{ tool: T; rec: R }>,
  runs: number,
  runOne: (tool: T, rec: R, runIndex: number) => Promise<void>,
  failed: (tool: T, error: string) => void,
): Promise<void> {
  const runnable = entries.filter((e) => !e.rec.skipped);
  for (let r = 0; r < runs; r++) {
    for (const { tool, rec } of rotate(runnable, r)) {
      if (rec.error) continue;
      try {
        await runOne(tool, rec, r);
      } catch (err) {
        rec.error = errorMessage(err);
        failed(tool, rec.error);
      }
    }
  }
}

/** Plain-text table: first column left-aligned, the others right-aligned except leftCols. */
export function table(rows: string[][], leftCols: number[] = []): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const cell = (c: string, i: number): string =>
    i === 0 || leftCols.includes(i) ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0);
  return rows.map((r) => r.map(cell).join('  ').trimEnd()).join('\n');
}

// ---------------------------------------------------------------------------------------
// Running a child process, timed

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** spawn to close, seconds */
  seconds: number;
}

export interface TimedResult extends ExecResult {
  /** Date.now() at spawn, to line up with pino's log times */
  spawnedAtMs: number;
}

export interface RunOptions {
  cwd?: string;
  timeoutMs: number;
  /** Print a line on stderr when the timeout kills the command. */
  reportTimeout?: boolean;
  /** Called every watchMs with the child's pid while it runs (and once right after spawn). */
  watch?: (pid: number) => void;
  watchMs?: number;
}

/**
 * Runs a command in its own process group (so killGroup reaches its children), collects
 * its output and times it; SIGKILLs the group after opts.timeoutMs. Rejects only when the
 * command cannot be spawned.
 */
export function runTimed(cmd: string, args: string[], opts: RunOptions): Promise<TimedResult> {
  return new Promise((resolvePromise, reject) => {
    const spawnedAtMs = Date.now();
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    liveChildren.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      if (opts.reportTimeout) console.error(`\n!!! ${cmd} exceeded its ${(opts.timeoutMs / 1000).toFixed(0)} s timeout: killing it`);
      killGroup(child, 'SIGKILL');
    }, opts.timeoutMs);
    let watcher: NodeJS.Timeout | undefined;
    const pid = child.pid;
    if (opts.watch && pid !== undefined) {
      const w = opts.watch;
      const tick = (): void => {
        try {
          w(pid);
        } catch {
          // the process may be exiting: its /proc entry is going away
        }
      };
      tick();
      watcher = setInterval(tick, opts.watchMs ?? 20);
    }
    const finish = (): void => {
      clearTimeout(timer);
      if (watcher) clearInterval(watcher);
      liveChildren.delete(child);
    };
    child.on('error', (e) => {
      finish();
      reject(e);
    });
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      finish();
      resolvePromise({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        seconds,
        spawnedAtMs,
      });
    });
  });
}

/** "cmd exited with N:" or "cmd was killed by SIG:", then the tail of its stderr (or stdout). */
export function describeFailure(cmd: string, r: ExecResult): string {
  const how = r.signal ? `was killed by ${r.signal}` : `exited with ${r.code}`;
  const detail = tail(r.stderr) || tail(r.stdout);
  return `${cmd} ${how}${detail ? `:\n${detail}` : ''}`;
}

// ---------------------------------------------------------------------------------------
// Files and loop devices

/**
 * Fills a file with fresh random bytes (incompressible, different for every file), writing
 * chunkBytes at a time; with sync, fsyncs it before closing.
 */
export async function fillRandom(path: string, sizeBytes: number, opts: { chunkBytes: number; sync: boolean }): Promise<void> {
  const fill = (buf: Buffer, offset: number, size: number): Promise<void> =>
    new Promise((done, fail) => randomFill(buf, offset, size, (err) => (err ? fail(err) : done())));
  const chunk = Buffer.allocUnsafe(opts.chunkBytes);
  const fh = await open(path, 'w');
  try {
    for (let off = 0; off < sizeBytes; off += chunk.length) {
      const len = Math.min(chunk.length, sizeBytes - off);
      await fill(chunk, 0, len);
      await fh.write(chunk, 0, len, off);
    }
    if (opts.sync) await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Fills a file with zeros (so a target's blocks exist before the first timed run). */
export async function fillZeros(path: string, sizeBytes: number, opts: { chunkBytes: number; sync: boolean }): Promise<void> {
  const chunk = Buffer.alloc(opts.chunkBytes);
  const fh = await open(path, 'w');
  try {
    for (let off = 0; off < sizeBytes; off += chunk.length) {
      await fh.write(chunk, 0, Math.min(chunk.length, sizeBytes - off), off);
    }
    if (opts.sync) await fh.sync();
  } finally {
    await fh.close();
  }
}

const LOOP_DEV = /^\/dev\/loop\d+$/;

/** `losetup --find --show [--direct-io=on] file`: the new /dev/loopN (checked to be one). */
export function losetupAttach(file: string, directIo: boolean): string {
  const args = ['--find', '--show', ...(directIo ? ['--direct-io=on'] : []), file];
  const dev = execFileSync('losetup', args, { encoding: 'utf8' }).trim();
  if (!LOOP_DEV.test(dev)) throw new Error(`losetup printed an unexpected device name: "${dev}"`);
  return dev;
}

/** Whether the loop device dev does direct I/O on its backing file. */
export function loopDirectIo(dev: string): boolean {
  return readFileSync(`/sys/block/${basename(dev)}/loop/dio`, 'utf8').trim() === '1';
}

/**
 * Safety check before anything writes: dev must be a loop device whose backing file is the
 * file this benchmark created. Throws otherwise. Messages name dev as `${dev} (${name})`
 * when name is given. With fileMayBeGone, a file whose path cannot be resolved any more
 * (its FUSE server is gone) is compared by the path it was attached with; without it, that
 * throws too.
 */
export function assertOwnedLoop(dev: string, file: string, opts: { name?: string; fileMayBeGone?: boolean } = {}): void {
  const who = opts.name === undefined ? dev : `${dev} (${opts.name})`;
  if (!LOOP_DEV.test(dev)) throw new Error(`refusing to use ${who}: not a loop device`);
  const sys = `/sys/block/${basename(dev)}/loop/backing_file`;
  let backing: string;
  try {
    backing = readFileSync(sys, 'utf8').trim();
  } catch {
    throw new Error(`refusing to use ${who}: it has no backing file (not attached?)`);
  }
  let want: string;
  if (opts.fileMayBeGone) {
    want = file;
    try {
      want = realpathSync(file);
    } catch {
      // the file is gone (or its FUSE server is): compare with the path we attached
    }
  } else {
    want = realpathSync(file);
  }
  if (backing !== want) {
    throw new Error(`refusing to use ${who}: it is backed by ${backing}, not by our ${file}`);
  }
}

// ---------------------------------------------------------------------------------------
// Results

/** The machine, as every results JSON records it. */
export function machineInfo(): { cpus: number; cpuModel: string | undefined; kernel: string; node: string } {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), node: process.version };
}

/** "N cores, Linux R, Node V", for the Markdown fragments. */
export function machineText(): string {
  return `${cpus().length} cores, Linux ${release()}, Node ${process.version}`;
}

/**
 * Creates bench/results/ under repoRoot (and, with gitkeep, its .gitkeep) and returns the
 * path of a new `${prefix}-<ISO date>.json` in it.
 */
export function resultsFile(repoRoot: string, prefix: string, opts: { gitkeep?: boolean } = {}): string {
  const dir = join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  if (opts.gitkeep && !existsSync(join(dir, '.gitkeep'))) writeFileSync(join(dir, '.gitkeep'), '');
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  return join(dir, `${prefix}-${stamp}.json`);
}

/** Writes doc as indented JSON with a final newline. */
export function writeJson(file: string, doc: unknown): void {
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
}
