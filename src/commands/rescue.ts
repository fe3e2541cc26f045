// `rescue SOURCE TARGET MAPFILE` (and `clone --map`): a failing drive copied around its bad sectors, with GNU ddrescue's map.
import { defineCommand, defineOptions, type Context } from '../command.js';
import { ExitStatus } from '../errors.js';
import { formatBytes, formatRate } from '../units.js';
import type { Backend } from '../native.js';
import { jobOutputOptions, jsonOption, rangeOptions, tuningOptions, uiOption, yesOption } from './options.js';
import { withDashboard, type DisplayHooks } from './shared.js';
import type { Reporter } from '../progress.js';
import type { JobOutputValues } from '../metrics/job-outputs.js';

const seconds = { type: 'count', min: 0, max: 10 ** 9, arg: 'SECONDS' } as const;

/** The options only a rescue has (clone takes them with --map). */
/** --used-only on a rescue (clone declares its own, which clone --map passes on) */
export const rescueUsedOnly = defineOptions({
  'used-only': { type: 'boolean', group: 'Rescue', help: "rescue only the blocks SOURCE's file systems use (ext2/3/4, FAT, NTFS, swap; anything else whole): the files' blocks, never the free ones; the map leaves free blocks untried" },
});

export const rescueOnlyOptions = defineOptions({
  'sector-size': { type: 'size', asText: true, group: 'Rescue', help: 'bad sectors are recorded at this size', defaultText: "the drive's logical sector size" },
  cluster: { type: 'size', asText: true, group: 'Rescue', help: 'bytes per read in the copy passes', defaultText: '128 sectors, as ddrescue' },
  reverse: { type: 'boolean', group: 'Rescue', help: 'copy passes start at the end' },
  retries: { type: 'count', min: 0, max: 10 ** 9, group: 'Rescue', help: 'retry passes over bad sectors after scraping', defaultText: '0' },
  'min-read-rate': { type: 'size', asText: true, group: 'Rescue', help: 'bytes/s: a good area read slower than this is skipped in the skipping passes and read in a later one' },
  timeout: { ...seconds, group: 'Rescue', help: 'give up after this long without a good read (RESCUE_TIMEOUT, map saved)' },
  'max-errors': { type: 'count', min: 0, max: 10 ** 9, group: 'Rescue', help: 'give up beyond this many error areas (TOO_MANY_ERRORS, map saved)' },
  fill: { type: 'string', arg: 'PATTERN', group: 'Rescue', help: 'at the end, write unreadable sectors in the target as a byte (0x00) or repeated text (BADSECTOR)' },
  domain: { type: 'string', arg: 'MAPFILE', group: 'Rescue', help: 'rescue only the finished (+) blocks of another map' },
  'simulate-errors': { type: 'string', arg: 'MAPFILE', group: 'Rescue', help: "test mode, like ddrescue's -H: reads fail where that map is not +" },
  'wait-for-return': { type: 'boolean', group: 'Rescue', help: 'when the source drops off, wait for the same drive (serial, WWN, by-id name; a loop device\'s backing file) to come back under any name, and go on' },
  'gone-after': { ...seconds, group: 'Rescue', help: 'nothing but failing reads for this long also means the drive is gone', defaultText: '120' },
  'save-interval': { ...seconds, group: 'Rescue', help: 'map saves while reading; it is always saved at every stop', defaultText: '30' },
});

/** What a rescue reads, from `rescue` or from `clone --map`. */
export interface RescueValues extends JobOutputValues {
  offset?: string;
  length?: string;
  'target-offset'?: string;
  'sector-size'?: string;
  cluster?: string;
  depth?: number;
  backend?: Backend;
  'no-direct'?: boolean;
  reverse?: boolean;
  retries?: number;
  'min-read-rate'?: string;
  timeout?: number;
  'max-errors'?: number;
  fill?: string;
  domain?: string;
  'used-only'?: boolean;
  'simulate-errors'?: string;
  'wait-for-return'?: boolean;
  'gone-after'?: number;
  'save-interval'?: number;
  yes?: boolean;
  json?: boolean;
  ui?: boolean;
  'no-ui'?: boolean;
}

