// The selected job's block map, as ddrescueview draws it: the drive laid out left to right,
// top to bottom in small squares, each the worst status inside it. Two squares share one
// character cell: '▀' with the upper square as foreground and the lower as background.
import type { MapStatus, MapView } from './source.js';

export const statusNames: Record<MapStatus, string> = {
  '?': 'non-tried',
  '*': 'non-trimmed',
  '/': 'non-scraped',
  '-': 'bad',
  '+': 'finished',
};

/** ddrescueview's colours, as xterm-256 indexes: grey, yellow, blue, red, green. */
export const palette256: Record<MapStatus, number> = { '?': 244, '*': 220, '/': 33, '-': 196, '+': 40 };
/** The same with the 8 basic colours: white, yellow, blue, red, green. */
export const palette8: Record<MapStatus, number> = { '?': 7, '*': 3, '/': 4, '-': 1, '+': 2 };

/** The one table of status colours: the map's squares and the legend's swatches both come from here. */
export function statusColour(status: MapStatus, colours: 256 | 8): number {
  return (colours === 256 ? palette256 : palette8)[status];
}

/** The legend's order: good first, then worse and worse. */
export const legendOrder: readonly MapStatus[] = ['+', '?', '*', '/', '-'];
export const swatch = '█';

/** A cell shows the worst status in it, as ddrescueview does. */
const severity: Record<MapStatus, number> = { '+': 0, '?': 1, '*': 2, '/': 3, '-': 4 };

/** The character marking the current position (white on the cell's colour). */
export const positionMark = '◆';
export const halfBlock = '▀';

/** The status of each of `cells` equal slices of the map: the worst status in each. */
export function cellStatuses(map: MapView, cells: number): MapStatus[] {
  const out = new Array<MapStatus>(cells).fill('+');
  if (map.size <= 0 || cells <= 0) return out;
  const per = map.size / cells;
  for (const e of map.extents) {
    if (e.size <= 0) continue;
    const first = Math.max(0, Math.floor(e.pos / per));
    // (ceil: with fewer bytes than cells, a cell may start inside the last byte of an extent)
    const last = Math.min(cells - 1, Math.ceil((e.pos + e.size) / per) - 1);
    const sev = severity[e.status];
    for (let c = first; c <= last; c++) if (sev > severity[out[c]]) out[c] = e.status;
  }
  return out;
}

export interface MapCell {
  ch: string;
  fg: number;
  bg: number;
}

/**
 * The map as `rows` x `width` character cells (2 x `rows` rows of squares). The character
 * holding the current position shows `positionMark`, unless the rescue has finished.
 */
export function mapCells(map: MapView, width: number, rows: number, colours: 256 | 8): MapCell[][] {
  const pal = (st: MapStatus): number => statusColour(st, colours);
  const squares = cellStatuses(map, width * rows * 2);
  const posSquare = map.current.status !== '+' && map.size > 0 ? Math.min(squares.length - 1, Math.floor((map.current.pos / map.size) * squares.length)) : -1;
  const posRow = posSquare >= 0 ? Math.floor(Math.floor(posSquare / width) / 2) : -1;
  const posCol = posSquare >= 0 ? posSquare % width : -1;
  const out: MapCell[][] = [];
  for (let r = 0; r < rows; r++) {
    const line: MapCell[] = [];
    for (let c = 0; c < width; c++) {
      const top = squares[2 * r * width + c];
      const bottom = squares[(2 * r + 1) * width + c];
      if (r === posRow && c === posCol) line.push({ ch: positionMark, fg: 15, bg: pal(posSquare % (2 * width) < width ? top : bottom) });
      else line.push({ ch: halfBlock, fg: pal(top), bg: pal(bottom) });
    }
    out.push(line);
  }
  return out;
}

/** A clone's map is simple: everything before its position is copied. */
export function linearMap(done: number, total: number, ended: boolean): MapView {
  const d = Math.max(0, Math.min(done, total));
  const extents: MapView['extents'] = [];
  if (d > 0) extents.push({ pos: 0, size: d, status: '+' });
  if (total > d) extents.push({ pos: d, size: total - d, status: '?' });
  return { size: total, extents, current: { pos: d, status: ended || d >= total ? '+' : '?', pass: 1 } };
}

/** blessed's cell attribute: flags << 18 | fg << 9 | bg. */
export function cellAttr(fg: number, bg: number): number {
  return (fg << 9) | bg;
}
