// Carries out a partition-table plan on a target after a whole-disk copy: the sector writes
// (O_DIRECT from aligned memory, fdatasync), their read-back check, and growing an ext2/3/4 file system.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { closeSync, constants as fsConstants, fdatasyncSync, openSync, readSync, writeSync } from 'node:fs';
import { engine } from '../native.js';
import { IoError, RefusedError, VerifyMismatchError, isSystemCallError, openError } from '../errors.js';
import type { Extent } from '../extent.js';
import type { SectorWrite } from './model.js';

/** A sector write as it crosses to a worker or into a job file: the bytes in base64. */
export interface WireWrite {
  offset: number;
  data: string;
  what: string;
}

/** What one target gets after the copy: its writes, the notes for the report, and a file system to grow. */
export interface TargetAdjust {
  writes: WireWrite[];
  notes: string[];
  /** --grow-fs: the grown partition's byte range on the target */
  growFs?: { number: number; offset: number; length: number };
}

export function toWire(writes: readonly SectorWrite[]): WireWrite[] {
  return writes.map((w) => ({ offset: w.offset, data: w.bytes.toString('base64'), what: w.what }));
}

export function fromWire(writes: readonly WireWrite[]): SectorWrite[] {
  return writes.map((w) => ({ offset: w.offset, bytes: Buffer.from(w.data, 'base64'), what: w.what }));
}

const ALIGN = 4096;

function alignedCopy(bytes: Buffer): Uint8Array {
  const len = Math.ceil(bytes.length / ALIGN) * ALIGN;
  const mem = new Uint8Array(new SharedArrayBuffer(len + ALIGN));
  const pad = engine.alignPad(mem, ALIGN);
  const view = mem.subarray(pad, pad + bytes.length);
  view.set(bytes);
  return view;
}

/** Opens with O_DIRECT when the file system allows it, else buffered (a file on tmpfs, say). */
function openTarget(path: string, flags: number): number {
  try {
    return openSync(path, flags | fsConstants.O_DIRECT);
  } catch (e) {
    if (!isSystemCallError(e) || e.code !== 'EINVAL') throw openError(e, 'target', path);
  }
  try {
    return openSync(path, flags);
  } catch (e) {
    throw openError(e, 'target', path);
  }
}

