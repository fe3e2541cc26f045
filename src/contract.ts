// The thread contract: everything that crosses between the station's thread and a worker
// (the control and phase words, the engine's counter layout, each task's input and result,
// the events on the MessagePort), declared once and imported by both sides.
//
// Shared memory carries what is read at any pace (control, phase, counters); the port
// carries what happens once (a phase entered, a target written or failed, a rescue's
// progress and map). No number that means something on the other thread is written
// anywhere else: a side that needs one imports it from here.
import type { MessagePort } from 'node:worker_threads';
import { InternalError } from './errors.js';
import type { ProgressSnapshot } from './counters.js';
import type { JobRequest } from './engine.js';
import type { Backend, NativeChunkError } from './native.js';
import type { HashAlgorithm } from './image/hash.js';
import type { ChunkResult } from './image/zip/deflate.js';
import type { RescueOptions, RescueSummary } from './rescue/rescue.js';
import type { MapSnapshot } from './rescue/snapshot.js';

// ---------------------------------------------------------------------------------------
// Control and phase words: an Int32Array over a SharedArrayBuffer the station allocates.
// The station writes the control word, the worker polls it; the worker writes the phase
// word, the station and the dashboard read it.

/** Which Int32 of a job's control memory holds what. */
export const ControlSlot = { control: 0, phase: 1 } as const;
/** Int32 words in a job's control memory. */
export const CONTROL_WORDS = 2;

/** What the operator asks of a job, through the control word. */
export const Control = { run: 0, pause: 1, cancel: 2 } as const;
export type ControlName = keyof typeof Control;
export type ControlValue = (typeof Control)[ControlName];

/** Where a station job is, through the phase word (and the 'phase' event). */
export const Phase = { queued: 0, copying: 1, catchingUp: 2, verifying: 3, finished: 4 } as const;
export type PhaseName = keyof typeof Phase;
export type PhaseValue = (typeof Phase)[PhaseName];

const controlNames = new Map<number, ControlName>(Object.entries(Control).map(([k, v]) => [v, k as ControlName]));
const phaseNames = new Map<number, PhaseName>(Object.entries(Phase).map(([k, v]) => [v, k as PhaseName]));

/** A job's control memory: the control word says `run`, the phase word `queued`. */
export function allocateControl(): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
}

/** Either side's handle on a job's control memory. */
export type ControlMemory = SharedArrayBuffer | Int32Array;

function words(c: ControlMemory): Int32Array {
  return c instanceof Int32Array ? c : new Int32Array(c);
}

/** The control word as the worker sees it (an unknown value is a bug on one side). */
export function readControl(c: ControlMemory): ControlValue {
  const v = Atomics.load(words(c), ControlSlot.control);
  if (!controlNames.has(v)) throw new InternalError(`control word holds ${v}, which is no Control value`);
  return v as ControlValue;
}
export function controlName(v: ControlValue): ControlName {
  return controlNames.get(v) as ControlName;
}
export function requestPause(c: ControlMemory): void {
  Atomics.store(words(c), ControlSlot.control, Control.pause);
}
export function requestResume(c: ControlMemory): void {
  Atomics.store(words(c), ControlSlot.control, Control.run);
}
export function requestCancel(c: ControlMemory): void {
  Atomics.store(words(c), ControlSlot.control, Control.cancel);
}
export function pauseRequested(c: ControlMemory): boolean {
  return readControl(c) === Control.pause;
}
export function cancelRequested(c: ControlMemory): boolean {
  return readControl(c) === Control.cancel;
}

/** The phase word, as the worker last set it. */
export function readPhase(c: ControlMemory): PhaseValue {
  const v = Atomics.load(words(c), ControlSlot.phase);
  if (!phaseNames.has(v)) throw new InternalError(`phase word holds ${v}, which is no Phase value`);
  return v as PhaseValue;
}
export function phaseName(v: PhaseValue): PhaseName {
  return phaseNames.get(v) as PhaseName;
}
export function setPhase(c: ControlMemory, phase: PhaseValue): void {
  Atomics.store(words(c), ControlSlot.phase, phase);
}

