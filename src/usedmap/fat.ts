// The clusters a FAT12/16/32 file system uses: its reserved area, FATs and root directory,
// and every cluster whose FAT entry is not free (FAT12's entries packed 12 bits each).
import { ExtentBuilder } from './bits.js';
import { labelText } from './ext.js';
import { readPieces, type ReadShape, defaultShape } from './read.js';
import { FsDirtyError, FsInconsistentError, fsName, type FsType, type MapOptions, type Reader, type UsedMap } from './types.js';

interface FatGeometry {
  type: 'fat12' | 'fat16' | 'fat32';
  bytesPerSector: number;
  clusterBytes: number;
  reservedSectors: number;
  fats: number;
  fatSectors: number;
  totalSectors: number;
  firstDataSector: number;
  clusters: number;
  /** The FAT the driver uses (FAT32 with mirroring off picks one); null: all mirrored. */
  activeFat: number | null;
  stateOffset: number;
  label?: string;
  uuid?: string;
}

const isPow2 = (v: number): boolean => v > 0 && (v & (v - 1)) === 0;

/** Whether sector 0 looks like a FAT boot sector (BIOS parameter block that makes sense). */
export function isFatBootSector(b: Buffer): boolean {
  if (b.length < 512 || b.readUInt16LE(510) !== 0xaa55) return false;
  if (b[0] !== 0xeb && b[0] !== 0xe9) return false;
  const oem = b.toString('latin1', 3, 11);
  if (oem === 'NTFS    ' || oem === 'EXFAT   ') return false;
  const bps = b.readUInt16LE(0x0b);
  const media = b[0x15]!;
  return [512, 1024, 2048, 4096].includes(bps) && isPow2(b[0x0d]!) && b.readUInt16LE(0x0e) >= 1 && b[0x10]! >= 1 && (media === 0xf0 || media >= 0xf8) && (b.readUInt16LE(0x13) !== 0 || b.readUInt32LE(0x20) !== 0);
}

function parseBootSector(b: Buffer, size: number, where: string | undefined): FatGeometry {
  const bps = b.readUInt16LE(0x0b);
  const spc = b[0x0d]!;
  const reserved = b.readUInt16LE(0x0e);
  const fats = b[0x10]!;
  const rootEntries = b.readUInt16LE(0x11);
  const fatSectors = b.readUInt16LE(0x16) || b.readUInt32LE(0x24);
  const totalSectors = b.readUInt16LE(0x13) || b.readUInt32LE(0x20);
  const rootSectors = Math.ceil((rootEntries * 32) / bps);
  const firstDataSector = reserved + fats * fatSectors + rootSectors;
  const bad = (what: string): FsInconsistentError => new FsInconsistentError(`${fsName('FAT', where)} has a damaged boot sector (${what})`, 'check it with fsck.fat', {});
  if (fats > 4) throw bad(`${fats} FATs`);
  if (fatSectors === 0) throw bad('FATs of 0 sectors');
  if (totalSectors * bps > size) {
    throw new FsInconsistentError(`${fsName('FAT', where)} says it has ${totalSectors} sectors of ${bps} bytes, more than the ${size} bytes that hold it`, 'check the partition table and the file system (fsck.fat)', { totalSectors, bps, size });
  }
  if (firstDataSector >= totalSectors) throw bad(`data area at sector ${firstDataSector} of ${totalSectors}`);
  const clusters = Math.floor((totalSectors - firstDataSector) / spc);
  const type = clusters < 4085 ? 'fat12' : clusters < 65525 ? 'fat16' : 'fat32';
  const bits = type === 'fat12' ? 12 : type === 'fat16' ? 16 : 32;
  if (Math.floor((fatSectors * bps * 8) / bits) < clusters + 2) throw bad(`FATs of ${fatSectors} sectors too small for ${clusters} clusters`);
  if (type === 'fat32' && (rootEntries !== 0 || b.readUInt16LE(0x16) !== 0)) throw bad('a FAT32 with a fixed root directory');
  let activeFat: number | null = null;
  if (type === 'fat32') {
    const flags = b.readUInt16LE(0x28);
    if (flags & 0x80) {
      activeFat = flags & 0x0f;
      if (activeFat >= fats) throw bad(`active FAT ${activeFat} of ${fats}`);
    }
  }
  const ext = type === 'fat32' ? 0x40 : 0x24;
  let label: string | undefined;
  let uuid: string | undefined;
  if (b[ext + 2] === 0x29) {
    const serial = b.readUInt32LE(ext + 3).toString(16).toUpperCase().padStart(8, '0');
    uuid = `${serial.slice(0, 4)}-${serial.slice(4)}`;
    const l = labelText(b.subarray(ext + 7, ext + 18)).trimEnd();
    if (l !== '' && l !== 'NO NAME') label = l;
  }
  return { type, bytesPerSector: bps, clusterBytes: spc * bps, reservedSectors: reserved, fats, fatSectors, totalSectors, firstDataSector, clusters, activeFat, stateOffset: ext + 1, label, uuid };
}

