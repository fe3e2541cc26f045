// The blocks an ext2/3/4 file system uses: its group descriptors and block bitmaps, with
// BLOCK_UNINIT groups rebuilt as libext2fs does, checked against the free counts.
import { ExtentBuilder, setBits, setRuns } from './bits.js';
import { crc16, crc32cLe, le32 } from './checksum.js';
import { readPieces, type Piece, type ReadShape, defaultShape } from './read.js';
import { FsDirtyError, FsInconsistentError, fsName, wholeMap, type FsType, type MapOptions, type Reader, type UsedMap } from './types.js';

const SB_OFFSET = 1024;
const EXT_MAGIC = 0xef53;

// Feature bits (ext4 on-disk layout).
const COMPAT_HAS_JOURNAL = 0x4;
const COMPAT_SPARSE_SUPER2 = 0x200;
const RO_SPARSE_SUPER = 0x1;
const RO_HUGE_FILE = 0x8;
const RO_GDT_CSUM = 0x10;
const RO_DIR_NLINK = 0x20;
const RO_EXTRA_ISIZE = 0x40;
const RO_BIGALLOC = 0x200;
const RO_METADATA_CSUM = 0x400;
const IN_RECOVER = 0x4;
const IN_JOURNAL_DEV = 0x8;
const IN_META_BG = 0x10;
const IN_EXTENTS = 0x40;
const IN_64BIT = 0x80;
const IN_FLEX_BG = 0x200;
const IN_CSUM_SEED = 0x2000;
/** Every incompat feature e2fsprogs 1.47 knows; none of them changes what the block bitmaps mean. */
const IN_KNOWN = 0x1 | 0x2 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x1000 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000;

const STATE_VALID = 0x1;
const STATE_ERROR = 0x2;
const BG_BLOCK_UNINIT = 0x2;

/** Whether the 1024 bytes at offset 1024 look like an ext superblock (its magic). */
export function isExtSuperblock(sb: Buffer): boolean {
  return sb.length >= 1024 && sb.readUInt16LE(0x38) === EXT_MAGIC;
}

/** What the superblock says, each number checked against the others and the size. */
interface ExtGeometry {
  type: FsType;
  blockSize: number;
  blocksCount: number;
  firstDataBlock: number;
  blocksPerGroup: number;
  /** Blocks per bitmap bit (1 without bigalloc). */
  ratio: number;
  unitsPerGroup: number;
  groupCount: number;
  descSize: number;
  descBlocks: number;
  reservedGdt: number;
  metaBg: boolean;
  firstMetaBg: number;
  sparseSuper: boolean;
  sparseSuper2: boolean;
  backupBgs: [number, number];
  inodeTableBlocks: number;
  csum: 'none' | 'crc16' | 'crc32c';
  csumSeed: number;
  uuidBytes: Buffer;
  freeBlocks: number;
  label: string;
  uuid: string;
}

export function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A NUL-padded label field as text (UTF-8, as e2label writes it). */
export function labelText(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString('utf8');
}

function extType(compat: number, incompat: number, ro: number): FsType {
  if (incompat & (IN_EXTENTS | IN_64BIT | IN_FLEX_BG) || ro & (RO_HUGE_FILE | RO_GDT_CSUM | RO_DIR_NLINK | RO_EXTRA_ISIZE | RO_METADATA_CSUM | RO_BIGALLOC)) return 'ext4';
  return compat & COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
}

/**
 * Reads the superblock's geometry; refuses a dirty file system and one whose numbers do
 * not fit together. Returns a string (a note) for an ext superblock we do not map.
 */
