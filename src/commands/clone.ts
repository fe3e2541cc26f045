// `clone`: a drive or image to another (1:1), one master to many or many pairs (a station), or with --map a rescue.
import { defineCommand, defineOptions, optionNames } from '../command.js';
import { ExitStatus, UsageError } from '../errors.js';
import { formatBytes, formatRate } from '../units.js';
import { hashList, jsonOption, rangeOptions, readRange, readTuning, stationFileOptions, tuningOptions, uiOption, yesOption } from './options.js';
import { hashesText, stationCommand } from './shared.js';
import { rescueOnlyOptions, runRescue } from './rescue.js';
import { readWholeDisk, wholeDiskOptions } from './partition-options.js';

/** The options of a station started from the command line (several targets, --pair) and of `run`. */
export const stationOptions = defineOptions({
  'max-parallel': { type: 'count', min: 1, max: 64, group: 'Station', help: 'jobs running at once', defaultText: 'all, up to 8' },
  verify: {
    type: 'boolean',
    group: 'Station',
    help: 'afterwards, re-read every target with O_DIRECT and compare with the source; a mismatch names the first differing offset',
    negation: 'skip it',
    defaultText: 'off for 1:1, on for one master to many',
  },
  hash: {
    type: 'list',
    parse: hashList,
    group: 'Station',
    help: 'hashes of the bytes copied, taken on the fly (each block once, however many targets): md5, sha1, sha256, sha512, xxh3, xxh128, blake3, crc32, comma-separated; in the summary and the report',
  },
});

const cloneOnly = defineOptions({
  partition: { type: 'count', min: 1, max: 99999, arg: 'N', group: 'Partitions', help: "copy only partition N of SOURCE: to TARGET's partition N when TARGET is a drive or image with a table (at least as large), else to the start of TARGET (a partition, a new file); nothing else is written" },
  pair: { type: 'string', multiple: true, arg: 'SRC:DST', group: 'Station', help: 'one more job of its own (repeat it): many pairs at once' },
  'used-only': { type: 'boolean', group: 'Copy', help: "copy only the blocks SOURCE's file systems use (ext2/3/4, FAT, NTFS, swap; anything else is copied whole); the target's free blocks are left as they are, so it is not byte-equal to SOURCE; --verify compares the used blocks" },
  'zero-free': { type: 'boolean', group: 'Copy', help: 'with --used-only: write zeros over the free blocks on every target (then --verify checks them too)' },
  map: { type: 'string', arg: 'MAPFILE', group: 'Rescue', help: 'error-tolerant and resumable: a rescue with the ddrescue map MAPFILE, as `clonestation rescue SOURCE TARGET MAPFILE` (it takes the rescue options below)' },
});

/** What a rescue through clone cannot do: these are a copy's or a station's. */
const notForRescue = ['partition', 'zero-free', 'grow-last', 'grow-fs', 'fit', 'block-size', 'verify', 'no-verify', 'hash', 'pair', 'max-parallel', 'report', 'log', 'no-log'];
const rescueNames = optionNames(rescueOnlyOptions);

