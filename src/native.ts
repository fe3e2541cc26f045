// The typed face of the C++ engine (native/). Loaded once per thread that imports it.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export interface NativeProbe {
  kind: 'block' | 'file' | 'other';
  size: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  dioOffsetAlign: number;
  dioMemAlign: number;
  directAlign: number;
  readOnly: boolean;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  ino: number;
}

/** LOOP_GET_STATUS64 of a bound loop device (device numbers decoded to major/minor). */
export interface NativeLoopStatus {
  /** the device that was opened */
  selfMajor: number;
  selfMinor: number;
  /** lo_device, lo_inode: st_dev and st_ino of the backing file (or device node) */
  devMajor: number;
  devMinor: number;
  ino: number;
  /** lo_rdevice: the backing block device's number; 0:0 when the backing is a regular file */
  rdevMajor: number;
  rdevMinor: number;
  offset: number;
  /** bytes; 0: to the end of the backing */
  sizeLimit: number;
  flags: number;
  /** lo_file_name: for messages only (may be stale, cut at 63 bytes) */
  fileName: string;
}

export interface NativeEndpointSpec {
  path: string;
  direct?: boolean;
  exclusive?: boolean;
  /** target offset = source offset + delta */
  delta?: number;
}

export type Backend = 'auto' | 'io_uring' | 'threads';

export interface NativeJobSpec {
  mode: 'copy' | 'verify';
  source: NativeEndpointSpec;
  targets: NativeEndpointSpec[];
  extents: Float64Array;
  blockSize: number;
  depth: number;
  backend: Backend;
  stopOnReadError: boolean;
  sync: boolean;
  /** 1:N: a target that alone holds every slot this long leaves the shared stream (0: never) */
  lagMs?: number;
  /** keep the list of chunks that reached every live target (takeDone) */
  reportDone?: boolean;
  /** append each finished chunk to this file as "0xPOS 0xSIZE +" (crash journal) */
  journalPath?: string;
  /** test mode: source reads overlapping these [offset, length] pairs fail with EIO */
  simulateBad?: Float64Array;
  /** the ring lives in `memory` (SharedArrayBuffer-backed); each good chunk goes to onTap */
  tap?: { memory: Uint8Array; onTap: (buffer: number, offset: number, length: number) => void };
}

export interface NativeEndpoint {
  path: string;
  direct: boolean;
  directNote: string;
  align: number;
  probe: NativeProbe;
}

export interface NativeChunkError {
  offset: number;
  length: number;
  errno: number;
  /** errno name, or MISMATCH / END_OF_DATA */
  code: string;
  /** -1 for the source, else the target index */
  target: number;
  op: 'read' | 'write' | 'fdatasync' | 'compare' | 'journal';
}

export interface NativeOutcome {
  state: 'done' | 'failed' | 'cancelled';
  backend: string;
  backendNote: string;
  registeredBuffers: boolean;
  registeredFiles: boolean;
  fatal?: Error & { code: string; errno: number; syscall: string };
  /** targets that left the shared stream for being too slow, and from which source offset */
  detached: { target: number; offset: number }[];
}

export interface NativeJob {
  start(): Promise<NativeOutcome>;
  cancel(): void;
  pause(): void;
  resume(): void;
  takeErrors(): NativeChunkError[];
  /** finished chunks since the last call, as flat [offset, length, ...] pairs */
  takeDone(): Float64Array;
  rotateJournal(path: string): void;
  endpoints(): { source: NativeEndpoint; targets: NativeEndpoint[] };
  /** taps: JS has finished reading this ring buffer */
  release(buffer: number): void;
  /** taps: buffer i starts at offset + i * blockSize in the tap memory */
  tapLayout(): { offset: number; blockSize: number };
}

export interface CounterSlots {
  state: number;
  bytesRead: number;
  bytesBad: number;
  readErrors: number;
  position: number;
  bytesCompared: number;
  inFlight: number;
  header: number;
}

export interface NativeEngine {
  probe(path: string): NativeProbe;
  /** null when the path is no bound loop (not a block device; ENXIO, ENOTTY, EINVAL); throws with code/errno/syscall otherwise */
  loopStatus(path: string): NativeLoopStatus | null;
  /** bytes to skip from view's start to an address that is a multiple of align (a power of two) */
  alignPad(view: Uint8Array, align: number): number;
  Job: new (spec: NativeJobSpec, counters: BigUint64Array) => NativeJob;
  /**
   * flock(LOCK_EX|LOCK_NB) on path (created 0644 when `create`; `own`: a lock file of ours,
   * O_NOFOLLOW and regular files only): the descriptor holding it, closed by the caller
   */
  lockFile(path: string, create: boolean, own?: boolean): number;
  /**
   * BLKZEROOUT over [offset, length] pairs of a block device, opened without O_EXCL (the caller
   * holds its claim), on a libuv thread. `unsupported`: a file, or a drive that refused the first
   * request (nothing zeroed). Rejects with code/errno/syscall/offset on a failure after that.
   */
  zeroOutRanges(path: string, extents: Float64Array): Promise<{ bytes: number; unsupported: boolean }>;
  counterSlots: CounterSlots;
}

function addonPath(): string {
  // dist/src/native.js and src/native.ts (under vitest) both sit two levels below the root.
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['..', '../..']) {
    const p = join(here, up, 'build', 'Release', 'clonestation.node');
    if (existsSync(p)) return p;
  }
  throw new Error('the native engine is not built: run `npm ci` (or `npm run build`) in the clonestation folder');
}

const require = createRequire(import.meta.url);
export const engine = require(addonPath()) as NativeEngine;
