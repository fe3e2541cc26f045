// Which file system a partition holds, from its first 64 KiB (src/usedmap's detection), named as
// blkid names it (ext2/ext3/ext4, vfat, ntfs, swap), with its label where the superblock has one.
import { detect } from '../usedmap/index.js';

/** Bytes to read at a partition's start: every superblock we know lies in them. */
export const FS_HEAD = 65536;

export interface FsProbe {
  type: string;
  label?: string;
}

function text(b: Buffer, from: number, len: number): string | undefined {
  if (b.length < from + len) return undefined;
  const s = b.subarray(from, from + len).toString('latin1').replace(/\0.*$/s, '').trim();
  return s && /^[\x20-\x7e\xa0-\xff]+$/.test(s) ? s : undefined;
}

/** The file system in `head` (a partition's first bytes), or undefined when none is recognised. */
export function probeFs(head: Buffer): FsProbe | undefined {
  const kind = detect(head);
  if (kind === 'ext') {
    const sb = head.subarray(1024, 2048);
    const compat = sb.readUInt32LE(92);
    const incompat = sb.readUInt32LE(96);
    // extents, 64bit, flex_bg: ext4; a journal without them: ext3
    const type = incompat & 0x2c0 ? 'ext4' : compat & 0x4 ? 'ext3' : 'ext2';
    return { type, label: text(sb, 120, 16) };
  }
  if (kind === 'fat') {
    const fat32 = head.readUInt16LE(22) === 0;
    const label = text(head, fat32 ? 71 : 43, 11);
    return { type: 'vfat', label: label === 'NO NAME' ? undefined : label };
  }
  if (kind === 'ntfs') return { type: 'ntfs' };
  if (kind === 'swap') return { type: 'swap', label: text(head, 1024 + 28, 16) };
  return undefined;
}