function parseSuperblock(sb: Buffer, size: number, where: string | undefined): ExtGeometry | string {
  const compat = sb.readUInt32LE(0x5c);
  const incompat = sb.readUInt32LE(0x60);
  const ro = sb.readUInt32LE(0x64);
  const type = extType(compat, incompat, ro);
  const name = fsName(type, where);
  const bad = (what: string, details: Record<string, unknown> = {}): FsInconsistentError =>
    new FsInconsistentError(`${name} has a damaged superblock (${what})`, 'check it with e2fsck -f', { fsType: type, ...details });

  if (incompat & IN_JOURNAL_DEV) return 'an external ext journal device: mapped whole';
  if (incompat & ~IN_KNOWN) return `ext incompat features 0x${(incompat & ~IN_KNOWN).toString(16)} unknown: mapped whole`;

  if (ro & RO_METADATA_CSUM) {
    const want = sb.readUInt32LE(0x3fc);
    const got = crc32cLe(0xffffffff, sb.subarray(0, 0x3fc));
    if (want !== got) throw bad('its checksum is wrong', { want, got });
  }

  const state = sb.readUInt16LE(0x3a);
  if (state & STATE_ERROR) throw new FsDirtyError(`${name} has errors recorded by the kernel`, 'repair it with e2fsck -f', { fsType: type, state });
  if ((compat & COMPAT_HAS_JOURNAL) && (incompat & IN_RECOVER)) {
    throw new FsDirtyError(`${name} has a journal to replay (it is mounted, or was not cleanly unmounted)`, 'unmount it, or replay it with e2fsck', { fsType: type, state });
  }
  if (!(state & STATE_VALID)) throw new FsDirtyError(`${name} was not cleanly unmounted (or is mounted)`, 'unmount it and run e2fsck -f', { fsType: type, state });

  const logBlock = sb.readUInt32LE(0x18);
  if (logBlock > 6) throw bad(`block size 2^${10 + logBlock}`);
  const blockSize = 1024 << logBlock;
  const is64 = (incompat & IN_64BIT) !== 0;
  const blocksCount = sb.readUInt32LE(0x04) + (is64 ? sb.readUInt32LE(0x150) * 2 ** 32 : 0);
  const firstDataBlock = sb.readUInt32LE(0x14);
  const blocksPerGroup = sb.readUInt32LE(0x20);
  const bigalloc = (ro & RO_BIGALLOC) !== 0;
  let ratio = 1;
  let unitsPerGroup = blocksPerGroup;
  if (bigalloc) {
    const logCluster = sb.readUInt32LE(0x1c);
    if (logCluster < logBlock || logCluster - logBlock > 16) throw bad(`cluster size 2^${10 + logCluster} with block size ${blockSize}`);
    ratio = 2 ** (logCluster - logBlock);
    unitsPerGroup = sb.readUInt32LE(0x24);
    if (unitsPerGroup * ratio !== blocksPerGroup) throw bad(`${unitsPerGroup} clusters per group of ${blocksPerGroup} blocks`);
  }
  if (blocksCount === 0 || blocksCount * blockSize > size) {
    throw new FsInconsistentError(`${name} says it has ${blocksCount} blocks of ${blockSize} bytes, more than the ${size} bytes that hold it`, 'check the partition table and the file system (e2fsck -f)', { fsType: type, blocksCount, blockSize, size });
  }
  if (firstDataBlock !== (blockSize === 1024 && !bigalloc ? 1 : 0)) throw bad(`first data block ${firstDataBlock}`);
  // mke2fs makes groups of 256 .. 8 * block size units; fewer would only multiply the groups.
  if (unitsPerGroup < 256 || unitsPerGroup % 8 !== 0 || unitsPerGroup > 8 * blockSize) throw bad(`${unitsPerGroup} blocks per group`);
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  const descSize = is64 ? sb.readUInt16LE(0xfe) : 32;
  if (descSize < 32 || descSize > blockSize || (descSize & (descSize - 1)) !== 0) throw bad(`descriptor size ${descSize}`);
  const descBlocks = Math.ceil(groupCount / (blockSize / descSize));
  const reservedGdt = sb.readUInt16LE(0xce);
  if (reservedGdt > blockSize / 4) throw bad(`${reservedGdt} reserved descriptor blocks`);
  const metaBg = (incompat & IN_META_BG) !== 0;
  const firstMetaBg = metaBg ? sb.readUInt32LE(0x104) : 0;
  if (metaBg && firstMetaBg > descBlocks) throw bad(`first meta group ${firstMetaBg} of ${descBlocks}`);
  const revLevel = sb.readUInt32LE(0x4c);
  const inodeSize = revLevel === 0 ? 128 : sb.readUInt16LE(0x58);
  const inodesPerGroup = sb.readUInt32LE(0x28);
  if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) throw bad(`inode size ${inodeSize}`);
  if (inodesPerGroup === 0 || inodesPerGroup > 8 * blockSize) throw bad(`${inodesPerGroup} inodes per group`);
  const inodeTableBlocks = Math.ceil((inodesPerGroup * inodeSize) / blockSize);
  if (inodeTableBlocks > blocksPerGroup) throw bad(`inode tables of ${inodeTableBlocks} blocks in groups of ${blocksPerGroup}`);
  const uuidBytes = Buffer.from(sb.subarray(0x68, 0x78));
  const csum = ro & RO_METADATA_CSUM ? 'crc32c' : ro & RO_GDT_CSUM ? 'crc16' : 'none';
  const csumSeed = incompat & IN_CSUM_SEED ? sb.readUInt32LE(0x270) : crc32cLe(0xffffffff, uuidBytes);
  return {
    type,
    blockSize,
    blocksCount,
    firstDataBlock,
    blocksPerGroup,
    ratio,
    unitsPerGroup,
    groupCount,
    descSize,
    descBlocks,
    reservedGdt,
    metaBg,
    firstMetaBg,
    sparseSuper: (ro & RO_SPARSE_SUPER) !== 0,
    sparseSuper2: (compat & COMPAT_SPARSE_SUPER2) !== 0,
    backupBgs: [sb.readUInt32LE(0x24c), sb.readUInt32LE(0x250)],
    inodeTableBlocks,
    csum,
    csumSeed,
    uuidBytes,
    freeBlocks: sb.readUInt32LE(0x0c) + (is64 ? sb.readUInt32LE(0x158) * 2 ** 32 : 0),
    label: labelText(sb.subarray(0x78, 0x88)),
    uuid: formatUuid(uuidBytes),
  };
}