export const cloneCommand = defineCommand({
  name: 'clone',
  summary: 'copy a drive or image to another',
  args: 'SOURCE TARGET',
  usage: [
    { args: 'MASTER TARGET...', summary: 'one master to many (a station)' },
    { args: '--pair SRC:DST --pair ...', summary: 'many pairs at once (a station)' },
    { args: 'SOURCE TARGET --map MAP', summary: 'a rescue, as clonestation rescue' },
  ],
  options: {
    ...rangeOptions,
    ...wholeDiskOptions,
    ...tuningOptions,
    ...stationOptions,
    ...cloneOnly,
    ...rescueOnlyOptions,
    ...yesOption,
    ...jsonOption,
    ...uiOption,
    ...stationFileOptions,
  },
  notes: [
    '--offset, --length and --target-offset apply to every job given on the command line, pairs included. --report and --log are for stations (several targets, --pair), and a 1:1 clone on the dashboard.',
  ],
  checkArgs: (positionals, given) => {
    if (given.has('map')) {
      const wrong = notForRescue.find((n) => given.has(n));
      if (wrong) throw new UsageError(`--${wrong} is not a rescue option, and clone --map is a rescue (see clonestation rescue --help)`);
      if (positionals.length !== 2) throw new UsageError('clone needs exactly SOURCE and TARGET (see clonestation clone --help)');
      return;
    }
    const rescueOnly = rescueNames.find((n) => given.has(n));
    if (rescueOnly) throw new UsageError(`--${rescueOnly} is a rescue option: give --map MAPFILE too, or use clonestation rescue (see clonestation clone --help)`);
    if (given.has('pair') || positionals.length > 2) {
      if (positionals.length === 1) throw new UsageError('clone needs SOURCE and at least one TARGET (see clonestation clone --help)');
      return;
    }
    if (positionals.length !== 2) throw new UsageError('clone needs exactly SOURCE and TARGET (see clonestation clone --help)');
  },
  async run({ values, positionals }, context) {
    if (values.map !== undefined) return runRescue(values, positionals[0], positionals[1], values.map, context);
    const range = { ...readRange(values), ...readWholeDisk(values), ...(values['used-only'] ? { usedOnly: true } : {}), ...(values['zero-free'] ? { zeroFree: true } : {}) };
    if (values.partition !== undefined) {
      if (values.pair || positionals.length > 2) throw new UsageError('--partition copies to one TARGET (see clonestation clone --help)');
      if (range.offset !== undefined || range.length !== undefined || range.targetOffset !== undefined || range.growLast || range.growFs || range.fit)
        throw new UsageError('--partition chooses the bytes to copy: leave out --offset, --length, --target-offset, --grow-last, --grow-fs and --fit', 'PARTITION_OPTION_RANGE');
      const { clonePartitionRange } = await import('../partition/clone-partition.js');
      const where = await clonePartitionRange(positionals[0], positionals[1], values.partition);
      Object.assign(range, where.range);
      context.reporter(values.json).note(where.note);
    }
    const tuning = readTuning(values);
    if (values.pair || positionals.length > 2) {
      // A station: one master to many targets, or many pairs; the range applies to every job.
      const { parsePair } = await import('../station/jobfile.js');
      const jobs: import('../station/station.js').StationJobInput[] = values.pair ? values.pair.map((p) => ({ ...parsePair(p), ...range })) : [];
      if (positionals.length > 0) jobs.push({ source: positionals[0], targets: positionals.slice(1), ...range });
      return stationCommand(jobs, values, tuning, context);
    }
    const { wantsUi } = await import('../ui.js');
    if (wantsUi(values) || values.metrics !== undefined || values['metrics-file'] !== undefined) {
      // On the dashboard (or with metrics) a 1:1 clone is a station of one job: the same plan
      // and refusals, and it can be paused, cancelled and reported like any station job.
      const verify = values.verify ?? false;
      return stationCommand([{ source: positionals[0], targets: [positionals[1]], ...range }], { ...values, verify }, tuning, context, { maxParallel: 1, verify }, 'clone');
    }
    const rep = context.reporter(values.json);
    const { cloneOne } = await import('../jobs/clone.js');
    // its ledger line as a station job's (src/metrics/job-outputs.ts)
    const { withJobOutputs } = await import('../metrics/job-outputs.js');
    const files = [
      { path: positionals[0], role: 'the source' },
      { path: positionals[1], role: 'the target' },
    ];
    const result = await withJobOutputs(values, { version: context.version(), note: (m) => rep.note(m), files, signal: context.signal }, (watch) =>
      cloneOne({ source: positionals[0], target: positionals[1], ...range, ...tuning, verify: values.verify, yes: values.yes, hash: values.hash }, rep, context.signal, watch),
    );
    rep.done({
      message: `cloned ${result.usedBytes !== undefined ? `the ${formatBytes(result.usedBytes)} used of ${formatBytes(result.bytes)}` : formatBytes(result.bytes)} in ${result.seconds.toFixed(2)} s (${formatRate(result.bytesPerSec)})${result.verified ? ', verified' : ''}${hashesText(result.hashes)}${result.adjusted ? `; ${result.adjusted.join('; ')}` : ''}`,
      ...result,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
    });
    return ExitStatus.ok;
  },
});
