// `clonestation restore IMAGE TARGET1 TARGET2 ...`: one image read (and inflated) once and
// written to every target. Raw parts go through the engine's 1:N copy (src/copy-many.ts: the
// lag rule, catch-ups from the image, retries); a ZIP entry is inflated once and fanned out to
// one TargetWriter per target, a target more than WINDOW behind the others leaving the shared
// stream for a second inflate of its own. Then every target is read back (O_DIRECT) and hashed
// against the manifest, all at once. A failing target drops out; the others finish.
import { closeSync, constants as fsConstants, fdatasync, openSync, read, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CancelledError, CloneStationError, ImageError, IoError, RefusedError, UsageError, isSystemCallError, openError } from '../errors.js';
import { identityOf, sameDrive, describeIdentity } from '../identity.js';
import { startProgress, type Reporter } from '../progress.js';
import { engine } from '../native.js';
import type { EngineJob } from '../engine.js';
import { copyToMany } from '../copy-many.js';
import { Claims, isClaimed } from '../claim.js';
import { applyTargetAdjust } from '../partition/apply.js';
import { prepareFileTarget } from '../clone.js';
import type { HashAlgorithm } from './hash.js';
import { HashThread } from './hash-thread.js';
import { firstHashMismatch, zipFiles } from './open.js';
import { imageOrigin, openTargetWriter, partExtents, planRestore, type RestoreOptions, type RestorePlan } from './restore.js';
import type { TargetWriter } from './target-writer.js';

const readAsync = promisify(read);
const fdatasyncAsync = promisify(fdatasync);

/** How far (bytes) a ZIP target may fall behind the fastest one before it leaves the shared stream. */
export const ZIP_WINDOW = 64 << 20;
/** CLONESTATION_ZIP_WINDOW (bytes): a smaller window, for tests with small images. */
function zipWindowFromEnv(): number {
  const v = Number(process.env.CLONESTATION_ZIP_WINDOW);
  return Number.isSafeInteger(v) && v > 0 ? v : ZIP_WINDOW;
}
/** The shared inflate waits while even the fastest target has this much queued. */
const ZIP_LOW = 8 << 20;
/** ms a raw target may alone hold every slot of the shared ring before it leaves (as the station) */
const RAW_LAG_MS = 50;
const RAW_RETRIES = 2;
/** ring slots when --depth is not given: the window targets may drift apart by (as a station's 1:N clone) */
const MANY_DEPTH = 16;
const READ_SIZE = 4 << 20;

export interface RestoreManyOptions extends Omit<RestoreOptions, 'target'> {
  targets: string[];
  /** a ZIP target may fall this many bytes behind before it leaves the shared stream (tests) */
  zipWindow?: number;
}

export interface RestoreTargetOutcome {
  path: string;
  state: 'done' | 'failed' | 'cancelled';
  code?: string;
  reason?: string;
  /** target offset of the failure */
  offset?: number;
  /** left the shared stream at this target offset (it caught up on its own) */
  detachedAt?: number;
  writeRetries: number;
  /** the manifest hash that was checked on the target's bytes read back */
  checked?: HashAlgorithm;
  verified: boolean;
  targetDirect: boolean;
  /** seconds from the start until this target was fully written */
  writtenSeconds?: number;
  kind: 'block' | 'file';
  model?: string;
  serial?: string;
  size?: number;
  logicalSectorSize?: number;
  /** what was adjusted on it after the check (partition table, file system) */
  adjusted?: string[];
}

export interface RestoreManyResult {
  image: string;
  format: 'raw' | 'zip' | 'zstd';
  parts: number;
  /** bytes restored to each target */
  bytes: number;
  targetOffset: number;
  range: { offset: number; length: number };
  seconds: number;
  copySeconds: number;
  verifySeconds: number;
  /** bytes written to all targets together per second of copying */
  aggregateBytesPerSec: number;
  checked?: HashAlgorithm;
  /** the manifest's digest of the checked hash, which every good target's bytes matched */
  hashes?: Partial<Record<HashAlgorithm, string>>;
  targets: RestoreTargetOutcome[];
  notes: string[];
}

