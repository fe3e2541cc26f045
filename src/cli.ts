#!/usr/bin/env node
// The command line: parse, dispatch, and turn every error into one line and an exit status.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { CloneStationError, ExitStatus, InternalError, UsageError } from './errors.js';
import { parseCount, parseSize, formatBytes, formatRate } from './units.js';
import { JsonReporter, TextReporter, type Reporter } from './progress.js';
import type { Backend } from './native.js';
import type { EngineTuning } from './engine.js';
import { parseHashList } from './image/hash.js';
import { parseJobFile, parsePair } from './station/jobfile.js';
import { trace } from './trace.js';

trace('cli: imports evaluated');

const usage = `clonestation: clone, rescue, image and benchmark drives at the speed of the drives

Usage:
  clonestation clone SOURCE TARGET [options]   copy a drive or image to another
  clonestation rescue SOURCE TARGET MAPFILE     copy a failing drive around its bad sectors
  clonestation map show MAPFILE                 summary and block map of a rescue map
  clonestation list [--loops] [--all] [--json]  the drives this station sees
  clonestation clone SOURCE TARGET1 TARGET2 ... one master to many targets (a station)
  clonestation clone --pair SRC:DST --pair ...  many pairs at once
  clonestation run JOBFILE                      a station described in a JSON job file
  clonestation demo [--keep] [--size SIZE] [--throttle RATE]  generated images (no drives needed)
  clonestation backup SOURCE OUT [options]      a drive to an image: OUT.img/.raw (raw) or OUT.zip
  clonestation restore IMAGE TARGET... [options] write a backup image (raw, split, zip) to drives
  clonestation verify IMAGE [DRIVE]             check an image, or a drive against the image
  clonestation --help | --version

Clone options:
  --offset SIZE          start reading the source here (default 0)
  --length SIZE          copy this many bytes (default: to the end of the source)
  --target-offset SIZE   start writing the target here (default 0)
  --block-size SIZE      bytes per ring slot, a multiple of 4KiB (default 4MiB)
  --depth N              ring slots in flight (default 4)
  --backend B            auto | io_uring | threads (default auto)
  --no-direct            buffered I/O instead of O_DIRECT
  --verify               re-read the target with O_DIRECT and compare
  --hash LIST            hashes of the bytes copied, on the fly: md5, sha1, sha256, sha512,
                         xxh3, xxh128, blake3, crc32 (comma-separated; in reports too)
  --yes                  do not ask before overwriting a block device
  --json                 JSON lines on stdout instead of progress on stderr
  --map MAPFILE          error-tolerant and resumable: a rescue with ddrescue's map
  --ui, --no-ui          the dashboard (default: on when stdin and stdout are terminals);
                         without it, a progress line per job every few seconds

Station options (several targets, --pair, run; --offset, --length and --target-offset
apply to every job given on the command line):
  --max-parallel N       jobs running at once (default: all, up to 8)
  --no-verify            skip reading every target back (on by default for 1:N)
  --report FILE          write the station's JSON report here
  --log FILE             pino log of the run (JSON lines); without it each run is logged to
                         ~/.local/state/clonestation/logs (or $CLONESTATION_LOG_DIR; the
                         last 100 runs are kept)
  --no-log               no log of this run

Rescue options (also --offset, --length, --target-offset, --depth, --backend, --no-direct,
--yes, --json):
  --sector-size SIZE     bad sectors are recorded at this size (default: the drive's)
  --cluster SIZE         bytes per read in the copy passes (default 128 sectors)
  --reverse              copy passes start at the end
  --retries N            passes over bad sectors after scraping (default 0)
  --min-read-rate SIZE   bytes/s; slower areas are skipped and read in a later pass
  --timeout SECONDS      give up after this long without a good read
  --max-errors N         give up beyond this many error areas
  --fill PATTERN         write unreadable sectors in the target as 0xNN or text
  --domain MAPFILE       rescue only the finished (+) blocks of that map
  --simulate-errors MAPFILE  test mode: reads fail where that map is not +
  --wait-for-return      when the source drops off, wait for it (same serial/WWN) and go on
  --gone-after SECONDS   nothing but failing reads this long means the drive is gone (120)
  --save-interval SECONDS  map saves while reading (default 30; always at every stop)

Backup options (also --offset, --length, --block-size, --depth, --backend, --no-direct, --json):
  --split SIZE           cut the image into OUT.001, OUT.002, ... of SIZE bytes (7-Zip opens
                         a split OUT.zip.001)
  --hash LIST            hashes of the image, on the fly (default sha256; none: no hashes);
                         written to the manifest and to OUT.sha256 etc. for sha256sum -c
  --level N              zip: deflate level 0 (stored) to 9 (default 6)
  --rescue               a failing drive: rescue with a ddrescue map (OUT.map); resumable:
                         re-run the same command to go on
  --map MAPFILE          the same, with the map at MAPFILE
  --fill PATTERN         rescue: fill unreadable sectors with 0xNN or text (default zeros)
  --keep N               after success, delete all but the newest N complete backups of
                         the same source in OUT's folder
  --force                replace a complete backup of the same name (an unfinished one is
                         replaced, or a rescue continued, by running the command again)
  OUT may hold fields: {date} {time} {datetime} {source} {serial} {model} {wwn} {host}

Restore and verify options (also --block-size, --depth, --backend, --no-direct, --yes, --json):
  --offset SIZE          start at this byte of the image (default 0)
  --length SIZE          this many bytes of the image (default: to its end)
  --target-offset SIZE   where the first byte goes on the target/drive (default: where it
                         came from, the backup's source offset + --offset)
  --force                use an image whose manifest says the backup did not finish
  --hash LIST            restore: more hashes of the restored bytes, for the report
  --no-check             restore: do not hash what is restored against the manifest (the
                         fastest manifest hash is checked by default)
  --report FILE          restore: write a JSON report, one row per target

SIZE: bytes (4096, 0x1000), units (4KiB, 1MiB, 2GB; bare K/M/G are binary) or sectors (8s).
Exit status: 0 ok, 1 I/O error, 2 bad input, 3 internal error, 4 refused for safety,
5 verify mismatch, 130 interrupted.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const cloneOptions = {
  offset: { type: 'string' },
  length: { type: 'string' },
  'target-offset': { type: 'string' },
  'block-size': { type: 'string' },
  depth: { type: 'string' },
  backend: { type: 'string' },
  'no-direct': { type: 'boolean' },
  verify: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  json: { type: 'boolean' },
  map: { type: 'string' },
  pair: { type: 'string', multiple: true },
  'max-parallel': { type: 'string' },
  'no-verify': { type: 'boolean' },
  report: { type: 'string' },
  log: { type: 'string' },
  'no-log': { type: 'boolean' },
  hash: { type: 'string' },
  ui: { type: 'boolean' },
  'no-ui': { type: 'boolean' },
} satisfies ParseArgsConfig['options'];

const rescueOptions = {
  ...cloneOptions,
  'sector-size': { type: 'string' },
  cluster: { type: 'string' },
  reverse: { type: 'boolean' },
  retries: { type: 'string' },
  'min-read-rate': { type: 'string' },
  timeout: { type: 'string' },
  'max-errors': { type: 'string' },
  fill: { type: 'string' },
  domain: { type: 'string' },
  'simulate-errors': { type: 'string' },
  'wait-for-return': { type: 'boolean' },
  'gone-after': { type: 'string' },
  'save-interval': { type: 'string' },
} satisfies ParseArgsConfig['options'];

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    // node's messages name the option; keep the first sentence, add the way out.
    const first = (e as Error).message.split(/\.\s|\n/)[0];
    throw new UsageError(`${first} (see clonestation --help)`);
  }
  // An empty value (--block-size=, --log '') is a mistake, never "use the default": refused
  // here, once, for every option and argument of every command.
  for (const [name, value] of Object.entries(parsed.values)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === 'string' && v.trim() === '') throw new UsageError(`--${name} needs a value, not an empty one (see clonestation --help)`);
    }
  }
  const empty = parsed.positionals.findIndex((p) => p.trim() === '');
  if (empty >= 0) throw new UsageError(`argument ${empty + 1} is empty: give a path (see clonestation --help)`);
  return parsed;
}

/** --block-size, --depth, --backend and --no-direct, as the engine takes them. */
function tuning(v: { 'block-size'?: string; depth?: string; backend?: string; 'no-direct'?: boolean }): EngineTuning {
  return {
    blockSize: v['block-size'] !== undefined ? parseSize(v['block-size'], '--block-size') : undefined,
    depth: v.depth !== undefined ? parseCount(v.depth, '--depth', 1, 256) : undefined,
    backend: backendOf(v.backend),
    direct: !v['no-direct'],
  };
}

function backendOf(v: string | undefined): Backend {
  if (v === undefined) return 'auto';
  if (v === 'auto' || v === 'io_uring' || v === 'threads') return v;
  throw new UsageError(`--backend must be auto, io_uring or threads, not ${JSON.stringify(v)}`);
}

type StationValues = { hash?: string; 'max-parallel'?: string; 'no-verify'?: boolean; report?: string; log?: string; 'no-log'?: boolean; json?: boolean; yes?: boolean; 'block-size'?: string; depth?: string; backend?: string; 'no-direct'?: boolean; verify?: boolean; ui?: boolean; 'no-ui'?: boolean };

async function stationCommand(jobs: import('./station/station.js').StationJobInput[], values: StationValues, reporter: () => Reporter, signal: AbortSignal, file?: { maxParallel?: number; verify?: boolean }, title?: string): Promise<number> {
  const rep = values.json ? new JsonReporter() : reporter();
  const verify = values['no-verify'] ? false : values.verify ? true : file?.verify;
  const options = {
    maxParallel: values['max-parallel'] !== undefined ? parseCount(values['max-parallel'], '--max-parallel', 1, 64) : (file?.maxParallel ?? Math.min(8, Math.max(jobs.length, 1))),
    ...tuning(values),
    verify,
    hash: values.hash !== undefined ? parseHashList(values.hash, '--hash') : undefined,
  };
  // The workers first: they boot on the other core while this thread loads the station and
  // plans (bench:station measured the first job starting ~70 ms sooner).
  const { startStationPool } = await import('./station/pool.js');
  const pool = startStationPool({ jobs, maxParallel: options.maxParallel, hash: options.hash });
  const { runStation } = await import('./station/cli.js');
  const { wantsUi } = await import('./ui.js');
  return runStation(
    {
      jobs,
      options: { ...options, pool },
      yes: values.yes ?? false,
      reportPath: values.report,
      logPath: values.log,
      defaultLog: !values['no-log'],
      version: version(),
      ui: wantsUi(values),
      title,
    },
    rep,
    signal,
  );
}

async function cmdRun(args: string[], reporter: () => Reporter, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args, cloneOptions);
  if (positionals.length !== 1) throw new UsageError('run needs one JOBFILE (see clonestation --help)');
  const file = parseJobFile(positionals[0]);
  return stationCommand(file.jobs, values, reporter, signal, file);
}

async function cmdRescue(args: string[], reporter: () => Reporter, signal: AbortSignal, viaClone: boolean): Promise<number> {
  const { values, positionals } = parse(args, rescueOptions);
  const want = viaClone ? 2 : 3;
  if (positionals.length !== want)
    throw new UsageError(viaClone ? 'clone needs exactly SOURCE and TARGET (see clonestation --help)' : 'rescue needs SOURCE, TARGET and MAPFILE (see clonestation --help)');
  const mapPath = viaClone ? (values.map as string) : positionals[2];
  const rep = values.json ? new JsonReporter() : reporter();
  const seconds = (v: string | undefined, name: string): number | undefined => (v === undefined ? undefined : parseCount(v, name, 0, 10 ** 9));
  const { rescue } = await import('./rescue/rescue.js');
  const { wantsUi } = await import('./ui.js');
  const ui = wantsUi(values);
  const run = async (reporter: Reporter, sig: AbortSignal, hooks: RescueDisplayHooks = {}) => rescue(
    {
      source: positionals[0],
      target: positionals[1],
      mapPath,
      offset: values.offset,
      length: values.length,
      targetOffset: values['target-offset'],
      sectorSize: values['sector-size'],
      cluster: values.cluster,
      depth: values.depth !== undefined ? parseCount(values.depth, '--depth', 1, 256) : undefined,
      backend: backendOf(values.backend),
      direct: !values['no-direct'],
      reverse: values.reverse,
      retries: seconds(values.retries, '--retries'),
      minReadRate: values['min-read-rate'],
      timeout: seconds(values.timeout, '--timeout'),
      maxErrors: seconds(values['max-errors'], '--max-errors'),
      fill: values.fill,
      domain: values.domain,
      simulateErrors: values['simulate-errors'],
      waitForReturn: values['wait-for-return'],
      goneAfter: seconds(values['gone-after'], '--gone-after'),
      saveInterval: seconds(values['save-interval'], '--save-interval'),
      yes: values.yes,
      version: version(),
      commandLine: ['clonestation', ...process.argv.slice(2)].join(' '),
      ...hooks,
    },
    reporter,
    sig,
  );
  const r = ui ? await rescueWithDashboard(positionals[0], positionals[1], run, rep, signal) : await run(rep, signal);
  const passes = r.passes.map((p) => `${p.name} ${p.seconds.toFixed(1)} s`).join(', ');
  rep.done({
    message:
      `rescued ${formatBytes(r.rescuedBytes)} of ${formatBytes(r.size)} (${((100 * r.rescuedBytes) / Math.max(1, r.size)).toFixed(4)}%); ` +
      `bad ${formatBytes(r.badBytes)} in ${r.badAreas} area(s); ${r.seconds.toFixed(1)} s, ${formatRate(r.bytesPerSec)}; passes: ${passes || 'none needed'}; map ${r.map}`,
    ...r,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  });
  return ExitStatus.ok;
}

/** What a display hands a rescue: the live map, the moment it may take the terminal, a pause. */
type RescueDisplayHooks = Pick<import('./rescue/rescue.js').RescueOptions, 'watch' | 'ready' | 'paused'>;

/** A rescue in this thread, shown on the dashboard; the summary follows once the terminal is back. */
async function rescueWithDashboard<T>(
  source: string,
  target: string,
  run: (reporter: Reporter, signal: AbortSignal, hooks: RescueDisplayHooks) => Promise<T>,
  outer: Reporter,
  signal: AbortSignal,
  kind?: import('./station/view.js').SingleJobKind,
): Promise<T> {
  const { LogFeed } = await import('../dashboard/logfeed.js');
  const { RescueSource } = await import('./station/view.js');
  const { runWithDashboard, feedReporter } = await import('./ui.js');
  const { existsSync } = await import('node:fs');
  const { inspectDrive } = await import('./drive.js');
  const feed = new LogFeed();
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  signal.addEventListener('abort', stop);
  const view = new RescueSource({ source, target, sourceDrive: existsSync(source) ? inspectDrive(source, 'source') : undefined, targetDrive: existsSync(target) ? inspectDrive(target, 'target') : undefined }, ac, kind);
  const inner = feedReporter(feed, outer);
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const work = async (): Promise<T> => {
    try {
      const r = await run(view.reporter((m) => inner.note(m)), ac.signal, { watch: view.watch, ready, paused: view.paused });
      view.settle('done', r);
      return r;
    } catch (e) {
      const err = e instanceof CloneStationError ? e : undefined;
      view.settle(err?.code === 'CANCELLED' ? 'cancelled' : 'failed', err?.details, e instanceof Error ? e.message : String(e));
      throw e;
    } finally {
      signal.removeEventListener('abort', stop);
    }
  };
  return runWithDashboard(view, feed, work, signal, isReady);
}

async function cmdList(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { loops: { type: 'boolean' }, all: { type: 'boolean' }, json: { type: 'boolean' } });
  if (positionals.length > 0) throw new UsageError('list takes no arguments (see clonestation --help)');
  const { listDrives, driveTable } = await import('./list.js');
  const drives = listDrives({ loops: values.loops, all: values.all });
  if (values.json) process.stdout.write(`${JSON.stringify({ event: 'drives', drives })}\n`);
  else process.stdout.write(`${drives.length > 0 ? driveTable(drives).join('\n') : 'no drives (loop devices show with --loops)'}\n`);
  return ExitStatus.ok;
}

async function cmdMap(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'show') throw new UsageError('usage: clonestation map show MAPFILE [--width N] [--rows N] [--no-color] [--json]');
  const { values, positionals } = parse(rest, { width: { type: 'string' }, rows: { type: 'string' }, 'no-color': { type: 'boolean' }, json: { type: 'boolean' }, size: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('map show needs exactly one MAPFILE');
  const { parseMap, readMapText } = await import('./rescue/mapfile.js');
  const { Mapbook } = await import('./rescue/mapbook.js');
  const { summarize, summaryLines, picture, legend } = await import('./rescue/show.js');
  const path = positionals[0];
  const text = readMapText(path);
  if (text === undefined) throw new UsageError(`mapfile ${path} does not exist`, 'NOT_FOUND');
  const given = values.size !== undefined ? parseSize(values.size, '--size') : undefined;
  const map = parseMap(text, { path, deviceSize: given });
  const last = map.blocks[map.blocks.length - 1];
  const book = new Mapbook(given ?? (last ? last.pos + last.size : 0), map);
  const s = summarize(book);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ event: 'map', map: path, ...s })}\n`);
    return ExitStatus.ok;
  }
  const colours = !values['no-color'] && Boolean(process.stdout.isTTY);
  const width = values.width !== undefined ? parseCount(values.width, '--width', 8, 1000) : Math.min(100, (process.stdout.columns ?? 80) - 2);
  const rows = values.rows !== undefined ? parseCount(values.rows, '--rows', 1, 500) : 16;
  process.stdout.write(`${[`${path}:`, ...summaryLines(s), '', ...picture(book, width, rows, colours), legend(colours)].join('\n')}\n`);
  return ExitStatus.ok;
}

