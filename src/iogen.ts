// The I/O generator as policy sees it: a typed, checked benchmark spec in; live counters and
// a latency histogram readable from any thread (a SharedArrayBuffer); fio-style figures out.
import { engine, type Backend, type NativeEngine } from './native.js';
import { IoError, UsageError, openError, type CloneStationError } from './errors.js';
import { isClaimed } from './claim.js';
import {
  PLAT_BITS,
  PLAT_BUCKETS,
  PLAT_GROUPS,
  REPORT_PERCENTILES,
  mergeHistograms,
  mergeSampleStats,
  percentiles,
  stddev,
  type Percentile,
  type SampleStats,
} from './iogen-histogram.js';

export * from './iogen-histogram.js';

/** fio's rw names: sequential or random, reads, writes or both. */
export const IOGEN_PATTERNS = ['read', 'write', 'randread', 'randwrite', 'rw', 'randrw'] as const;
export type IoGenPattern = (typeof IOGEN_PATTERNS)[number];

export const IOGEN_LIMITS = {
  /** bytes per I/O */
  maxBlockSize: 64 << 20,
  /** I/Os in flight per ring */
  maxDepth: 1024,
  /** rings */
  maxJobs: 256,
  /** threads of the portable backend (depth x jobs) */
  maxThreads: 4096,
  /** offsets kept per ring by recordOffsets */
  maxRecordOffsets: 1 << 20,
} as const;

/**
 * One workload on one drive or file. Exactly one of runtimeMs (time-based) and bytes
 * (a count) is given.
 */
export interface IoGenSpec {
  /** the block device or regular file to test; always opened with O_DIRECT (never the page cache) */
  path: string;
  /** read / write: sequential; randread / randwrite: uniform random offsets; rw / randrw: mixed */
  rw: IoGenPattern;
  /** mixed patterns: the percentage of I/Os that are reads (fio's rwmixread), 0..100, default 50 */
  readPercent?: number;
  /** bytes per I/O: a multiple of the drive's O_DIRECT alignment (its logical sector size; 4096 for a file without a reported alignment) */
  blockSize: number;
  /** I/Os in flight per ring (fio's iodepth, CrystalDiskMark's Q), default 1 */
  depth?: number;
  /**
   * rings running at once (fio's numjobs, CrystalDiskMark's T), default 1. Each is its own
   * native thread and io_uring (or `depth` threads on the portable backend) and works over
   * the whole range, as fio's numjobs jobs do: random rings draw from the whole range with
   * their own seeds, sequential rings each start at `offset`.
   */
  jobs?: number;
  /** start of the range tested, bytes (default 0): a multiple of the O_DIRECT alignment */
  offset?: number;
  /** length of the range tested, bytes (default: to the end of the drive); I/O uses its whole blocks only, sequential runs wrap around */
  size?: number;
  /** time-based: measured time in ms, after the ramp */
  runtimeMs?: number;
  /** time-based: ms at the start whose completions are not counted (the drive and caches settle), default 0 */
  rampMs?: number;
  /** count-based: total bytes over all rings (a multiple of blockSize), split evenly between the rings */
  bytes?: number;
  /** seed of the offset and data generator (xoshiro256**), a non-negative safe integer, default 1: the same seed gives the same offsets */
  seed?: number;
  /** write data: 'random' (default: incompressible, 8 bytes of every 512 changed per write, so no two blocks are alike) or 'zeros' */
  fill?: 'random' | 'zeros';
  /** 'auto' (default: io_uring, else threads), 'io_uring' or 'threads' (pread/pwrite from `depth` threads per ring) */
  backend?: Backend;
  /** writes to a block device open it O_EXCL (refused while mounted or held); default true when writing */
  exclusive?: boolean;
  /** test aid: keep each ring's first K offsets (result.rings[i].offsets), default 0 */
  recordOffsets?: number;
}

/** What the generator learned about the path it opened. */
export interface IoGenTarget {
  kind: 'block' | 'file';
  size: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  directAlign: number;
}

