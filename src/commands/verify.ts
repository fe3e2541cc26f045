// `verify IMAGE [DRIVE]`: an image against its manifest, or a drive against the image.
import { defineCommand } from '../command.js';
import { ExitStatus } from '../errors.js';
import { formatBytes } from '../units.js';
import type { Reporter } from '../progress.js';
import { jsonOption, readRange, readTuning, tuningOptions, uiOption, yesOption } from './options.js';
import { forceImageOption, imageRangeOptions } from './restore.js';
import { hashesText, withDashboard, type DisplayHooks } from './shared.js';

export const verifyCommand = defineCommand({
  name: 'verify',
  summary: 'check an image, or a drive against it',
  args: 'IMAGE [DRIVE]',
  options: {
    ...forceImageOption,
    ...imageRangeOptions,
    ...tuningOptions,
    yes: { ...yesOption.yes, help: 'accepted as restore takes it; verify writes nothing and asks nothing' },
    ...jsonOption,
    ...uiOption,
  },
  notes: ['Without DRIVE every file of the image is re-read and checked against its manifest; with DRIVE the drive is compared with the image byte for byte and the first difference named.'],
  async run({ values, positionals }, context) {
    const [image, drive] = positionals;
    const rep = context.reporter(values.json);
    const { verify } = await import('../image/verify.js');
    const { wantsUi } = await import('../ui.js');
    const run = (into: Reporter, sig: AbortSignal, hooks: DisplayHooks = {}) => {
      hooks.ready?.();
      return verify({ image, drive, ...readRange(values), ...readTuning(values), force: values.force }, into, sig);
    };
    const r = wantsUi(values) ? await withDashboard(image, drive ?? 'its manifest', run, rep, context.signal, { title: 'verify', role: 'verify', canPause: false }) : await run(rep, context.signal);
    for (const n of r.notes) rep.note(n);
    rep.done({ message: `OK: ${r.image}${drive ? ` and ${drive} agree` : ''} (${r.checked.join(', ') || 'read every part'}; ${formatBytes(r.bytes)}, ${r.seconds.toFixed(2)} s)${hashesText(r.hashes)}`, ...r });
    return ExitStatus.ok;
  },
});