async function cmdClone(args: string[], reporter: () => Reporter, signal: AbortSignal): Promise<number> {
  if (args.some((a) => a === '--map' || a.startsWith('--map='))) return cmdRescue(args, reporter, signal, true);
  const { values, positionals } = parse(args, cloneOptions);
  if (values.pair || positionals.length > 2) {
    // A station: one master to many targets, or many pairs.
    // --offset, --length and --target-offset apply to every job, pairs included
    const range = { offset: values.offset, length: values.length, targetOffset: values['target-offset'] };
    const jobs = values.pair ? values.pair.map((p) => ({ ...parsePair(p), ...range })) : [];
    if (positionals.length > 0) {
      if (positionals.length < 2) throw new UsageError('clone needs SOURCE and at least one TARGET (see clonestation --help)');
      jobs.push({ source: positionals[0], targets: positionals.slice(1), ...range });
    }
    return stationCommand(jobs, values, reporter, signal);
  }
  if (positionals.length !== 2) throw new UsageError('clone needs exactly SOURCE and TARGET (see clonestation --help)');
  const { wantsUi } = await import('./ui.js');
  if (wantsUi(values)) {
    // On the dashboard a 1:1 clone is a station of one job: the same plan and refusals,
    // and it can be paused, cancelled and reported like any station job.
    return stationCommand([{ source: positionals[0], targets: [positionals[1]], offset: values.offset, length: values.length, targetOffset: values['target-offset'] }], { ...values, verify: values.verify ?? false }, reporter, signal, { maxParallel: 1, verify: values.verify ?? false }, 'clone');
  }
  const rep = values.json ? new JsonReporter() : reporter();
  const { clone } = await import('./clone.js');
  const result = await clone(
    {
      source: positionals[0],
      target: positionals[1],
      offset: values.offset,
      length: values.length,
      targetOffset: values['target-offset'],
      ...tuning(values),
      verify: values.verify,
      yes: values.yes,
      hash: values.hash !== undefined ? parseHashList(values.hash, '--hash') : undefined,
    },
    rep,
    signal,
  );
  const hashes = Object.entries(result.hashes ?? {}).map(([a, h]) => `; ${a} ${h}`).join('');
  rep.done({
    message: `cloned ${formatBytes(result.bytes)} in ${result.seconds.toFixed(2)} s (${formatRate(result.bytesPerSec)})${result.verified ? ', verified' : ''}${hashes}`,
    ...result,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  });
  return ExitStatus.ok;
}

