// The clusters an NTFS volume uses: its $Bitmap (MFT record 6), found through the $MFT's
// run list, with each MFT record's update sequence (fixups) applied; a dirty volume is refused.
import { ExtentBuilder, setRuns } from './bits.js';
import { readPieces, type Piece, type ReadShape, defaultShape } from './read.js';
import { FsDirtyError, FsInconsistentError, fsName, wholeMap, type MapOptions, type Reader, type UsedMap } from './types.js';

const ATTR_VOLUME_NAME = 0x60;
const ATTR_VOLUME_INFORMATION = 0x70;
const ATTR_DATA = 0x80;
const ATTR_END = 0xffffffff;
const VOLUME_IS_DIRTY = 0x0001;
/** Update sequence stride: NTFS protects every 512 bytes of a record, whatever the sector size. */
const USA_STRIDE = 512;

/** Whether sector 0 looks like an NTFS boot sector. */
export function isNtfsBootSector(b: Buffer): boolean {
  return b.length >= 512 && b.toString('latin1', 3, 11) === 'NTFS    ' && b.readUInt16LE(510) === 0xaa55;
}

interface NtfsGeometry {
  bps: number;
  clusterBytes: number;
  totalSectors: number;
  clusters: number;
  mftLcn: number;
  mirrorLcn: number;
  recordSize: number;
  serial: string;
}

/** A run of a non-resident attribute: `length` clusters from VCN `vcn` at LCN `lcn` (null: sparse). */
interface Run {
  vcn: number;
  length: number;
  lcn: number | null;
}

class Ntfs {
  readonly name: string;
  constructor(
    readonly reader: Reader,
    readonly size: number,
    readonly g: NtfsGeometry,
    readonly shape: ReadShape,
    where: string | undefined,
  ) {
    this.name = fsName('NTFS', where);
  }

  corrupt(what: string, details: Record<string, unknown> = {}): FsInconsistentError {
    return new FsInconsistentError(`${this.name} is damaged (${what})`, 'check it with chkdsk /f (or ntfsfix)', details);
  }

  /** Disk pieces holding bytes [from, from + length) of an attribute with these runs. */
  pieces(runs: Run[], from: number, length: number): Piece[] {
    const cb = this.g.clusterBytes;
    const out: Piece[] = [];
    let pos = from;
    const end = from + length;
    for (const r of runs) {
      const rStart = r.vcn * cb;
      const rEnd = (r.vcn + r.length) * cb;
      if (rEnd <= pos || rStart >= end) continue;
      if (rStart > pos) break;
      if (r.lcn === null) throw this.corrupt('a sparse run in a system file');
      const take = Math.min(end, rEnd) - pos;
      out.push({ offset: r.lcn * cb + (pos - rStart), length: take });
      pos += take;
      if (pos >= end) break;
    }
    if (pos < end) throw this.corrupt(`a system file's runs end at byte ${pos} of ${end}`);
    return out;
  }

  async readAttribute(runs: Run[], from: number, length: number): Promise<Buffer> {
    const pieces = this.pieces(runs, from, length);
    const out = Buffer.alloc(length);
    const at: number[] = [];
    let o = 0;
    for (const p of pieces) {
      at.push(o);
      o += p.length;
    }
    await readPieces(this.reader, this.size, pieces, (i, bytes) => bytes.copy(out, at[i]!), this.shape);
    return out;
  }

  /** The bytes of MFT record `n`, fixups applied and checked. */
  async record(mftRuns: Run[], n: number): Promise<Buffer> {
    const rec = await this.readAttribute(mftRuns, n * this.g.recordSize, this.g.recordSize);
    if (rec.toString('latin1', 0, 4) !== 'FILE') throw this.corrupt(`MFT record ${n} has no FILE signature`);
    const usaOfs = rec.readUInt16LE(4);
    const usaCount = rec.readUInt16LE(6);
    if (usaCount !== this.g.recordSize / USA_STRIDE + 1 || usaOfs + 2 * usaCount > this.g.recordSize) throw this.corrupt(`MFT record ${n} has a bad update sequence`);
    const usn = rec.readUInt16LE(usaOfs);
    for (let i = 1; i < usaCount; i++) {
      const pos = i * USA_STRIDE - 2;
      if (rec.readUInt16LE(pos) !== usn) throw this.corrupt(`MFT record ${n} was torn (update sequence mismatch in block ${i})`);
      rec.writeUInt16LE(rec.readUInt16LE(usaOfs + 2 * i), pos);
    }
    if (!(rec.readUInt16LE(0x16) & 1)) throw this.corrupt(`MFT record ${n} is not in use`);
    return rec;
  }