/** Every target planned like a single restore (its refusals), the set checked for aliases. */
export async function planRestoreMany(o: RestoreManyOptions): Promise<RestorePlan[]> {
  if (o.targets.length > 1 && o.hash?.length)
    throw new UsageError('--hash is for a restore to one target: with several, each target is read back and checked with the manifest\'s fastest hash');
  const plans: RestorePlan[] = [];
  try {
    for (const target of o.targets) {
      const p = await planRestore({ ...o, target, depth: o.depth ?? MANY_DEPTH });
      // one archive reader is enough: the others are closed at once
      if (plans.length > 0) {
        await p.zip?.close();
        await p.zstd?.close();
      }
      plans.push(plans.length > 0 ? { ...p, zip: undefined, zstd: undefined } : p);
    }
    checkTargetsDistinct(plans);
    const lengths = new Set(plans.map((p) => p.range.length));
    if (lengths.size > 1)
      throw new RefusedError('TARGET_SIZES_DIFFER', `with --fit a smaller target takes ${Math.min(...lengths)} bytes of the image and the others ${Math.max(...lengths)}: restore to the smaller targets in a run of their own`, { lengths: [...lengths] });
  } catch (e) {
    await plans[0]?.zip?.close();
    await plans[0]?.zstd?.close();
    throw e;
  }
  return plans;
}

/** No target named twice, nor two names of one drive (identity.ts), nor two new files one path. */
function checkTargetsDistinct(plans: RestorePlan[]): void {
  for (let i = 0; i < plans.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = plans[j];
      const b = plans[i];
      let same: string | undefined;
      if (a.target && b.target) {
        const ia = identityOf(a.target);
        const ib = identityOf(b.target);
        if (sameDrive(ia, ib)) same = a.target.kind === 'file' && b.target.kind === 'file' ? 'the same file' : `${describeIdentity(ia)}; ${describeIdentity(ib)}`;
      } else if (!a.target && !b.target && newFileKey(a.targetPath) === newFileKey(b.targetPath)) same = 'the same new file';
      if (same) throw new RefusedError('SAME_DRIVE', `targets ${a.targetPath} and ${b.targetPath} are the same drive (${same}): name each target once`, { targets: [a.targetPath, b.targetPath] });
    }
  }
}

/** A file that does not exist yet: its folder (by identity) and its name. */
function newFileKey(path: string): string {
  const dir = dirname(resolve(path));
  const st = statSync(dir, { throwIfNoEntry: false });
  return st ? `${st.dev}:${st.ino}/${basename(path)}` : resolve(path);
}

/** The whole command: plan every target, one confirmation for all, restore, check each. */
export async function restoreMany(o: RestoreManyOptions, reporter: Reporter, signal?: AbortSignal): Promise<RestoreManyResult> {
  const plans = await planRestoreMany(o);
  const first = plans[0];
  if (!first) throw new UsageError('restore needs IMAGE and at least one TARGET (see clonestation --help)');
  try {
    if (!o.yes) {
      const { confirmOverwriteAll } = await import('../confirm.js');
      await confirmOverwriteAll(
        plans.filter((p) => p.target).map((p) => ({ drive: p.target as NonNullable<RestorePlan['target']>, what: `with ${p.range.length} bytes of image ${p.image.name}${imageOrigin(p.image)} at offset ${p.targetOffset}` })),
        { yes: false },
      );
    }
  } catch (e) {
    await first.zip?.close();
    await first.zstd?.close();
    throw e;
  }
  o.ready?.();
  return executeRestoreMany(plans, o, reporter, signal);
}

