// The seekable zstd format (zstd's contrib/seekable_format/zstd_seekable_compression_format.md):
// independent zstd frames, then one skippable frame holding the seek table:
//   0x184D2A5E | Frame_Size | entries (Compressed_Size, Decompressed_Size, [Checksum]) | footer
//   footer = Number_Of_Frames (4) | Seek_Table_Descriptor (1; bit 7: checksums) | 0x8F92EAB1
// All numbers little-endian. `zstd -d` skips the skippable frame; our reader uses it to go
// straight to the frames a range needs. Pure: building and checking the table only.

export const SKIPPABLE_MAGIC = 0x184d2a5e;
export const SEEKABLE_MAGIC = 0x8f92eab1;
export const FOOTER_SIZE = 9;
/** the skippable frame's magic and size fields */
export const SKIPPABLE_HEADER = 8;
const CHECKSUM_FLAG = 0x80;
/** bits 6..2 of the descriptor: a decoder must see them 0 */
const RESERVED_BITS = 0x7c;
/** as zstd's own seekable reader: at most 2^27 frames, 1 GiB each */
export const MAX_FRAMES = 0x8000000;
export const MAX_FRAME_DECOMPRESSED = 0x40000000;

export interface FrameEntry {
  compressedSize: number;
  decompressedSize: number;
  /** low 32 bits of XXH64 of the frame's content, when the table has checksums */
  checksum?: number;
}

/** The seek-table frame for these frames (with checksums). */
export function seekTableFrame(frames: readonly FrameEntry[]): Uint8Array {
  const size = frames.length * 12 + FOOTER_SIZE;
  const b = Buffer.alloc(SKIPPABLE_HEADER + size);
  b.writeUInt32LE(SKIPPABLE_MAGIC, 0);
  b.writeUInt32LE(size, 4);
  let o = SKIPPABLE_HEADER;
  for (const f of frames) {
    b.writeUInt32LE(f.compressedSize, o);
    b.writeUInt32LE(f.decompressedSize, o + 4);
    b.writeUInt32LE((f.checksum ?? 0) >>> 0, o + 8);
    o += 12;
  }
  b.writeUInt32LE(frames.length, o);
  b.writeUInt8(CHECKSUM_FLAG, o + 4);
  b.writeUInt32LE(SEEKABLE_MAGIC, o + 5);
  return b;
}

/** A zstd frame's magic number (skippable frames have 0x184D2A50..5F). */
export const ZSTD_MAGIC = 0xfd2fb528;

/** The content checksum a zstd frame written with the checksum flag ends with (its last 4 bytes); undefined for others. */
export function frameChecksum(frame: Uint8Array): number | undefined {
  // frame header descriptor: byte 4 (after the 4-byte magic); bit 2 = Content_Checksum_flag
  if (frame.length < 9 || Buffer.from(frame.buffer, frame.byteOffset, 4).readUInt32LE(0) !== ZSTD_MAGIC || (frame[4]! & 0x04) === 0) return undefined;
  return Buffer.from(frame.buffer, frame.byteOffset + frame.length - 4, 4).readUInt32LE(0);
}

export interface SeekTable {
  frames: FrameEntry[];
  /** offset of frame i in the file (frames.length + 1 entries: the last is the table's start) */
  compressedStarts: number[];
  /** offset of frame i's content in the image (frames.length + 1 entries: the last is the size) */
  starts: number[];
  /** bytes of the seek-table frame */
  tableSize: number;
  checksums: boolean;
}

export class SeekTableError extends Error {}

