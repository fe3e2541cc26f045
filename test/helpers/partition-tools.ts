// sgdisk and sfdisk as the reference checkers of partition tables, and our reader on the same paths.
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, statSync, writeSync } from 'node:fs';
import { fdReader, readPartitionTable, type PartitionTable, type SectorWrite } from '../../src/partition/index.js';
import { sh } from './fixtures.js';

/** Size and logical sector size of a file (512) or a block device (as the kernel says). */
export function geometry(path: string): { size: number; sectorSize: number } {
  if (statSync(path).isBlockDevice()) return { size: Number(sh('blockdev', ['--getsize64', path])), sectorSize: Number(sh('blockdev', ['--getss', path])) };
  return { size: statSync(path).size, sectorSize: 512 };
}

/** Our reading of the table on a file or device. */
export async function ourTable(path: string): Promise<PartitionTable> {
  const { size, sectorSize } = geometry(path);
  const fd = openSync(path, 'r');
  try {
    return await readPartitionTable(fdReader(fd), { sectorSize, diskSize: size });
  } finally {
    closeSync(fd);
  }
}

/** Applies planned writes to a file or device, then flushes. */
export function applyTo(path: string, writes: readonly SectorWrite[]): void {
  const fd = openSync(path, 'r+');
  try {
    for (const w of writes) writeSync(fd, w.bytes, 0, w.bytes.length, w.offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Runs a tool that must exist (CI installs it); returns its status and both outputs. */
export function run(cmd: string, args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

export interface SgdiskPartition {
  number: number;
  typeGuid: string;
  guid: string;
  firstLba: number;
  lastLba: number;
  attributes: string;
  name: string;
}

export interface SgdiskTable {
  diskGuid: string;
  firstUsable: number;
  lastUsable: number;
  sectorSize: number;
  partitions: SgdiskPartition[];
}

/** `sgdisk -p` and `sgdisk -i N` of every partition, parsed. */
export function sgdiskTable(path: string): SgdiskTable {
  const p = run('sgdisk', ['-p', path]).out;
  const m = (re: RegExp, text = p): string => {
    const r = re.exec(text);
    if (!r) throw new Error(`sgdisk output has no ${String(re)}:\n${text}`);
    return r[1];
  };
  const numbers = [...p.matchAll(/^\s+(\d+)\s+\d+\s+\d+\s/gm)].map((r) => Number(r[1]));
  const partitions = numbers.map((n) => {
    const i = run('sgdisk', ['-i', String(n), path]).out;
    return {
      number: n,
      typeGuid: m(/Partition GUID code: (\S+)/, i),
      guid: m(/Partition unique GUID: (\S+)/, i),
      firstLba: Number(m(/First sector: (\d+)/, i)),
      lastLba: Number(m(/Last sector: (\d+)/, i)),
      attributes: m(/Attribute flags: (\S+)/, i).toUpperCase(),
      name: m(/Partition name: '(.*)'/, i),
    };
  });
  return {
    diskGuid: m(/Disk identifier \(GUID\): (\S+)/),
    firstUsable: Number(m(/First usable sector is (\d+)/)),
    lastUsable: Number(m(/last usable sector is (\d+)/)),
    sectorSize: Number(m(/Sector size \(logical(?:\/physical)?\): (\d+)/)),
    partitions,
  };
}

export interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid?: string;
  name?: string;
  bootable?: boolean;
}

export function sfdiskJson(path: string): { label: string; id: string; firstlba?: number; lastlba?: number; sectorsize: number; partitions: SfdiskPartition[] } {
  const r = run('sfdisk', ['--json', path]);
  if (r.status !== 0) throw new Error(`sfdisk --json ${path}: ${r.out}`);
  return (JSON.parse(r.out) as { partitiontable: ReturnType<typeof sfdiskJson> }).partitiontable;
}

/** sgdisk -v: true when it found no problem; the text either way. */
export function sgdiskVerify(path: string): { clean: boolean; out: string } {
  const r = run('sgdisk', ['-v', path]);
  return { clean: /No problems found/.test(r.out) && !/Problem:|Warning!|Caution: invalid/.test(r.out), out: r.out };
}

/** sfdisk --verify: true when it exits 0 and reports no GPT or partition problem. */
export function sfdiskVerify(path: string): { clean: boolean; out: string } {
  const r = run('sfdisk', ['--verify', path]);
  return { clean: r.status === 0 && /No errors detected/.test(r.out) && !/not on the end|corrupt|overlap|exceeds|mismatch|\d+ errors? detected/i.test(r.out), out: r.out };
}

