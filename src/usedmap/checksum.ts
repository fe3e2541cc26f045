// The checksums ext4 keeps over its superblock and group descriptors: crc32c (no final xor) and crc16.

const CRC32C = new Uint32Array(256);
const CRC16 = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  let d = i;
  for (let k = 0; k < 8; k++) {
    c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    d = d & 1 ? (d >>> 1) ^ 0xa001 : d >>> 1;
  }
  CRC32C[i] = c >>> 0;
  CRC16[i] = d;
}

/** e2fsprogs' ext2fs_crc32c_le: the Castagnoli CRC from `seed`, without pre- or post-inversion. */
export function crc32cLe(seed: number, bytes: Uint8Array): number {
  let c = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC32C[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** e2fsprogs' ext2fs_crc16 (reflected 0x8005, as the kernel's crc16). */
export function crc16(seed: number, bytes: Uint8Array): number {
  let c = seed & 0xffff;
  for (let i = 0; i < bytes.length; i++) c = (c >>> 8) ^ CRC16[(c ^ bytes[i]!) & 0xff]!;
  return c & 0xffff;
}

/** A little-endian u32 as 4 bytes (a group number fed to a checksum). */
export function le32(v: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
