// `restore IMAGE TARGET...`: a backup image (raw, split, ZIP, zstd) written to a drive or file, checked against its manifest.
import { resolve } from 'node:path';
import { defineCommand, defineOptions } from '../command.js';
import { ExitStatus, UsageError } from '../errors.js';
import { formatBytes, formatRate } from '../units.js';
import type { Reporter } from '../progress.js';
import { hashList, jobOutputOptions, jsonOption, readRange, readTuning, tuningOptions, uiOption, yesOption } from './options.js';
import { hashesText, withDashboard, type DisplayHooks } from './shared.js';
import { readWholeDisk, wholeDiskOptions } from './partition-options.js';
import { parsePartitionList } from '../partition/select.js';

/** restore's and verify's range: of the image, landing where the backup read it unless told. */
export const imageRangeOptions = defineOptions({
  offset: { type: 'size', asText: true, group: 'Range', help: 'start at this byte of the image', defaultText: '0' },
  length: { type: 'size', asText: true, group: 'Range', help: 'this many bytes of the image', defaultText: 'to its end' },
  'target-offset': {
    type: 'size',
    asText: true,
    group: 'Range',
    help: "where the image's first byte goes on the target",
    defaultText: "where it came from: the backup's source offset plus --offset",
  },
});

export const forceImageOption = defineOptions({
  force: { type: 'boolean', help: 'use an image whose manifest says the backup did not finish (the result is incomplete)' },
});