/** The spec as native reads it (every field filled in and checked). */
export interface NativeIoGenSpec {
  path: string;
  backend: Backend;
  readPercent: number;
  random: boolean;
  blockSize: number;
  depth: number;
  jobs: number;
  offset: number;
  size: number;
  /** total I/Os; 0: time-based */
  ops: number;
  runtimeMs: number;
  rampMs: number;
  seed: number;
  zeroBuffers: boolean;
  exclusive: boolean;
  recordOffsets: number;
}

interface NativeDirStats extends SampleStats {
  bytes: number;
  latSumNs: number;
  histogram: Float64Array;
}

interface NativeIoGenResult {
  state: 'done' | 'failed' | 'cancelled';
  backend: string;
  backendNote: string;
  registeredBuffers: boolean;
  registeredFiles: boolean;
  elapsedNs: number;
  measuredNs: number;
  cpuNs: number;
  error?: Error & { code: string; errno: number; syscall: string; offset: number };
  rings: { read: NativeDirStats; write: NativeDirStats; offsets: Float64Array }[];
}

interface NativeIoGen {
  start(): Promise<NativeIoGenResult>;
  cancel(): void;
  probe(): IoGenTarget;
}

/** Where each figure lives in the generator's counter memory (uint64 words). */
export interface IoGenLayout {
  state: number;
  phase: number;
  readOps: number;
  readBytes: number;
  writeOps: number;
  writeBytes: number;
  readLatSumNs: number;
  writeLatSumNs: number;
  inFlight: number;
  measuredNs: number;
  header: number;
  readHist: number;
  writeHist: number;
  count: number;
  buckets: number;
  bits: number;
  groups: number;
}

interface IoGenAddon {
  IoGen: new (spec: NativeIoGenSpec, counters: BigUint64Array) => NativeIoGen;
  ioGenLayout: IoGenLayout;
}

const addon = engine as NativeEngine & IoGenAddon;
/** The counter layout, as the engine was built with it. */
export const IOGEN_LAYOUT: IoGenLayout = addon.ioGenLayout;
// The histogram math here and the buckets native fills must be the same scheme.
if (IOGEN_LAYOUT.buckets !== PLAT_BUCKETS || IOGEN_LAYOUT.bits !== PLAT_BITS || IOGEN_LAYOUT.groups !== PLAT_GROUPS) {
  throw new Error(`the native engine's latency histogram (${IOGEN_LAYOUT.groups}x2^${IOGEN_LAYOUT.bits}) is not the one src/iogen-histogram.ts reads: rebuild it (npm run build)`);
}

// ---------------------------------------------------------------------------------------
// The spec, checked

function usage(code: string, message: string): UsageError {
  return new UsageError(message, code);
}

function integerIn(v: number | undefined, fallback: number, min: number, max: number, code: string, what: string): number {
  const n = v ?? fallback;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw usage(code, `${what} must be a whole number from ${min} to ${max}, got ${String(v)}`);
  return n;
}

/**
 * Checks a spec against the target it will run on and fills in the defaults. Every problem
 * is a UsageError with a code: IOGEN_RW, IOGEN_READ_PERCENT, IOGEN_BLOCK_SIZE, IOGEN_DEPTH,
 * IOGEN_JOBS, IOGEN_RANGE, IOGEN_LIMIT, IOGEN_SEED, IOGEN_RECORD.
 */
