// Helpers for the used-map tests: map an image file, turn maps into unit ranges, and read
// the reference tools' own views (dumpe2fs free lists, fsck.fat counts, ntfscat's $Bitmap).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileReader, usedMap, type UsedMap } from '../../src/usedmap/index.js';

/** Runs a tool and returns its stdout (stderr kept apart). */
export function tool(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
}

export async function mapFile(path: string, where = path): Promise<UsedMap> {
  const h = await open(path, 'r');
  try {
    const st = await h.stat();
    // A block device's stat size is 0: ask the kernel (BLKGETSIZE64) through blockdev.
    const size = st.isBlockDevice() ? Number(tool('blockdev', ['--getsize64', path]).trim()) : st.size;
    return await usedMap(fileReader(h), size, { where });
  } finally {
    await h.close();
  }
}

/** The error a mapping throws (fails the test when it does not throw). */
export async function mapError(path: string): Promise<{ code?: string; message: string; exitStatus?: number }> {
  try {
    await mapFile(path);
  } catch (e) {
    return e as { code?: string; message: string; exitStatus?: number };
  }
  throw new Error(`mapping ${path} did not fail`);
}

/** Inclusive ranges [first, last] of units (blocks/clusters) in `[0, units)` a map leaves free. */
export function freeUnits(map: UsedMap, unit: number, origin = 0, units = Math.floor((map.fsSize - origin) / unit)): [number, number][] {
  const out: [number, number][] = [];
  let next = 0;
  const end = origin + units * unit;
  for (let i = 0; i < map.flat.length; i += 2) {
    const off = Math.max(origin, map.flat[i]!);
    const stop = map.flat[i]! + map.flat[i + 1]!;
    if (stop <= origin) continue;
    if (off >= end) break;
    if ((off - origin) % unit !== 0 || (stop < end && (stop - origin) % unit !== 0)) throw new Error(`extent ${off}+${stop - off} is not on ${unit}-byte units`);
    const first = (off - origin) / unit;
    if (first > next) out.push([next, first - 1]);
    next = Math.min(units, (stop - origin) / unit);
  }
  if (next < units) out.push([next, units - 1]);
  return out;
}

/** Merges touching inclusive ranges. */
export function mergeRanges(r: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of [...r].sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** dumpe2fs's free block lists (every group's "Free blocks:" line), merged. */
export function dumpe2fsFree(dev: string): [number, number][] {
  const text = tool('dumpe2fs', [dev]);
  const ranges: [number, number][] = [];
  for (const line of text.split('\n')) {
    const m = /^\s+Free blocks: (.*)$/.exec(line);
    if (!m) continue;
    for (const part of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [a, b] = part.split('-').map(Number);
      ranges.push([a!, b ?? a!]);
    }
  }
  return mergeRanges(ranges);
}

/** A field of `dumpe2fs -h` ("Block count", "Free blocks", ...). */
export function dumpe2fsField(dev: string, field: string): string {
  const m = new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(tool('dumpe2fs', ['-h', dev]));
  if (!m) throw new Error(`dumpe2fs -h ${dev} has no "${field}"`);
  return m[1]!.trim();
}

/** Writes files of the given sizes (random bytes) into an ext image with debugfs (no mount). */
export function debugfsWrite(image: string, dir: string, sizes: number[]): void {
  const cmds: string[] = [];
  sizes.forEach((size, i) => {
    const src = join(dir, `src-${i}.bin`);
    writeFileSync(src, randomBytes(size));
    cmds.push(`write ${src} file-${i}.bin`);
  });
  const script = join(dir, 'debugfs.cmds');
  writeFileSync(script, cmds.join('\n') + '\n');
  tool('debugfs', ['-w', '-f', script, image]);
}

/** The set bits of a little-endian bitmap, as merged inclusive ranges, among the first `count`. */
export function bitmapRanges(bits: Buffer, count: number, set: boolean): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const v = ((bits[i >> 3]! >> (i & 7)) & 1) === 1;
    if (v !== set) continue;
    const last = out[out.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else out.push([i, i]);
  }
  return out;
}
