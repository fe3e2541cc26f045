// A whole-disk clone's partition-table steps: planned per target before the copy, the sector
// writes after it, their check in the verify, and --grow-fs after the verify.
import { closeSync, openSync } from 'node:fs';
import { inspectDrive } from '../drive.js';
import { checkDistinct, checkTargetFree } from '../safety.js';
import { CloneStationError, IoError, RefusedError, VerifyMismatchError, openError } from '../errors.js';
import type { Extent } from '../extent.js';
import { fdReader } from '../partition/io.js';
import { readTableOf } from '../partition/open.js';
import { fromWire, growExtFs, readBack, subtract, writeRanges, writeSectors, type TargetAdjust } from '../partition/apply.js';
import { checkWholeDiskOptions, partitionOptionsGiven, planWholeDisk, type WholeDiskOptions } from '../partition/whole-disk.js';
import { overlayReader } from '../partition/io.js';
import type { CloneJobSpec, TargetOutcome } from '../contract.js';
import type { JobEntry } from './kind.js';

export function wholeDiskOptionsOf(entry: JobEntry): WholeDiskOptions {
  return { growLast: entry.growLast === true, growFs: entry.growFs === true, fit: entry.fit === true };
}

/**
 * For a whole-disk clone (no range given) to drives of another size: how much of the source to
 * copy and each target's adjustment. undefined when nothing is to be adjusted (every target a
 * file or of the source's size, no partition option): the copy is then the plain one.
 */
export async function planTargetTables(entry: JobEntry, targets: readonly string[]): Promise<{ copyLength: number; adjust: (TargetAdjust | null)[] } | undefined> {
  const o = wholeDiskOptionsOf(entry);
  const ranged = entry.offset !== undefined || entry.length !== undefined || entry.targetOffset !== undefined;
  checkWholeDiskOptions(o, ranged);
  if (ranged) return undefined;
  const source = inspectDrive(entry.source as string, 'source');
  const drives = targets.map((t) => {
    try {
      const d = inspectDrive(t, 'target');
      return d.kind === 'block' ? d : undefined;
    } catch {
      return undefined; // a new file, or an error planClone reports in its own words
    }
  });
  // the safety refusals come first, in planClone's order (a mounted target, the same drive)
  for (const [i, d] of drives.entries()) {
    if (!d) continue;
    checkDistinct(source, d, targets[i]);
    checkTargetFree(d);
  }
  const asked = partitionOptionsGiven(o);
  if (!drives.some((d) => d && (asked || d.size !== source.size))) {
    if (asked) throw new RefusedError('PARTITION_OPTION_FILE', '--grow-last, --grow-fs and --fit adjust a drive of another size: the target is an image file or of the source\'s size; leave them out', {});
    return undefined;
  }
  const table = await readTableOf(source);
  let fd: number;
  try {
    fd = openSync(source.path, 'r');
  } catch (e) {
    throw openError(e, 'source', source.path);
  }
  try {
    const reader = fdReader(fd);
    const plans = [];
    for (const [i, d] of drives.entries()) plans.push(d ? await planWholeDisk(table, reader, d.size, d.logicalSectorSize, o, targets[i]) : { copyLength: source.size, adjust: null });
    const lengths = new Set(plans.map((p) => p.copyLength));
    if (lengths.size > 1) {
      throw new RefusedError('TARGET_SIZES_DIFFER', `with --fit a smaller target takes ${Math.min(...lengths)} bytes of the source and the others ${Math.max(...lengths)}: clone to the smaller targets in a job of their own`, { lengths: [...lengths] });
    }
    if (plans.every((p) => p.adjust === null)) return undefined;
    return { copyLength: plans[0].copyLength, adjust: plans.map((p) => p.adjust) };
  } finally {
    closeSync(fd);
  }
}

type Fail = (t: number, err: CloneStationError) => void;
type Note = (message: string, fields?: Record<string, unknown>) => void;

/** Writes each live target's planned sectors after the copy; a failure fails that target only. */
export function adjustTargets(spec: CloneJobSpec, targets: TargetOutcome[], fail: Fail, note: Note): void {
  for (const [t, a] of (spec.adjust ?? []).entries()) {
    if (!a || targets[t].state !== 'done') continue;
    try {
      if (a.writes.length > 0) writeSectors(spec.targets[t], fromWire(a.writes));
      targets[t].adjusted = [...a.notes];
      for (const n of a.notes) note(`${spec.targets[t]}: ${n}`, { target: spec.targets[t], adjusted: n });
    } catch (e) {
      fail(t, e instanceof CloneStationError ? e : new IoError('WRITE_FAILED', `writing the partition table to ${spec.targets[t]} failed (${String(e)})`));
    }
  }
}

/** The verify's extents: the copied range without every sector any target's plan rewrote (checked by checkAdjusted). */
export function verifyExtents(spec: CloneJobSpec): Extent[] {
  const holes = writeRanges((spec.adjust ?? []).flatMap((a) => a?.writes ?? []));
  return subtract({ offset: spec.offset, length: spec.length }, holes);
}

/**
 * The bytes the engine's verify left out, read back from each target and compared with what it
 * should hold: the source's bytes there overlaid with that target's own writes (so its rewritten
 * sectors are compared with the plan, and sectors only another target rewrote with the source).
 */
export async function checkAdjusted(spec: CloneJobSpec, live: readonly number[]): Promise<Map<number, CloneStationError>> {
  const failures = new Map<number, CloneStationError>();
  if (!spec.adjust?.some((a) => a && a.writes.length > 0)) return failures;
  const all = writeRanges(spec.adjust.flatMap((a) => a?.writes ?? []));
  const fd = openSync(spec.source, 'r');
  try {
    const source = fdReader(fd);
    for (const t of live) {
      const own = fromWire(spec.adjust[t]?.writes ?? []);
      const expect = overlayReader(source, spec.offset + spec.length, own, Number.MAX_SAFE_INTEGER);
      const ranges = writeRanges([...all.filter((r) => r.offset < spec.offset + spec.length).map((r) => ({ offset: r.offset, bytes: Buffer.alloc(r.length) })), ...own]);
      for (const r of ranges) {
        const want = await expect(r.offset, r.length);
        let got: Buffer;
        try {
          got = readBack(spec.targets[t], r.offset, r.length);
        } catch (e) {
          failures.set(t, e as CloneStationError);
          break;
        }
        const at = firstDifference(want, got);
        if (at >= 0) {
          failures.set(t, new VerifyMismatchError(`verify failed: target ${spec.targets[t]} differs from what was written at target offset ${r.offset + at} (the partition table's sectors): the target may be failing`, { targetOffset: r.offset + at, sourceOffset: r.offset + at }));
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return failures;
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  if (a.subarray(0, n).equals(b.subarray(0, n))) return a.length === b.length ? -1 : n;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** --grow-fs on each live target whose plan grew an ext partition: e2fsck -fy, resize2fs. */
export async function growTargetFs(spec: CloneJobSpec, targets: TargetOutcome[], fail: Fail, note: Note): Promise<void> {
  for (const [t, a] of (spec.adjust ?? []).entries()) {
    if (!a?.growFs || targets[t].state !== 'done') continue;
    try {
      const n = await growExtFs(spec.targets[t], a.growFs);
      (targets[t].adjusted ??= []).push(n);
      note(`${spec.targets[t]}: ${n}`, { target: spec.targets[t], adjusted: n });
    } catch (e) {
      fail(t, e instanceof CloneStationError ? e : new IoError('GROW_FS_FAILED', `growing the file system on ${spec.targets[t]} failed (${String(e)})`));
    }
  }
}