/** b is a power of `root` (libext2fs test_root). */
function isPowerOf(a: number, root: number): boolean {
  for (;;) {
    if (a < root) return false;
    if (a === root) return true;
    if (a % root) return false;
    a /= root;
  }
}

/** Whether group g holds a superblock backup (ext2fs_bg_has_super). */
function hasSuper(g: ExtGeometry, group: number): boolean {
  if (group === 0) return true;
  if (g.sparseSuper2) return group === g.backupBgs[0] || group === g.backupBgs[1];
  if (group <= 1 || !g.sparseSuper) return true;
  if (!(group & 1)) return false;
  return isPowerOf(group, 3) || isPowerOf(group, 5) || isPowerOf(group, 7);
}

function groupFirstBlock(g: ExtGeometry, group: number): number {
  return g.firstDataBlock + group * g.blocksPerGroup;
}

/** Where descriptor block i lives (ext2fs_descriptor_block_loc2, primary copy). */
function descriptorBlock(g: ExtGeometry, i: number): number {
  const zeroAdjust = i === 0 && g.blockSize === 1024 && g.ratio > 1 ? 1 : 0;
  if (!g.metaBg || i < g.firstMetaBg) return g.firstDataBlock + i + 1 + zeroAdjust;
  const bg = (g.blockSize / g.descSize) * i;
  return groupFirstBlock(g, bg) + (hasSuper(g, bg) ? 1 : 0) + zeroAdjust;
}

/**
 * The superblock backup and descriptor blocks group `group` holds, as [block, count] pairs
 * (ext2fs_reserve_super_and_bgd).
 */
function superAndDescriptors(g: ExtGeometry, group: number): number[] {
  const out: number[] = [];
  let groupBlock = groupFirstBlock(g, group);
  if (groupBlock === 0 && g.blockSize === 1024) groupBlock = 1;
  const oldDescBlocks = g.metaBg ? g.firstMetaBg : g.descBlocks + g.reservedGdt;
  const sup = hasSuper(g, group);
  if (sup) out.push(groupBlock, 1);
  if (group === 0 && g.blockSize === 1024 && g.ratio > 1) out.push(0, 1);
  const perMeta = g.blockSize / g.descSize;
  const metaGroup = Math.floor(group / perMeta);
  if (!g.metaBg || metaGroup < g.firstMetaBg) {
    if (sup && oldDescBlocks > 0) out.push(groupBlock + 1, Math.min(oldDescBlocks, g.blocksCount - (groupBlock + 1)));
  } else {
    const r = group % perMeta;
    if (r === 0 || r === 1 || r === perMeta - 1) out.push(groupBlock + (sup ? 1 : 0), 1);
  }
  return out;
}

