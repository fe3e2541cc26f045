// `backup SOURCE OUT`: a drive to a raw, split or ZIP image with a manifest and hashes taken on the fly.
import { defineCommand } from '../command.js';
import { ExitStatus } from '../errors.js';
import { formatBytes, formatRate } from '../units.js';
import type { Reporter } from '../progress.js';
import { UsageError } from '../errors.js';
import { hashList, jsonOption, rangeOptions, readTuning, stationFileOptions, tuningOptions, uiOption } from './options.js';
import { hashesText, stationCommand, withDashboard, type DisplayHooks } from './shared.js';
import { defineOptions } from '../command.js';

/** Several backups at once, as station jobs (also `verify --pair`). */
export const pairStationOptions = defineOptions({
  'max-parallel': { type: 'count', min: 1, max: 64, group: 'Station', help: 'jobs running at once', defaultText: 'all, up to 8' },
  ...stationFileOptions,
});

/** Options that make a backup (or verify) a station run, even of one job. */
const stationOnly = ['pair', 'max-parallel', 'report', 'log', 'no-log', 'ledger', 'metrics', 'metrics-file', 'metrics-interval', 'metrics-linger'];

export const backupCommand = defineCommand({
  name: 'backup',
  summary: 'a drive to an image: raw, split, zip or zstd',
  args: 'SOURCE OUT',
  usage: [{ args: '--pair SRC:OUT --pair ...', summary: 'many backups at once (a station)' }],
  options: {
    pair: { type: 'string', multiple: true, arg: 'SRC:OUT', group: 'Station', help: 'one more backup of its own (repeat it): many at once, with the options below for each' },
    ...pairStationOptions,
    split: { type: 'size', group: 'Image', help: 'cut the image into OUT.001, OUT.002, ... of SIZE bytes (7-Zip opens a split OUT.zip.001)' },
    hash: {
      type: 'list',
      parse: hashList,
      group: 'Image',
      help: 'hashes of the image, on the fly: md5, sha1, sha256, sha512, xxh3, xxh128, blake3, crc32, comma-separated, or none; written to the manifest and to OUT.sha256 etc. for sha256sum -c',
      default: 'sha256',
    },
    level: { type: 'count', min: 0, max: 19, group: 'Image', help: 'compression level: zip 0 (stored) to 9, default 6; zstd (OUT.img.zst) 1 to 19, default 3', defaultText: '6 (zip), 3 (zstd)' },
    keep: { type: 'count', min: 1, max: 100000, group: 'Image', help: "after success, delete all but the newest N complete backups of the same source in OUT's folder" },
    force: { type: 'boolean', group: 'Image', help: 'replace a complete backup of the same name (an unfinished one is replaced, or a rescue continued, by running the command again)' },
    rescue: { type: 'boolean', group: 'Failing drives', help: 'rescue with a ddrescue map (OUT.map); resumable: re-run the same command to go on' },
    map: { type: 'string', arg: 'MAPFILE', group: 'Failing drives', help: 'the same, with the map at MAPFILE' },
    fill: { type: 'string', arg: 'PATTERN', group: 'Failing drives', help: 'fill unreadable sectors with a byte (0x00) or repeated text', defaultText: 'zeros' },
    offset: { ...rangeOptions.offset, help: 'start reading the source here' },
    length: { ...rangeOptions.length, help: 'back up this many bytes' },
    'used-only': { type: 'boolean', group: 'Image', help: "read only the blocks the source's file systems use (ext2/3/4, FAT, NTFS, swap; the rest of the drive is read whole); the image holds zeros for free blocks: sparse raw, cheap runs in zip/zstd" },
    partition: { type: 'count', min: 1, max: 99999, arg: 'N', group: 'Range', help: "image just partition N of the source (as Linux numbers them); the manifest says which, and records the table it came from" },
    ...tuningOptions,
    ...jsonOption,
    ...uiOption,
  },
  notes: [
    'OUT may hold fields: {date} {time} {datetime} {source} {serial} {model} {wwn} {host}.',
    'With --pair (or --report, --log, --max-parallel) the backups run as station jobs, on the dashboard; --map is then refused (--rescue gives each its own OUT.map).',
  ],
  checkArgs: (positionals, given) => {
    if (stationOnly.some((n) => given.has(n))) {
      if (given.has('map')) throw new UsageError('--map names one map: with several backups use --rescue (each gets OUT.map) (see clonestation backup --help)');
      if (given.has('partition')) throw new UsageError('--partition is for one backup: run each partition\'s backup on its own (see clonestation backup --help)');
      if (positionals.length === 0 && given.has('pair')) return;
    }
    if (positionals.length !== 2) throw new UsageError('backup needs SOURCE and OUT, or --pair SRC:OUT (see clonestation backup --help)');
  },
  async run({ values, positionals }, context) {
    const [source, out] = positionals;
    if (stationOnly.some((n) => values[n as keyof typeof values] !== undefined)) {
      // station jobs: each pair (and SOURCE OUT) a backup with the same options
      const { parsePair } = await import('../station/jobfile.js');
      const fields = { split: values.split, hash: values.hash ?? [], level: values.level, keep: values.keep, force: values.force, rescue: values.rescue, fill: values.fill, offset: values.offset, length: values.length, usedOnly: values['used-only'] };
      const job = (src: string, image: string) => ({ kind: 'backup', source: src, out: image, ...fields });
      const jobs = (values.pair ?? []).map((p) => parsePair(p, job, 'SOURCE:OUT'));
      if (source !== undefined) jobs.push(job(source, out));
      return stationCommand(jobs, { ...values, hash: undefined, yes: true }, readTuning(values), context, undefined, 'backup');
    }
    const rep = context.reporter(values.json);
    const { backup } = await import('../image/backup.js');
    const { wantsUi } = await import('../ui.js');
    const options = {
      source,
      out,
      offset: values.offset,
      length: values.length,
      partition: values.partition,
      splitSize: values.split,
      hash: values.hash ?? [],
      level: values.level,
      map: values.map,
      rescue: values.rescue,
      fill: values.fill,
      usedOnly: values['used-only'],
      keep: values.keep,
      force: values.force,
      ...readTuning(values),
      version: context.version(),
      commandLine: context.commandLine,
    };
    const run = (into: Reporter, sig: AbortSignal, hooks: DisplayHooks = {}) => backup({ ...options, ...hooks }, into, sig);
    // On the dashboard a backup is one job; a rescue backup shows its map and can pause.
    const rescue = Boolean(values.rescue || values.map);
    // seen as a backup job (its ledger line), as in a station (src/metrics/job-outputs.ts)
    const { withJobOutputs, hereDrive } = await import('../metrics/job-outputs.js');
    const { runReportedHere } = await import('../jobs/reported.js');
    const { default: backupKind } = await import('../jobs/backup.js');
    const r = await withJobOutputs(values, { version: context.version(), note: (m) => rep.note(m), files: [{ path: source, role: 'the source' }], signal: context.signal }, async (watch) => {
      const sourceDrive = await hereDrive(source, 'source');
      const plan = { payload: options, source: { path: source, drive: sourceDrive }, targets: [{ path: out }], length: sourceDrive?.size ?? 0 };
      const observed = (into: Reporter, sig: AbortSignal, hooks: DisplayHooks = {}) => runReportedHere(backupKind, plan, into, sig, (i, s) => run(i, s, hooks), (res, planned) => {
          // OUT's fields ({date}, {serial} ...) became the image's name in the run
          if (res.value) planned.targets = [{ path: res.value.image }];
          return res;
        }, watch);
      return wantsUi(values) ? withDashboard(source, out, observed, rep, context.signal, { title: 'backup', role: rescue ? 'backup (rescue)' : 'backup', canPause: rescue }) : observed(rep, context.signal);
    });
    const lean = r.usedBytes !== undefined ? ` (read ${formatBytes(r.usedBytes)} used)` : '';
    const bad = r.badBytes ? `; ${formatBytes(r.badBytes)} unreadable (filled, listed in the manifest)` : '';
    const pruned = r.pruned.length > 0 ? `; pruned ${r.pruned.length} file(s) of older backups` : '';
    rep.done({
      message: `backed up ${formatBytes(r.bytes)} to ${r.image}${r.parts.length > 1 ? ` (${r.parts.length} parts)` : ''}${lean} in ${r.seconds.toFixed(2)} s (${formatRate(r.bytesPerSec)})${bad}${hashesText(r.hashes)}; manifest ${r.manifest}${pruned}`,
      ...r,
    });
    return ExitStatus.ok;
  },
});