export async function runRescue(v: RescueValues, source: string, target: string, mapPath: string, context: Context): Promise<number> {
  const rep = context.reporter(v.json);
  const { rescue } = await import('../rescue/rescue.js');
  const { wantsUi } = await import('../ui.js');
  const ui = wantsUi(v);
  const run = async (reporter: Reporter, sig: AbortSignal, hooks: DisplayHooks = {}) =>
    rescue(
      {
        source,
        target,
        mapPath,
        offset: v.offset,
        length: v.length,
        targetOffset: v['target-offset'],
        sectorSize: v['sector-size'],
        cluster: v.cluster,
        depth: v.depth,
        backend: v.backend ?? 'auto',
        direct: !v['no-direct'],
        reverse: v.reverse,
        retries: v.retries,
        minReadRate: v['min-read-rate'],
        timeout: v.timeout,
        maxErrors: v['max-errors'],
        fill: v.fill,
        domain: v.domain,
        usedOnly: v['used-only'],
        simulateErrors: v['simulate-errors'],
        waitForReturn: v['wait-for-return'],
        goneAfter: v['gone-after'],
        saveInterval: v['save-interval'],
        yes: v.yes,
        version: context.version(),
        commandLine: context.commandLine,
        ...hooks,
      },
      reporter,
      sig,
    );
  // seen as a rescue job (its metrics, its ledger line), as in a station (src/metrics/job-outputs.ts)
  const { withJobOutputs, hereDrive, sizeOr0 } = await import('../metrics/job-outputs.js');
  const { runReportedHere } = await import('../jobs/reported.js');
  const { default: rescueKind, rescueResult } = await import('../jobs/rescue.js');
  const { resolve } = await import('node:path');
  const files = [
    { path: source, role: 'the source' },
    { path: target, role: 'the target' },
    { path: mapPath, role: 'the map' },
  ];
  const r = await withJobOutputs(v, { version: context.version(), note: (m) => rep.note(m), files, signal: context.signal }, async (watch) => {
    const sourceDrive = await hereDrive(source, 'source');
    const offset = sizeOr0(v.offset);
    const payload = { source, target, mapPath: resolve(mapPath), offset: String(offset), length: v.length, targetOffset: String(v['target-offset'] !== undefined ? sizeOr0(v['target-offset']) : offset), version: context.version(), commandLine: context.commandLine };
    const plan = { payload, source: { path: source, drive: sourceDrive }, targets: [{ path: target, drive: await hereDrive(target, 'target') }], length: v.length !== undefined ? sizeOr0(v.length) : Math.max(0, (sourceDrive?.size ?? 0) - offset) };
    const observed = (reporter: Reporter, sig: AbortSignal, hooks: DisplayHooks = {}) => {
      let book: Parameters<NonNullable<DisplayHooks['watch']>>[0] | undefined;
      const seen = { ...hooks, watch: (b: NonNullable<typeof book>) => ((book = b), hooks.watch?.(b)) };
      return runReportedHere(rescueKind, plan, reporter, sig, (into, s) => run(into, s, seen), (res) => rescueResult(res, book), watch);
    };
    return ui ? withDashboard(source, target, observed, rep, context.signal) : observed(rep, context.signal);
  });
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

export const rescueCommand = defineCommand({
  name: 'rescue',
  summary: 'copy a failing drive around bad sectors',
  args: 'SOURCE TARGET MAPFILE',
  options: {
    ...rescueOnlyOptions,
    ...rescueUsedOnly,
    ...rangeOptions,
    depth: { ...tuningOptions.depth, help: 'reads in flight', defaultText: '8' },
    backend: tuningOptions.backend,
    'no-direct': tuningOptions['no-direct'],
    ...yesOption,
    ...jsonOption,
    ...uiOption,
    ...jobOutputOptions,
  },
  notes: ['Rerunning the same command continues where the last run stopped. `clonestation clone SOURCE TARGET --map MAPFILE` is the same thing.'],
  run: ({ values, positionals }, context) => runRescue(values, positionals[0], positionals[1], positionals[2], context),
});
