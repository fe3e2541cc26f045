// `clonestation map show MAPFILE`: the summary ddrescuelog gives, and a block-map picture
// in ddrescueview's colours.
import type { Mapbook } from './mapbook.js';
import type { BlockStatus } from './mapfile.js';
import { formatBytes } from '../units.js';

export const statusNames: Record<BlockStatus, string> = {
  '?': 'non-tried',
  '*': 'non-trimmed',
  '/': 'non-scraped',
  '-': 'bad-sector',
  '+': 'finished',
};

/** ddrescueview's palette as 256-colour indexes: grey, yellow, blue, red, green. */
const colour: Record<BlockStatus, number> = { '?': 244, '*': 220, '/': 33, '-': 196, '+': 40 };
/** A cell shows the worst status in it, as ddrescueview does. */
const severity: Record<BlockStatus, number> = { '+': 0, '?': 1, '*': 2, '/': 3, '-': 4 };

export interface MapSummary {
  size: number;
  bytes: Record<BlockStatus, number>;
  areas: Record<BlockStatus, number>;
  rescuedPercent: number;
  current: { pos: number; status: string; pass: number };
}

export function summarize(book: Mapbook): MapSummary {
  const bytes = book.totals();
  const areas = { '?': 0, '*': 0, '/': 0, '-': 0, '+': 0 } as Record<BlockStatus, number>;
  for (const s of Object.keys(areas) as BlockStatus[]) areas[s] = book.areaCount(s);
  return {
    size: book.size,
    bytes: { ...bytes },
    areas,
    rescuedPercent: book.size > 0 ? (100 * bytes['+']) / book.size : 100,
    current: { ...book.current },
  };
}

export function summaryLines(s: MapSummary): string[] {
  const lines = [`size ${formatBytes(s.size)} (${s.size} bytes), rescued ${s.rescuedPercent.toFixed(4)}%`];
  for (const st of ['+', '?', '*', '/', '-'] as BlockStatus[])
    lines.push(`  ${statusNames[st].padEnd(12)} ${formatBytes(s.bytes[st]).padStart(12)}  in ${String(s.areas[st]).padStart(7)} area(s)`);
  lines.push(`  current position ${s.current.pos} (0x${s.current.pos.toString(16)}), status '${s.current.status}', pass ${s.current.pass}`);
  return lines;
}

/** The status of each of `cells` equal slices of the drive: the worst status in each. */
export function cellStatuses(book: Mapbook, cells: number): BlockStatus[] {
  const out: BlockStatus[] = new Array<BlockStatus>(cells).fill('+');
  if (book.size === 0) return out;
  const per = book.size / cells;
  for (const b of book.blocks()) {
    const first = Math.floor(b.pos / per);
    const last = Math.min(cells - 1, Math.floor((b.pos + b.size - 1) / per));
    for (let c = first; c <= last; c++) if (severity[b.status] > severity[out[c]]) out[c] = b.status;
  }
  return out;
}

/**
 * The picture: `rows` lines of `width` characters. With colour, each character is two
 * cells (upper and lower half block, as ddrescueview packs them); without, one status
 * character per cell. The current position is marked.
 */
export function picture(book: Mapbook, width: number, rows: number, colours: boolean): string[] {
  const perChar = colours ? 2 : 1;
  const cells = cellStatuses(book, width * rows * perChar);
  const posCell = Math.min(cells.length - 1, Math.floor((book.current.pos / Math.max(1, book.size)) * cells.length));
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    let line = '';
    for (let c = 0; c < width; c++) {
      if (!colours) {
        const i = r * width + c;
        line += i === posCell && book.current.status !== '+' ? '@' : cells[i];
        continue;
      }
      // two drive-order cells per character: left-to-right, top half first
      const i = (r * width + c) * 2;
      const top = cells[i];
      const bottom = cells[i + 1] ?? top;
      const mark = (i === posCell || i + 1 === posCell) && book.current.status !== '+';
      line += `\x1b[38;5;${colour[top]}m\x1b[48;5;${colour[bottom]}m${mark ? '▚' : '▀'}`;
    }
    lines.push(colours ? `${line}\x1b[0m` : line);
  }
  return lines;
}

export function legend(colours: boolean): string {
  return (['+', '?', '*', '/', '-'] as BlockStatus[])
    .map((s) => (colours ? `\x1b[38;5;${colour[s]}m█\x1b[0m ${statusNames[s]}` : `${s} ${statusNames[s]}`))
    .join('   ');
}