export async function executeRestoreMany(plans: RestorePlan[], o: RestoreManyOptions, reporter: Reporter, signal?: AbortSignal): Promise<RestoreManyResult> {
  const first = plans[0] as RestorePlan;
  const notes = [...new Set(plans.flatMap((p) => p.notes))];
  const outcomes: RestoreTargetOutcome[] = plans.map((p) => ({
    path: p.targetPath,
    state: 'done',
    writeRetries: 0,
    verified: false,
    targetDirect: p.direct,
    kind: p.target?.kind ?? 'file',
    model: p.target?.model,
    serial: p.target?.serial,
    size: p.target?.size,
    logicalSectorSize: p.target?.logicalSectorSize,
  }));
  const t0 = process.hrtime.bigint();
  const since = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
  const fail = (t: number, err: { code: string; message: string; offset?: number }): void => {
    const o = outcomes[t];
    if (o.state === 'failed') return;
    Object.assign(o, { state: 'failed', code: err.code, reason: err.message, offset: err.offset });
    reporter.note(`target ${o.path} failed: ${err.message} [${err.code}]`, { what: 'target-failed', target: o.path, index: t, code: err.code, offset: err.offset });
  };
  const written = (t: number): void => {
    outcomes[t].writtenSeconds = since();
    reporter.note(`target ${outcomes[t].path}: written`, { what: 'written', target: outcomes[t].path, index: t, seconds: outcomes[t].writtenSeconds });
  };
  const detached = (t: number, targetOffset: number): void => {
    outcomes[t].detachedAt = targetOffset;
    reporter.note(`target ${outcomes[t].path} fell behind at offset ${targetOffset}: it left the shared stream and catches up on its own`, {
      what: 'detached',
      target: outcomes[t].path,
      index: t,
      offset: targetOffset,
    });
  };
  try {
    for (const n of notes) reporter.note(n);
    if (signal?.aborted) throw new CancelledError('cancelled before writing: every target was left untouched');
    using claims = new Claims();
    for (const p of plans) prepareFileTarget(p, claims);
    reporter.note(
      `restoring ${first.range.length} bytes of ${first.image.format}${first.image.split ? ` (${first.image.parts.length} parts)` : ''} image ${first.image.name} at ${first.range.offset} to ${plans.length} targets (${plans.map((p) => p.targetPath).join(', ')})${first.check ? `; checking ${first.check} of each against the manifest` : ''}`,
      { image: first.image.name, format: first.image.format, parts: first.image.parts.length, targets: plans.map((p) => p.targetPath), offset: first.range.offset, length: first.range.length },
    );
    if (first.zip) await restoreZipMany(plans, zipStreams(first, first.zip), o.zipWindow ?? zipWindowFromEnv(), outcomes, { fail, written, detached }, reporter, signal);
    else if (first.zstd) await restoreZipMany(plans, zstdStreams(first, first.zstd), o.zipWindow ?? zipWindowFromEnv(), outcomes, { fail, written, detached }, reporter, signal);
    else await restoreRawMany(plans, claims, outcomes, { fail, written, detached }, reporter, signal);
    const copySeconds = since();
    if (signal?.aborted) for (const x of outcomes) if (x.state === 'done') x.state = 'cancelled';
    const v0 = since();
    const check = first.check;
    if (check && !signal?.aborted) await checkTargets(plans, check, outcomes, fail, reporter, signal);
    // whole-disk restores to drives of another size: each good target's table made right after its check
    if (!signal?.aborted) await adjustTargets(plans, outcomes, claims, fail, reporter);
    const verifySeconds = since() - v0;
    if (signal?.aborted) for (const x of outcomes) if (x.state === 'done') x.state = 'cancelled';
    const good = outcomes.filter((x) => x.state === 'done').length;
    return {
      image: first.image.name,
      format: first.image.format,
      parts: first.image.parts.length,
      bytes: first.range.length,
      targetOffset: first.targetOffset,
      range: first.range,
      seconds: since(),
      copySeconds,
      verifySeconds,
      aggregateBytesPerSec: copySeconds > 0 ? (good * first.range.length) / copySeconds : 0,
      checked: check,
      ...(check && first.image.hashes[check] ? { hashes: { [check]: first.image.hashes[check] } } : {}),
      targets: outcomes,
      notes,
    };
  } finally {
    await first.zip?.close();
    await first.zstd?.close();
  }
}

/** A decoded image stream: its chunks, from image offset `startAt` on. */
interface DecodedStream {
  chunks: AsyncIterable<Uint8Array>;
  startAt: number;
  close(): Promise<void>;
}

/** The shared stream of a compressed image, and how a laggard opens its own from image offset `from`. */
interface DecodedStreams {
  shared: DecodedStream;
  reopen(from: number): Promise<DecodedStream>;
}

/** A ZIP entry is inflated from its start, for the shared stream and for a laggard. */
function zipStreams(first: RestorePlan, zip: NonNullable<RestorePlan['zip']>): DecodedStreams {
  return {
    shared: { chunks: zip.chunks(), startAt: 0, close: async () => undefined },
    reopen: async () => {
      const own = await (await import('./zip/reader.js')).ZipImageReader.open(zipFiles(first.image));
      return { chunks: own.chunks(), startAt: 0, close: () => own.close() };
    },
  };
}

/** A zstd image is read from the frame holding the range's first byte (a laggard: its first missing byte). */
function zstdStreams(first: RestorePlan, zstd: NonNullable<RestorePlan['zstd']>): DecodedStreams {
  const end = first.range.offset + first.range.length;
  return {
    shared: { chunks: zstd.chunks(first.range), startAt: first.range.offset, close: async () => undefined },
    reopen: async (from) => {
      const own = await (await import('./zstd/reader.js')).ZstdImageReader.open(zipFiles(first.image));
      return { chunks: own.chunks({ offset: from, length: end - from }), startAt: from, close: () => own.close() };
    },
  };
}

