// Hidden areas (HPA, DCO) as hdparm reads them; where the transport hides them (a loop, a
// USB bridge, NVMe, a file) the answer is "not readable through this transport", never "none".
import { spawnSync } from 'node:child_process';
import type { DriveInfo } from '../drive.js';

export const NOT_READABLE = 'not readable through this transport';

export interface HiddenAreas {
  hpa: string | { enabled: boolean; reportedSectors: number; nativeSectors: number };
  dco: string | { realMaxSectors: number };
}

function hdparm(args: string[]): string | undefined {
  const r = spawnSync('hdparm', args, { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout : undefined;
}

/** Asks hdparm -N and --dco-identify where an ATA command can reach the drive. */
export function hiddenAreas(d: DriveInfo): HiddenAreas {
  const none: HiddenAreas = { hpa: NOT_READABLE, dco: NOT_READABLE };
  // loops, device-mapper, NVMe and files carry no ATA commands
  if (d.kind !== 'block' || !d.disk || /^(loop|dm-|md|nvme|nbd|zram|ram)/.test(d.disk.name)) return none;
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
