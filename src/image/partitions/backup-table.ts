// What backup records about partitions: the source's table in the manifest, the byte range of
// `--partition N`, and hashes of each partition's bytes taken from the stream the image is made of.
import { inspectDrive } from '../../drive.js';
import { UsageError } from '../../errors.js';
import type { HashAlgorithm } from '../hash.js';
import { MultiHash } from '../hash.js';
import type { Manifest } from '../manifest.js';
import { readTableOf } from '../../partition/open.js';
import { findPartition } from '../../partition/select.js';
import { summarizeTable } from '../../partition/summary.js';
import type { PartitionTable } from '../../partition/model.js';

type ManifestTable = NonNullable<Manifest['partitionTable']>;
type ManifestPartHashes = NonNullable<Manifest['partitions']>;

/** The partition hash: one algorithm, the fastest the backup takes (taking them all would double the work). */
const SPEED: readonly HashAlgorithm[] = ['xxh3', 'xxh128', 'crc32', 'sha1', 'sha256', 'md5', 'blake3', 'sha512'];

export interface BackupTable {
  /** --partition N: the source range to read instead of the options' */
  offset?: string;
  length?: string;
  partition?: number;
  table?: ManifestTable;
  /** partitions inside the range, at source offsets */
  hashed: { number: number; start: number; size: number }[];
}

export function manifestTable(t: PartitionTable): ManifestTable {
  const s = summarizeTable(t);
  const out: ManifestTable = { scheme: s.scheme, sectorSize: s.sectorSize, diskSize: s.diskSize, partitions: s.partitions };
  if (s.mbr) out.mbr = s.mbr;
  if (s.diskGuid) out.diskGuid = s.diskGuid;
  if (s.diskSignature) out.diskSignature = s.diskSignature;
  return out;
}

/**
 * Reads the source's table (when it has one) for the manifest; with `partition`, the range of
 * that partition. A table that cannot be read is no reason to refuse a whole-drive backup: it
 * is then left out of the manifest.
 */
/** --partition chooses the range itself: with --offset or --length it is a usage error. */
export function checkPartitionRange(o: { offset?: string; length?: string; partition?: number }): void {
  if (o.partition !== undefined && (o.offset !== undefined || o.length !== undefined)) throw new UsageError('--partition chooses the bytes to back up: leave out --offset and --length', 'PARTITION_OPTION_RANGE');
}

export async function backupTable(o: { source: string; offset?: string; length?: string; partition?: number; rescue?: boolean }): Promise<BackupTable> {
  checkPartitionRange(o);
  // a failing drive (a rescue) is not read outside the rescue's own careful passes
  if (o.partition === undefined && o.rescue) return { hashed: [] };
  const source = inspectDrive(o.source, 'source');
  let table: PartitionTable | undefined;
  try {
    table = await readTableOf(source);
  } catch (e) {
    if (o.partition !== undefined) throw e;
  }
  if (o.partition !== undefined) {
    const p = findPartition(table as PartitionTable, o.partition, `source ${o.source}`);
    return { offset: String(p.start), length: String(p.size), partition: p.number, table: manifestTable(table as PartitionTable), hashed: [] };
  }
  if (!table || table.scheme === 'none') return { hashed: [] };
  const data = table.partitions.filter((p) => p.kind !== 'extended' && p.start + p.size <= source.size);
  return { table: manifestTable(table), hashed: data.map((p) => ({ number: p.number, start: p.start, size: p.size })) };
}

/**
 * Hashes of each partition's bytes as they stream by (in order, from `rangeOffset`): fed by the
 * image's own hash, so nothing is read twice. Offsets in the result are the image's.
 */
export class PartitionHashes {
  private pos: number;
  private constructor(
    private readonly parts: { number: number; start: number; size: number; hash: MultiHash }[],
    private readonly rangeOffset: number,
  ) {
    this.pos = rangeOffset;
  }

  static async create(hashed: BackupTable['hashed'], range: { offset: number; length: number }, algorithms: readonly HashAlgorithm[]): Promise<PartitionHashes | undefined> {
    const alg = SPEED.find((a) => algorithms.includes(a));
    const inside = hashed.filter((p) => p.start >= range.offset && p.start + p.size <= range.offset + range.length);
    if (!alg || inside.length === 0) return undefined;
    const parts = [];
    for (const p of inside) parts.push({ ...p, hash: await MultiHash.create([alg]) });
    return new PartitionHashes(parts, range.offset);
  }

  /** Makes `whole` feed these hashes too (every byte `whole` hashes, in order). */
  attach(whole: MultiHash): void {
    const own = whole.update.bind(whole);
    whole.update = (data: Uint8Array): void => {
      this.update(data);
      own(data);
    };
  }

  update(data: Uint8Array): void {
    const from = this.pos;
    const to = from + data.length;
    for (const p of this.parts) {
      const a = Math.max(from, p.start);
      const b = Math.min(to, p.start + p.size);
      if (a < b) p.hash.update(data.subarray(a - from, b - from));
    }
    this.pos = to;
  }

  /** The partitions wholly hashed, at image offsets. */
  digest(): ManifestPartHashes {
    return this.parts.filter((p) => p.hash.bytes === p.size).map((p) => ({ number: p.number, start: p.start - this.rangeOffset, size: p.size, hashes: p.hash.digest() }));
  }
}