const engineOptions = {
  'block-size': { type: 'string' },
  depth: { type: 'string' },
  backend: { type: 'string' },
  'no-direct': { type: 'boolean' },
} satisfies ParseArgsConfig['options'];

const uiOptions = {
  ui: { type: 'boolean' },
  'no-ui': { type: 'boolean' },
} satisfies ParseArgsConfig['options'];

const backupOptions = {
  offset: { type: 'string' },
  length: { type: 'string' },
  split: { type: 'string' },
  hash: { type: 'string' },
  level: { type: 'string' },
  map: { type: 'string' },
  rescue: { type: 'boolean' },
  fill: { type: 'string' },
  keep: { type: 'string' },
  force: { type: 'boolean' },
  ...engineOptions,
  json: { type: 'boolean' },
  ...uiOptions,
} satisfies ParseArgsConfig['options'];

async function cmdBackup(args: string[], reporter: () => Reporter, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args, backupOptions);
  if (positionals.length !== 2) throw new UsageError('backup needs SOURCE and OUT (see clonestation --help)');
  const rep = values.json ? new JsonReporter() : reporter();
  const { backup } = await import('./image/backup.js');
  const { wantsUi } = await import('./ui.js');
  const run = (into: Reporter, sig: AbortSignal, hooks: RescueDisplayHooks = {}) => backup(
    {
      source: positionals[0],
      out: positionals[1],
      offset: values.offset,
      length: values.length,
      splitSize: values.split !== undefined ? parseSize(values.split, '--split') : undefined,
      hash: parseHashList(values.hash ?? 'sha256', '--hash'),
      level: values.level !== undefined ? parseCount(values.level, '--level', 0, 9) : undefined,
      map: values.map,
      rescue: values.rescue,
      fill: values.fill,
      keep: values.keep !== undefined ? parseCount(values.keep, '--keep', 1, 100000) : undefined,
      force: values.force,
      ...tuning(values),
      version: version(),
      commandLine: ['clonestation', ...process.argv.slice(2)].join(' '),
      ...hooks,
    },
    into,
    sig,
  );
  // On the dashboard a backup is one job; a rescue backup shows its map and can pause.
  const r = wantsUi(values)
    ? await rescueWithDashboard(positionals[0], positionals[1], (into, sig, hooks) => run(into, sig, hooks), rep, signal, {
        title: 'backup',
        role: values.rescue || values.map ? 'backup (rescue)' : 'backup',
        canPause: Boolean(values.rescue || values.map),
      })
    : await run(rep, signal);
  const hashes = Object.entries(r.hashes).map(([a, h]) => `; ${a} ${h}`).join('');
  const bad = r.badBytes ? `; ${formatBytes(r.badBytes)} unreadable (filled, listed in the manifest)` : '';
  const pruned = r.pruned.length > 0 ? `; pruned ${r.pruned.length} file(s) of older backups` : '';
  rep.done({
    message: `backed up ${formatBytes(r.bytes)} to ${r.image}${r.parts.length > 1 ? ` (${r.parts.length} parts)` : ''} in ${r.seconds.toFixed(2)} s (${formatRate(r.bytesPerSec)})${bad}${hashes}; manifest ${r.manifest}${pruned}`,
    ...r,
  });
  return ExitStatus.ok;
}