  /** The unnamed attribute of `type` in a record, or undefined. */
  attribute(rec: Buffer, type: number, n: number): Buffer | undefined {
    const inUse = Math.min(rec.readUInt32LE(0x18), rec.length);
    let off = rec.readUInt16LE(0x14);
    while (off + 8 <= inUse) {
      const t = rec.readUInt32LE(off);
      if (t === ATTR_END) return undefined;
      const len = rec.readUInt32LE(off + 4);
      if (len < 24 || off + len > inUse || len % 8 !== 0) throw this.corrupt(`MFT record ${n} has a malformed attribute at ${off}`);
      if (t === type && rec[off + 9] === 0) return rec.subarray(off, off + len);
      if (t > type) return undefined;
      off += len;
    }
    return undefined;
  }

  resident(attr: Buffer, n: number): Buffer {
    if (attr[8] !== 0) throw this.corrupt(`MFT record ${n}: a non-resident volume attribute`);
    const len = attr.readUInt32LE(0x10);
    const off = attr.readUInt16LE(0x14);
    if (off + len > attr.length) throw this.corrupt(`MFT record ${n}: an attribute value outside it`);
    return attr.subarray(off, off + len);
  }

  /** A non-resident attribute's runs and data size. */
  runs(attr: Buffer, n: number): { runs: Run[]; dataSize: number } {
    if (attr[8] !== 1 || attr.length < 0x40) throw this.corrupt(`MFT record ${n}: a resident $DATA where a run list is expected`);
    const dataSize = safe(attr.readBigUInt64LE(0x30));
    let vcn = safe(attr.readBigUInt64LE(0x10));
    let p = attr.readUInt16LE(0x20);
    let lcn = 0;
    const runs: Run[] = [];
    while (p < attr.length && attr[p] !== 0) {
      const h = attr[p]!;
      const lenSize = h & 0x0f;
      const offSize = h >> 4;
      if (lenSize === 0 || lenSize > 8 || offSize > 8 || p + 1 + lenSize + offSize > attr.length) throw this.corrupt(`MFT record ${n}: a malformed run list`);
      const length = safe(readLe(attr, p + 1, lenSize, false));
      if (offSize > 0) {
        lcn += safe(readLe(attr, p + 1 + lenSize, offSize, true), true);
        if (lcn < 0 || lcn + length > this.g.clusters) throw this.corrupt(`MFT record ${n}: a run outside the volume (cluster ${lcn})`);
        runs.push({ vcn, length, lcn });
      } else runs.push({ vcn, length, lcn: null });
      vcn += length;
      p += 1 + lenSize + offSize;
      if (runs.length > 1 << 20) throw this.corrupt(`MFT record ${n}: a run list without end`);
    }
    return { runs, dataSize };
  }
}

function readLe(b: Buffer, at: number, n: number, signed: boolean): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]!);
  if (signed && n > 0 && b[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
  return v;
}

/** A bigint from disk as a number; one out of the safe range (corruption) becomes MAX_SAFE_INTEGER, which every range check then refuses. */
function safe(v: bigint, signed = false): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || (!signed && v < 0n) || v < -BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  return Number(v);
}

function parseBootSector(b: Buffer, size: number, where: string | undefined): NtfsGeometry {
  const bad = (what: string): FsInconsistentError => new FsInconsistentError(`${fsName('NTFS', where)} has a damaged boot sector (${what})`, 'check it with chkdsk /f (or ntfsfix)', {});
  const bps = b.readUInt16LE(0x0b);
  if (![512, 1024, 2048, 4096].includes(bps)) throw bad(`${bps} bytes per sector`);
  const spcRaw = b[0x0d]!;
  const spc = spcRaw <= 0x80 ? spcRaw : 2 ** (256 - spcRaw);
  if (spc === 0 || (spc & (spc - 1)) !== 0 || spc * bps > 2 << 20) throw bad(`cluster of ${spcRaw} sectors`);
  const clusterBytes = spc * bps;
  const totalSectors = safe(b.readBigUInt64LE(0x28));
  const clusters = Math.floor(totalSectors / spc);
  if (totalSectors * bps > size) {
    throw new FsInconsistentError(`${fsName('NTFS', where)} says it has ${totalSectors} sectors of ${bps} bytes, more than the ${size} bytes that hold it`, 'check the partition table and the file system', { totalSectors, bps, size });
  }
  const mftLcn = safe(b.readBigUInt64LE(0x30));
  if (mftLcn >= clusters) throw bad(`MFT at cluster ${mftLcn} of ${clusters}`);
  const mirrorLcn = safe(b.readBigUInt64LE(0x38));
  if (mirrorLcn >= clusters) throw bad(`MFT mirror at cluster ${mirrorLcn} of ${clusters}`);
  const cpr = b.readInt8(0x40);
  const recordSize = cpr > 0 ? cpr * clusterBytes : 2 ** -cpr;
  if (recordSize < 512 || recordSize > 65536 || (recordSize & (recordSize - 1)) !== 0) throw bad(`MFT records of ${recordSize} bytes`);
  const serial = b.readBigUInt64LE(0x48).toString(16).toUpperCase().padStart(16, '0');
  return { bps, clusterBytes, totalSectors, clusters, mftLcn, mirrorLcn, recordSize, serial };
}

