// Chosen partitions: `--partition N[,M]` parsed, a partition found in a table, and where it goes
// on a target (the same-numbered partition of a drive with a table, or the start of a partition node or file).
import type { DriveInfo } from '../drive.js';
import { PartitionTableError, RefusedError, UsageError } from '../errors.js';
import type { Partition, PartitionTable } from './model.js';
import { readTableOf } from './open.js';

/** "2" or "1,3": partition numbers, each once, in the order given. */
export function parsePartitionList(text: string, option = '--partition'): number[] {
  const items = text.split(',');
  const out: number[] = [];
  for (const it of items) {
    if (!/^[1-9]\d{0,4}$/.test(it.trim())) throw new UsageError(`${option} takes partition numbers (1, 2, ... as Linux numbers them), comma-separated: "${it}" is not one`, 'BAD_NUMBER');
    const n = Number(it.trim());
    if (out.includes(n)) throw new UsageError(`${option} names partition ${n} twice`, 'BAD_NUMBER');
    out.push(n);
  }
  return out;
}

/** Partition `n` of `table` (never an extended container), or PARTITION_NOT_FOUND listing what there is. */
export function findPartition(table: PartitionTable, n: number, where: string): Partition {
  const data = table.partitions.filter((p) => p.kind !== 'extended');
  const p = data.find((x) => x.number === n);
  if (p) return p;
  if (table.scheme === 'none') throw new PartitionTableError('NO_PARTITION_TABLE', `${where} has no partition table (MBR or GPT), so it has no partition ${n}; leave out --partition`);
  const ext = table.partitions.find((x) => x.kind === 'extended' && x.number === n);
  const list = data.map((x) => x.number).join(', ') || 'none';
  throw new UsageError(`${where} has no partition ${n}${ext ? ' (it is the extended container, which holds the logical partitions)' : ''}: its partitions are ${list} (clonestation list or image info shows them)`, 'PARTITION_NOT_FOUND', { partition: n });
}

export interface Destination {
  /** byte offset on the target */
  offset: number;
  /** bytes there (the target partition's size, or the partition node's / file's) */
  room: number | undefined;
  /** said to the user */
  note: string;
}

/**
 * Where partition `n` (of `size` bytes) goes on `target`: a drive or image file with a table
 * gets it in its own partition `n` (at least as large, else PARTITION_TOO_SMALL); a partition
 * node, a file without a table, or a new file gets it at its start. A whole drive without a
 * table is refused: the user meant one of its partitions.
 */
export async function partitionDestination(target: DriveInfo | undefined, targetPath: string, n: number, size: number, to: boolean): Promise<Destination> {
  if (!target) return { offset: 0, room: undefined, note: `partition ${n} goes to the new file ${targetPath}` };
  if (to || target.isPartition) {
    if (target.kind === 'block' && target.size < size) throw tooSmall(targetPath, n, size, target.size);
    return { offset: 0, room: target.kind === 'block' ? target.size : undefined, note: `partition ${n} goes to ${targetPath} at its start` };
  }
  let table: PartitionTable;
  try {
    table = await readTableOf(target);
  } catch (e) {
    if (target.kind === 'file') return { offset: 0, room: undefined, note: `partition ${n} goes to ${targetPath} at its start` };
    throw e;
  }
  if (table.scheme === 'none') {
    if (target.kind === 'file') return { offset: 0, room: undefined, note: `partition ${n} goes to ${targetPath} at its start` };
    throw new PartitionTableError('NO_PARTITION_TABLE', `target ${targetPath} has no partition table, so it has no partition ${n}: name the partition to write (e.g. ${targetPath}${/\d$/.test(targetPath) ? 'p' : ''}${n}), or give --to DEV`, { partition: n });
  }
  const p = findPartition(table, n, `target ${targetPath}`);
  if (p.size < size) throw tooSmall(`partition ${n} of ${targetPath}`, n, size, p.size);
  return { offset: p.start, room: p.size, note: `partition ${n} goes to partition ${n} of ${targetPath} (bytes ${p.start}..${p.start + p.size - 1})` };
}

function tooSmall(where: string, n: number, size: number, room: number): RefusedError {
  return new RefusedError('PARTITION_TOO_SMALL', `${where} holds ${room} bytes but partition ${n} has ${size}: choose a partition at least as large (or grow it first)`, { partition: n, size, room });
}
