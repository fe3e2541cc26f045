// `verify IMAGE [DRIVE]`: an image against its manifest, or a drive against the image.
import { defineCommand } from '../command.js';
import { ExitStatus } from '../errors.js';
import { formatBytes } from '../units.js';
import type { Reporter } from '../progress.js';
import { jsonOption, readRange, readTuning, tuningOptions, uiOption, yesOption } from './options.js';
import { forceImageOption, imageRangeOptions } from './restore.js';
import { hashesText, stationCommand, withDashboard, type DisplayHooks } from './shared.js';
import { pairStationOptions } from './backup.js';
import { UsageError } from '../errors.js';

/** Options that make a verify a station run, even of one job. */
const stationOnly = ['pair', 'max-parallel', 'report', 'log', 'no-log', 'ledger', 'metrics', 'metrics-file', 'metrics-interval', 'metrics-linger'];

export const verifyCommand = defineCommand({
  name: 'verify',
  summary: 'check an image, or a drive against it',
  args: 'IMAGE [DRIVE]',
  usage: [{ args: '--pair IMAGE:DRIVE --pair ...', summary: 'many verifies at once (a station)' }],
  options: {
    pair: { type: 'string', multiple: true, arg: 'IMAGE:DRIVE', group: 'Station', help: 'one more drive compared with an image (repeat it): many at once' },
    ...pairStationOptions,
    ...forceImageOption,
    'zero-free': { type: 'boolean', help: 'an image made with --used-only: its free blocks were zeroed on DRIVE (restore --zero-free): compare them too' },
    ...imageRangeOptions,
    ...tuningOptions,
    yes: { ...yesOption.yes, help: 'accepted as restore takes it; verify writes nothing and asks nothing' },
    ...jsonOption,
    ...uiOption,
  },
  notes: [
    'Without DRIVE every file of the image is re-read and checked against its manifest; with DRIVE the drive is compared with the image byte for byte and the first difference named.',
    'With --pair (or --report, --log, --max-parallel) the verifies run as station jobs, on the dashboard.',
  ],
  checkArgs: (positionals, given) => {
    if (positionals.length === 0 && given.has('pair')) return;
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError('verify needs IMAGE and at most one DRIVE, or --pair IMAGE:DRIVE (see clonestation verify --help)');
  },
  async run({ values, positionals }, context) {
    const [image, drive] = positionals;
    if (stationOnly.some((n) => values[n as keyof typeof values] !== undefined)) {
      const { parsePair } = await import('../station/jobfile.js');
      const fields = { force: values.force, zeroFree: values['zero-free'], ...readRange(values) };
      const job = (img: string, d: string | undefined) => ({ kind: 'verify', image: img, drive: d, ...fields });
      const jobs = (values.pair ?? []).map((p) => parsePair(p, job, 'IMAGE:DRIVE'));
      if (image !== undefined) jobs.push(job(image, drive));
      return stationCommand(jobs, { ...values, yes: true }, readTuning(values), context, undefined, 'verify');
    }
    const rep = context.reporter(values.json);
    const { verify } = await import('../image/verify.js');
    const { wantsUi } = await import('../ui.js');
    const run = (into: Reporter, sig: AbortSignal, hooks: DisplayHooks = {}) => {
      hooks.ready?.();
      return verify({ image, drive, ...readRange(values), ...readTuning(values), force: values.force, zeroFree: values['zero-free'] }, into, sig);
    };
    // seen as a verify job (its ledger line), as in a station (src/metrics/job-outputs.ts)
    const { withJobOutputs, hereDrive } = await import('../metrics/job-outputs.js');
    const { runReportedHere } = await import('../jobs/reported.js');
    const { default: verifyKind } = await import('../jobs/verify.js');
    const r = await withJobOutputs(values, { version: context.version(), note: (m) => rep.note(m), files: [{ path: image, role: 'the image' }, ...(drive !== undefined ? [{ path: drive, role: 'the drive' }] : [])], signal: context.signal }, async (watch) => {
      const plan = { payload: { image, drive, ...readRange(values), ...readTuning(values), force: values.force }, source: { path: image }, targets: [{ path: drive ?? image, drive: drive !== undefined ? await hereDrive(drive, 'target') : undefined }], length: 0 };
      const observed = (into: Reporter, sig: AbortSignal, hooks: DisplayHooks = {}) => runReportedHere(verifyKind, plan, into, sig, (i, s) => run(i, s, hooks), (res) => res, watch);
      return wantsUi(values) ? withDashboard(image, drive ?? 'its manifest', observed, rep, context.signal, { title: 'verify', role: 'verify', canPause: false }) : observed(rep, context.signal);
    });
    for (const n of r.notes) rep.note(n);
    rep.done({ message: `OK: ${r.image}${drive ? ` and ${drive} agree` : ''} (${r.checked.join(', ') || 'read every part'}; ${formatBytes(r.bytes)}, ${r.seconds.toFixed(2)} s)${hashesText(r.hashes)}`, ...r });
    return ExitStatus.ok;
  },
});