async function cmdDemo(args: string[], reporter: () => Reporter, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args, { keep: { type: 'boolean' }, size: { type: 'string' }, json: { type: 'boolean' }, ui: { type: 'boolean' }, 'no-ui': { type: 'boolean' }, throttle: { type: 'string' } });
  if (positionals.length > 0) throw new UsageError('demo takes no arguments (see clonestation --help)');
  const rep = values.json ? new JsonReporter() : reporter();
  const { wantsUi } = await import('./ui.js');
  // Loaded on demand: the demo's image generator is not on clone's start-up path.
  const { runDemo } = await import('./demo.js');
  await runDemo(
    {
      keep: values.keep ?? false,
      size: values.size !== undefined ? parseSize(values.size, '--size') : undefined,
      ui: wantsUi(values),
      throttle: values.throttle !== undefined ? parseSize(values.throttle, '--throttle') : undefined,
    },
    rep,
    signal,
  );
  return ExitStatus.ok;
}

// restore and verify (issue 6): src/image/restore.ts and src/image/verify.ts, loaded on demand.
const imageOptions = {
  offset: { type: 'string' },
  length: { type: 'string' },
  'target-offset': { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  json: { type: 'boolean' },
  force: { type: 'boolean' },
  hash: { type: 'string' },
  'no-check': { type: 'boolean' },
  ...engineOptions,
  ...uiOptions,
} satisfies ParseArgsConfig['options'];

async function cmdRestore(args: string[], reporter: () => Reporter, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args, { ...imageOptions, report: { type: 'string' } });
  if (positionals.length < 2) throw new UsageError('restore needs IMAGE and at least one TARGET (see clonestation --help)');
  const rep = values.json ? new JsonReporter() : reporter();
  // Several targets (or a report asked for): the image is read once and written to all of them.
  if (positionals.length > 2 || values.report !== undefined) {
    const { restoreManyCommand } = await import('./image/restore-many-cli.js');
    return restoreManyCommand(
      {
        image: positionals[0],
        targets: positionals.slice(1),
        offset: values.offset,
        length: values.length,
        targetOffset: values['target-offset'],
        ...tuning(values),
        yes: values.yes,
        force: values.force,
        hash: values.hash !== undefined ? parseHashList(values.hash, '--hash') : undefined,
        noCheck: values['no-check'],
      },
      values.report,
      rep,
      signal,
    );
  }
  const { restore } = await import('./image/restore.js');
  const { wantsUi } = await import('./ui.js');
  const run = (into: Reporter, sig: AbortSignal, hooks: RescueDisplayHooks = {}) => restore(
    {
      image: positionals[0],
      target: positionals[1],
      offset: values.offset,
      length: values.length,
      targetOffset: values['target-offset'],
      ...tuning(values),
      yes: values.yes,
      force: values.force,
      hash: values.hash !== undefined ? parseHashList(values.hash, '--hash') : undefined,
      noCheck: values['no-check'],
      ready: hooks.ready,
    },
    into,
    sig,
  );
  // On the dashboard a restore is one job; the confirmation comes first, on the terminal.
  const r = wantsUi(values)
    ? await rescueWithDashboard(positionals[0], positionals[1], run, rep, signal, { title: 'restore', role: 'restore', canPause: false })
    : await run(rep, signal);
  const hashes = Object.entries(r.hashes ?? {}).map(([a, h]) => `; ${a} ${h}`).join('');
  rep.done({
    message: `restored ${formatBytes(r.bytes)} in ${r.seconds.toFixed(2)} s (${formatRate(r.bytesPerSec)})${r.checked ? `, ${r.checked} matches the manifest` : ''}${hashes}`,
    ...r,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  });
  return ExitStatus.ok;
}