/** The footer's frame count and the table frame's size, from the file's last 9 bytes. */
export function parseFooter(footer: Uint8Array, fileSize: number): { count: number; checksums: boolean; tableSize: number } {
  const b = Buffer.from(footer.buffer, footer.byteOffset, footer.length);
  if (b.length !== FOOTER_SIZE || b.readUInt32LE(5) !== SEEKABLE_MAGIC) throw new SeekTableError('it does not end with a seek table (no seekable zstd magic 0x8F92EAB1 at its end)');
  const count = b.readUInt32LE(0);
  const desc = b.readUInt8(4);
  if (desc & RESERVED_BITS) throw new SeekTableError(`the seek table's descriptor has reserved bits set (0x${desc.toString(16)})`);
  if (count > MAX_FRAMES) throw new SeekTableError(`the seek table claims ${count} frames, more than ${MAX_FRAMES}`);
  const checksums = (desc & CHECKSUM_FLAG) !== 0;
  const tableSize = SKIPPABLE_HEADER + count * (checksums ? 12 : 8) + FOOTER_SIZE;
  if (tableSize > fileSize) throw new SeekTableError(`the seek table of ${count} frames (${tableSize} bytes) is larger than the file (${fileSize} bytes)`);
  return { count, checksums, tableSize };
}

/**
 * Checks the whole table frame (`table`: the file's last tableSize bytes) against the file:
 * magic, size field, every entry's sizes, and that the frames fill the file exactly up to
 * the table. Throws SeekTableError saying what is wrong.
 */
export function parseSeekTable(table: Uint8Array, fileSize: number): SeekTable {
  const footer = parseFooter(table.subarray(table.length - FOOTER_SIZE), fileSize);
  if (table.length !== footer.tableSize) throw new SeekTableError('the seek table is not the size its footer says');
  const b = Buffer.from(table.buffer, table.byteOffset, table.length);
  if (b.readUInt32LE(0) !== SKIPPABLE_MAGIC) throw new SeekTableError(`the seek table's frame does not start with the skippable magic 0x184D2A5E (frame count ${footer.count} may be wrong)`);
  if (b.readUInt32LE(4) !== table.length - SKIPPABLE_HEADER) throw new SeekTableError(`the seek table's frame size field says ${b.readUInt32LE(4)}, its footer ${table.length - SKIPPABLE_HEADER}`);
  const entry = footer.checksums ? 12 : 8;
  const frames: FrameEntry[] = [];
  const compressedStarts = [0];
  const starts = [0];
  let c = 0;
  let d = 0;
  for (let i = 0; i < footer.count; i++) {
    const o = SKIPPABLE_HEADER + i * entry;
    const f: FrameEntry = { compressedSize: b.readUInt32LE(o), decompressedSize: b.readUInt32LE(o + 4), ...(footer.checksums ? { checksum: b.readUInt32LE(o + 8) } : {}) };
    // a skippable frame (which the format allows among the frames) is at least 8 bytes, a zstd frame more
    if (f.compressedSize < 8) throw new SeekTableError(`frame ${i + 1}'s compressed size ${f.compressedSize} is too small for a frame`);
    if (f.decompressedSize > MAX_FRAME_DECOMPRESSED) throw new SeekTableError(`frame ${i + 1} claims ${f.decompressedSize} bytes, more than a frame may hold (${MAX_FRAME_DECOMPRESSED})`);
    c += f.compressedSize;
    d += f.decompressedSize;
    if (c > fileSize - table.length) throw new SeekTableError(`frames 1..${i + 1} take ${c} bytes, more than the ${fileSize - table.length} before the seek table`);
    frames.push(f);
    compressedStarts.push(c);
    starts.push(d);
  }
  if (c !== fileSize - table.length) throw new SeekTableError(`the ${footer.count} frames take ${c} bytes but ${fileSize - table.length} lie before the seek table: bytes are missing, extra or out of order`);
  return { frames, compressedStarts, starts, tableSize: table.length, checksums: footer.checksums };
}

/** The frames [first, last] holding image bytes [offset, offset + length) (length > 0). */
export function framesFor(t: SeekTable, offset: number, length: number): { first: number; last: number } {
  const find = (pos: number): number => {
    // the last frame whose start is <= pos (and that holds bytes)
    let lo = 0;
    let hi = t.frames.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (t.starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  return { first: find(offset), last: find(offset + length - 1) };
}