/** Writes whole sectors in the plan's order and flushes them to the device. */
export function writeSectors(path: string, writes: readonly SectorWrite[]): void {
  const fd = openTarget(path, fsConstants.O_WRONLY);
  try {
    for (const w of writes) {
      const buf = alignedCopy(w.bytes);
      let done = 0;
      try {
        while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, w.offset + done);
      } catch (e) {
        throw new IoError('WRITE_FAILED', `writing the ${w.what} to target ${path} at offset ${w.offset} failed (${isSystemCallError(e) ? e.code : String(e)}): the target may be failing; its partition table is not trustworthy`, { path, offset: w.offset });
      }
    }
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads `length` bytes at `offset` of the target back (O_DIRECT where it can, ranges whole sectors). */
export function readBack(path: string, offset: number, length: number): Buffer {
  const fd = openTarget(path, fsConstants.O_RDONLY);
  try {
    const buf = alignedCopy(Buffer.alloc(length));
    let got = 0;
    while (got < length) {
      let n: number;
      try {
        n = readSync(fd, buf, got, length - got, offset + got);
      } catch (e) {
        throw new IoError('VERIFY_READ_FAILED', `verify could not read ${path} at offset ${offset + got} (${isSystemCallError(e) ? e.code : String(e)}): the copy is unverified`, { path, offset: offset + got });
      }
      if (n === 0) throw new IoError('VERIFY_READ_FAILED', `target ${path} ended at offset ${offset + got} while being read back`, { path, offset: offset + got });
      got += n;
    }
    return Buffer.from(buf);
  } finally {
    closeSync(fd);
  }
}

/** `extent` without the byte ranges in `holes` (sorted, merged), as the engine's extents. */
export function subtract(extent: Extent, holes: readonly Extent[]): Extent[] {
  const sorted = [...holes].sort((a, b) => a.offset - b.offset);
  const out: Extent[] = [];
  let at = extent.offset;
  const end = extent.offset + extent.length;
  for (const h of sorted) {
    const from = Math.max(h.offset, at);
    const to = Math.min(h.offset + h.length, end);
    if (to <= from) continue;
    if (from > at) out.push({ offset: at, length: from - at });
    at = to;
  }
  if (at < end) out.push({ offset: at, length: end - at });
  return out;
}

/** The ranges (merged) that `writes` cover, clipped to nothing: for excluding them from a byte-for-byte verify. */
export function writeRanges(writes: readonly { offset: number; bytes?: Buffer; data?: string }[]): Extent[] {
  const r = writes
    .map((w) => ({ offset: w.offset, length: w.bytes ? w.bytes.length : Buffer.from(w.data ?? '', 'base64').length }))
    .sort((a, b) => a.offset - b.offset);
  const out: Extent[] = [];
  for (const x of r) {
    const last = out[out.length - 1];
    if (last && x.offset <= last.offset + last.length) last.length = Math.max(last.length, x.offset + x.length - last.offset);
    else out.push({ ...x });
  }
  return out;
}

const execFileAsync = promisify(execFile);

/** Runs a tool without blocking the event loop (e2fsck and resize2fs take minutes on a large file system). */
async function run(cmd: string, args: string[], okStatus: readonly number[] = [0]): Promise<string> {
  try {
    return (await execFileAsync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 })).stdout;
  } catch (e) {
    const err = e as { code?: string | number; stdout?: string; stderr?: string };
    if (err.code === 'ENOENT') throw new RefusedError('TOOL_MISSING', `${cmd} is not installed: install it (e2fsprogs, util-linux) or leave out --grow-fs`, { tool: cmd });
    const status = typeof err.code === 'number' ? err.code : undefined;
    if (status !== undefined && okStatus.includes(status)) return err.stdout ?? '';
    const why = (err.stderr || err.stdout || String(e)).trim().split('\n').slice(-1)[0];
    throw new IoError('GROW_FS_FAILED', `${cmd} ${args.join(' ')} failed (status ${status ?? '?'}: ${why}): the copy and its partition table are complete, the file system was not grown; run e2fsck and resize2fs on the partition yourself`, { tool: cmd, status });
  }
}

/**
 * Grows the ext2/3/4 file system in bytes [offset, offset+length) of `path` to fill them:
 * a loop device maps the partition (this kernel parses no tables), e2fsck -fy first (resize2fs
 * insists), then resize2fs. Returns a note for the report. The caller checked it is ext.
 */
export async function growExtFs(path: string, part: { number: number; offset: number; length: number }): Promise<string> {
  const loop = (await run('losetup', ['--find', '--show', '--offset', String(part.offset), '--sizelimit', String(part.length), path])).trim();
  try {
    // e2fsck: 0 clean, 1 errors corrected, 2 corrected and a reboot advised (not for an unmounted copy)
    await run('e2fsck', ['-fy', loop], [0, 1, 2]);
    await run('resize2fs', [loop]);
  } finally {
    try {
      await run('losetup', ['-d', loop]);
    } catch {
      /* the loop is gone already: nothing to undo */
    }
  }
  return `the ext file system in partition ${part.number} was checked (e2fsck -fy) and grown to ${part.length} bytes (resize2fs)`;
}

/**
 * Carries out one target's adjustment after its copy: the sector writes, each read back and
 * compared (VERIFY_MISMATCH otherwise), then --grow-fs. Returns what was done, for the report.
 */
export async function applyTargetAdjust(path: string, adjust: TargetAdjust, note: (message: string) => void): Promise<string[]> {
  const writes = fromWire(adjust.writes);
  if (writes.length > 0) writeSectors(path, writes);
  for (const w of writes) {
    const got = readBack(path, w.offset, w.bytes.length);
    if (!got.equals(w.bytes)) {
      let i = 0;
      while (i < got.length && got[i] === w.bytes[i]) i++;
      throw new VerifyMismatchError(`verify failed: target ${path} does not hold the ${w.what} just written (first difference at offset ${w.offset + i}): the target may be failing`, { path, targetOffset: w.offset + i });
    }
  }
  const done = [...adjust.notes];
  for (const n of adjust.notes) note(n);
  if (adjust.growFs) {
    const n = await growExtFs(path, adjust.growFs);
    note(n);
    done.push(n);
  }
  return done;
}