async function cmdVerify(args: string[], reporter: () => Reporter, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args, imageOptions);
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError('verify needs IMAGE and optionally a DRIVE to compare (see clonestation --help)');
  const rep = values.json ? new JsonReporter() : reporter();
  const { verify } = await import('./image/verify.js');
  const { wantsUi } = await import('./ui.js');
  const run = (into: Reporter, sig: AbortSignal, hooks: RescueDisplayHooks = {}) => {
    hooks.ready?.();
    return verify(
      {
        image: positionals[0],
        drive: positionals[1],
        offset: values.offset,
        length: values.length,
        targetOffset: values['target-offset'],
        ...tuning(values),
        force: values.force,
      },
      into,
      sig,
    );
  };
  const r = wantsUi(values)
    ? await rescueWithDashboard(positionals[0], positionals[1] ?? 'its manifest', run, rep, signal, { title: 'verify', role: 'verify', canPause: false })
    : await run(rep, signal);
  for (const n of r.notes) rep.note(n);
  const hashes = Object.entries(r.hashes ?? {}).map(([a, h]) => `; ${a} ${h}`).join('');
  rep.done({ message: `OK: ${r.image}${positionals[1] ? ` and ${positionals[1]} agree` : ''} (${r.checked.join(', ') || 'read every part'}; ${formatBytes(r.bytes)}, ${r.seconds.toFixed(2)} s)${hashes}`, ...r });
  return ExitStatus.ok;
}

