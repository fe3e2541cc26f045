// Real block devices for tests: loop devices over files in tmpfs, created and removed by
// the tests themselves.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loopDetacher } from '../../src/loop.js';

export { loopDetacher };

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const cli = join(root, 'dist', 'src', 'cli.js');

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
}

/**
 * Unmounts `dir` once nothing holds it: a loop device detached just now, or a file an
 * io_uring ring had registered, is let go by the kernel a moment later (the ring's teardown
 * is delayed), and umount says "target is busy" until then. Lazily, as a last resort.
 */
export function umountWhenFree(dir: string, patienceMs = 20_000): void {
  for (const until = Date.now() + patienceMs; Date.now() < until; ) {
    if (spawnSync('umount', [dir]).status === 0) return;
    spawnSync('sleep', ['0.05']);
  }
  spawnSync('umount', ['-l', dir]);
}

/** A scratch folder in tmpfs (fast, and O_DIRECT works there on this kernel). */
export function scratch(prefix = 'cs-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join('/dev/shm', prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `size` bytes of random data (or zeros) to a new file. */
export function makeFile(path: string, size: number, fill: 'random' | 'zero' = 'random'): string {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    if (fill === 'random') {
      const buf = Buffer.alloc(1 << 20);
      for (let off = 0; off < size; off += buf.length) {
        const n = Math.min(buf.length, size - off);
        randomFillSync(buf, 0, n);
        writeSync(fd, buf, 0, n, off);
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

export interface Loop {
  dev: string;
  file: string;
  detach: () => void;
}

/** A loop device over `file`, with the given logical sector size. */
export function attachLoop(file: string, sectorSize: 512 | 4096 = 512, readOnly = false): Loop {
  const args = ['--find', '--show', '--sector-size', String(sectorSize)];
  if (readOnly) args.push('--read-only');
  const dev = sh('losetup', [...args, file]);
  return {
    dev,
    file,
    detach: loopDetacher(dev),
  };
}

export function sha256(path: string, offset = 0, length?: number): string {
  const data = readFileSync(path);
  return createHash('sha256')
    .update(data.subarray(offset, length === undefined ? undefined : offset + length))
    .digest('hex');
}

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
  events: Record<string, unknown>[];
}

/** Runs the built CLI with no terminal; parses JSON lines when --json is given. */
export function runCli(args: string[], input?: string, env?: NodeJS.ProcessEnv): CliRun {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', input, timeout: 120_000, env: env ? { ...process.env, ...env } : undefined });
  const events = args.includes('--json')
    ? r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, events };
}

export function lastEvent(r: CliRun, event: string): Record<string, unknown> | undefined {
  return [...r.events].reverse().find((e) => e.event === event);
}

/**
 * A loop device over a partitioned image, with its partition nodes present. Some kernels
 * (this sandbox's among them) do not scan partitions on attach; partx adds them by BLKPG.
 */
export function attachPartitioned(file: string): Loop & { partitions: string[] } {
  const dev = sh('losetup', ['--find', '--show', '--partscan', file]);
  const name = dev.replace('/dev/', '');
  const sysParts = (): string[] => readdirSync(`/sys/block/${name}`).filter((n) => n.startsWith(`${name}p`));
  if (sysParts().length === 0) spawnSync('partx', ['-a', dev]);
  const deadline = Date.now() + 3000;
  while (sysParts().some((p) => !existsSync(`/dev/${p}`)) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
  return {
    dev,
    file,
    partitions: sysParts()
      .sort()
      .map((p) => `/dev/${p}`),
    detach: loopDetacher(dev),
  };
}

/**
 * A scratch folder and loop devices for one describe block, all removed after it:
 * call at the top of the block, use `dir()` and `loop()` inside tests.
 */
export function useLoopScratch(hooks: { beforeAll: (fn: () => void) => void; afterAll: (fn: () => void) => void }): {
  dir: () => string;
  loop: (file: string, sectorSize?: 512 | 4096, readOnly?: boolean) => Loop;
  track: (l: Loop) => Loop;
  detachAll: () => void;
} {
  let s: ReturnType<typeof scratch> | undefined;
  const loops: Loop[] = [];
  const detachAll = (): void => {
    for (const l of loops.splice(0).reverse()) l.detach();
  };
  hooks.beforeAll(() => {
    s = scratch();
  });
  hooks.afterAll(() => {
    detachAll();
    s?.cleanup();
  });
  const track = (l: Loop): Loop => {
    loops.push(l);
    return l;
  };
  return {
    dir: () => {
      if (!s) throw new Error('useLoopScratch: used outside its describe block');
      return s.dir;
    },
    loop: (file, sectorSize = 512, readOnly = false) => track(attachLoop(file, sectorSize, readOnly)),
    track,
    detachAll,
  };
}

/** `length` bytes of a file or drive at `offset` (fewer at its end). */
export function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, b, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return b.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** Writes `bytes` into a file or drive at `offset` (a test's own damage to an image). */
export function writeAt(path: string, offset: number, bytes: Uint8Array | number[]): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.from(bytes);
    writeSync(fd, b, 0, b.length, offset);
  } finally {
    closeSync(fd);
  }
}