export function checkIoGenSpec(spec: IoGenSpec, target: Pick<IoGenTarget, 'size' | 'directAlign'>): NativeIoGenSpec {
  if (!(IOGEN_PATTERNS as readonly string[]).includes(spec.rw)) {
    throw usage('IOGEN_RW', `unknown workload "${String(spec.rw)}": use one of ${IOGEN_PATTERNS.join(', ')}`);
  }
  const mixed = spec.rw === 'rw' || spec.rw === 'randrw';
  if (!mixed && spec.readPercent !== undefined) throw usage('IOGEN_READ_PERCENT', `a read percentage is for the mixed workloads rw and randrw, not ${spec.rw}`);
  const readPercent = mixed ? integerIn(spec.readPercent, 50, 0, 100, 'IOGEN_READ_PERCENT', 'the read percentage') : spec.rw.endsWith('read') ? 100 : 0;
  const align = target.directAlign;
  const bs = spec.blockSize;
  if (!Number.isSafeInteger(bs) || bs <= 0 || bs % align !== 0 || bs > IOGEN_LIMITS.maxBlockSize) {
    throw usage('IOGEN_BLOCK_SIZE', `block size ${String(bs)} must be a multiple of ${align} bytes (the O_DIRECT alignment of ${spec.path}) up to ${IOGEN_LIMITS.maxBlockSize / (1 << 20)} MiB`);
  }
  const depth = integerIn(spec.depth, 1, 1, IOGEN_LIMITS.maxDepth, 'IOGEN_DEPTH', 'the queue depth');
  const jobs = integerIn(spec.jobs, 1, 1, IOGEN_LIMITS.maxJobs, 'IOGEN_JOBS', 'the number of jobs (rings)');
  if (spec.backend === 'threads' && depth * jobs > IOGEN_LIMITS.maxThreads) {
    throw usage('IOGEN_DEPTH', `the portable backend runs depth x jobs threads (${depth * jobs} asked): at most ${IOGEN_LIMITS.maxThreads}`);
  }
  const offset = spec.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % align !== 0) {
    throw usage('IOGEN_RANGE', `offset ${String(offset)} must be a multiple of ${align} bytes (the O_DIRECT alignment of ${spec.path})`);
  }
  if (offset >= target.size) throw usage('IOGEN_RANGE', `offset ${offset} is past the end of ${spec.path} (${target.size} bytes)`);
  const size = spec.size ?? target.size - offset;
  if (!Number.isSafeInteger(size) || size < bs || size > target.size - offset) {
    throw usage('IOGEN_RANGE', `the range tested (${String(size)} bytes from ${offset}) must hold at least one ${bs}-byte block and end inside ${spec.path} (${target.size} bytes)`);
  }
  const timed = spec.runtimeMs !== undefined;
  if (timed === (spec.bytes !== undefined)) throw usage('IOGEN_LIMIT', 'give either a runtime (time-based) or a byte count, not both and not neither');
  let ops = 0;
  let runtimeMs = 0;
  let rampMs = 0;
  if (timed) {
    runtimeMs = integerIn(spec.runtimeMs, 0, 1, 7 * 24 * 3600 * 1000, 'IOGEN_LIMIT', 'the runtime in ms');
    rampMs = integerIn(spec.rampMs, 0, 0, 24 * 3600 * 1000, 'IOGEN_LIMIT', 'the ramp in ms');
  } else {
    if (spec.rampMs) throw usage('IOGEN_LIMIT', 'a ramp is for time-based runs: with a byte count, every I/O is counted');
    const bytes = spec.bytes as number;
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % bs !== 0) throw usage('IOGEN_LIMIT', `the byte count ${String(bytes)} must be a positive multiple of the block size ${bs}`);
    ops = bytes / bs;
  }
  const seed = spec.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw usage('IOGEN_SEED', `the seed must be a non-negative whole number, got ${String(spec.seed)}`);
  const recordOffsets = integerIn(spec.recordOffsets, 0, 0, IOGEN_LIMITS.maxRecordOffsets, 'IOGEN_RECORD', 'the number of offsets to record');
  const writes = readPercent < 100;
  return {
    path: spec.path,
    backend: spec.backend ?? 'auto',
    readPercent,
    random: spec.rw.startsWith('rand'),
    blockSize: bs,
    depth,
    jobs,
    offset,
    size,
    ops,
    runtimeMs,
    rampMs,
    seed,
    zeroBuffers: spec.fill === 'zeros',
    // Inside an operation's claim (claim.ts) the claim is the exclusive holder already.
    exclusive: writes && (spec.exclusive ?? true) && !isClaimed(spec.path),
    recordOffsets,
  };
}

// ---------------------------------------------------------------------------------------
// Live figures, from the counter memory (any thread holding it may read them)

export type IoGenPhase = 'ramp' | 'measuring' | 'ended';
const PHASES: readonly IoGenPhase[] = ['ramp', 'measuring', 'ended'];
const STATES = ['init', 'running', 'done', 'failed', 'cancelled'] as const;

