// Hidden areas (HPA, DCO) as hdparm reads them; where the transport hides them (a loop, a
// USB bridge, NVMe, a file) the answer is "not readable through this transport", never "none";
// and the HPA's removal for an erase (--include-hpa): hdparm's volatile SET MAX, checked after.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { DriveInfo } from '../drive.js';

export const NOT_READABLE = 'not readable through this transport';

export interface Hpa {
  enabled: boolean;
  reportedSectors: number;
  nativeSectors: number;
}

export interface HiddenAreas {
  hpa: string | Hpa;
  dco: string | { realMaxSectors: number };
}

function hdparm(args: string[]): string | undefined {
  const r = spawnSync('hdparm', args, { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout : undefined;
}

/** Whether an hdparm can be run at all (a missing one reads nothing anywhere). */
export function hdparmInstalled(): boolean {
  return (spawnSync('hdparm', ['-V'], { timeout: 10_000 }).error as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT';
}

/**
 * Asks hdparm -N and --dco-identify of a whole block device; what the transport cannot carry
 * (a loop, device-mapper, a bridge that drops ATA commands) comes back empty and is reported
 * as not readable. A partition is answered for its whole drive; a file has none.
 */
export function hiddenAreas(d: DriveInfo): HiddenAreas {
  const none: HiddenAreas = { hpa: NOT_READABLE, dco: NOT_READABLE };
  if (d.kind !== 'block' || !d.disk) return none;
  return parseHidden(hdparm(['-N', d.disk.path]), hdparm(['--dco-identify', d.disk.path]));
}

/** `hdparm -N` and `hdparm --dco-identify` output (undefined: the command failed). */
export function parseHidden(n: string | undefined, dco: string | undefined): HiddenAreas {
  const out: HiddenAreas = { hpa: NOT_READABLE, dco: NOT_READABLE };
  const m = n && /max sectors\s*=\s*(\d+)\/(\d+),\s*HPA is (enabled|disabled)/.exec(n);
  if (m) out.hpa = { reportedSectors: Number(m[1]), nativeSectors: Number(m[2]), enabled: m[3] === 'enabled' };
  const r = dco && /Real max sectors:\s*(\d+)/.exec(dco);
  if (r) out.dco = { realMaxSectors: Number(r[1]) };
  return out;
}

/**
 * How --include-hpa removes an HPA: hdparm's volatile SET MAX ADDRESS to the native size (no
 * `p` before the count). The drive shows its native size until its next power cycle or hardware
 * reset, which is all the erase needs; a permanent change would alter the drive's configuration
 * for good (some machines keep a recovery partition there) and drives accept one per power-on.
 */
export const HPA_CHANGE = 'volatile (hdparm -N without p): the drive shows its native size until its next power cycle or hardware reset, then its HPA again (the area it hides was erased)';

/** The commands that remove the HPA, exactly as run (the kernel's rescan is a sysfs write, shown as a shell line). */
export function hpaCommands(diskPath: string, hpa: Hpa): string[][] {
  const cmds = [['hdparm', '--yes-i-know-what-i-am-doing', '-N', String(hpa.nativeSectors), diskPath], ['hdparm', '-N', diskPath]];
  const rescan = rescanFile(diskPath);
  if (rescan) cmds.push(['sh', '-c', `echo 1 > ${rescan}`]);
  return cmds;
}

/** /sys/block/NAME/device/rescan where the drive has one (SCSI and ATA disks; not a loop). */
function rescanFile(diskPath: string): string | undefined {
  let name: string;
  try {
    name = basename(realpathSync(diskPath));
  } catch {
    return undefined;
  }
  const f = `/sys/block/${name}/device/rescan`;
  return existsSync(f) ? f : undefined;
}

function execHdparm(args: string[]): Promise<{ ok: boolean; stdout: string; message: string }> {
  return new Promise((resolve) => {
    execFile('hdparm', args, { encoding: 'utf8', timeout: 60_000 }, (e, stdout, stderr) => {
      resolve({ ok: !e, stdout, message: e ? `hdparm ${args.join(' ')}: ${(stderr || e.message).trim().split('\n').pop()}` : '' });
    });
  });
}

export interface HpaRemoval {
  ok: boolean;
  /** what failed, and what to do */
  message?: string;
  commands: string[][];
  /** hdparm -N after the change */
  after: Hpa | string;
}

/**
 * Removes the HPA (volatile) and checks that it is gone: hdparm -N must then report the
 * native size (hdparm exits 0 even where the drive ignored it), and the kernel is asked to
 * read the new capacity where the drive has a rescan file.
 */
export async function removeHpa(diskPath: string, hpa: Hpa): Promise<HpaRemoval> {
  const cmds = hpaCommands(diskPath, hpa);
  const set = await execHdparm(cmds[0].slice(1));
  if (!set.ok) return { ok: false, message: set.message, commands: [cmds[0]], after: NOT_READABLE };
  const check = await execHdparm(cmds[1].slice(1));
  const after = check.ok ? parseHidden(check.stdout, undefined).hpa : NOT_READABLE;
  if (typeof after === 'string' || after.reportedSectors !== hpa.nativeSectors)
    return {
      ok: false,
      message: `the drive still reports ${typeof after === 'string' ? 'no readable size' : `${after.reportedSectors} of ${after.nativeSectors} sectors`} after hdparm -N ${hpa.nativeSectors}: its HPA could not be removed (a drive may refuse while its configuration is frozen: suspend and resume the machine, or power-cycle the drive, and try again)`,
      commands: cmds.slice(0, 2),
      after,
    };
  const rescan = cmds[2];
  if (rescan) {
    const file = rescan[2].replace(/^echo 1 > /, '');
    try {
      writeFileSync(file, '1');
    } catch (e) {
      return { ok: false, message: `cannot ask the kernel to rescan the drive (${file}: ${(e as Error).message})`, commands: cmds, after };
    }
  }
  return { ok: true, commands: cmds, after };
}

/** The device's size as the kernel now sees it, in bytes (sysfs counts 512-byte units). */
export function kernelSize(diskPath: string): number | undefined {
  try {
    const name = basename(realpathSync(diskPath));
    return Number(readFileSync(`/sys/class/block/${name}/size`, 'utf8').trim()) * 512;
  } catch {
    return undefined;
  }
}
