// Sizes as people type them, and as we print them.
import { UsageError } from './errors.js';

const binary: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
const decimal: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };

/**
 * Parses a byte count: `4096`, `0x1000`, `4KiB`, `4k`, `4K` (binary, as dd), `4kB`/`4KB`
 * (decimal), `8s` (sectors of `sectorSize`). Throws UsageError naming the option.
 */
export function parseSize(text: string, option: string, sectorSize = 512): number {
  const t = text.trim();
  const m = /^(0x[0-9a-f]+|\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(t);
  if (!m) throw badSize(text, option);
  const [, num, unitRaw] = m;
  const base = num.toLowerCase().startsWith('0x') ? parseInt(num, 16) : Number(num);
  const unit = unitRaw;
  let factor: number;
  if (unit === '' || unit === 'b' || unit === 'B') factor = 1;
  else if (unit === 's' || unit === 'S') factor = sectorSize;
  else {
    const u = /^([kKmMgGtTpP])(i?)([bB]?)$/.exec(unit);
    if (!u) throw badSize(text, option);
    const letter = u[1].toLowerCase();
    // "KiB" and bare "K" are binary (as dd reads them); "kB"/"KB" are decimal (SI).
    factor = u[2] === 'i' || u[3] === '' ? binary[letter] : decimal[letter];
  }
  const v = base * factor;
  if (!Number.isFinite(v) || v < 0 || !Number.isInteger(v)) throw badSize(text, option);
  if (v > Number.MAX_SAFE_INTEGER) throw new UsageError(`${option} ${text} is too large`, 'BAD_SIZE');
  return v;
}

function badSize(text: string, option: string): UsageError {
  return new UsageError(
    `${option} ${JSON.stringify(text)} is not a size: use bytes (4096, 0x1000), units (4KiB, 1MiB, 2GB) or sectors (8s)`,
    'BAD_SIZE',
  );
}

/** Parses a positive whole number (a count, not a size). */
export function parseCount(text: string, option: string, min = 1, max = 1 << 20): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${option} ${JSON.stringify(text)} must be a whole number`, 'BAD_NUMBER');
  const v = Number(text);
  if (v < min || v > max) throw new UsageError(`${option} must be between ${min} and ${max}`, 'BAD_NUMBER');
  return v;
}

/** n bytes as a value in the largest binary unit that keeps it >= 1: 1536 -> 1.5 KiB. */
export function binaryUnit(n: number): { value: number; unit: string } {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return { value: v, unit: units[i] };
}

/** 1536 -> "1.50 KiB"; exact below 1 KiB. */
export function formatBytes(n: number): string {
  const { value, unit } = binaryUnit(n);
  return unit === 'B' ? `${n} B` : `${value.toFixed(2)} ${unit}`;
}

/** Bytes per second in MB/s (1e6), the unit drive vendors and fio use. */
export function formatRate(bytesPerSec: number): string {
  return `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;
}

/** Seconds as h:mm:ss or m:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}
