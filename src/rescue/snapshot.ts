// A rescue map small enough to send across threads every second and draw at a few Hz:
// the map's own blocks when there are few, otherwise the worst status of equal slices
// (run-length merged), as ddrescueview would colour them.
import type { Mapbook } from './mapbook.js';
import type { BlockStatus } from './mapfile.js';

export interface MapSnapshot {
  size: number;
  extents: { pos: number; size: number; status: BlockStatus }[];
  current: { pos: number; status: string; pass: number };
  /** bytes per status, exact (not from the compacted extents) */
  totals: Record<BlockStatus, number>;
  /** error areas: non-trimmed, non-scraped and bad blocks, exact */
  errorAreas: number;
}

const severity: Record<BlockStatus, number> = { '+': 0, '?': 1, '*': 2, '/': 3, '-': 4 };

export function mapSnapshot(book: Mapbook, maxExtents = 4096): MapSnapshot {
  const blocks = book.blocks();
  let extents: MapSnapshot['extents'];
  if (blocks.length <= maxExtents) {
    extents = blocks.map((b) => ({ pos: b.pos, size: b.size, status: b.status }));
  } else {
    const per = book.size / maxExtents;
    const cells = new Array<BlockStatus>(maxExtents).fill('+');
    for (const b of blocks) {
      const first = Math.floor(b.pos / per);
      const last = Math.min(maxExtents - 1, Math.floor((b.pos + b.size - 1) / per));
      for (let c = first; c <= last; c++) if (severity[b.status] > severity[cells[c]]) cells[c] = b.status;
    }
    extents = [];
    for (let c = 0; c < maxExtents; c++) {
      const pos = Math.floor(c * per);
      const end = c === maxExtents - 1 ? book.size : Math.floor((c + 1) * per);
      const last = extents[extents.length - 1];
      if (last && last.status === cells[c]) last.size = end - last.pos;
      else extents.push({ pos, size: end - pos, status: cells[c] });
    }
  }
  return {
    size: book.size,
    extents,
    current: { ...book.current },
    totals: { ...book.totals() },
    errorAreas: book.areaCount('*') + book.areaCount('/') + book.areaCount('-'),
  };
}