export const restoreCommand = defineCommand({
  name: 'restore',
  summary: 'a backup image back onto a drive or file',
  args: 'IMAGE TARGET...',
  options: {
    ...forceImageOption,
    'zero-free': { type: 'boolean', help: 'an image made with --used-only: write zeros over its free blocks on the target too (by default they are left as they are)' },
    'no-check': { type: 'boolean', help: 'do not hash the restored bytes against the manifest (needed for a manifest without hashes; by default its fastest hash is checked)' },
    hash: { type: 'list', parse: hashList, help: 'more hashes of the restored bytes, for the report' },
    ...imageRangeOptions,
    ...wholeDiskOptions,
    partition: { type: 'list', parse: (t: string, o: string) => parsePartitionList(t, o), arg: 'N[,M]', group: 'Partitions', help: "restore only these partitions of a whole-disk image, each to the same-numbered partition of TARGET (at least as large); nothing else on TARGET is written; each is checked against the manifest's hash of it" },
    mount: { type: 'string', arg: 'DIR', group: 'Partitions', help: 'afterwards, mount each restored partition with a file system this machine can mount under DIR/<partition> (read-only; DIR must be an empty folder); clonestation image umount DIR undoes it' },
    'mount-rw': { type: 'boolean', group: 'Partitions', help: 'with --mount: mount them read-write' },
    to: { type: 'string', arg: 'DEV', group: 'Partitions', help: 'with --partition N (one): write it to the start of DEV (any partition, drive or file) instead; then give no TARGET' },
    ...tuningOptions,
    report: { type: 'string', arg: 'FILE', group: 'Output and safety', help: 'write a JSON report, one row per target (several targets, or one)' },
    ...yesOption,
    ...jsonOption,
    ...uiOption,
    ...jobOutputOptions,
  },
  notes: [
    'Several TARGETs: the image is read (and inflated) once and written to all of them; a slow target leaves the shared stream and catches up on its own, a failing one drops out with its reason while the others finish, and each is read back and checked.',
    'IMAGE may be the image file, the base name of a split set, any one of its parts, or its manifest (X.img.manifest.json).',
  ],
  checkArgs: (positionals, given) => {
    if (given.has('to')) {
      if (!given.has('partition')) throw new UsageError('--to DEV goes with --partition N: give the partition to restore (see clonestation restore --help)');
      if (positionals.length !== 1) throw new UsageError('with --to DEV, give only IMAGE (DEV is the target; see clonestation restore --help)');
      return;
    }
    if (positionals.length < 2) throw new UsageError('restore needs IMAGE and at least one TARGET (see clonestation restore --help)');
    if (given.has('mount') && positionals.length > 2) throw new UsageError('--mount mounts the partitions of one TARGET: give one (see clonestation restore --help)');
    if (given.has('mount-rw') && !given.has('mount')) throw new UsageError('--mount-rw goes with --mount DIR (see clonestation restore --help)');
    if (given.has('partition') && positionals.length > 2) throw new UsageError('--partition restores to one TARGET: give one (see clonestation restore --help)');
  },
  async run({ values, positionals }, context) {
    const [image, ...targets] = positionals;
    const rep = context.reporter(values.json);
    if (values.mount !== undefined) {
      if (values.report !== undefined) throw new UsageError('--mount mounts the partitions of one TARGET, --report is for several: leave one out');
      // the folder is checked before anything is written
      const { checkDir } = await import('../partition/mount.js');
      checkDir(resolve(values.mount));
    }
    if (values.partition) {
      if (values['grow-last'] || values['grow-fs'] || values.fit || values.report !== undefined) throw new UsageError('--partition restores partitions in place: leave out --grow-last, --grow-fs, --fit and --report', 'PARTITION_OPTION_RANGE');
      const { restorePartitions } = await import('../image/restore-partitions.js');
      const options = { image, target: values.to ?? targets[0], to: values.to !== undefined, partitions: [...values.partition] as number[], ...readRange(values), ...readTuning(values), yes: values.yes, force: values.force, hash: values.hash, noCheck: values['no-check'] };
      // one restore job (its metrics, its ledger line), as in a station (src/metrics/job-outputs.ts)
      const { withJobOutputs, hereDrive } = await import('../metrics/job-outputs.js');
      const { runReportedHere } = await import('../jobs/reported.js');
      const { default: restoreKind } = await import('../jobs/restore.js');
      const { partitionsResult } = await import('./restore-many-run.js');
      const { resolveImage } = await import('../image/open.js');
      const files = [
        { path: image, role: 'the image' },
        { path: options.target, role: 'the target' },
      ];
      const r = await withJobOutputs(values, { version: context.version(), note: (m) => rep.note(m), files, signal: context.signal }, async (watch) => {
        const drive = await hereDrive(options.target, 'target');
        // the image's format and parts for the job's report (restorePartitions refuses a bad image itself)
        const found = await resolveImage(image, { force: values.force }).catch(() => undefined);
        const plan = { payload: { image, targets: [options.target], force: values.force, hash: values.hash, noCheck: values['no-check'] }, source: { path: image }, targets: [{ path: options.target, drive }], length: 0 };
        return runReportedHere(restoreKind, plan, rep, context.signal, (into, sig) => restorePartitions(options, into, sig), (res) => ({ ...res, value: res.value && partitionsResult(image, options.target, drive, res.value, found) }), watch);
      });
      const mounted = values.mount !== undefined ? await mountAfter(values.to ?? targets[0], values.mount, values['mount-rw'] ?? false, rep, r.partitions.map((p) => ({ number: p.number, offset: p.targetOffset, size: p.bytes }))) : undefined;
      rep.done({
        ...(mounted ? { mounted } : {}),
        message: `restored partition${r.partitions.length > 1 ? 's' : ''} ${r.partitions.map((p) => `${p.number} (${formatBytes(p.bytes)} at ${p.targetOffset}${p.checked ? `, ${p.checked} matches the manifest` : ''})`).join(', ')} in ${r.seconds.toFixed(2)} s (${formatRate(r.bytesPerSec)})`,
        ...r,
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
      });
      return ExitStatus.ok;
    }
    // Several targets (or a report asked for): the image is read once and written to all of them.
    if (targets.length > 1 || values.report !== undefined) {
      const { restoreManyCommand } = await import('./restore-many-run.js');
      // one restore job (its metrics, its ledger line), as in a station (src/metrics/job-outputs.ts)
      const { withJobOutputs } = await import('../metrics/job-outputs.js');
      const files = [{ path: image, role: 'the image' }, ...targets.map((t) => ({ path: t, role: 'a target' })), ...(values.report !== undefined ? [{ path: values.report, role: 'the report' }] : [])];
      return withJobOutputs(values, { version: context.version(), note: (m) => rep.note(m), files, signal: context.signal }, (watch) =>
        restoreManyCommand(
          { image, targets, ...readRange(values), ...readWholeDisk(values), ...readTuning(values), yes: values.yes, force: values.force, hash: values.hash, noCheck: values['no-check'] },
          values.report,
          rep,
          context.signal,
          watch,
        ),
      );
    }
    const target = targets[0];
    const { restore } = await import('../image/restore.js');
    const { wantsUi } = await import('../ui.js');
    const run = (into: Reporter, sig: AbortSignal, hooks: DisplayHooks = {}) =>
      restore(
        {
          image,
          target,
          ...readRange(values),
          ...readWholeDisk(values),
          ...readTuning(values),
          yes: values.yes,
          force: values.force,
          hash: values.hash,
          noCheck: values['no-check'],
          zeroFree: values['zero-free'],
          ready: hooks.ready,
        },
        into,
        sig,
      );
    // On the dashboard a restore is one job; the confirmation comes first, on the terminal.
    // one restore job (its metrics, its ledger line), as in a station (src/metrics/job-outputs.ts)
    const { withJobOutputs, hereDrive, sizeOr0 } = await import('../metrics/job-outputs.js');
    const { runReportedHere } = await import('../jobs/reported.js');
    const { default: restoreKind } = await import('../jobs/restore.js');
    const { oneTargetResult } = await import('./restore-many-run.js');
    const files = [
      { path: image, role: 'the image' },
      { path: target, role: 'the target' },
    ];
    const r = await withJobOutputs(values, { version: context.version(), note: (m) => rep.note(m), files, signal: context.signal }, async (watch) => {
      const drive = await hereDrive(target, 'target');
      const range = { offset: sizeOr0(values.offset), ...(values['target-offset'] !== undefined ? { targetOffset: sizeOr0(values['target-offset']) } : {}) };
      const plan = { payload: { image, targets: [target], ...readRange(values), ...readWholeDisk(values), ...readTuning(values), force: values.force, hash: values.hash, noCheck: values['no-check'] }, source: { path: image }, targets: [{ path: target, drive }], length: 0 };
      const observed = (into: Reporter, sig: AbortSignal, hooks: DisplayHooks = {}) =>
        runReportedHere(restoreKind, plan, into, sig, (i, s) => run(i, s, hooks), (res) => ({ ...res, value: res.value && oneTargetResult(image, target, drive, res.value, range) }), watch);
      return wantsUi(values) ? withDashboard(image, target, observed, rep, context.signal, { title: 'restore', role: 'restore', canPause: false }) : observed(rep, context.signal);
    });
    const mounted = values.mount !== undefined ? await mountAfter(target, values.mount, values['mount-rw'] ?? false, rep) : undefined;
    rep.done({
      ...(mounted ? { mounted } : {}),
      message: `restored ${formatBytes(r.bytes)} in ${r.seconds.toFixed(2)} s (${formatRate(r.bytesPerSec)})${r.checked ? `, ${r.checked} matches the manifest` : ''}${hashesText(r.hashes)}${r.adjusted ? `; ${r.adjusted.join('; ')}` : ''}`,
      ...r,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
    });
    return ExitStatus.ok;
  },
});

/** --mount DIR after a restore: each partition mounted, each said as a note. */
async function mountAfter(target: string, dir: string, readWrite: boolean, rep: Reporter, written?: { number: number; offset: number; size: number }[]): Promise<import('../partition/mount.js').MountResult> {
  const { mountRestored, mountLines } = await import('../image/partitions/mount-image.js');
  const r = await mountRestored(target, dir, readWrite, written);
  for (const line of mountLines(r)) rep.note(line);
  return r;
}