/** Bitmap bytes read at a time: bounded memory whatever the size. */
const BITMAP_CHUNK = 16 << 20;

export async function ntfsUsedMap(reader: Reader, size: number, boot: Buffer, opts: MapOptions = {}, shape: ReadShape = defaultShape): Promise<UsedMap> {
  const g = parseBootSector(boot, size, opts.where);
  const fs = new Ntfs(reader, size, g, shape, opts.where);
  // Record 0 ($MFT) is found at the boot sector's MFT cluster; its $DATA maps every other record.
  const first = await fs.record([{ vcn: 0, length: Math.ceil(g.recordSize / g.clusterBytes), lcn: g.mftLcn }], 0);
  const mftData = fs.attribute(first, ATTR_DATA, 0);
  if (!mftData) throw fs.corrupt('the $MFT has no $DATA attribute');
  const mft = fs.runs(mftData, 0);

  const volume = await fs.record(mft.runs, 3);
  // $MFTMirr keeps records 0-3 twice; ntfs-3g refuses a volume where they differ, and so do we.
  const mirrorRuns = [{ vcn: 0, length: Math.ceil((4 * g.recordSize) / g.clusterBytes), lcn: g.mirrorLcn }];
  for (const n of [0, 3]) {
    const own = n === 0 ? first : volume;
    const copy = await fs.record(mirrorRuns, n);
    const used = Math.min(own.readUInt32LE(0x18), own.length);
    if (!own.subarray(0, used).equals(copy.subarray(0, used))) throw fs.corrupt(`$MFTMirr does not match $MFT (record ${n})`);
  }
  const info = fs.attribute(volume, ATTR_VOLUME_INFORMATION, 3);
  if (!info) throw fs.corrupt('$Volume has no volume information');
  const infoValue = fs.resident(info, 3);
  if (infoValue.length < 12) throw fs.corrupt('$Volume information is too short');
  const flags = infoValue.readUInt16LE(10);
  if (flags & VOLUME_IS_DIRTY) {
    throw new FsDirtyError(`${fs.name} is marked dirty (not cleanly shut down, or scheduled for a check)`, 'check it with chkdsk /f in Windows (or ntfsfix -d)', { fsType: 'ntfs', flags });
  }
  const nameAttr = fs.attribute(volume, ATTR_VOLUME_NAME, 3);
  const label = nameAttr ? fs.resident(nameAttr, 3).toString('utf16le') : undefined;

  const bitmapRecord = await fs.record(mft.runs, 6);
  const bitmapData = fs.attribute(bitmapRecord, ATTR_DATA, 6);
  if (!bitmapData) {
    // $DATA moved to an extension record through an $ATTRIBUTE_LIST: rare (a huge, fragmented volume).
    return wholeMap(size, 'NTFS $Bitmap described by an attribute list: mapped whole', 'ntfs');
  }
  const bitmap = fs.runs(bitmapData, 6);
  const bitmapBytes = Math.ceil(g.clusters / 8);
  if (bitmap.dataSize < bitmapBytes) throw fs.corrupt(`$Bitmap of ${bitmap.dataSize} bytes for ${g.clusters} clusters`);

  const out = new ExtentBuilder();
  const cb = g.clusterBytes;
  for (let at = 0; at < bitmapBytes; at += BITMAP_CHUNK) {
    const len = Math.min(BITMAP_CHUNK, bitmapBytes - at);
    const bits = await fs.readAttribute(bitmap.runs, at, len);
    const firstCluster = at * 8;
    setRuns(bits, 0, Math.min(len * 8, g.clusters - firstCluster), (c, n) => out.add((firstCluster + c) * cb, n * cb));
  }
  const clustersEnd = g.clusters * cb;
  // Past the last cluster: the rest of the last sectors and the backup boot sector.
  if (size > clustersEnd) out.add(clustersEnd, size - clustersEnd);
  return {
    fsType: 'ntfs',
    blockSize: cb,
    size,
    fsSize: Math.min(size, (g.totalSectors + 1) * g.bps),
    usedBytes: out.usedBytes,
    extentCount: out.count,
    flat: out.flat(),
    label: label || undefined,
    uuid: g.serial,
  };
}