// ---------------------------------------------------------------------------------------
// The engine's counters (their layout lives beside the engine, src/counters.ts, which the
// engine itself imports; they are part of this contract all the same).
export * from './counters.js';

// ---------------------------------------------------------------------------------------
// Tasks: what each worker module is given and returns.

/** A task's end, as every task reports it. */
export type TaskState = 'done' | 'failed' | 'cancelled';

/** src/jobs/clone.ts: one clone job (1:1 or 1:N), the payload its run gets. */
export interface CloneJobSpec {
  source: string;
  targets: string[];
  /** source offset and length; target offset = source offset + targetDelta */
  offset: number;
  length: number;
  targetDelta: number;
  blockSize: number;
  depth: number;
  /** ring slots of the verify (it reads the source and every target into each: 1 + N buffers a slot); default depth */
  verifyDepth?: number;
  backend: Backend;
  direct: boolean;
  verify: boolean;
  /** ms a target may pace the shared stream before it leaves it (0: never) */
  lagMs: number;
  /** write retries per target, with backoff, before it is failed */
  retries: number;
  /** hashes of the bytes copied, computed on the fly from the ring (taps) */
  hash?: HashAlgorithm[];
  /** bytes/s each engine job of this task may move (0 or absent: no limit; the demo's --throttle) */
  maxRate?: number;
  /** facts planning found (a mounted source), told as notes when the job starts */
  notes?: string[];
  /** whole-disk copies: each target's partition-table adjustment after the copy (src/partition/whole-disk.ts), by target index */
  adjust?: (import('./partition/apply.js').TargetAdjust | null)[];
  /** --used-only: only these source extents (flat [offset, length, ...], inside the range) are copied and verified */
  used?: { extents: number[]; usedBytes: number };
  /** with used: the range's free extents are zeroed on every target */
  zeroFree?: boolean;
}

export interface TargetOutcome {
  path: string;
  state: TaskState;
  code?: string;
  reason?: string;
  /** the exit status of its failure's error class (src/errors.ts ExitStatus) */
  status?: number;
  /** written with O_DIRECT */
  direct?: boolean;
  /** source offset of the failure */
  offset?: number;
  /** left the shared stream for being slow, at this source offset */
  detachedAt?: number;
  writeRetries: number;
  verified: boolean;
  /** what was adjusted on it after the copy (partition table moved or grown, file system grown) */
  adjusted?: string[];
  /** seconds from the job's start until this target was fully written and synced */
  writtenSeconds?: number;
}

export interface CloneTaskResult {
  state: TaskState;
  targets: TargetOutcome[];
  readError?: { offset: number; code: string };
  copySeconds: number;
  verifySeconds: number;
  backend: string;
  backendNote?: string;
  registeredBuffers?: boolean;
  /** the source was read with O_DIRECT */
  sourceDirect?: boolean;
  /** of the source range as read and written; verified targets hold exactly these bytes */
  hashes?: Partial<Record<HashAlgorithm, string>>;
  /** why hashes were asked for and are missing */
  hashNote?: string;
}

/** src/jobs/rescue.ts's run: one rescue job (its result). */
export interface RescueTaskResult {
  state: TaskState;
  summary?: RescueSummary;
  code?: string;
  reason?: string;
  /** the map as it ended (the last 'map' event may still be in flight when the task returns) */
  map?: MapSnapshot;
}

/** workers/job-task.ts: one station job of any kind (src/jobs/kind.ts). */
export interface JobTask {
  /** the compiled file that default-exports the job's kind */
  module: string;
  /** what the kind planned for its run (structured-cloned) */
  payload: unknown;
  /** control and phase words (allocateControl) */
  control: SharedArrayBuffer;
  /** the shared memory the kind publishes its progress in */
  counters: Record<string, SharedArrayBuffer>;
  port?: MessagePort;
}