async function adjustTargets(plans: RestorePlan[], outcomes: RestoreTargetOutcome[], claims: Claims, fail: Events['fail'], reporter: Reporter): Promise<void> {
  for (const [t, p] of plans.entries()) {
    if (!p.adjust || outcomes[t].state !== 'done') continue;
    try {
      if (p.target?.kind === 'block' && !isClaimed(p.targetPath)) claims.target(p.targetPath);
      outcomes[t].adjusted = await applyTargetAdjust(p.targetPath, p.adjust, (n) => reporter.note(`target ${p.targetPath}: ${n}`, { what: 'adjusted', target: p.targetPath, index: t, adjusted: n }));
    } catch (e) {
      fail(t, e instanceof CloneStationError ? e : { code: 'WRITE_FAILED', message: String(e) });
    }
  }
}

interface Events {
  fail(t: number, err: { code: string; message: string; offset?: number }): void;
  written(t: number): void;
  detached(t: number, targetOffset: number): void;
}

/** Raw and split raw: the engine's 1:N copy over the parts (copy-many.ts), then one sync each. */
async function restoreRawMany(plans: RestorePlan[], claims: Claims, outcomes: RestoreTargetOutcome[], ev: Events, reporter: Reporter, signal: AbortSignal | undefined): Promise<void> {
  const first = plans[0] as RestorePlan;
  // every target gets the same image range at the same offset (planRestore: same options)
  const pieces = partExtents(first.image.parts, first.range, first.targetOffset).map((x) => ({ source: x.part.path, extent: x.extent, delta: x.delta }));
  for (const p of plans) if (p.target?.kind === 'block') claims.target(p.targetPath);
  let finished = 0;
  let current: EngineJob | undefined;
  const total = first.range.length * plans.length;
  const progress = startProgress('copy', total, reporter, () => finished + (current?.snapshot().targets.reduce((s, x) => s + x.bytes, 0) ?? 0));
  const onAbort = (): void => current?.cancel();
  signal?.addEventListener('abort', onAbort);
  const syncEach = pieces.length > 1;
  // parts are written without a sync each: one fdatasync per target as soon as it holds every
  // byte (while a slow one still catches up)
  const syncs: Promise<void>[] = [];
  const syncOne = async (t: number): Promise<void> => {
    const x = outcomes[t] as RestoreTargetOutcome;
    try {
      const fd = openSync(x.path, fsConstants.O_RDONLY);
      try {
        await fdatasyncAsync(fd);
      } finally {
        closeSync(fd);
      }
      ev.written(t);
    } catch (e) {
      ev.fail(t, { code: 'WRITE_FAILED', message: `flushing target ${x.path} to the device failed (${(e as Error).message}): its contents are not trustworthy` });
    }
  };
  try {
    const out = await copyToMany(
      {
        pieces,
        targets: plans.map((p) => p.targetPath),
        blockSize: first.blockSize,
        depth: first.depth,
        backend: first.backend,
        direct: first.direct,
        lagMs: RAW_LAG_MS,
        retries: RAW_RETRIES,
        // one fdatasync per target at the end is enough; a single part syncs itself
        sync: !syncEach,
      },
      {
        run: async (job) => {
          current = job;
          const eps = job.endpoints();
          eps.targets.forEach((e, i) => {
            if (!e.direct) {
              const t = outcomes.findIndex((x) => x.path === job.request.targets[i]?.path);
              if (t >= 0 && outcomes[t].targetDirect) {
                outcomes[t].targetDirect = false;
                reporter.note(`target ${outcomes[t].path} buffered (${e.directNote ?? ''})`, { target: outcomes[t].path, targetDirect: false });
              }
            }
          });
          const r = await job.run();
          current = undefined;
          finished += r.progress.targets.reduce((s, x) => s + x.bytes, 0);
          return r;
        },
        cancelled: () => signal?.aborted ?? false,
        written: (t) => {
          if (syncEach) syncs.push(syncOne(t));
          else ev.written(t);
        },
        failed: (t, code, reason, _offset, targetOffset) => ev.fail(t, { code, message: `${reason}: target ${plans[t]?.targetPath} is incomplete`, offset: targetOffset }),
        detached: (t, offset, piece) => ev.detached(t, offset + (pieces[piece]?.delta ?? 0)),
        retried: (t, attempt) => (outcomes[t].writeRetries = attempt),
      },
    );
    if (out.readError) {
      // the image failed: no target holds it
      const err = out.readError.error;
      const part = first.image.parts.find((x) => x.path === pieces[out.readError?.piece ?? 0]?.source);
      const e =
        err?.code === 'END_OF_DATA'
          ? new ImageError('IMAGE_TRUNCATED', `image file ${part?.path} ended at offset ${err.offset} while being read: is something writing it?`, { path: part?.path })
          : new ImageError('IMAGE_READ_FAILED', `reading image file ${part?.path} failed at offset ${out.readError.offset} (${out.readError.code}${out.fatal ? `: ${out.fatal.message}` : ''}): copy the image elsewhere and retry`, { path: part?.path });
      throw new ImageError(e.code, `${e.message}; no target is a copy of it`, e.details);
    }
    if (out.cancelled || signal?.aborted) throw new CancelledError(`cancelled: the targets are incomplete`);
    await Promise.all(syncs);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    progress.end();
  }
}

