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

/** Cut from the left, keeping the end (the useful part of a path). */
export function fitTail(text: string, width: number): string {
  if (text.length <= width) return text.padEnd(width);
  return width > 1 ? `…${text.slice(text.length - width + 1)}` : text.slice(-width);
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
