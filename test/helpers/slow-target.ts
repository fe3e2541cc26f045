// A writable block device that writes slowly: nbdkit's memory plugin behind its rate filter,
// exposed by nbdfuse and attached as a direct-I/O loop device. For 1:N pacing tests.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { loopDetacher } from '../../src/loop.js';

export interface SlowTarget {
  dev: string;
  down(): void;
}

function waitFor(cond: () => boolean, what: string, ms = 10_000): void {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`slow target: timed out waiting for ${what}`);
    spawnSync('sleep', ['0.05']);
  }
}

/** `size` bytes that accept writes at about `bytesPerSec`. */
export function slowTarget(dir: string, size: number, bytesPerSec: number): SlowTarget {
  // nbdkit's rate filter counts bits per second
  // burstiness: nbdkit lets 2 s of traffic through at full speed by default; half a second
  // keeps the target slow from the start, as a slow stick is
  return nbdTarget(dir, ['--filter=rate', 'memory', String(size), `rate=${bytesPerSec * 8}`, 'burstiness=0.5']);
}

/** A device whose requests can be held (nbdkit's pause filter) and let go again. */
export interface PausableDevice extends SlowTarget {
  /** resolves once nbdkit holds every new request and those in flight have finished */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

/**
 * `size` bytes (a copy of `file` if given, else zeros in memory) at `bytesPerSec` (0: no
 * limit), whose requests can be paused: a drive that stalls now and then.
 */
export function pausableDevice(dir: string, size: number, o: { file?: string; bytesPerSec?: number } = {}): PausableDevice {
  mkdirSync(dir, { recursive: true });
  const control = join(dir, 'pause.sock');
  // filters, then the plugin and its magic parameter, then every key=value
  const filters = ['--filter=pause', ...(o.bytesPerSec ? ['--filter=rate'] : [])];
  const plugin = o.file ? ['file', o.file] : ['memory', String(size)];
  const rate = o.bytesPerSec ? [`rate=${o.bytesPerSec * 8}`, 'burstiness=0.2'] : [];
  const dev = nbdTarget(dir, [...filters, ...plugin, ...rate, `pause-control=${control}`]);
  const send = (c: 'p' | 'r'): Promise<void> =>
    new Promise((resolve, reject) => {
      const sock = createConnection(control, () => sock.write(c));
      sock.once('data', (d) => {
        sock.destroy();
        if (d.toString() === c.toUpperCase()) resolve();
        else reject(new Error(`nbdkit pause filter answered ${JSON.stringify(d.toString())} to ${c}`));
      });
      sock.once('error', reject);
    });
  return { ...dev, pause: () => send('p'), resume: () => send('r') };
}

/** `size` bytes on which every write fails with ENOSPC (nbdkit's full plugin): a dying target. */
export function fullTarget(dir: string, size: number): SlowTarget {
  return nbdTarget(dir, ['full', String(size)]);
}

function nbdTarget(dir: string, plugin: string[]): SlowTarget {
  mkdirSync(join(dir, 'mnt'), { recursive: true });
  const sock = join(dir, 'nbd.sock');
  execFileSync('nbdkit', ['-U', sock, '-P', join(dir, 'nbdkit.pid'), ...plugin], { stdio: 'ignore' });
  waitFor(() => existsSync(sock), 'the nbdkit socket');
  const fuse = spawn('setsid', ['nbdfuse', '-P', join(dir, 'nbdfuse.pid'), join(dir, 'mnt', 'disk.img'), '--unix', sock], { stdio: 'ignore', detached: true });
  fuse.unref();
  waitFor(() => existsSync(join(dir, 'mnt', 'disk.img')), 'the nbdfuse file');
  const dev = execFileSync('losetup', ['--find', '--show', '--direct-io=on', join(dir, 'mnt', 'disk.img')], { encoding: 'utf8' }).trim();
  const detach = loopDetacher(dev);
  return {
    dev,
    down: () => {
      detach();
      spawnSync('fusermount3', ['-u', '-z', join(dir, 'mnt')]);
      for (const f of ['nbdfuse.pid', 'nbdkit.pid']) {
        try {
          const pid = Number(readFileSync(join(dir, f), 'utf8').trim());
          // An empty or half-written pid file reads as 0, and kill(0) signals our own
          // process group: the test runner itself.
          if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) process.kill(pid);
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
