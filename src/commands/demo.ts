// `demo`: generated images run as a station and a rescue, no drives needed.
import { defineCommand } from '../command.js';
import { ExitStatus } from '../errors.js';
import { jsonOption, uiOption } from './options.js';

export const demoCommand = defineCommand({
  name: 'demo',
  summary: 'a station on generated images, no drives',
  args: '',
  options: {
    size: { type: 'size', help: 'the size of the generated source images', defaultText: '256MiB' },
    keep: { type: 'boolean', help: "keep the images, and write the station's report and log beside them" },
    throttle: { type: 'size', arg: 'RATE', help: 'bytes per second each clone job may go at, so there is time to watch the dashboard' },
    ...jsonOption,
    ...uiOption,
  },
  async run({ values }, context) {
    const rep = context.reporter(values.json);
    const { wantsUi } = await import('../ui.js');
    // Loaded on demand: the demo's image generator is not on clone's start-up path.
    const { runDemo } = await import('../demo.js');
    await runDemo({ keep: values.keep ?? false, size: values.size, ui: wantsUi(values), throttle: values.throttle }, rep, context.signal);
    return ExitStatus.ok;
  },
});
