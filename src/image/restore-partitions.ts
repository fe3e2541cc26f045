// `restore IMAGE TARGET --partition N[,M]` (or `--partition N --to DEV`): chosen partitions of a
// whole-disk image onto the same-numbered partitions of a drive, each a ranged restore (nothing
// outside them is written), each checked against the manifest's hash of that partition.
import { existsSync } from 'node:fs';
import { inspectDrive } from '../drive.js';
import { UsageError, VerifyMismatchError } from '../errors.js';
import type { Reporter } from '../progress.js';
import { openImageReader, readImageTable } from './partitions/image-reader.js';
import { findPartition, partitionDestination } from '../partition/select.js';
import type { HashAlgorithm } from './hash.js';
import { fastestAlgorithm, resolveImage } from './open.js';
import { executeRestore, imageOrigin, planRestore, type RestoreOptions, type RestorePlan } from './restore.js';

export interface RestorePartitionsOptions extends RestoreOptions {
  partitions: number[];
  /** --to DEV: the one partition goes to the start of DEV (a partition node, a drive, a file) */
  to?: boolean;
}

export interface RestoredPartition {
  number: number;
  bytes: number;
  imageOffset: number;
  targetOffset: number;
  target: string;
  /** the manifest's hash of this partition that was checked and matched */
  checked?: HashAlgorithm;
  seconds: number;
}

export interface RestorePartitionsResult {
  bytes: number;
  seconds: number;
  bytesPerSec: number;
  partitions: RestoredPartition[];
}

/** Plans every partition (all refusals first), asks once, restores them one after another. */
export async function restorePartitions(o: RestorePartitionsOptions, reporter: Reporter, signal?: AbortSignal): Promise<RestorePartitionsResult> {
  if (o.offset !== undefined || o.length !== undefined || o.targetOffset !== undefined) throw new UsageError('--partition chooses the bytes to restore: leave out --offset, --length and --target-offset', 'PARTITION_OPTION_RANGE');
  if (o.to && o.partitions.length !== 1) throw new UsageError('--to takes one partition: give --partition N with one number', 'USAGE');
  const image = await resolveImage(o.image, { force: o.force });
  if (image.manifest?.partition !== undefined || (image.manifest && image.manifest.range.offset !== 0))
    throw new UsageError(`image ${image.name} holds ${image.manifest?.partition !== undefined ? `partition ${image.manifest.partition}` : 'a part'} of its source, not a whole disk: restore it whole (clonestation restore ${image.name} DEV)`, 'IMAGE_NOT_WHOLE_DISK');
  const r = await openImageReader(image);
  let table;
  try {
    table = await readImageTable(image, r.reader);
  } finally {
    r.close();
  }
  const target = existsSync(o.target) ? inspectDrive(o.target, 'target') : undefined;
  const plans: { n: number; plan: RestorePlan; alg?: HashAlgorithm; expected?: string }[] = [];
  try {
    for (const n of o.partitions) {
      const p = findPartition(table, n, `image ${image.name}`);
      const dest = await partitionDestination(target, o.target, n, p.size, o.to ?? false);
      const recorded = image.manifest?.partitions?.find((x) => x.number === n && x.start === p.start && x.size === p.size);
      const alg = recorded && !o.noCheck ? fastestAlgorithm(recorded.hashes) : undefined;
      const plan = await planRestore({ ...o, offset: String(p.start), length: String(p.size), targetOffset: String(dest.offset), hash: [...new Set([...(alg ? [alg] : []), ...(o.hash ?? [])])] });
      plan.notes = plan.notes.filter((t) => !t.startsWith('a part of the image is restored'));
      plan.notes.push(dest.note);
      if (alg) plan.notes.push(`partition ${n}'s bytes are checked with ${alg} against the manifest`);
      else if (!o.noCheck) plan.notes.push(`the manifest has no hash of partition ${n} (a backup made before partition hashes, or with --hash none): its bytes are not checked`);
      plans.push({ n, plan, alg, expected: alg ? recorded?.hashes[alg] : undefined });
    }
  } catch (e) {
    for (const x of plans) await x.plan.zip?.close();
    throw e;
  }
  if (target?.kind === 'block' && !o.yes) {
    try {
      const { confirmOverwrite } = await import('../confirm.js');
      await confirmOverwrite(target, `partition${plans.length > 1 ? 's' : ''} ${plans.map((x) => `${x.n} (${x.plan.range.length} bytes at offset ${x.plan.targetOffset})`).join(', ')} of image ${image.name}${imageOrigin(image)}; nothing else on it is written`, { yes: false });
    } catch (e) {
      for (const x of plans) await x.plan.zip?.close();
      throw e;
    }
  }
  o.ready?.();
  const done: RestoredPartition[] = [];
  const t0 = process.hrtime.bigint();
  for (const [i, x] of plans.entries()) {
    let res;
    try {
      res = await executeRestore(x.plan, reporter, signal);
    } catch (e) {
      for (const y of plans.slice(i + 1)) await y.plan.zip?.close();
      throw e;
    }
    const got = x.alg ? res.hashes?.[x.alg] : undefined;
    if (x.alg && x.expected && got?.toLowerCase() !== x.expected.toLowerCase()) {
      for (const y of plans.slice(i + 1)) await y.plan.zip?.close();
      throw new VerifyMismatchError(`partition ${x.n} differs from its manifest: ${x.alg} of the restored bytes is ${got}, the manifest says ${x.expected}; the image is damaged (clonestation verify ${image.name} finds where); ${o.target} is not a faithful copy of it`, { partition: x.n, algorithm: x.alg, expected: x.expected, got });
    }
    done.push({ number: x.n, bytes: res.bytes, imageOffset: x.plan.range.offset, targetOffset: x.plan.targetOffset, target: o.target, checked: got ? x.alg : undefined, seconds: res.seconds });
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const bytes = done.reduce((n, p) => n + p.bytes, 0);
  return { bytes, seconds, bytesPerSec: seconds > 0 ? bytes / seconds : 0, partitions: done };
}
