// `clonestation rescue SOURCE TARGET MAPFILE` (and `clone --map`): the ddrescue-style,
// error-tolerant, resumable copy. Loads or starts the map, replays any crash journal,
// runs the passes, saves the map at every stop, and reports.
import { closeSync, existsSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, statSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { CancelledError, IoError, RefusedError, UsageError } from '../errors.js';
import { inspectDrive, splitDev, type DriveInfo } from '../drive.js';
import { checkDistinct, checkTargetFree, checkTargetSize } from '../safety.js';
import { parseSize } from '../units.js';
import { complementExtents, intersectExtents, type Extent } from '../extent.js';
import type { Backend } from '../native.js';
import type { Reporter } from '../progress.js';
import { checkMapPath, parseMap, readMapText, saveMapSync, type MapHeader } from './mapfile.js';
import { checkNewImagePath } from '../clone.js';
import { checkOutputPath } from '../outpath.js';
import { Mapbook } from './mapbook.js';
import { JournalSet } from './journal.js';
import { DriveGoneError, Rescuebook, type RescuePolicy, type PassRecord } from './rescuebook.js';
import { describeIdentity, findByIdentity, hasIdentity, identityOf } from './identity.js';
import { EngineJob } from '../engine.js';
import { Claims } from '../claim.js';

export interface RescueOptions {
  source: string;
  target: string;
  mapPath: string;
  offset?: string;
  length?: string;
  targetOffset?: string;
  sectorSize?: string;
  cluster?: string;
  depth?: number;
  backend?: Backend;
  direct?: boolean;
  reverse?: boolean;
  retries?: number;
  minReadRate?: string;
  timeout?: number;
  maxErrors?: number;
  fill?: string;
  domain?: string;
  /** rescue only the blocks the source's file systems use (src/used-extents.ts): its files come first, the free blocks never */
  usedOnly?: boolean;
  simulateErrors?: string;
  waitForReturn?: boolean;
  goneAfter?: number;
  saveInterval?: number;
  yes?: boolean;
  version: string;
  commandLine: string;
  /** called once with the live map, for displays (the dashboard) that read it at their own pace */
  watch?: (book: Mapbook) => void;
  /** called once every check has passed and the overwrite was confirmed: a display may take the terminal now */
  ready?: () => void;
  /** the operator paused the rescue: no reads while true (the map stays as it is) */
  paused?: () => boolean;
}

export interface RescueSummary {
  size: number;
  rescuedBytes: number;
  badBytes: number;
  badAreas: number;
  unfinishedBytes: number;
  passes: PassRecord[];
  seconds: number;
  bytesPerSec: number;
  finished: boolean;
  map: string;
}

/** Whether the file at `path` is one of these drives' own files (by device and inode, not by name). */
function sameFile(path: string, drives: (DriveInfo | undefined)[]): boolean {
  let st;
  try {
    st = statSync(path);
  } catch {
    return false;
  }
  const dev = splitDev(st.dev);
  return drives.some((d) => d?.kind === 'file' && d.ino === st.ino && d.dev.major === dev.major && d.dev.minor === dev.minor);
}

/** The + blocks of a map, as extents. */
async function finishedExtents(path: string, size: number, option: string): Promise<Extent[]> {
  const text = readMapText(path, option);
  if (text === undefined) throw new UsageError(`${option} ${path} does not exist: give the path of a ddrescue map`, 'NOT_FOUND');
  return new Mapbook(size, parseMap(text, { path, deviceSize: size })).extents(['+']);
}

/** A --fill pattern: 0xNN is one byte; anything else is text, repeated. */
export function fillPattern(text: string): Buffer {
  if (/^0x[0-9a-f]{1,2}$/i.test(text)) return Buffer.from([parseInt(text, 16)]);
  if (text.length === 0) throw new UsageError('--fill needs a byte (0x00) or some text', 'USAGE');
  return Buffer.from(text, 'utf8');
}

function fillBad(target: string, book: Mapbook, delta: number, pattern: Buffer): number {
  const fd = openSync(target, 'r+');
  let filled = 0;
  try {
    for (const b of book.blocks()) {
      if (b.status !== '-') continue;
      // the pattern continues across the drive as if laid from offset 0, as ddrescue does
      const buf = Buffer.alloc(Math.min(b.size, 1 << 20));
      for (let off = 0; off < b.size; off += buf.length) {
        const n = Math.min(buf.length, b.size - off);
        for (let i = 0; i < n; i++) buf[i] = pattern[(b.pos + off + i) % pattern.length];
        writeSync(fd, buf, 0, n, b.pos + off + delta);
      }
      filled += b.size;
    }
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return filled;
}

function prepareTarget(target: DriveInfo | undefined, path: string, end: number): void {
  if (target?.kind === 'block') return;
  // Never truncate: a resumed rescue keeps what earlier runs wrote. (A new file was
  // created empty by the claim.)
  const fd = openSync(path, 'r+');
  try {
    if (fstatSync(fd).size < end) ftruncateSync(fd, end);
  } finally {
    closeSync(fd);
  }
}

async function waitForReturn(source: DriveInfo, book: Mapbook, target: string, delta: number, reporter: Reporter, signal?: AbortSignal): Promise<string> {
  const id = identityOf(source);
  if (!hasIdentity(id)) throw new RefusedError('NO_IDENTITY', `source ${source.path} has no serial, WWN or by-id name to recognise it by: --wait-for-return cannot be used; rerun the command when it is back`);
  reporter.note(`waiting for the drive (${describeIdentity(id)}) to come back; Ctrl-C stops with the map saved`);
  const canary = book.blocks().find((b) => b.status === '+');
  for (;;) {
    if (signal?.aborted) throw new CancelledError(`stopped while waiting for ${source.path}: the map is saved; rerun the same command to resume`);
    for (const path of findByIdentity(id)) {
      if (!canary) return path;
      // the same identity and a rescued sector that reads back the same: it is our drive
      try {
        const check = new EngineJob({
          mode: 'verify',
          source: { path },
          targets: [{ path: target, delta }],
          extents: [{ offset: canary.pos, length: Math.min(canary.size, source.logicalSectorSize) }],
          blockSize: 4096,
          depth: 1,
        });
        const r = await check.run();
        if (r.errors.length === 0 && r.state === 'done') return path;
      } catch {
        // not readable yet
      }
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

export async function rescue(o: RescueOptions, reporter: Reporter, signal?: AbortSignal): Promise<RescueSummary> {
  const source = inspectDrive(o.source, 'source');
  const target = existsSync(o.target) ? inspectDrive(o.target, 'target') : undefined;
  if (!target) checkNewImagePath(o.target);
  // the map is a regular file or a new name in a writable folder (its contents are checked below)
  checkOutputPath(o.mapPath, 'the map', { code: 'BAD_MAP', fix: 'give the map a file of its own' });
  const mapPath = resolve(o.mapPath);
  if ([resolve(o.source), resolve(o.target)].includes(mapPath) || source.realPath === mapPath || sameFile(mapPath, [source, target]))
    throw new UsageError(`mapfile ${o.mapPath} is the source or the target: give the map its own file`, 'USAGE');

  const sectorSize = o.sectorSize !== undefined ? parseSize(o.sectorSize, '--sector-size') : source.logicalSectorSize;
  if (sectorSize < 512 || sectorSize % 512 !== 0 || sectorSize > 65536)
    throw new UsageError('--sector-size must be a multiple of 512 up to 64 KiB', 'BAD_SIZE');
  const cluster = o.cluster !== undefined ? parseSize(o.cluster, '--cluster', sectorSize) : 128 * sectorSize;
  if (cluster < sectorSize || cluster % sectorSize !== 0 || cluster > 64 << 20)
    throw new UsageError(`--cluster must be a multiple of the sector size (${sectorSize}) up to 64 MiB`, 'BAD_SIZE');
  const offset = o.offset !== undefined ? parseSize(o.offset, '--offset', sectorSize) : 0;
  if (offset > source.size) throw new UsageError(`--offset ${offset} is beyond the end of source ${o.source} (${source.size} bytes)`, 'RANGE');
  const length = o.length !== undefined ? parseSize(o.length, '--length', sectorSize) : source.size - offset;
  if (offset + length > source.size) throw new UsageError(`--offset plus --length runs past the end of source ${o.source} (${source.size} bytes)`, 'RANGE');
  const targetOffset = o.targetOffset !== undefined ? parseSize(o.targetOffset, '--target-offset', target?.logicalSectorSize ?? 512) : offset;
  const delta = targetOffset - offset;
  const minReadRate = o.minReadRate !== undefined ? parseSize(o.minReadRate, '--min-read-rate') : 0;

  // Everything the user gave is checked before anything is written: maps first. The map
  // and its journals are regular files or new names (a save renames over the map).
  const map = checkMapPath(mapPath, source.size);
  const journals = new JournalSet(mapPath);
  journals.check();
  let domain: Extent[] = [{ offset, length }];
  if (o.domain) domain = intersectExtents(domain, await finishedExtents(o.domain, source.size, '--domain'));
  if (o.usedOnly) {
    const { usedExtentsOf } = await import('../used-extents.js');
    const u = await usedExtentsOf(source, { offset: 0, length: source.size }, { align: sectorSize });
    domain = intersectExtents(domain, u.extents);
    reporter.note(`--used-only: rescuing the ${u.usedBytes} bytes the file systems use (${u.extents.length} extents); free blocks are not read`, { usedBytes: u.usedBytes, extents: u.extents.length });
  }
  const simulateBad = o.simulateErrors ? complementExtents(await finishedExtents(o.simulateErrors, source.size, '--simulate-errors'), source.size) : undefined;
  const pattern = o.fill !== undefined ? fillPattern(o.fill) : undefined;

  checkDistinct(source, target, o.target);
  checkTargetFree(target);
  checkTargetSize(target, o.target, { offset: offset + delta, length });
  // One claim for the whole rescue, every pass and the fill, before anything is written:
  // the map (and its journals) against a second run, the target against anyone else.
  using claims = new Claims();
  claims.map(mapPath);
  claims.target(o.target, { create: !target });
  if (target?.kind === 'block' && !o.yes) {
    const { confirmOverwrite } = await import('../confirm.js');
    await confirmOverwrite(target, `with what can be read of ${length} bytes of ${source.path} (map ${o.mapPath})`, { yes: false });
  }
  o.ready?.();

  const book = new Mapbook(source.size, map);
  if (map) reporter.note(`resuming from map ${o.mapPath}: ${book.totals()['+']} bytes already rescued`);
  o.watch?.(book);
  const started = new Date();
  const header = (finished: boolean): MapHeader => ({ commandLine: o.commandLine, version: o.version, startTime: started, currentTime: new Date(), finished });
  const save = (running: readonly EngineJob[] = []): void => {
    const { next } = journals.rotate();
    for (const job of running) {
      job.rotateJournal(next);
      for (const d of job.takeDone()) book.set(d.offset, d.length, '+');
    }
    saveMapSync(mapPath, book.toMap(), header(book.isFinished()));
    journals.removeBefore(journals.number);
  };
  // A previous run killed mid-pass left its finished chunks in journals: fold them in.
  const replayed = journals.replay();
  for (const e of replayed) book.set(e.offset, e.length, '+');
  if (replayed.length > 0) reporter.note(`replayed ${replayed.length} finished chunk(s) from the crash journal`);
  // The map exists on disk before the first byte is written to the target.
  save();
  prepareTarget(target, o.target, source.size + Math.max(0, delta));

  const policy: RescuePolicy = {
    sectorSize,
    cluster,
    depth: o.depth ?? 8,
    backend: o.backend ?? 'auto',
    direct: o.direct ?? true,
    reverse: o.reverse ?? false,
    retries: o.retries ?? 0,
    minReadRate,
    timeout: o.timeout ?? 0,
    maxErrors: o.maxErrors ?? Number.POSITIVE_INFINITY,
    skipInitial: Math.max(64 * 1024, Math.floor(source.size / 100000 / sectorSize) * sectorSize),
    skipMax: Math.max(64 * 1024, Math.floor(source.size / 100 / sectorSize) * sectorSize),
    goneAfter: o.goneAfter ?? 120,
    saveInterval: o.saveInterval ?? 30,
  };
  const t0 = process.hrtime.bigint();
  const rb = new Rescuebook(book, policy, { source: o.source, target: o.target, delta, simulateBad, domain }, {
    save,
    journal: () => journals.current,
    progress: (v) => reporter.progress(v),
    note: (m, f) => reporter.note(m, f),
    signal,
    paused: o.paused,
  });
  reporter.note(
    `rescuing ${source.path} (${source.size} bytes, ${sectorSize}-byte sectors, cluster ${cluster}) to ${o.target}; map ${o.mapPath}: ${Math.round((100 * book.totals()['+']) / Math.max(1, source.size))}% already finished`,
    { source: source.path, target: o.target, map: o.mapPath, sectorSize, cluster },
  );
  let reason;
  try {
    for (;;) {
      reason = await rb.run();
      if (reason !== 'drive-gone' || !o.waitForReturn) break;
      save();
      const back = await waitForReturn(source, book, o.target, delta, reporter, signal);
      reporter.note(`the drive is back as ${back}: continuing`);
      rb.resumeAt(back);
    }
  } finally {
    save();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (reason === 'finished' && pattern) {
    const filled = fillBad(o.target, book, delta, pattern);
    if (filled > 0) reporter.note(`filled ${filled} bytes of bad sectors in the target with the --fill pattern`);
  }
  const t = book.totals();
  const summary: RescueSummary = {
    size: source.size,
    rescuedBytes: t['+'],
    badBytes: t['-'],
    badAreas: book.areaCount('-'),
    unfinishedBytes: t['?'] + t['*'] + t['/'],
    passes: rb.passes,
    seconds,
    bytesPerSec: seconds > 0 ? rb.passes.reduce((s, p) => s + p.bytesRescued, 0) / seconds : 0,
    finished: reason === 'finished',
    map: o.mapPath,
  };
  const where = `the map ${o.mapPath} is saved: rerun the same command to resume`;
  if (reason === 'cancelled') throw new CancelledError(`rescue interrupted: ${where}`, { ...summary });
  if (reason === 'timeout') throw new IoError('RESCUE_TIMEOUT', `no good read for ${policy.timeout} s (--timeout): ${where}`, { ...summary });
  if (reason === 'max-errors') throw new IoError('TOO_MANY_ERRORS', `more than ${policy.maxErrors} error areas (--max-errors): ${where}`, { ...summary });
  if (reason === 'drive-gone') throw new DriveGoneError(source.path, 'it stopped answering');
  return summary;
}
