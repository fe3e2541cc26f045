// `run JOBFILE`: a station described in a JSON job file.
import { defineCommand } from '../command.js';
import { jsonOption, readTuning, stationFileOptions, tuningOptions, uiOption, yesOption } from './options.js';
import { stationOptions } from './clone.js';
import { stationCommand } from './shared.js';

export const runCommand = defineCommand({
  name: 'run',
  summary: 'a station described by a JSON job file',
  args: 'JOBFILE',
  options: { ...stationOptions, ...tuningOptions, ...yesOption, ...jsonOption, ...uiOption, ...stationFileOptions },
  notes: ["The job file's maxParallel and verify apply unless --max-parallel or --verify/--no-verify are given; each job has its own range."],
  async run({ values, positionals }, context) {
    const { parseJobFile } = await import('../station/jobfile.js');
    const file = await parseJobFile(positionals[0]);
    return stationCommand(file.jobs, values, readTuning(values), context, file);
  },
});