/** FAT entries read per piece: bounded memory whatever the size. */
const CHUNK_ENTRIES = 1 << 22;

export async function fatUsedMap(reader: Reader, size: number, boot: Buffer, opts: MapOptions = {}, shape: ReadShape = defaultShape): Promise<UsedMap> {
  const g = parseBootSector(boot, size, opts.where);
  const name = fsName(g.type.toUpperCase(), opts.where);
  const fsType: FsType = g.type;
  if (g.type !== 'fat12' && boot[g.stateOffset]! & 0x01) {
    throw new FsDirtyError(`${name} is marked dirty (mounted, or not cleanly unmounted)`, 'unmount it and run fsck.fat -a', { fsType });
  }
  const bps = g.bytesPerSector;
  const entries = g.clusters + 2;
  const fatStart = (i: number): number => (g.reservedSectors + i * g.fatSectors) * bps;
  const primary = g.activeFat ?? 0;
  const mirror = g.activeFat === null && g.fats > 1 ? 1 : null;

  const out = new ExtentBuilder();
  out.add(0, g.firstDataSector * bps);
  let runStart = -1;
  const dataStart = g.firstDataSector * bps;
  const flush = (end: number): void => {
    if (runStart >= 0) out.add(dataStart + (runStart - 2) * g.clusterBytes, (end - runStart) * g.clusterBytes);
    runStart = -1;
  };
  // FAT12 entries straddle byte boundaries: read the whole (small) FAT as one chunk.
  const chunk = g.type === 'fat12' ? entries : CHUNK_ENTRIES;
  const entryBytes = (n: number): number => (g.type === 'fat12' ? Math.ceil((n * 3) / 2) : g.type === 'fat16' ? n * 2 : n * 4);
  for (let first = 0; first < entries; first += chunk) {
    const n = Math.min(chunk, entries - first);
    const at = entryBytes(first);
    const len = entryBytes(first + n) - at;
    const copies: Buffer[] = [];
    const wanted = mirror === null ? [primary] : [primary, mirror];
    await readPieces(reader, size, wanted.map((f) => ({ offset: fatStart(f) + at, length: len })), (i, bytes) => (copies[i] = bytes), shape);
    const fat = copies[0]!;
    if (copies[1] && !fat.equals(copies[1])) {
      throw new FsInconsistentError(`${name} is inconsistent: its two FATs differ`, 'repair it with fsck.fat -a', { fsType, entry: first });
    }
    for (let k = 0; k < n; k++) {
      const c = first + k;
      let v: number;
      if (g.type === 'fat12') {
        const o = (c * 3) >> 1;
        const w = fat[o]! | (fat[o + 1]! << 8);
        v = c & 1 ? w >> 4 : w & 0xfff;
      } else if (g.type === 'fat16') v = fat.readUInt16LE(k * 2);
      else v = fat.readUInt32LE(k * 4) & 0x0fffffff;
      if (c === 1 && g.type !== 'fat12') {
        const cleanBit = g.type === 'fat16' ? 0x8000 : 0x08000000;
        const errorBit = g.type === 'fat16' ? 0x4000 : 0x04000000;
        if (!(v & cleanBit)) throw new FsDirtyError(`${name} is marked dirty in its FAT (not cleanly unmounted)`, 'run fsck.fat -a on it', { fsType });
        if (!(v & errorBit)) throw new FsDirtyError(`${name} is marked as having had disk errors`, 'check it with fsck.fat -a', { fsType });
      }
      if (c < 2) continue;
      if (v !== 0) {
        if (runStart < 0) runStart = c;
      } else flush(c);
    }
  }
  flush(entries);
  const clustersEnd = dataStart + g.clusters * g.clusterBytes;
  if (size > clustersEnd) out.add(clustersEnd, size - clustersEnd);
  return {
    fsType,
    blockSize: g.clusterBytes,
    size,
    fsSize: g.totalSectors * bps,
    usedBytes: out.usedBytes,
    extentCount: out.count,
    flat: out.flat(),
    label: g.label,
    uuid: g.uuid,
  };
}
