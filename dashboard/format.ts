// Short figures for narrow columns, in the CLI's units (src/units.ts, which knows nothing
// of drives either): binary sizes, MB/s (1e6) rates, m:ss durations.
import { binaryUnit } from '../src/units.js';

/** Bytes in at most 9 characters: "512 B", "1.5 MiB", "931 GiB". */
export function shortBytes(n: number): string {
  const { value: v, unit } = binaryUnit(n);
  if (unit === 'B') return `${n} B`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${unit}`;
}

/** MB/s without the unit, in at most 6 characters. */
export function shortRate(bytesPerSec: number): string {
  const mb = bytesPerSec / 1e6;
  return mb >= 1000 ? mb.toFixed(0) : mb >= 10 ? mb.toFixed(1) : mb.toFixed(2);
}

/** Seconds as h:mm:ss or m:ss; '--:--' for what cannot be known. */
export function shortDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 99) return `${Math.round(h / 24)}d`;
  return `${h > 0 ? `${h}:${String(m).padStart(2, '0')}` : String(m)}:${String(sec).padStart(2, '0')}`;
}

/** Cut to `width` characters (an ellipsis marks the cut) and pad to it. */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  const t = text.length > width ? (width > 1 ? `${text.slice(0, width - 1)}…` : text.slice(0, width)) : text;
  return align === 'left' ? t.padEnd(width) : t.padStart(width);
}

/** Cut in the middle to at most `width` characters (an ellipsis marks the cut), keeping more of the end. */
export function middle(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return text.slice(text.length - Math.max(0, width));
  const head = Math.floor((width - 1) * 0.4);
  return `${text.slice(0, head)}…${text.slice(text.length - (width - 1 - head))}`;
}

/**
 * A path in at most `width` characters, keeping what tells it from its neighbours: the
 * last name whole (a file's basename, a drive's by-id name ending in its serial) and as
 * much of the start as fits, the cut in the middle (`/tmp/clone…/master.img`). A last name
 * too long by itself is cut in its own middle, keeping its end.
 */
export function shortPath(path: string, width: number): string {
  if (path.length <= width) return path;
  const trimmed = path.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  const base = slash >= 0 ? path.slice(slash) : path; // with its '/' and any trailing slashes
  // room for at least two characters of the start, the ellipsis and the last name
  if (slash > 0 && base.length + 3 <= width) return `${path.slice(0, width - 1 - base.length)}…${base}`;
  // the last name whole, and a mark that there was more before it
  if (slash > 0 && base.length + 1 <= width) return `…${base}`;
  return middle(slash >= 0 ? path.slice(slash + 1) : path, width);
}

/**
 * Gives each of `lengths` a share of `total` characters: short ones keep their length, the
 * longer ones share the rest equally (never below `min`).
 */
export function shares(lengths: readonly number[], total: number, min = 1): number[] {
  const out = lengths.map(() => 0);
  let left = total;
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b]);
  order.forEach((i, k) => {
    const fair = Math.floor(left / (order.length - k));
    out[i] = Math.max(min, Math.min(lengths[i], fair));
    left -= out[i];
  });
  return out;
}

/**
 * Rows of cells as aligned text no wider than `width` (when it can be): columns in `paths`
 * are shortened with shortPath, columns in `wrap` are folded onto more lines, the widest
 * first, none below `min` characters. Without a width (a pipe, a log), nothing is cut.
 */
export function fitTable(rows: readonly string[][], width: number, o: { paths?: number[]; wrap?: number[]; min?: number; gap?: number } = {}): string[] {
  const gap = o.gap ?? 2;
  const min = o.min ?? 12;
  const n = rows[0]?.length ?? 0;
  const natural = Array.from({ length: n }, (_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const widths = [...natural];
  const flexible = [...(o.paths ?? []), ...(o.wrap ?? [])].filter((c) => c < n);
  const fixed = natural.reduce((s, w, c) => s + (flexible.includes(c) ? 0 : w), 0) + gap * Math.max(0, n - 1);
  if (Number.isFinite(width) && fixed + flexible.reduce((s, c) => s + natural[c], 0) > width) {
    const rest = Math.max(0, width - fixed);
    const paths = (o.paths ?? []).filter((c) => c < n);
    const wraps = (o.wrap ?? []).filter((c) => c < n);
    // a path column wants room for its longest last name; folded columns give way first
    const want = paths.map((c) => Math.min(natural[c], Math.max(min, ...rows.slice(1).map((r) => (r[c] ?? '').length - (r[c] ?? '').replace(/\/+$/, '').lastIndexOf('/') + 1))));
    const floor = wraps.map((c) => Math.min(natural[c], min));
    const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
    if (sum(want) + sum(floor) <= rest) {
      paths.forEach((c, i) => (widths[c] = want[i]));
      const forWraps = shares(
        wraps.map((c) => natural[c]),
        rest - sum(want),
        min,
      );
      wraps.forEach((c, i) => (widths[c] = Math.min(natural[c], forWraps[i])));
      const more = shares(
        paths.map((c) => natural[c] - widths[c]),
        rest - sum(paths.map((c) => widths[c])) - sum(wraps.map((c) => widths[c])),
        0,
      );
      paths.forEach((c, i) => (widths[c] += more[i]));
    } else {
      const got = shares(
        flexible.map((c) => natural[c]),
        rest,
        min,
      );
      flexible.forEach((c, i) => (widths[c] = Math.min(natural[c], Math.max(got[i], Math.min(min, natural[c])))));
    }
  }
  const out: string[] = [];
  for (const r of rows) {
    const cells = r.map((cell, c) => {
      if (cell.length <= widths[c]) return [cell];
      if (o.wrap?.includes(c)) return wrapText(cell, widths[c]);
      return [o.paths?.includes(c) ? shortPath(cell, widths[c]) : middle(cell, widths[c])];
    });
    const lines = Math.max(1, ...cells.map((l) => l.length));
    for (let k = 0; k < lines; k++) out.push(cells.map((l, c) => (l[k] ?? '').padEnd(widths[c])).join(' '.repeat(gap)).trimEnd());
  }
  return out;
}

/** Folds text onto lines of at most `width` characters, at spaces where it can. */
export function wrapText(text: string, width: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > width) {
    const space = rest.lastIndexOf(' ', width);
    const cut = space > width / 3 ? space : width;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0 || out.length === 0) out.push(rest);
  return out;
}

/** A bar of `width` cells, eighths for the partial cell. */
export function bar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const part = eighths % 8;
  const partial = part > 0 ? ' ▏▎▍▌▋▊▉'[part] : '';
  return `${'█'.repeat(full)}${partial}`.padEnd(width, ' ').slice(0, width);
}
