// A real failing drive for tests: a read-only loop device whose reads fail with EIO at
// chosen sectors (nbdkit's ddrescue filter -> nbdfuse -> loop device with direct I/O; see
// test/fixtures/failing-drive.sh). It can also drop off the bus (pull) and come back as a
// new device (replug), and be slow (delayMs).
import { execFileSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { makeFile, root } from './fixtures.js';

export const failingDriveScript = join(root, 'test', 'fixtures', 'failing-drive.sh');

/** A bad area in bytes; offset and length must be multiples of the sector size. */
export interface BadArea {
  offset: number;
  length: number;
}

export interface FailingDrive {
  /** The current block device (replug() changes it). */
  dev: string;
  /** The scratch folder holding the image, the map, the socket and the mount. */
  dir: string;
  /** The source image: what a good read of the drive returns. */
  image: string;
  size: number;
  sectorSize: number;
  /** The injected bad areas, sorted and merged. */
  bad: BadArea[];
  /** The ddrescue mapfile given to nbdkit. */
  map: string;
  /** The drive drops off the bus: every read of `dev` fails with EIO; the node stays. */
  pull(): void;
  /** The drive comes back as a new device (returned, and set as `dev`), same data. */
  replug(): string;
  /** Detaches every loop device, unmounts, stops nbdfuse and nbdkit. Idempotent. */
  down(): void;
}

export interface FailingDriveOptions {
  /** An existing scratch folder (the caller removes it); short: the socket lives there. */
  dir: string;
  /** Bytes; a multiple of the sector size. */
  size: number;
  sectorSize?: 512 | 4096;
  bad: BadArea[];
  /** Every read (good or bad) takes this long more. */
  delayMs?: number;
  fill?: 'random';
  /** the drive's bytes: a copy of this file (`size` bytes) instead of random ones */
  from?: string;
}

const tools = ['nbdkit', 'nbdfuse', 'fusermount3', 'losetup', 'setsid'] as const;

function onPath(cmd: string): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin']);
  return dirs.some((d) => {
    try {
      accessSync(join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function nbdkitHasFilters(): boolean {
  try {
    execFileSync('nbdkit', ['--filter=ddrescue', '--filter=delay', 'null', '--dump-plugin'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** What is missing to build a failing drive (empty when all is there). */
export const missingFailingDriveTools: string[] = (() => {
  const missing: string[] = tools.filter((t) => !onPath(t));
  if (!missing.includes('nbdkit') && !nbdkitHasFilters()) missing.push('nbdkit ddrescue/delay filters');
  return missing;
})();

/** nbdkit, nbdfuse, fusermount3 and losetup are present (CI installs them). */
export const hasFailingDriveTools: boolean = missingFailingDriveTools.length === 0;

/**
 * Bad areas given in sectors: a number is one bad sector, [first, count] a run of them.
 * E.g. `badSectors(512, [7, 100, [2048, 128]])`.
 */
export function badSectors(sectorSize: number, spec: readonly (number | readonly [number, number])[]): BadArea[] {
  return spec.map((s) => {
    const [first, count] = typeof s === 'number' ? [s, 1] : s;
    return { offset: first * sectorSize, length: count * sectorSize };
  });
}

/** Sorts bad areas and merges the overlapping or touching ones. */
export function mergeBad(bad: readonly BadArea[]): BadArea[] {
  const sorted = bad.filter((b) => b.length > 0).sort((a, b) => a.offset - b.offset);
  const out: BadArea[] = [];
  for (const b of sorted) {
    const last = out[out.length - 1];
    if (last && b.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, b.offset + b.length - last.offset);
    } else {
      out.push({ offset: b.offset, length: b.length });
    }
  }
  return out;
}

/** Every sector number inside the bad areas, sorted, each once. */
export function badSectorNumbers(bad: readonly BadArea[], sectorSize: number): number[] {
  const out: number[] = [];
  for (const b of mergeBad(bad)) {
    for (let s = Math.floor(b.offset / sectorSize); s * sectorSize < b.offset + b.length; s++) out.push(s);
  }
  return out;
}

const hex = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;

/**
 * A GNU ddrescue mapfile covering [0, size): '+' for good blocks, '-' for bad ones. Adjacent
 * good blocks are always one line: nbdkit's ddrescue filter fails any read that is not
 * wholly inside a single '+' line.
 */
export function ddrescueMap(size: number, bad: readonly BadArea[]): string {
  const lines = ['# Mapfile. Created by clonestation test/helpers/failing-drive.ts', '# current_pos  current_status  current_pass', `${hex(0)}     +               1`, '#      pos        size  status'];
  let pos = 0;
  for (const b of mergeBad(bad)) {
    if (b.offset > pos) lines.push(`${hex(pos)}  ${hex(b.offset - pos)}  +`);
    lines.push(`${hex(b.offset)}  ${hex(b.length)}  -`);
    pos = b.offset + b.length;
  }
  if (pos < size) lines.push(`${hex(pos)}  ${hex(size - pos)}  +`);
  return lines.join('\n') + '\n';
}

function script(args: string[]): string {
  try {
    return execFileSync('bash', [failingDriveScript, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    }).trim();
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`failing-drive.sh ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}

// Drives still up when the process exits are taken down then (a safety net for crashed tests).
const live = new Set<FailingDrive>();
process.on('exit', () => {
  for (const d of live) {
    try {
      d.down();
    } catch {
      // best effort
    }
  }
});

/**
 * Builds a failing drive in `opts.dir`: writes a random source image (dir/src.img) and the
 * bad map (dir/bad.map), and starts the stack. Call down() when done (afterAll).
 */
export function failingDrive(opts: FailingDriveOptions): FailingDrive {
  const sectorSize = opts.sectorSize ?? 512;
  const { dir, size } = opts;
  if (!Number.isSafeInteger(size) || size <= 0 || size % sectorSize !== 0) {
    throw new Error(`failingDrive: size ${size} is not a positive multiple of ${sectorSize}`);
  }
  for (const b of opts.bad) {
    if (b.offset % sectorSize !== 0 || b.length % sectorSize !== 0 || b.length <= 0 || b.offset < 0 || b.offset + b.length > size) {
      throw new Error(`failingDrive: bad area ${JSON.stringify(b)} is not whole ${sectorSize}-byte sectors inside ${size} bytes`);
    }
  }
  if (!hasFailingDriveTools) {
    throw new Error(`failingDrive: missing ${missingFailingDriveTools.join(', ')} (apt-get install nbdkit libnbd-bin fuse3)`);
  }
  const bad = mergeBad(opts.bad);
  const image = makeFile(join(dir, 'src.img'), size, opts.from ? 'zero' : (opts.fill ?? 'random'));
  if (opts.from) copyFileSync(opts.from, image);
  const map = join(dir, 'bad.map');
  writeFileSync(map, ddrescueMap(size, bad));
  const args = ['up', dir, image, map, '--sector-size', String(sectorSize)];
  if (opts.delayMs) args.push('--delay-ms', String(Math.round(opts.delayMs)));
  const drive: FailingDrive = {
    dev: script(args),
    dir,
    image,
    size,
    sectorSize,
    bad,
    map,
    pull: () => {
      script(['pull', dir]);
    },
    replug: () => {
      drive.dev = script(['replug', dir]);
      return drive.dev;
    },
    down: () => {
      script(['down', dir]);
      live.delete(drive);
    },
  };
  live.add(drive);
  return drive;
}
