// The ZIP records of a one-entry archive, as PKWARE's APPNOTE 6.3 lays them out. Enough of
// the format for what we write and check; not a general ZIP library.
//
// Layout we write (streaming: sizes and CRC are only known at the end, and the sink may be
// a byte split or a pipe, so nothing is patched in place):
//   local file header (bit 3 set: CRC and sizes follow the data; ZIP64 extra with zeros)
//   file data (deflate or stored)
//   data descriptor (signature, CRC, 8-byte sizes when ZIP64)
//   central directory header (real CRC and sizes; ZIP64 extra when ZIP64)
//   [ZIP64 end of central directory record + locator]
//   end of central directory record

export const SIG_LOCAL = 0x04034b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_DESCRIPTOR = 0x08074b50;
export const SIG_EOCD = 0x06054b50;
export const SIG_ZIP64_EOCD = 0x06064b50;
export const SIG_ZIP64_LOCATOR = 0x07064b50;

export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;

/** general purpose flag bit 3: CRC and sizes are in the data descriptor */
export const FLAG_DESCRIPTOR = 1 << 3;
/** general purpose flag bit 11: the name is UTF-8 */
export const FLAG_UTF8 = 1 << 11;

/** version needed: 2.0 (deflate), 4.5 (ZIP64) */
const VERSION_DEFLATE = 20;
const VERSION_ZIP64 = 45;
/** version made by: high byte 3 = Unix (so external attributes carry a mode), spec 6.3 */
const VERSION_MADE_BY = (3 << 8) | 63;

const EXTRA_ZIP64 = 0x0001;
const EXTRA_UT = 0x5455;

const MAX32 = 0xffffffff;

export interface EntryInfo {
  name: Uint8Array;
  method: number;
  mtime: Date;
  zip64: boolean;
  crc32: number;
  size: number;
  compressedSize: number;
  /** offset of the local header in the archive */
  localHeaderOffset: number;
}

/** DOS date and time (local time, 2-second resolution), clamped to 1980..2107. */
export function dosDateTime(d: Date): { date: number; time: number } {
  const year = d.getFullYear();
  if (year < 1980) return { date: (0 << 9) | (1 << 5) | 1, time: 0 };
  if (year > 2107) return { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29 };
  return {
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
  };
}

/** Info-ZIP's "UT" extra field with the exact mtime (UTC seconds), which unzip and 7-Zip prefer to DOS time. */
function utExtra(mtime: Date): Buffer {
  const b = Buffer.alloc(9);
  b.writeUInt16LE(EXTRA_UT, 0);
  b.writeUInt16LE(5, 2);
  b.writeUInt8(1, 4); // flags: mtime present
  const t = Math.max(-0x80000000, Math.min(0x7fffffff, Math.floor(mtime.getTime() / 1000)));
  b.writeInt32LE(t, 5);
  return b;
}

function flags(name: Uint8Array): number {
  const ascii = name.every((c) => c < 0x80);
  return FLAG_DESCRIPTOR | (ascii ? 0 : FLAG_UTF8);
}

/** The local file header, written before the data; CRC and sizes are zero (bit 3). */
export function localHeader(e: Pick<EntryInfo, 'name' | 'method' | 'mtime' | 'zip64'>): Buffer {
  const { date, time } = dosDateTime(e.mtime);
  // The ZIP64 extra in the local header announces 8-byte sizes in the data descriptor
  // (APPNOTE 4.3.9.2); its sizes are zero here since they are not known yet.
  const zip64 = e.zip64 ? Buffer.alloc(20) : Buffer.alloc(0);
  if (e.zip64) {
    zip64.writeUInt16LE(EXTRA_ZIP64, 0);
    zip64.writeUInt16LE(16, 2);
  }
  const ut = utExtra(e.mtime);
  const h = Buffer.alloc(30);
  h.writeUInt32LE(SIG_LOCAL, 0);
  h.writeUInt16LE(e.zip64 ? VERSION_ZIP64 : VERSION_DEFLATE, 4);
  h.writeUInt16LE(flags(e.name), 6);
  h.writeUInt16LE(e.method, 8);
  h.writeUInt16LE(time, 10);
  h.writeUInt16LE(date, 12);
  h.writeUInt32LE(0, 14); // crc: in the descriptor
  h.writeUInt32LE(e.zip64 ? MAX32 : 0, 18); // sizes: in the descriptor (MAX32: see the ZIP64 extra)
  h.writeUInt32LE(e.zip64 ? MAX32 : 0, 22);
  h.writeUInt16LE(e.name.length, 26);
  h.writeUInt16LE(zip64.length + ut.length, 28);
  return Buffer.concat([h, e.name, zip64, ut]);
}

