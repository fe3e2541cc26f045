// The bench kind: one drive (or a test file) measured with the engine's I/O generator
// (src/iogen.ts): CrystalDiskMark's tests or custom ones, loops combined, optional SNIA
// preconditioning, the signs of a cache; read tests never write.
import { closeSync, existsSync, ftruncateSync, openSync, rmSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { inspectDrive, readText, type DriveInfo } from '../drive.js';
import { checkNewImagePath } from '../clone.js';
import { checkTargetFree } from '../safety.js';
import { RefusedError, UsageError } from '../errors.js';
import { parseSize, formatBytes, formatRate } from '../units.js';
import { allocateIoGenCounters, IoGenerator, readIoGenHistogram, readIoGenLive, type IoGenResult, type IoGenSpec } from '../iogen.js';
import { percentiles } from '../iogen-histogram.js';
import { Phase, cancelRequested, enterPhase, pauseRequested, postEvent } from '../contract.js';
import type { Backend } from '../native.js';
import type { JobView } from '../../dashboard/source.js';
import { PROFILE_SHAPE, PROFILES, parseTestEntry, profileTests, writes, type BenchTest, type Profile } from '../drivebench/tests.js';
import { combineLoops, steadyState, writeCollapse, type TestOutcome } from '../drivebench/figures.js';
import { defineKind, driveIdentity, elapsedSeconds, ENDED, type JobEntry, type JobIo, type JobResult, type StationJob } from './kind.js';
import { driveView } from './view-parts.js';

/** A test file's size when --size is not given. */
export const DEFAULT_TEST_FILE = 1 << 30;

export interface BenchPayload {
  path: string;
  /** a test file this job makes (and removes at its end), of `size` bytes */
  testFile: boolean;
  tests: BenchTest[];
  offset: number;
  size: number;
  runtime: number;
  ramp: number;
  loops: number;
  combine: 'mean' | 'best';
  backend: Backend;
  fill: 'random' | 'zeros';
  precondition: boolean;
  /** bytes/s the drive's link carries at most, when sysfs says */
  linkBytesPerSec?: number;
  link?: string;
}

export interface BenchResult extends JobResult {
  tests: TestOutcome[];
  precondition?: { filledBytes: number; rounds: number[]; steady: boolean };
  notes: string[];
}

type BenchJob = StationJob<BenchPayload, BenchResult>;

/** The link a drive hangs on and what it carries at most, from sysfs (USB speed, SATA link), when it says. */
function linkLimit(d: DriveInfo): { bytesPerSec: number; name: string } | undefined {
  if (d.kind !== 'block' || !d.disk) return undefined;
  const dev = readText(`/sys/class/block/${d.disk.name}/device/../../../speed`) ?? readText(`/sys/class/block/${d.disk.name}/device/../../../../speed`);
  if (d.transport === 'usb' && dev && /^\d+$/.test(dev)) {
    const mbit = Number(dev);
    // line coding: USB 2 ~ 60%, USB 3 8b/10b or 128b/132b
    return { bytesPerSec: (mbit * 1e6 * (mbit <= 480 ? 0.6 : 0.8)) / 8, name: `USB ${mbit} Mb/s` };
  }
  return undefined;
}

/** Whole seconds, bounded. */
function seconds(v: unknown, name: string, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > 3600) throw new UsageError(`${name} must be a number of seconds from ${min} to 3600`, 'BAD_NUMBER');
  return n;
}

