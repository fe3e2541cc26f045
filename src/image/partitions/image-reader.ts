// Reads the partition table inside a backup image (raw, split raw, ZIP, zstd) without restoring
// it: a raw image is read where the bytes are, a zstd image frame by frame through its seek
// table, a ZIP entry inflated up to its first MiBs only.
import { closeSync, openSync } from 'node:fs';
import { openError } from '../../errors.js';
import type { ResolvedImage } from '../open.js';
import { zipFiles } from '../open.js';
import { fdReader } from '../../partition/io.js';
import type { PartitionTable, Reader } from '../../partition/model.js';
import { probeGptSectorSize, readPartitionTable } from '../../partition/read.js';

/** Bytes of a compressed image inflated to read its table: the MBR, the primary GPT and its largest array (4 MiB). */
export const ZIP_HEAD = 8 << 20;

export interface ImageTableReader {
  reader: Reader;
  /** false when only the head is readable (a ZIP): the backup GPT at the end reads as zeros */
  whole: boolean;
  /** reads any bytes, past the head too (a ZIP: inflated again up to them) */
  far: Reader;
  close(): void;
}

/** A reader over the image's bytes (offsets of the image, across the parts of a split set). */
export async function openImageReader(image: ResolvedImage): Promise<ImageTableReader> {
  if (image.format === 'zstd') {
    // a seekable zstd image: each read decompresses only the frames it falls in (seek table)
    const { ZstdImageReader } = await import('../zstd/reader.js');
    const z = await ZstdImageReader.open(zipFiles(image));
    image.size = z.info.size;
    const reader: Reader = async (offset, length) => {
      const out = Buffer.alloc(Math.max(0, Math.min(offset + length, image.size) - offset));
      for (let got = 0; got < out.length; ) {
        const n = await z.readAt(out.subarray(got), offset + got);
        if (n <= 0) break;
        got += n;
      }
      return out;
    };
    return { reader, whole: true, far: reader, close: () => void z.close() };
  }
  if (image.format === 'zip') {
    const { ZipImageReader } = await import('../zip/reader.js');
    const zip = await ZipImageReader.open(zipFiles(image));
    // without a manifest the size is known once the archive is open (as restore does)
    image.size = zip.info.size;
    const chunks: Uint8Array[] = [];
    let got = 0;
    try {
      for await (const c of zip.chunks()) {
        chunks.push(c);
        got += c.length;
        if (got >= ZIP_HEAD) break;
      }
    } finally {
      await zip.close();
    }
    const head = Buffer.concat(chunks);
    const reader: Reader = async (offset, length) => {
      const end = Math.min(offset + length, image.size);
      if (end <= offset) return Buffer.alloc(0);
      const out = Buffer.alloc(end - offset);
      if (offset < head.length) head.copy(out, 0, offset, Math.min(end, head.length));
      return out;
    };
    const far: Reader = async (offset, length) => {
      if (offset + length <= head.length) return reader(offset, length);
      const again = await ZipImageReader.open(zipFiles(image));
      const end = Math.min(offset + length, image.size);
      const out = Buffer.alloc(Math.max(0, end - offset));
      let pos = 0;
      try {
        for await (const c of again.chunks()) {
          const from = Math.max(offset, pos);
          const to = Math.min(end, pos + c.length);
          if (from < to) Buffer.from(c.buffer, c.byteOffset, c.length).copy(out, from - offset, from - pos, to - pos);
          pos += c.length;
          if (pos >= end) break;
        }
      } finally {
        await again.close();
      }
      return out;
    };
    return { reader, whole: head.length >= image.size, far, close: () => undefined };
  }
  const fds: number[] = [];
  try {
    for (const p of image.parts) fds.push(openSync(p.path, 'r'));
  } catch (e) {
    for (const fd of fds) closeSync(fd);
    throw openError(e, 'source', image.parts[fds.length]?.path ?? image.name);
  }
  const readers = fds.map(fdReader);
  const reader: Reader = async (offset, length) => {
    const bufs: Buffer[] = [];
    for (const [i, part] of image.parts.entries()) {
      const from = Math.max(offset, part.start);
      const to = Math.min(offset + length, part.start + part.size);
      if (to <= from) continue;
      bufs.push(await readers[i](from - part.start, to - from));
    }
    return Buffer.concat(bufs);
  };
  return { reader, whole: true, far: reader, close: () => fds.forEach((fd) => closeSync(fd)) };
}

/** The table inside an image, at the sector size its GPT shows, else the manifest's source drive's, else 512. */
export async function readImageTable(image: ResolvedImage, reader: Reader): Promise<PartitionTable> {
  const sectorSize = (await probeGptSectorSize(reader, image.size)) ?? image.manifest?.source.logicalSectorSize ?? 512;
  return readPartitionTable(reader, { sectorSize, diskSize: image.size });
}

/**
 * A reader over `ranges` of a ZIP image gathered in one inflate pass (plus what `base` reads):
 * for `image info`, which wants every partition's superblock and the backup GPT at the end.
 */
export async function gatherZip(image: ResolvedImage, ranges: readonly { offset: number; length: number }[], base: Reader): Promise<Reader> {
  const { ZipImageReader } = await import('../zip/reader.js');
  const want = ranges.map((r) => ({ offset: r.offset, end: Math.min(r.offset + r.length, image.size) })).filter((r) => r.end > r.offset);
  const got = want.map((r) => ({ ...r, bytes: Buffer.alloc(r.end - r.offset) }));
  const last = Math.max(0, ...want.map((r) => r.end));
  const zip = await ZipImageReader.open(zipFiles(image));
  let pos = 0;
  try {
    for await (const c of zip.chunks()) {
      const end = pos + c.length;
      for (const g of got) {
        const a = Math.max(g.offset, pos);
        const b = Math.min(g.end, end);
        if (a < b) Buffer.from(c.buffer, c.byteOffset, c.length).copy(g.bytes, a - g.offset, a - pos, b - pos);
      }
      pos = end;
      if (pos >= last) break;
    }
  } finally {
    await zip.close();
  }
  return async (offset, length) => {
    const out = await base(offset, length);
    for (const g of got) {
      const a = Math.max(g.offset, offset);
      const b = Math.min(g.end, offset + out.length);
      if (a < b) g.bytes.copy(out, a - offset, a - g.offset, b - g.offset);
    }
    return out;
  };
}