/** workers/copy.ts: one engine job. */
export interface CopyTask {
  request: JobRequest;
  counters: SharedArrayBuffer;
  /** the control word (the phase word is not used: at least one Int32) */
  control: SharedArrayBuffer;
}

export interface CopyTaskResult {
  state: TaskState;
  backend: string;
  backendNote: string;
  errors: NativeChunkError[];
  progress: ProgressSnapshot;
  fatal?: { code: string; message: string };
  threadId: number;
}

/** workers/deflate-task.ts: one chunk of a ZIP image's deflate stream. */
export interface DeflateTask {
  input: Uint8Array;
  /** the previous chunk's last 32 KiB, or undefined for the first chunk */
  dictionary?: Uint8Array;
  level: number;
}
export type DeflateTaskResult = ChunkResult;

/** workers/hash-thread.ts (a plain worker, not a piscina task): its requests and replies. */
export type HashThreadRequest = { op: 'update'; id: number; data: Uint8Array } | { op: 'digest'; id: number };
export type HashThreadReply = { id: number; error?: string; digest?: Partial<Record<HashAlgorithm, string>> };

// ---------------------------------------------------------------------------------------
// Events: every message a task posts on its MessagePort. A task posts with postEvent; the
// station receives with onEvents, whose handler table must name every type.

export type WorkerEvent =
  /** the job entered a phase (also in the phase word) */
  | { type: 'phase'; phase: PhaseValue }
  /** target `index` is fully written and synced, `seconds` after the job started */
  | { type: 'written'; index: number; seconds: number }
  /** target `index` failed and is out of the job */
  | { type: 'target-failed'; index: number; code: string; reason: string; offset?: number }
  /** a rescue's progress (at most 4 a second, and whenever its pass changes) */
  | { type: 'progress'; done: number; total: number; pass: string; bytesBad: number }
  /** a rescue's map, compacted, once a second */
  | { type: 'map'; pass: string; map: MapSnapshot }
  /** a rescue's note (what a terminal run would print as a fact) */
  | { type: 'note'; message: string; fields?: Record<string, unknown> };

export type WorkerEventType = WorkerEvent['type'];
export type WorkerEventOf<T extends WorkerEventType> = Extract<WorkerEvent, { type: T }>;
export type WorkerEventHandlers = { [T in WorkerEventType]: (event: WorkerEventOf<T>) => void };

/** Where a task posts its events: a MessagePort, or a sink on the same thread (a job run here). */
export type EventSink = Pick<MessagePort, 'postMessage'>;

/** Posts one event (a task without a port posts nothing). */
export function postEvent(port: EventSink | undefined, event: WorkerEvent): void {
  port?.postMessage(event);
}

/** Sets the phase word and tells the station over the port. */
export function enterPhase(control: ControlMemory, port: EventSink | undefined, phase: PhaseValue): void {
  setPhase(control, phase);
  postEvent(port, { type: 'phase', phase });
}

/** Hands one event to its handler; a message that is no WorkerEvent is a bug (InternalError). */
export function dispatchEvent(event: WorkerEvent, on: WorkerEventHandlers): void {
  switch (event.type) {
    case 'phase':
      return on.phase(event);
    case 'written':
      return on.written(event);
    case 'target-failed':
      return on['target-failed'](event);
    case 'progress':
      return on.progress(event);
    case 'map':
      return on.map(event);
    case 'note':
      return on.note(event);
    default: {
      const unknown: never = event;
      throw new InternalError(`a worker posted a message that is no WorkerEvent: ${JSON.stringify(unknown)?.slice(0, 200)}`);
    }
  }
}

/** Receives a task's events on `port`; returns a function that stops listening. */
export function onEvents(port: MessagePort, on: WorkerEventHandlers): () => void {
  const listener = (m: WorkerEvent): void => dispatchEvent(m, on);
  port.on('message', listener);
  return () => void port.off('message', listener);
}
