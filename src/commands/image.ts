// `image info IMAGE`, `image mount IMAGE DIR`, `image umount DIR`: the partitions inside a backup image.
import { defineCommand } from '../command.js';
import { ExitStatus } from '../errors.js';
import { formatBytes } from '../units.js';

export const imageInfoCommand = defineCommand({
  name: 'image info',
  summary: 'the partition table inside an image',
  args: 'IMAGE',
  options: {
    json: { type: 'boolean', help: 'everything as one JSON line' },
  },
  notes: ['IMAGE is raw, split or zip; nothing is restored (a zip is inflated as far as its partitions and its backup GPT).'],
  async run({ values, positionals }) {
    const { imageInfo } = await import('../image/partitions/image-info.js');
    const { tableLines } = await import('../partition/describe.js');
    const info = await imageInfo(positionals[0]);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ event: 'image', ...info })}\n`);
      return ExitStatus.ok;
    }
    const lines = [
      `${info.image}: ${info.format} image${info.parts > 1 ? ` in ${info.parts} parts` : ''}, ${formatBytes(info.size)} (${info.size} bytes)${info.source ? `, a backup of ${info.source}` : ''}${info.complete === false ? ', NOT complete' : ''}`,
      ...tableLines(info.table, ''),
      ...info.notes.map((n) => `note: ${n}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return ExitStatus.ok;
  },
});

export const imageMountCommand = defineCommand({
  name: 'image mount',
  summary: "a raw or zstd image's partitions, mounted read-only",
  args: 'IMAGE DIR',
  options: {
    json: { type: 'boolean', help: 'what was mounted as one JSON line' },
  },
  notes: ['Each partition with a file system this machine can mount goes to DIR/<number> through a loop device at its offset in the image (read-only; ext3/4 without replaying the journal). A zstd image is served as a file under DIR/.clonestation-image (nbdfuse), decompressing only the frames that are read. clonestation image umount DIR undoes it.'],
  async run({ values, positionals }) {
    const { mountImage } = await import('../image/partitions/mount-image.js');
    const { mountLines } = await import('../image/partitions/mount-image.js');
    const r = await mountImage(positionals[0], positionals[1]);
    process.stdout.write(values.json ? `${JSON.stringify({ event: 'mounted', ...r })}\n` : `${mountLines(r).join('\n')}\n`);
    return ExitStatus.ok;
  },
});

export const imageUmountCommand = defineCommand({
  name: 'image umount',
  summary: 'undo image mount or restore --mount',
  args: 'DIR',
  options: {},
  notes: ['Unmounts what clonestation mounted under DIR, detaches its loop devices and removes the folders it made.'],
  async run({ positionals }) {
    const { unmountImage } = await import('../image/partitions/mount-image.js');
    const gone = unmountImage(positionals[0]);
    process.stdout.write(`${gone.length > 0 ? gone.map((m) => `unmounted ${m.mountPoint} (${m.loop} detached)`).join('\n') : `nothing was mounted under ${positionals[0]}`}\n`);
    return ExitStatus.ok;
  },
});
