// GUIDs as GPT stores them (mixed endian) and the names of common partition types.

import { crc32 as zlibCrc32 } from 'node:zlib';

/** CRC-32 (IEEE, as GPT uses it) of the bytes. */
export function crc32(bytes: Uint8Array): number {
  return zlibCrc32(bytes) >>> 0;
}

const HEX = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

/** The 16 bytes at `offset` as an upper-case GUID string (first three fields little endian). */
export function readGuid(buf: Buffer, offset: number): string {
  const h = buf.toString('hex', offset, offset + 16).toUpperCase();
  const swap = (from: number, to: number): string => {
    let out = '';
    for (let i = to - 2; i >= from; i -= 2) out += h.slice(i, i + 2);
    return out;
  };
  return `${swap(0, 8)}-${swap(8, 12)}-${swap(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Writes a GUID string as GPT stores it. */
export function writeGuid(buf: Buffer, offset: number, guid: string): void {
  if (!HEX.test(guid)) throw new RangeError(`not a GUID: ${guid}`);
  const h = guid.replace(/-/g, '');
  const bytes = Buffer.from(h, 'hex');
  const out = Buffer.concat([bytes.subarray(0, 4).reverse(), bytes.subarray(4, 6).reverse(), bytes.subarray(6, 8).reverse(), bytes.subarray(8, 16)]);
  out.copy(buf, offset);
}

export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

/** Names of the GPT partition types one meets most (sgdisk's wording). */
const GPT_TYPES: Record<string, string> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI system partition',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot partition',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux x86-64 root (/)',
  '44479540-F297-41B2-9AF7-D131D5F0458A': 'Linux x86 root (/)',
  'B921B045-1DF0-41C3-AF44-4C6F280D3FAE': 'Linux ARM64 root (/)',
  '933AC7E1-2EB4-4F13-B844-0E14E2AEF915': 'Linux /home',
  'BC13C2FF-59E6-4262-A352-B275FD6F7172': 'Linux extended boot',
  'CA7D7CCB-63ED-4C53-861C-1742536059CC': 'Linux LUKS',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC': 'Windows recovery environment',
  '48465300-0000-11AA-AA11-00306543ECAC': 'Apple HFS/HFS+',
  '7C3457EF-0000-11AA-AA11-00306543ECAC': 'Apple APFS',
  '516E7CB4-6ECF-11D6-8FF8-00022D09712B': 'FreeBSD disklabel',
  '6A898CC3-1DD2-11B2-99A6-080020736631': 'Solaris /usr & Mac ZFS',
};

/** Names of common MBR type bytes (fdisk's wording). */
const MBR_TYPES: Record<number, string> = {
  0x01: 'FAT12',
  0x04: 'FAT16 <32M',
  0x05: 'Extended',
  0x06: 'FAT16',
  0x07: 'HPFS/NTFS/exFAT',
  0x0b: 'W95 FAT32',
  0x0c: 'W95 FAT32 (LBA)',
  0x0e: 'W95 FAT16 (LBA)',
  0x0f: "W95 Ext'd (LBA)",
  0x27: 'Hidden NTFS WinRE',
  0x82: 'Linux swap / Solaris',
  0x83: 'Linux',
  0x85: 'Linux extended',
  0x8e: 'Linux LVM',
  0xa5: 'FreeBSD',
  0xee: 'GPT',
  0xef: 'EFI (FAT-12/16/32)',
  0xfd: 'Linux raid autodetect',
};

export function gptTypeName(guid: string): string {
  return GPT_TYPES[guid] ?? guid;
}

export function mbrTypeName(type: number): string {
  return MBR_TYPES[type] ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/** MBR types of an extended (container) partition. */
export function isExtendedType(type: number): boolean {
  return type === 0x05 || type === 0x0f || type === 0x85;
}