interface GroupDesc {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  free: number;
  uninit: boolean;
}

function parseDescriptors(g: ExtGeometry, table: Buffer, name: string): GroupDesc[] {
  const descs: GroupDesc[] = [];
  const wide = g.descSize >= 64;
  for (let i = 0; i < g.groupCount; i++) {
    const d = table.subarray(i * g.descSize, (i + 1) * g.descSize);
    const hi = (off: number): number => (wide ? d.readUInt32LE(off) * 2 ** 32 : 0);
    if (g.csum !== 'none') {
      const want = d.readUInt16LE(0x1e);
      let got: number;
      if (g.csum === 'crc32c') {
        const copy = Buffer.from(d);
        copy.writeUInt16LE(0, 0x1e);
        got = crc32cLe(crc32cLe(g.csumSeed, le32(i)), copy) & 0xffff;
      } else {
        got = crc16(crc16(crc16(0xffff, g.uuidBytes), le32(i)), d.subarray(0, 0x1e));
        if (g.descSize > 0x20) got = crc16(got, d.subarray(0x20));
      }
      if (want !== got) throw new FsInconsistentError(`${name} has a damaged group descriptor (group ${i}, checksum)`, 'check it with e2fsck -f', { group: i, want, got });
    }
    const desc: GroupDesc = {
      blockBitmap: d.readUInt32LE(0x00) + hi(0x20),
      inodeBitmap: d.readUInt32LE(0x04) + hi(0x24),
      inodeTable: d.readUInt32LE(0x08) + hi(0x28),
      free: d.readUInt16LE(0x0c) + (wide ? d.readUInt16LE(0x2c) * 65536 : 0),
      uninit: g.csum !== 'none' && (d.readUInt16LE(0x12) & BG_BLOCK_UNINIT) !== 0,
    };
    if (desc.blockBitmap >= g.blocksCount || desc.inodeBitmap >= g.blocksCount || desc.inodeTable + g.inodeTableBlocks > g.blocksCount || desc.blockBitmap < g.firstDataBlock) {
      throw new FsInconsistentError(`${name} has a group descriptor pointing outside it (group ${i})`, 'check it with e2fsck -f', { group: i, ...desc });
    }
    descs.push(desc);
  }
  return descs;
}

/** Bitmap units (blocks, or clusters with bigalloc) in group `group`. */
function unitsIn(g: ExtGeometry, group: number): number {
  if (group < g.groupCount - 1) return g.unitsPerGroup;
  return Math.ceil((g.blocksCount - groupFirstBlock(g, group)) / g.ratio);
}

/**
 * Every block of metadata that must be in use, as [block, count] pairs by the group they
 * fall in: each group's superblock backup and descriptor blocks, its bitmaps and inode
 * table (which flex_bg may place in another group).
 */
function metadataByGroup(g: ExtGeometry, descs: GroupDesc[]): Map<number, number[]> {
  const byGroup = new Map<number, number[]>();
  const add = (block: number, count: number): void => {
    while (count > 0) {
      const group = Math.floor((block - g.firstDataBlock) / g.blocksPerGroup);
      const inGroup = Math.min(count, groupFirstBlock(g, group + 1) - block);
      if (group >= 0 && group < g.groupCount) {
        let list = byGroup.get(group);
        if (!list) byGroup.set(group, (list = []));
        list.push(block, inGroup);
      }
      block += inGroup;
      count -= inGroup;
    }
  };
  descs.forEach((d, i) => {
    const sd = superAndDescriptors(g, i);
    for (let k = 0; k < sd.length; k += 2) if (sd[k]! >= g.firstDataBlock) add(sd[k]!, sd[k + 1]!);
    add(d.blockBitmap, 1);
    add(d.inodeBitmap, 1);
    add(d.inodeTable, g.inodeTableBlocks);
  });
  return byGroup;
}

/** Groups per batch of bitmap reads: bounded memory whatever the size. */
const BATCH_BYTES = 32 << 20;