function testsOf(entry: JobEntry, profile: Profile): BenchTest[] {
  const custom = entry.tests as string[] | undefined;
  if (custom?.length) return custom.map(parseTestEntry);
  return profileTests(profile, { threads: Boolean(entry.threads), readOnly: Boolean(entry.readOnly) });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs one generator under the control word: a cancel stops it; the live counters are the job's. */
async function runGen(spec: IoGenSpec, io: JobIo): Promise<IoGenResult> {
  const gen = new IoGenerator(spec, { counters: io.counters.live });
  const timer = setInterval(() => {
    if (cancelRequested(io.control)) gen.cancel();
  }, 50);
  try {
    return await gen.run();
  } finally {
    clearInterval(timer);
  }
}

const benchKind = defineKind<BenchPayload, BenchResult>({
  name: 'bench',
  summary: 'a drive measured: sequential and random MB/s, IOPS and latency percentiles, as fio measures them',
  module: import.meta.url,
  jsWork: false,
  fields: {
    drive: { type: 'path', required: true, writes: true, help: 'the drive, or a new test file (made and removed)' },
    profile: { type: 'enum', values: PROFILES, help: 'default, quick, peak (best loop of the high-queue tests), realworld (Q1T1 only)' },
    tests: { type: 'strings', help: 'custom tests instead: "rw=randread,bs=4k,qd=32,jobs=4" ...' },
    threads: { type: 'boolean', help: 'add RND4K Q32T16' },
    readOnly: { type: 'boolean', help: 'skip the write tests (nothing is written)' },
    runtime: { type: 'size', help: 'seconds measured per test and loop' },
    ramp: { type: 'size', help: 'seconds before each, not counted' },
    loops: { type: 'count', min: 1, max: 100, help: 'loops of each test' },
    size: { type: 'size', help: 'the range tested (a test file: its size)' },
    offset: { type: 'size', help: 'start of the range tested' },
    precondition: { type: 'boolean', help: 'first fill the range, then random writes until IOPS are steady (SNIA)' },
    zeros: { type: 'boolean', help: 'write zeros instead of incompressible data' },
  },

  plan(entry: JobEntry, d, id) {
    const path = entry.drive as string;
    const profile = (entry.profile as Profile | undefined) ?? 'default';
    const shape = PROFILE_SHAPE[profile];
    const tests = testsOf(entry, profile);
    if (entry.readOnly && tests.some(writes)) throw new UsageError('--read-only and a test that writes: drop one of them', 'USAGE');
    const anyWrite = tests.some(writes) || Boolean(entry.precondition);
    let drive: DriveInfo | undefined;
    let testFile = false;
    let size: number;
    let offset = 0;
    if (existsSync(path)) {
      drive = inspectDrive(path, anyWrite ? 'target' : 'source');
      if (drive.kind === 'file' && anyWrite)
        throw new RefusedError('OUTPUT_EXISTS', `${path} is an existing file: a write test would destroy it; give a new name for a test file (made and removed afterwards), or --read-only`, { path });
      if (anyWrite) {
        // clone's refusals: mounted, system, swapped-on or held drives are not written
        checkTargetFree(drive);
        if (drive.readOnly) throw new RefusedError('TARGET_READ_ONLY', `${path} is read-only: the write tests cannot run; add --read-only`, { path });
      }
      const sector = drive.logicalSectorSize;
      offset = entry.offset !== undefined ? parseSize(String(entry.offset), '--offset', sector) : 0;
      size = entry.size !== undefined ? parseSize(String(entry.size), '--size', sector) : drive.size - offset;
      if (offset + size > drive.size) throw new UsageError(`--offset ${offset} plus --size ${size} runs past the end of ${path} (${drive.size} bytes)`, 'RANGE');
    } else {
      checkNewImagePath(path);
      testFile = true;
      if (entry.offset !== undefined) throw new UsageError('--offset is for a drive: a test file is tested whole', 'USAGE');
      size = entry.size !== undefined ? parseSize(String(entry.size), '--size') : DEFAULT_TEST_FILE;
      if (size % 4096 !== 0) throw new UsageError('--size of a test file must be a multiple of 4 KiB', 'BAD_SIZE');
      const fs = statfsSync(dirname(resolve(path)));
      if (fs.bavail * fs.bsize < size) throw new UsageError(`a test file of ${formatBytes(size)} does not fit beside ${path} (${formatBytes(fs.bavail * fs.bsize)} free): give a smaller --size`, 'NO_SPACE');
    }
    const largest = Math.max(...tests.map((t) => t.blockSize));
    if (size < largest) throw new UsageError(`the range tested (${size} bytes) is smaller than a test's block (${largest} bytes): give a larger --size`, 'RANGE');
    const link = drive ? linkLimit(drive) : undefined;
    const payload: BenchPayload = {
      path,
      testFile,
      tests,
      offset,
      size,
      runtime: seconds(entry.runtime, '--runtime', shape.runtime, 0.1),
      ramp: seconds(entry.ramp, '--ramp', shape.ramp, 0),
      loops: (entry.loops as number | undefined) ?? 1,
      combine: shape.combine,
      backend: d.backend ?? 'auto',
      fill: entry.zeros ? 'zeros' : 'random',
      precondition: Boolean(entry.precondition),
      linkBytesPerSec: link?.bytesPerSec,
      link: link?.name,
    };
    const perTest = payload.ramp + payload.runtime;
    return {
      payload,
      source: { path, drive },
      targets: [{ path, drive }],
      touches: [{ path, drive, what: anyWrite ? 'the drive tested (written)' : 'the drive tested', writes: anyWrite, file: testFile }],
      overwrites: anyWrite && drive ? [{ drive, what: `with benchmark writes (${tests.filter(writes).map((t) => t.name).join(', ') || 'preconditioning'}), job ${id}` }] : [],
      // seconds of the plan, in ms (the bar counts bytes moved against a projection from it)
      length: Math.round(tests.length * payload.loops * perTest * 1000),
      counters: { live: allocateIoGenCounters() },
      jsWork: false,
      fitRing: () => Math.max(...tests.map((t) => t.blockSize * t.depth * t.jobs)),
    };
  },

  async run(p: BenchPayload, io: JobIo): Promise<BenchResult> {
    const { control, port } = io;
    const result: BenchResult = { state: 'done', tests: [], notes: [] };
    enterPhase(control, port, Phase.copying);
    const t0 = Date.now();
    let pass = 'start';
    // progress in bytes moved (so the dashboard's rates are the drive's), the whole projected
    // from the share of the plan's time gone
    const planMs = p.tests.length * p.loops * (p.ramp + p.runtime) * 1000;
    let moved = 0;
    const tick = setInterval(() => {
      const l = readIoGenLive(io.counters.live);
      const done = moved + l.read.bytes + l.write.bytes;
      const frac = Math.min(1, Math.max(0.01, (Date.now() - t0) / Math.max(1, planMs)));
      postEvent(port, { type: 'progress', done, total: Math.max(done, Math.round(done / frac)), pass, bytesBad: 0 });
    }, 250);
    const base: Omit<IoGenSpec, 'rw' | 'blockSize'> = { path: p.path, offset: p.offset, size: p.size, backend: p.backend, fill: p.fill };
    try {
      if (p.testFile) {
        // a test file holds data before it is read (holes read as fast as memory)
        pass = 'making the test file';
        const fd = openSync(p.path, 'wx', 0o600);
        try {
          ftruncateSync(fd, p.size);
        } finally {
          closeSync(fd);
        }
        const whole = p.size - (p.size % 4096);
        const made = await runGen({ ...base, rw: 'write', blockSize: whole % (1 << 20) === 0 ? 1 << 20 : 4096, depth: 8, bytes: whole }, io);
        if (made.state !== 'done') return { ...result, state: made.state, code: made.error?.code, reason: made.error?.message ?? 'the test file could not be made' };
      }
      if (p.precondition) {
        pass = 'precondition: fill';
        const fill = await runGen({ ...base, rw: 'write', blockSize: 1 << 20, depth: 32, bytes: Math.floor(p.size / (1 << 20)) * (1 << 20) }, io);
        if (fill.state !== 'done') return { ...result, state: fill.state, code: fill.error?.code, reason: fill.error?.message };
        const rounds: number[] = [];
        let steady = false;
        for (let r = 0; r < 25 && !steady && !cancelRequested(control); r++) {
          pass = `precondition: round ${r + 1}`;
          const round = await runGen({ ...base, rw: 'randwrite', blockSize: 4096, depth: 32, runtimeMs: Math.max(500, p.runtime * 1000), seed: r + 1 }, io);
          if (round.state !== 'done') break;
          rounds.push(round.write.iops);
          steady = steadyState(rounds).steady;
        }
        result.precondition = { filledBytes: fill.write.bytes, rounds, steady };
        if (!steady) result.notes.push(`preconditioning ended after ${rounds.length} rounds without steady IOPS (SNIA: range within 20%, slope within 10% over 5 rounds)`);
      }
      for (const t of p.tests) {
        const loops: IoGenResult[] = [];
        const samples: number[] = [];
        let outcome: TestOutcome | undefined;
        for (let l = 0; l < p.loops; l++) {
          while (pauseRequested(control) && !cancelRequested(control)) await sleep(50);
          if (cancelRequested(control)) break;
          pass = p.loops > 1 ? `${t.name} (${l + 1}/${p.loops})` : t.name;
          // write rates once a second, for the cache note
          let last = 0;
          const sampler = writes(t)
            ? setInterval(() => {
                const w = readIoGenLive(io.counters.live).write.bytes;
                if (w >= last) samples.push(w - last);
                last = w;
              }, 1000)
            : undefined;
          const r = await runGen({ ...base, rw: t.rw, blockSize: t.blockSize, depth: t.depth, jobs: t.jobs, readPercent: t.readPercent, runtimeMs: p.runtime * 1000, rampMs: p.ramp * 1000, seed: l + 1 }, io).finally(() => clearInterval(sampler));
          moved += r.read.bytes + r.write.bytes;
          if (r.state !== 'done') {
            outcome = { test: t, state: r.state, loops: loops.length, cpuSeconds: 0, backend: r.backend, code: r.error?.code, reason: r.error?.message };
            break;
          }
          loops.push(r);
        }
        const figures = combineLoops(loops, p.combine);
        outcome = { ...(outcome ?? { test: t, state: cancelRequested(control) ? 'cancelled' : 'done', loops: loops.length, backend: loops[0]?.backend ?? p.backend }), ...figures, cpuSeconds: loops.reduce((a, l) => a + l.cpuSeconds, 0), writeSamples: samples.length ? samples : undefined };
        result.tests.push(outcome);
        postEvent(port, { type: 'note', message: `${p.path}: ${t.name}: ${outcomeText(outcome)}` });
        const fell = writeCollapse(samples);
        if (fell) result.notes.push(`${t.name}: writes fell from ${formatRate(fell.fromBw)} to ${formatRate(fell.toBw)} after ${formatBytes(fell.afterBytes)}: a write cache (SLC or DRAM) filled; the later figure is the drive's own`);
        const read = outcome.read?.bw ?? 0;
        if (p.linkBytesPerSec && read > p.linkBytesPerSec * 1.1) result.notes.push(`${t.name}: ${formatRate(read)} is more than its link (${p.link}) carries: these reads came from a cache, not the medium`);
        if (outcome.state !== 'done') {
          result.state = outcome.state;
          result.code = outcome.code;
          result.reason = outcome.reason;
          break;
        }
      }
      return result;
    } finally {
      clearInterval(tick);
      if (p.testFile) rmSync(p.path, { force: true });
      enterPhase(control, port, Phase.finished);
    }
  },

  view(j: BenchJob): JobView {
    const running = !ENDED.has(j.state) && j.state !== 'queued';
    const live = readIoGenLive(j.planned.counters.live);
    const secs = live.measuredNs / 1e9;
    const ops = live.read.ops + live.write.ops;
    const hist = readIoGenHistogram(j.planned.counters.live, live.write.ops > live.read.ops ? 'write' : 'read');
    const p99 = percentiles(hist, [99])[0]?.ns;
    const last = j.result?.tests.at(-1);
    const moved = (j.result?.tests ?? []).reduce((a, t) => a + (t.read?.bytes ?? 0) + (t.write?.bytes ?? 0), 0);
    return {
      id: j.id,
      role: 'bench',
      drives: [driveView('target', j.planned.payload.path, j.planned.source.drive)],
      state: running && pauseRequested(j.control) ? 'paused' : j.state,
      pass: ENDED.has(j.state) ? '-' : (j.live.pass ?? 'start'),
      // bytes moved, against a whole projected from the plan's time (the rates are the drive's)
      bytesDone: ENDED.has(j.state) ? moved : (j.live.done ?? 0),
      bytesTotal: ENDED.has(j.state) ? moved : Math.max(1, j.live.total ?? 1),
      bytesBad: 0,
      errors: 0,
      elapsed: elapsedSeconds(j),
      badAreas: false,
      canPause: true,
      note: j.error ?? (j.result && j.result.state !== 'done' ? j.result.reason : running && secs > 0 ? `${Math.round(ops / secs)} IOPS, ${formatRate((live.read.bytes + live.write.bytes) / secs)}${p99 ? `, p99 ${(p99 / 1e6).toFixed(2)} ms` : ''}` : last ? `${last.test.name}: ${outcomeText(last)}` : undefined),
    };
  },

  report(j: BenchJob) {
    const p = j.planned.payload;
    const d = j.planned.source.drive;
    const firmware = d?.kind === 'block' && d.disk ? (readText(`/sys/class/block/${d.disk.name}/device/firmware_rev`) ?? readText(`/sys/class/block/${d.disk.name}/device/rev`)) : undefined;
    return {
      drive: { ...driveIdentity(p.path, d), firmware, physicalSectorSize: d?.physicalSectorSize, transport: d?.transport, link: p.link, testFile: p.testFile || undefined },
      range: { offset: p.offset, size: p.size },
      // every test's bytes over every test's measured seconds (the station's "slowest")
      averageBytesPerSec: ((): number => {
        const ts = j.result?.tests ?? [];
        const bytes = ts.reduce((a, t) => a + (t.read?.bytes ?? 0) + (t.write?.bytes ?? 0), 0);
        const secs = ts.reduce((a, t) => a + Math.max(t.read?.seconds ?? 0, t.write?.seconds ?? 0), 0);
        return secs > 0 ? bytes / secs : 0;
      })(),
      runtime: p.runtime,
      ramp: p.ramp,
      loops: p.loops,
      combine: p.combine,
      precondition: j.result?.precondition,
      notes: j.result?.notes,
      tests: (j.result?.tests ?? []).map((t) => ({ ...t, read: t.read && { ...t.read, histogram: undefined }, write: t.write && { ...t.write, histogram: undefined }, writeSamples: undefined })),
      targets: [{ path: p.path, state: j.state, ...(j.state !== 'done' && (j.error ?? j.result?.reason) ? { reason: j.error ?? j.result?.reason } : {}) }],
    };
  },

  rows(j: BenchJob) {
    const tests = j.result?.tests ?? [];
    if (tests.length === 0) return [[j.planned.payload.path, '-', j.state, '-', '-', '-', j.error ?? j.result?.reason ?? '']];
    return tests.map((t) => {
      const d = t.read && t.write ? undefined : (t.read ?? t.write);
      return [j.planned.payload.path, t.test.name, t.state, formatBytes((t.read?.bytes ?? 0) + (t.write?.bytes ?? 0)), d ? formatRate(d.bw) : formatRate((t.read?.bw ?? 0) + (t.write?.bw ?? 0)), '-', t.state === 'done' ? outcomeText(t) : (t.reason ?? '')];
    });
  },
});

/** IOPS, mean and percentiles of a test, for a row or a note. */
export function outcomeText(t: TestOutcome): string {
  const parts: string[] = [];
  for (const [dir, f] of [['read', t.read], ['write', t.write]] as const) {
    if (!f) continue;
    const pct = f.lat.percentiles.map((x) => `p${x.percent} ${(x.ns / 1000).toFixed(x.ns < 1e6 ? 1 : 0)}`).join(' ');
    parts.push(`${t.read && t.write ? `${dir} ` : ''}${formatRate(f.bw)}, ${Math.round(f.iops)} IOPS, mean ${(f.lat.meanNs / 1000).toFixed(1)} µs, ${pct} µs`);
  }
  return parts.join('; ') || 'no I/O';
}

export default benchKind;
