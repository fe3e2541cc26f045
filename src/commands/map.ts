// `map show MAPFILE`: the summary and block map of a rescue map.
import { defineCommand } from '../command.js';
import { ExitStatus, UsageError } from '../errors.js';

export const mapShowCommand = defineCommand({
  name: 'map show',
  summary: "a rescue map's summary and block map",
  args: 'MAPFILE',
  options: {
    width: { type: 'count', min: 8, max: 1000, help: 'cells per row of the picture', defaultText: "the terminal's width, up to 100" },
    rows: { type: 'count', min: 1, max: 500, help: 'rows of the picture', default: '16' },
    size: { type: 'size', help: "the drive's size, when the map ends before it", defaultText: 'where the map ends' },
    'no-color': { type: 'boolean', help: 'one status character per cell, no colours (the default without a colour terminal)' },
    json: { type: 'boolean', help: 'the summary as one JSON line' },
  },
  async run({ values, positionals }) {
    const { parseMap, readMapText } = await import('../rescue/mapfile.js');
    const { Mapbook } = await import('../rescue/mapbook.js');
    const { summarize, summaryLines, picture, legend } = await import('../rescue/show.js');
    const path = positionals[0];
    const text = readMapText(path);
    if (text === undefined) throw new UsageError(`mapfile ${path} does not exist`, 'NOT_FOUND');
    const given = values.size;
    const map = parseMap(text, { path, deviceSize: given });
    const last = map.blocks[map.blocks.length - 1];
    const book = new Mapbook(given ?? (last ? last.pos + last.size : 0), map);
    const s = summarize(book);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ event: 'map', map: path, ...s })}\n`);
      return ExitStatus.ok;
    }
    const colours = !values['no-color'] && Boolean(process.stdout.isTTY);
    const width = values.width ?? Math.min(100, (process.stdout.columns ?? 80) - 2);
    const rows = values.rows ?? 16;
    process.stdout.write(`${[`${path}:`, ...summaryLines(s), '', ...picture(book, width, rows, colours), legend(colours)].join('\n')}\n`);
    return ExitStatus.ok;
  },
});