export interface IoGenLiveDirection {
  ops: number;
  bytes: number;
  /** mean completion latency so far, ns (0 before the first counted I/O) */
  meanNs: number;
}

export interface IoGenLive {
  state: (typeof STATES)[number];
  phase: IoGenPhase;
  /** ns measured so far (since the ramp ended) */
  measuredNs: number;
  inFlight: number;
  read: IoGenLiveDirection;
  write: IoGenLiveDirection;
}

/** The generator's counter memory: allocate it here, hand it to IoGenerator and to readers. */
export function allocateIoGenCounters(): SharedArrayBuffer {
  return new SharedArrayBuffer(IOGEN_LAYOUT.count * BigUint64Array.BYTES_PER_ELEMENT);
}

function word(w: BigUint64Array, i: number): number {
  return Number(Atomics.load(w, i));
}

/** The live counters (updated by native every 50 ms and once at the end). */
export function readIoGenLive(counters: SharedArrayBuffer): IoGenLive {
  const w = new BigUint64Array(counters);
  const L = IOGEN_LAYOUT;
  const dir = (ops: number, bytes: number, lat: number): IoGenLiveDirection => {
    const n = word(w, ops);
    return { ops: n, bytes: word(w, bytes), meanNs: n ? word(w, lat) / n : 0 };
  };
  return {
    state: STATES[word(w, L.state)] ?? 'init',
    phase: PHASES[word(w, L.phase)] ?? 'ramp',
    measuredNs: word(w, L.measuredNs),
    inFlight: word(w, L.inFlight),
    read: dir(L.readOps, L.readBytes, L.readLatSumNs),
    write: dir(L.writeOps, L.writeBytes, L.writeLatSumNs),
  };
}

/** A copy of the live latency histogram of one direction (counted I/Os so far). */
export function readIoGenHistogram(counters: SharedArrayBuffer, direction: 'read' | 'write'): Float64Array {
  const w = new BigUint64Array(counters);
  const base = direction === 'read' ? IOGEN_LAYOUT.readHist : IOGEN_LAYOUT.writeHist;
  const out = new Float64Array(PLAT_BUCKETS);
  for (let i = 0; i < PLAT_BUCKETS; i++) out[i] = word(w, base + i);
  return out;
}

// ---------------------------------------------------------------------------------------
// Results

export interface LatencyFigures {
  minNs: number;
  maxNs: number;
  /** exact, from every sample (as fio's clat mean) */
  meanNs: number;
  /** sample standard deviation, exact (as fio's clat stddev) */
  stddevNs: number;
  /** from the histogram: each the value of the bucket it falls in (as fio's clat percentiles) */
  percentiles: Percentile[];
}

export interface DirectionFigures {
  ops: number;
  bytes: number;
  /** the measured time (after the ramp) */
  seconds: number;
  /** bytes per second */
  bw: number;
  iops: number;
  lat: LatencyFigures;
  histogram: Float64Array;
}

export interface IoGenResult {
  state: 'done' | 'failed' | 'cancelled';
  backend: string;
  /** why the backend is not the one asked for (io_uring unavailable), or '' */
  backendNote: string;
  registeredBuffers: boolean;
  registeredFiles: boolean;
  /** start to end, ramp included */
  elapsedSeconds: number;
  /**
   * CPU time of the I/O threads while counting (from each one's first counted completion):
   * what fio's usr_cpu + sys_cpu count (its job thread only; neither counts the kernel's
   * io-wq workers nor the driver's threads)
   */
  cpuSeconds: number;
  /** the I/O error that stopped the run (state 'failed') */
  error?: IoError;
  read: DirectionFigures;
  write: DirectionFigures;
  /** the same figures per ring; offsets: the first recordOffsets offsets (odd: a write at offset - 1) */
  rings: { read: DirectionFigures; write: DirectionFigures; offsets: number[] }[];
}