export async function extUsedMap(reader: Reader, size: number, sb: Buffer, opts: MapOptions = {}, shape: ReadShape = defaultShape): Promise<UsedMap> {
  const parsed = parseSuperblock(sb, size, opts.where);
  if (typeof parsed === 'string') return wholeMap(size, parsed);
  const g = parsed;
  const name = fsName(g.type, opts.where);
  const bs = g.blockSize;

  // Descriptor table: each descriptor block read where it lives (contiguous unless meta_bg).
  const table = Buffer.alloc(g.descBlocks * bs);
  const descPieces: Piece[] = [];
  for (let i = 0; i < g.descBlocks; i++) {
    const blk = descriptorBlock(g, i);
    if (blk >= g.blocksCount) throw new FsInconsistentError(`${name} has its group descriptors outside it (block ${blk})`, 'check it with e2fsck -f', { block: blk });
    descPieces.push({ offset: blk * bs, length: bs });
  }
  await readPieces(reader, size, descPieces, (i, bytes) => bytes.copy(table, i * bs), shape);
  const descs = parseDescriptors(g, table, name);
  const meta = metadataByGroup(g, descs);

  const out = new ExtentBuilder();
  if (g.firstDataBlock > 0) out.add(0, g.firstDataBlock * bs);
  const fsSize = g.blocksCount * bs;
  const unitBytes = g.ratio * bs;
  let totalFree = 0;
  const perBatch = Math.max(1, Math.floor(BATCH_BYTES / Math.ceil(g.unitsPerGroup / 8)));
  for (let first = 0; first < g.groupCount; first += perBatch) {
    const last = Math.min(g.groupCount, first + perBatch);
    const groupBytes = Math.ceil(g.unitsPerGroup / 8);
    const bits = new Uint8Array((last - first) * groupBytes);
    const pieces: Piece[] = [];
    const pieceGroup: number[] = [];
    for (let grp = first; grp < last; grp++) {
      if (descs[grp]!.uninit) continue;
      pieces.push({ offset: descs[grp]!.blockBitmap * bs, length: Math.ceil(unitsIn(g, grp) / 8) });
      pieceGroup.push(grp);
    }
    await readPieces(reader, size, pieces, (i, bytes) => bits.set(bytes, (pieceGroup[i]! - first) * groupBytes), shape);
    for (let grp = first; grp < last; grp++) {
      const base = (grp - first) * groupBytes * 8;
      const units = unitsIn(g, grp);
      const firstBlock = groupFirstBlock(g, grp);
      const m = meta.get(grp) ?? [];
      for (let k = 0; k < m.length; k += 2) {
        const u0 = Math.floor((m[k]! - firstBlock) / g.ratio);
        const u1 = Math.ceil((m[k]! + m[k + 1]! - firstBlock) / g.ratio);
        setBits(bits, base + u0, Math.min(u1, units) - u0);
      }
      // One pass: the runs become extents and their lengths the group's used count.
      let usedUnits = 0;
      setRuns(bits, base, units, (u, n) => {
        usedUnits += n;
        const off = firstBlock * bs + u * unitBytes;
        out.add(off, Math.min(n * unitBytes, fsSize - off));
      });
      const free = units - usedUnits;
      if (free !== descs[grp]!.free) {
        throw new FsInconsistentError(`${name} is inconsistent: group ${grp} says ${descs[grp]!.free} free blocks, its bitmap ${free}`, 'repair it with e2fsck -f', { group: grp, descriptor: descs[grp]!.free, bitmap: free });
      }
      totalFree += free;
    }
  }
  if (totalFree * g.ratio !== g.freeBlocks) {
    throw new FsInconsistentError(`${name} is inconsistent: its superblock says ${g.freeBlocks} free blocks, its bitmaps ${totalFree * g.ratio}`, 'repair it with e2fsck -f', { superblock: g.freeBlocks, bitmaps: totalFree * g.ratio });
  }
  if (size > fsSize) out.add(fsSize, size - fsSize);
  return {
    fsType: g.type,
    blockSize: unitBytes,
    size,
    fsSize,
    usedBytes: out.usedBytes,
    extentCount: out.count,
    flat: out.flat(),
    label: g.label || undefined,
    uuid: g.uuid,
  };
}