/** The data descriptor after the data: signature, CRC, sizes (8 bytes each with ZIP64). */
export function dataDescriptor(e: Pick<EntryInfo, 'zip64' | 'crc32' | 'size' | 'compressedSize'>): Buffer {
  const b = Buffer.alloc(e.zip64 ? 24 : 16);
  b.writeUInt32LE(SIG_DESCRIPTOR, 0);
  b.writeUInt32LE(e.crc32 >>> 0, 4);
  if (e.zip64) {
    b.writeBigUInt64LE(BigInt(e.compressedSize), 8);
    b.writeBigUInt64LE(BigInt(e.size), 16);
  } else {
    b.writeUInt32LE(e.compressedSize, 8);
    b.writeUInt32LE(e.size, 12);
  }
  return b;
}

/** The central directory header of the entry, with the real CRC and sizes. */
export function centralHeader(e: EntryInfo): Buffer {
  const { date, time } = dosDateTime(e.mtime);
  // With ZIP64, all three 32-bit fields are MAX32 and all three values are in the extra,
  // in the order the APPNOTE fixes: size, compressed size, local header offset.
  let zip64 = Buffer.alloc(0);
  if (e.zip64) {
    zip64 = Buffer.alloc(28);
    zip64.writeUInt16LE(EXTRA_ZIP64, 0);
    zip64.writeUInt16LE(24, 2);
    zip64.writeBigUInt64LE(BigInt(e.size), 4);
    zip64.writeBigUInt64LE(BigInt(e.compressedSize), 12);
    zip64.writeBigUInt64LE(BigInt(e.localHeaderOffset), 20);
  }
  const ut = utExtra(e.mtime);
  const h = Buffer.alloc(46);
  h.writeUInt32LE(SIG_CENTRAL, 0);
  h.writeUInt16LE(VERSION_MADE_BY, 4);
  h.writeUInt16LE(e.zip64 ? VERSION_ZIP64 : VERSION_DEFLATE, 6);
  h.writeUInt16LE(flags(e.name), 8);
  h.writeUInt16LE(e.method, 10);
  h.writeUInt16LE(time, 12);
  h.writeUInt16LE(date, 14);
  h.writeUInt32LE(e.crc32 >>> 0, 16);
  h.writeUInt32LE(e.zip64 ? MAX32 : e.compressedSize, 20);
  h.writeUInt32LE(e.zip64 ? MAX32 : e.size, 24);
  h.writeUInt16LE(e.name.length, 28);
  h.writeUInt16LE(zip64.length + ut.length, 30);
  h.writeUInt16LE(0, 32); // comment length
  h.writeUInt16LE(0, 34); // disk number start
  h.writeUInt16LE(0, 36); // internal attributes
  h.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external: a regular file, rw-r--r--
  h.writeUInt32LE(e.zip64 ? MAX32 : e.localHeaderOffset, 42);
  return Buffer.concat([h, e.name, zip64, ut]);
}

/**
 * The end records: with zip64, the ZIP64 end of central directory record and its locator,
 * then the classic record (with MAX32/0xFFFF where the ZIP64 record holds the values).
 */
export function endRecords(opts: { zip64: boolean; cdOffset: number; cdSize: number; entries: number; comment?: Uint8Array }): Buffer {
  const comment = opts.comment ?? new Uint8Array(0);
  const parts: Buffer[] = [];
  if (opts.zip64) {
    const r = Buffer.alloc(56);
    r.writeUInt32LE(SIG_ZIP64_EOCD, 0);
    r.writeBigUInt64LE(44n, 4); // size of the rest of this record
    r.writeUInt16LE(VERSION_MADE_BY, 12);
    r.writeUInt16LE(VERSION_ZIP64, 14);
    r.writeUInt32LE(0, 16); // this disk
    r.writeUInt32LE(0, 20); // disk with the central directory
    r.writeBigUInt64LE(BigInt(opts.entries), 24);
    r.writeBigUInt64LE(BigInt(opts.entries), 32);
    r.writeBigUInt64LE(BigInt(opts.cdSize), 40);
    r.writeBigUInt64LE(BigInt(opts.cdOffset), 48);
    const l = Buffer.alloc(20);
    l.writeUInt32LE(SIG_ZIP64_LOCATOR, 0);
    l.writeUInt32LE(0, 4); // disk with the ZIP64 EOCD
    l.writeBigUInt64LE(BigInt(opts.cdOffset + opts.cdSize), 8); // it follows the central directory
    l.writeUInt32LE(1, 16); // total disks
    parts.push(r, l);
  }
  const e = Buffer.alloc(22);
  e.writeUInt32LE(SIG_EOCD, 0);
  e.writeUInt16LE(0, 4);
  e.writeUInt16LE(0, 6);
  // the entry count fits; the offsets say 'see the ZIP64 record'
  e.writeUInt16LE(opts.entries, 8);
  e.writeUInt16LE(opts.entries, 10);
  e.writeUInt32LE(opts.zip64 ? MAX32 : opts.cdSize, 12);
  e.writeUInt32LE(opts.zip64 ? MAX32 : opts.cdOffset, 16);
  e.writeUInt16LE(comment.length, 20);
  parts.push(e, Buffer.from(comment));
  return Buffer.concat(parts);
}