function figures(parts: readonly NativeDirStats[], seconds: number, list: readonly number[]): DirectionFigures {
  const s = mergeSampleStats(parts);
  const histogram = mergeHistograms(parts.map((p) => p.histogram));
  const bytes = parts.reduce((a, p) => a + p.bytes, 0);
  return {
    ops: s.ops,
    bytes,
    seconds,
    bw: seconds > 0 ? bytes / seconds : 0,
    iops: seconds > 0 ? s.ops / seconds : 0,
    lat: { minNs: s.minNs, maxNs: s.maxNs, meanNs: s.meanNs, stddevNs: stddev(s), percentiles: percentiles(histogram, list) },
    histogram,
  };
}

function runError(e: NonNullable<NativeIoGenResult['error']>, path: string): IoError {
  return new IoError('BENCH_IO_FAILED', `${e.syscall} of ${path} failed at byte ${e.offset} (${e.code}): the drive reported an error, so its figures are not valid; check it (clonestation list, dmesg) before testing again`, {
    path,
    errno: e.code,
    op: e.syscall,
    offset: e.offset,
  });
}

// ---------------------------------------------------------------------------------------
// The generator

export class IoGenerator {
  readonly spec: NativeIoGenSpec;
  readonly counters: SharedArrayBuffer;
  readonly target: IoGenTarget;
  private readonly gen: NativeIoGen;
  private readonly percentileList: readonly number[];

  /**
   * Checks the spec (UsageError) and opens the path with O_DIRECT now, so that a missing,
   * busy or read-only target, or one that refuses direct I/O, fails here; starts nothing.
   */
  constructor(spec: IoGenSpec, opts: { counters?: SharedArrayBuffer; percentiles?: readonly number[] } = {}) {
    // (a mixed workload writes too: its drive is a target)
    const role = spec.rw === 'read' || spec.rw === 'randread' ? 'source' : 'target';
    let probe;
    try {
      probe = engine.probe(spec.path);
    } catch (e) {
      throw openError(e, role, spec.path);
    }
    if (probe.kind === 'other') throw usage('IOGEN_TARGET', `${spec.path} is neither a block device nor a regular file: name a drive or a test file`);
    this.spec = checkIoGenSpec(spec, probe);
    this.counters = opts.counters ?? allocateIoGenCounters();
    this.percentileList = opts.percentiles ?? REPORT_PERCENTILES;
    try {
      this.gen = new addon.IoGen(this.spec, new BigUint64Array(this.counters));
    } catch (e) {
      throw openFailure(e, role, spec.path);
    }
    this.target = this.gen.probe();
  }

  /** Runs the workload to its end (time or count), a cancel, or the first I/O error. */
  async run(): Promise<IoGenResult> {
    const r = await this.gen.start();
    const seconds = r.measuredNs / 1e9;
    const list = this.percentileList;
    return {
      state: r.state,
      backend: r.backend,
      backendNote: r.backendNote,
      registeredBuffers: r.registeredBuffers,
      registeredFiles: r.registeredFiles,
      elapsedSeconds: r.elapsedNs / 1e9,
      cpuSeconds: r.cpuNs / 1e9,
      error: r.error ? runError(r.error, this.spec.path) : undefined,
      read: figures(r.rings.map((x) => x.read), seconds, list),
      write: figures(r.rings.map((x) => x.write), seconds, list),
      rings: r.rings.map((x) => ({
        read: figures([x.read], seconds, list),
        write: figures([x.write], seconds, list),
        offsets: Array.from(x.offsets),
      })),
    };
  }

  /** Stops submitting; what is in flight completes, and run() resolves with state 'cancelled'. */
  cancel(): void {
    this.gen.cancel();
  }

  live(): IoGenLive {
    return readIoGenLive(this.counters);
  }

  histogram(direction: 'read' | 'write'): Float64Array {
    return readIoGenHistogram(this.counters, direction);
  }
}

function openFailure(e: unknown, role: 'source' | 'target', path: string): CloneStationError {
  const err = e as { code?: string; syscall?: string; message?: string };
  if (err.code === 'EINVAL' && err.syscall === 'open(O_DIRECT)') {
    return new IoError('DIRECT_IO_UNSUPPORTED', `${path}: its file system refuses direct I/O (O_DIRECT), and a test through the page cache would measure memory, not the drive: put the test file on a file system with direct I/O (ext4, xfs, btrfs, tmpfs) or name the drive itself`, { path });
  }
  return openError(e, role, path);
}