/**
 * SIGINT/SIGTERM become one abort signal: jobs stop at the next chunk and the command
 * reports what is incomplete. A second signal leaves at once.
 */
function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  const onSignal = (name: NodeJS.Signals): void => {
    if (ac.signal.aborted) {
      process.stderr.write(`\nclonestation: ${name} again: leaving now; targets are incomplete\n`);
      process.exit(ExitStatus.cancelled);
    }
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return ac.signal;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const signal = interruptSignal();
  const wantsJson = rest.includes('--json');
  const reporter = (): Reporter => new TextReporter();
  try {
    switch (cmd) {
      case 'clone':
        return await cmdClone(rest, reporter, signal);
      case 'demo':
        return await cmdDemo(rest, reporter, signal);
      case 'backup':
        return await cmdBackup(rest, reporter, signal);
      case 'rescue':
        return await cmdRescue(rest, reporter, signal, false);
      case 'map':
        return await cmdMap(rest);
      case 'list':
        return await cmdList(rest);
      case 'run':
        return await cmdRun(rest, reporter, signal);
      case 'restore':
        return await cmdRestore(rest, reporter, signal);
      case 'verify':
        return await cmdVerify(rest, reporter, signal);
      case '--version':
      case '-V':
        process.stdout.write(`${version()}\n`);
        return ExitStatus.ok;
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(`${usage}\n`);
        return cmd === undefined ? ExitStatus.usage : ExitStatus.ok;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}: try clonestation --help`);
    }
  } catch (e) {
    const err = e instanceof CloneStationError ? e : new InternalError(e instanceof Error ? (e.stack ?? e.message) : String(e));
    (wantsJson ? new JsonReporter() : new TextReporter()).error(err.code, err.message, { exitStatus: err.exitStatus, ...err.details });
    return err.exitStatus;
  }
}

const status = await main(process.argv.slice(2));
trace(`cli: main returned ${status}`);
process.on('exit', () => trace('process exit'));
// Let stdout drain (a pipe may be slow) before leaving with the status.
process.exitCode = status;
