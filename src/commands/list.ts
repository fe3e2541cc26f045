// `list`: the drives this station sees.
import { defineCommand } from '../command.js';
import { ExitStatus } from '../errors.js';

export const listCommand = defineCommand({
  name: 'list',
  summary: 'the drives this station sees',
  args: '',
  options: {
    loops: { type: 'boolean', help: 'add attached loop devices, with their backing files' },
    all: { type: 'boolean', help: 'add empty devices and RAM disks' },
    json: { type: 'boolean', help: 'everything as one JSON line, WWN and by-id names included' },
  },
  async run({ values }) {
    const { listDrives, driveTable, addTables, tableSections } = await import('../list.js');
    const drives = listDrives({ loops: values.loops, all: values.all });
    // each drive's partition table, read-only: scheme, partitions, their file systems
    await addTables(drives);
    if (values.json) process.stdout.write(`${JSON.stringify({ event: 'drives', drives })}\n`);
    else process.stdout.write(`${drives.length > 0 ? [...driveTable(drives), ...(await tableSections(drives))].join('\n') : 'no drives (loop devices show with --loops)'}\n`);
    return ExitStatus.ok;
  },
});