/** One target of a ZIP restore: its writer, the chunks queued for it, how far it is fed. */
interface ZipTarget {
  index: number;
  writer: TargetWriter;
  queue: Uint8Array[];
  queued: number;
  /** bytes of the range handed to the writer */
  fed: number;
  state: 'shared' | 'detached' | 'failed' | 'done';
  pump?: Promise<void>;
  wake?: () => void;
}

/** Resolves everyone waiting each time it is poked. */
class Ticker {
  private waiters: (() => void)[] = [];
  poke(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
}

/** Zip and zstd (split or not): one decoded stream fanned out; a laggard leaves for a stream of its own. */
async function restoreZipMany(
  plans: RestorePlan[],
  streams: DecodedStreams,
  window: number,
  outcomes: RestoreTargetOutcome[],
  ev: Events,
  reporter: Reporter,
  signal: AbortSignal | undefined,
): Promise<void> {
  const first = plans[0] as RestorePlan;
  const start = first.range.offset;
  const end = first.range.offset + first.range.length;
  const ticker = new Ticker();
  const targets: ZipTarget[] = [];
  const failWith = (z: ZipTarget, e: unknown): void => {
    if (z.state === 'failed') return;
    z.state = 'failed';
    z.queue = [];
    z.queued = 0;
    const err = e instanceof CloneStationError ? e : new IoError('WRITE_FAILED', `${(e as Error).message}`);
    ev.fail(z.index, { code: err.code, message: err.message, offset: typeof err.details.offset === 'number' ? err.details.offset : undefined });
    void z.writer.abort();
    ticker.poke();
  };
  try {
    for (const [i, p] of plans.entries()) {
      const writer = openTargetWriter(p);
      outcomes[i].targetDirect = writer.direct;
      if (!writer.direct) reporter.note(`target ${p.targetPath} buffered (${writer.directNote})`, { target: p.targetPath, targetDirect: false });
      targets.push({ index: i, writer, queue: [], queued: 0, fed: 0, state: 'shared' });
    }
  } catch (e) {
    for (const z of targets) await z.writer.abort();
    throw e;
  }
  const progress = startProgress('copy', first.range.length * plans.length, reporter, () => targets.reduce((s, z) => s + z.writer.written, 0));
  // Each target's pump writes its queue in order; in the shared stream it stops when detached.
  const pump = async (z: ZipTarget): Promise<void> => {
    while (z.state === 'shared') {
      const c = z.queue.shift();
      if (!c) {
        await new Promise<void>((r) => (z.wake = r));
        z.wake = undefined;
        continue;
      }
      try {
        await z.writer.write(c);
      } catch (e) {
        failWith(z, e);
        return;
      }
      z.fed += c.length;
      z.queued -= c.length;
      ticker.poke();
    }
  };
  const catchUps: Promise<void>[] = [];
  const finishTarget = async (z: ZipTarget): Promise<void> => {
    try {
      await z.writer.finish();
      if (z.fed !== first.range.length) throw new IoError('INCOMPLETE', `only ${z.fed} of ${first.range.length} bytes were written: target ${plans[z.index]?.targetPath} is incomplete`);
      z.state = 'done';
      ev.written(z.index);
    } catch (e) {
      failWith(z, e);
    }
  };
  /** The laggard's own inflate, from the start of the entry, discarding what it already has. */
  const catchUp = async (z: ZipTarget): Promise<void> => {
    await z.pump; // its last write in the shared stream is over: z.fed is exact
    if (z.state !== 'detached') return;
    const from = start + z.fed;
    let own: DecodedStream;
    try {
      own = await streams.reopen(from);
    } catch (e) {
      failWith(z, e);
      return;
    }
    try {
      let pos = own.startAt;
      for await (const chunk of own.chunks) {
        if (signal?.aborted) return;
        const a = Math.max(from - pos, 0);
        const b = Math.min(end - pos, chunk.length);
        pos += chunk.length;
        if (b > a) {
          await z.writer.write(a === 0 && b === chunk.length ? chunk : chunk.subarray(a, b));
          z.fed += b - a;
        }
        if (pos >= end && !first.full) break;
      }
    } catch (e) {
      failWith(z, e);
      return;
    } finally {
      await own.close();
    }
    // the shared stream has checked the entry's CRC; this one did too (its own iteration)
    await finishTarget(z);
  };
  for (const z of targets) z.pump = pump(z);
  let pos = streams.shared.startAt;
  let failure: unknown;
  try {
    for await (const chunk of streams.shared.chunks) {
      if (signal?.aborted) break;
      const a = Math.max(start - pos, 0);
      const b = Math.min(end - pos, chunk.length);
      pos += chunk.length;
      if (b > a) {
        const piece = a === 0 && b === chunk.length ? chunk : chunk.subarray(a, b);
        const shared = targets.filter((z) => z.state === 'shared');
        for (const z of shared) {
          z.queue.push(piece);
          z.queued += piece.length;
          z.wake?.();
        }
        // who is more than the window behind the fastest leaves; the others wait only for the fastest
        // lag is measured in bytes the kernel has taken (a writer's ring holds a few slots more)
        const lead = Math.max(...shared.map((z) => z.writer.written));
        for (const z of shared) {
          if (shared.length > 1 && lead - z.writer.written > window) {
            z.state = 'detached';
            z.queue = [];
            z.queued = 0;
            z.wake?.();
            ev.detached(z.index, plans[z.index].targetOffset + z.fed);
            catchUps.push(catchUp(z));
          }
        }
        for (;;) {
          const still = targets.filter((z) => z.state === 'shared');
          if (still.length === 0 || Math.min(...still.map((z) => z.queued)) <= ZIP_LOW || signal?.aborted) break;
          await ticker.wait();
        }
      }
      if (pos >= end && !first.full) break;
    }
  } catch (e) {
    failure = e;
  }
  // the shared stream is over: every target still in it writes what it has queued, then syncs
  const finishing = targets.map(async (z) => {
    if (z.state !== 'shared') return;
    while (z.queue.length > 0 && z.state === 'shared' && !failure && !signal?.aborted) await ticker.wait();
    if (z.state !== 'shared') return;
    z.state = 'done'; // stops the pump
    z.wake?.();
    await z.pump;
    if (failure || signal?.aborted) return;
    await finishTarget(z);
  });
  await Promise.all(finishing);
  await Promise.all(catchUps);
  progress.end();
  if (failure || signal?.aborted) {
    for (const z of targets) await z.writer.abort();
    if (signal?.aborted) throw new CancelledError('cancelled: the targets are incomplete');
    if (failure instanceof ImageError)
      throw new ImageError(failure.code, `${failure.message}; the targets were partly written and are not faithful copies`, { ...failure.details });
    throw failure;
  }
}

/** A target's restored range, read back with O_DIRECT where it is aligned, buffered for an odd tail. */
class BackReader {
  private fd: number | undefined;
  private readonly bfd: number;
  /** bytes of the range read direct (the aligned body) */
  private readonly body: number;
  constructor(readonly p: RestorePlan) {
    const align = p.target?.kind === 'block' ? Math.max(p.target.logicalSectorSize, 512) : 4096;
    let direct = p.targetOffset % align === 0;
    if (direct) {
      try {
        this.fd = openSync(p.targetPath, fsConstants.O_RDONLY | fsConstants.O_DIRECT);
      } catch (e) {
        if (!isSystemCallError(e) || e.code !== 'EINVAL') throw openError(e, 'target', p.targetPath);
        direct = false;
      }
    }
    try {
      this.bfd = openSync(p.targetPath, fsConstants.O_RDONLY);
    } catch (e) {
      if (this.fd !== undefined) closeSync(this.fd);
      throw openError(e, 'target', p.targetPath);
    }
    this.body = direct ? p.range.length - (p.range.length % align) : 0;
  }
  /** Bytes [done, done + want) of the range into buf (4096-aligned memory; done a multiple of 4096). */
  async read(buf: Uint8Array, done: number, want: number): Promise<void> {
    const directEnd = Math.min(done + want, this.body);
    if (this.fd !== undefined && done < directEnd) await this.readAll(this.fd, buf, 0, directEnd - done, done);
    const from = Math.max(directEnd, done);
    if (from < done + want) await this.readAll(this.bfd, buf, from - done, done + want - from, from);
  }
  private async readAll(fd: number, buf: Uint8Array, off: number, len: number, rangeAt: number): Promise<void> {
    let got = 0;
    while (got < len) {
      const at = this.p.targetOffset + rangeAt + got;
      let n: number;
      try {
        ({ bytesRead: n } = await readAsync(fd, buf, off + got, len - got, at));
      } catch (e) {
        throw new IoError('VERIFY_READ_FAILED', `reading target ${this.p.targetPath} back failed at offset ${at} (${isSystemCallError(e) ? e.code : (e as Error).message}): the drive may be failing`, { path: this.p.targetPath, offset: at });
      }
      if (n === 0) throw new IoError('VERIFY_READ_FAILED', `target ${this.p.targetPath} ended at offset ${at} while being read back`, { path: this.p.targetPath, offset: at });
      got += n;
    }
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    closeSync(this.bfd);
  }
}

function alignedBuffers(count: number): Uint8Array[] {
  const mem = new Uint8Array(new SharedArrayBuffer(count * READ_SIZE + 4096));
  const pad = engine.alignPad(mem, 4096);
  return Array.from({ length: count }, (_, i) => mem.subarray(pad + i * READ_SIZE, pad + (i + 1) * READ_SIZE));
}

/**
 * Reads every good target back (O_DIRECT where it can), all in one pass at once. The first
 * is hashed with the manifest's fastest hash on a thread of its own; every other one is
 * compared with it byte for byte as they are read (a memcmp, where a hash each would cost a
 * core each): equal to a target whose hash matches the manifest, it holds the image; a
 * difference fails it at the first differing offset. Should the hashed one itself be wrong,
 * the others are hashed one by one.
 */
async function checkTargets(plans: RestorePlan[], alg: HashAlgorithm, outcomes: RestoreTargetOutcome[], fail: Events['fail'], reporter: Reporter, signal: AbortSignal | undefined): Promise<void> {
  const first = plans[0] as RestorePlan;
  const expected = first.image.hashes[alg];
  if (!expected) return;
  const live = outcomes.map((x, i) => (x.state === 'done' ? i : -1)).filter((i) => i >= 0);
  if (live.length === 0) return;
  const length = first.range.length;
  let bytes = 0;
  const progress = startProgress('verify', length * live.length, reporter, () => bytes);
  const failErr = (t: number, e: unknown): void => {
    const err = e instanceof CloneStationError ? e : new IoError('VERIFY_READ_FAILED', (e as Error).message);
    fail(t, { code: err.code, message: err.message, offset: typeof err.details.offset === 'number' ? err.details.offset : undefined });
  };
  const matches = (t: number, got: string): boolean => {
    const p = plans[t] as RestorePlan;
    if (!firstHashMismatch({ [alg]: expected }, { [alg]: got })) return true;
    fail(t, { code: 'VERIFY_MISMATCH', message: `read back, target ${p.targetPath} differs from the image: ${alg} ${got}, the manifest says ${expected}; it is not a faithful copy (restore it again, or the drive may be failing)` });
    return false;
  };
  const good = (t: number): void => {
    outcomes[t].verified = true;
    outcomes[t].checked = alg;
  };
  /** targets to hash on their own afterwards (the reference failed) */
  let alone: number[] = [];
  const readers = new Map<number, BackReader>();
  const hash = await HashThread.start([alg]);
  try {
    for (const t of live) {
      try {
        readers.set(t, new BackReader(plans[t] as RestorePlan));
      } catch (e) {
        failErr(t, e);
      }
    }
    const ref = [...readers.keys()][0];
    if (ref === undefined) return;
    const others = [...readers.keys()].slice(1);
    /** targets still compared: first differing offset (range-relative) of the others */
    const differs = new Map<number, number>();
    let active = [ref, ...others];
    // two sets of buffers: one is read into while the reference's other one is hashed
    const sets = [0, 1].map(() => new Map(active.map((t) => [t, alignedBuffers(1)[0] as Uint8Array] as const)));
    const hashing: (Promise<void> | undefined)[] = [undefined, undefined];
    let refFailed = false;
    for (let done = 0, k = 0; done < length && !signal?.aborted; done += READ_SIZE, k ^= 1) {
      const want = Math.min(READ_SIZE, length - done);
      const set = sets[k] as Map<number, Uint8Array>;
      await hashing[k];
      const results = await Promise.allSettled(active.map((t) => (readers.get(t) as BackReader).read(set.get(t) as Uint8Array, done, want)));
      results.forEach((r, i) => {
        if (r.status === 'rejected') {
          const t = active[i] as number;
          failErr(t, r.reason);
          if (t === ref) refFailed = true;
        }
      });
      active = active.filter((t, i) => results[i]?.status === 'fulfilled');
      if (refFailed) break;
      const refBuf = (set.get(ref) as Uint8Array).subarray(0, want);
      hashing[k] = hash.update(refBuf);
      for (const t of active) {
        if (t === ref) continue;
        const b = (set.get(t) as Uint8Array).subarray(0, want);
        if (Buffer.compare(b, refBuf) !== 0) {
          let j = 0;
          while (j < want && b[j] === refBuf[j]) j++;
          differs.set(t, done + j);
        }
      }
      active = active.filter((t) => !differs.has(t));
      bytes += want * results.length;
    }
    await Promise.all(hashing);
    if (signal?.aborted) return;
    if (refFailed) {
      alone = others.filter((t) => outcomes[t]?.state === 'done');
    } else {
      const got = (await hash.digest())[alg] ?? '';
      if (matches(ref, got)) {
        good(ref);
        for (const t of active) if (t !== ref) good(t);
        for (const [t, at] of differs) {
          const p = plans[t] as RestorePlan;
          fail(t, { code: 'VERIFY_MISMATCH', message: `read back, target ${p.targetPath} differs from the image at offset ${p.targetOffset + at}: it is not a faithful copy (restore it again, or the drive may be failing)`, offset: p.targetOffset + at });
        }
      } else {
        // the same bytes as a wrong one are wrong too; the ones that differed are hashed alone
        for (const t of active) if (t !== ref) matches(t, got);
        alone = [...differs.keys()];
      }
    }
  } finally {
    await hash.close();
    for (const r of readers.values()) r.close();
    progress.end();
  }
  await Promise.all(
    alone.map(async (t) => {
      try {
        const got = await hashBack(plans[t] as RestorePlan, alg, () => undefined, signal);
        if (!signal?.aborted && matches(t, got)) good(t);
      } catch (e) {
        failErr(t, e);
      }
    }),
  );
}

/** One target's restored bytes read back and hashed on a thread of its own. */
async function hashBack(p: RestorePlan, alg: HashAlgorithm, onBytes: (n: number) => void, signal: AbortSignal | undefined): Promise<string> {
  const reader = new BackReader(p);
  const hash = await HashThread.start([alg]);
  const bufs = alignedBuffers(3);
  const busy: (Promise<void> | undefined)[] = [undefined, undefined, undefined];
  try {
    for (let done = 0, i = 0; done < p.range.length && !signal?.aborted; done += READ_SIZE, i = (i + 1) % bufs.length) {
      const want = Math.min(READ_SIZE, p.range.length - done);
      const buf = bufs[i] as Uint8Array;
      await busy[i];
      await reader.read(buf, done, want);
      busy[i] = hash.update(buf.subarray(0, want));
      onBytes(want);
    }
    await Promise.all(busy);
    return (await hash.digest())[alg] ?? '';
  } finally {
    await Promise.allSettled(busy);
    await hash.close();
    reader.close();
  }
}

/** One line per target for the summary. */
export function targetLines(r: RestoreManyResult): string[] {
  return r.targets.map((t) => {
    if (t.state === 'done') return `  ${t.path}: good${t.checked ? `, ${t.checked} matches the manifest` : ', not checked'}${t.detachedAt !== undefined ? ` (caught up on its own from offset ${t.detachedAt})` : ''}`;
    if (t.state === 'cancelled') return `  ${t.path}: cancelled, incomplete`;
    return `  ${t.path}: FAILED ${t.code}${t.offset !== undefined ? ` at offset ${t.offset}` : ''}: ${t.reason}`;
  });
}

/** The report: the image, then one row per target (like a station job's targets). */
export function restoreReport(r: RestoreManyResult, started: Date): Record<string, unknown> {
  return {
    kind: 'restore',
    startedAt: started.toISOString(),
    endedAt: new Date().toISOString(),
    image: { name: r.image, format: r.format, parts: r.parts },
    range: { offset: r.range.offset, length: r.range.length, targetOffset: r.targetOffset },
    bytes: r.bytes,
    seconds: r.seconds,
    copySeconds: r.copySeconds,
    verifySeconds: r.verifySeconds,
    aggregateBytesPerSec: r.aggregateBytesPerSec,
    checked: r.checked,
    ...(r.hashes ? { hashes: r.hashes } : {}),
    summary: {
      targets: r.targets.length,
      targetsDone: r.targets.filter((t) => t.state === 'done').length,
      targetsFailed: r.targets.filter((t) => t.state === 'failed').length,
      targetsCancelled: r.targets.filter((t) => t.state === 'cancelled').length,
    },
    targets: r.targets,
    notes: r.notes,
  };
}

