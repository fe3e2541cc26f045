// The options several commands share, declared once, and the one reading of each group.
import { defineOptions } from '../command.js';
import { parseHashList } from '../image/hash.js';
import type { EngineTuning, RangeText } from '../engine.js';
import type { Backend } from '../native.js';

/** --block-size, --depth, --backend, --no-direct: how a command runs its engine jobs. */
export const tuningOptions = defineOptions({
  // engine.ts's DEFAULT_BLOCK_SIZE and DEFAULT_DEPTH (not imported: it loads the native engine); a unit test keeps them equal
  'block-size': { type: 'size', group: 'Engine tuning', help: 'bytes per ring slot, a multiple of 4 KiB', defaultText: '4MiB' },
  depth: { type: 'count', min: 1, max: 256, group: 'Engine tuning', help: 'ring slots in flight', defaultText: '4' },
  backend: { type: 'enum', values: ['auto', 'io_uring', 'threads'], group: 'Engine tuning', arg: 'B', help: 'auto (io_uring, else threads), io_uring, or threads', defaultText: 'auto' },
  'no-direct': { type: 'boolean', group: 'Engine tuning', help: 'buffered I/O instead of O_DIRECT' },
});

/** The group as the engine takes it. */
export function readTuning(v: { 'block-size'?: number; depth?: number; backend?: Backend; 'no-direct'?: boolean }): EngineTuning {
  return { blockSize: v['block-size'], depth: v.depth, backend: v.backend ?? 'auto', direct: !v['no-direct'] };
}

/** --offset, --length, --target-offset: sizes kept as typed, since sectors (8s) are the drive's. */
export const rangeOptions = defineOptions({
  offset: { type: 'size', asText: true, group: 'Range', help: 'start reading the source here', defaultText: '0' },
  length: { type: 'size', asText: true, group: 'Range', help: 'copy this many bytes', defaultText: 'to the end of the source' },
  'target-offset': { type: 'size', asText: true, group: 'Range', help: 'start writing the target here', defaultText: '0' },
});

export function readRange(v: { offset?: string; length?: string; 'target-offset'?: string }): RangeText {
  return { offset: v.offset, length: v.length, targetOffset: v['target-offset'] };
}

/** --yes */
export const yesOption = defineOptions({
  yes: { type: 'boolean', short: 'y', group: 'Output and safety', help: 'do not ask before overwriting a block device' },
});

/** --json */
export const jsonOption = defineOptions({
  json: { type: 'boolean', group: 'Output and safety', help: 'JSON lines on stdout (note, progress, phase-end, done, error) instead of progress on stderr' },
});

/** --ui / --no-ui */
export const uiOption = defineOptions({
  ui: {
    type: 'boolean',
    group: 'Output and safety',
    help: 'the dashboard',
    negation: 'a progress line per job every few seconds instead',
    defaultText: 'on when stdin and stdout are terminals',
  },
});

/** --report FILE, --log FILE / --no-log: a station's files. */
export const stationFileOptions = defineOptions({
  report: { type: 'string', arg: 'FILE', group: 'Output and safety', help: "write the station's JSON report here" },
  log: {
    type: 'string',
    arg: 'FILE',
    group: 'Output and safety',
    help: 'pino log of the run (JSON lines); without it each run is logged to ~/.local/state/clonestation/logs (or $CLONESTATION_LOG_DIR; the last 100 runs are kept)',
    negation: 'no log of this run',
  },
  ledger: {
    type: 'string',
    arg: 'FILE',
    group: 'Output and safety',
    help: "append each job that ran, as it ends, to this ledger (one JSON line, fsynced; `clonestation ledger` lists it); without it the station's ledger is ~/.local/state/clonestation/ledger.jsonl (or $CLONESTATION_LEDGER)",
    negation: 'no ledger line for this run',
  },
  metrics: { type: 'string', arg: 'ADDRESS:PORT', group: 'Metrics', help: "serve Prometheus metrics of the jobs and drives on http://ADDRESS:PORT/metrics while the station runs (:9464 for every address; a job file's \"metrics\" applies without it)" },
  'metrics-file': { type: 'string', arg: 'FILE', group: 'Metrics', help: "write the same metrics to FILE for node_exporter's textfile collector (FILE.prom in its folder), atomically, every --metrics-interval seconds and at the end" },
  'metrics-linger': { type: 'count', min: 1, max: 3600, arg: 'SECONDS', group: 'Metrics', help: 'once the jobs have ended, keep /metrics up until Prometheus has scraped the final states, at most SECONDS (Ctrl-C ends it)' },
  'metrics-interval': { type: 'count', min: 1, max: 3600, arg: 'SECONDS', group: 'Metrics', help: 'seconds between two writes of --metrics-file', defaultText: '10' },
});

/** A list of hash algorithms, checked (md5, sha1, ...). */
export const hashList = (text: string, option: string) => parseHashList(text, option);

/** The ledger and metrics of a command that runs one job on this thread (rescue, restore, a 1:1 clone): as a station's, for its one job. */
export const jobOutputOptions = defineOptions({
  ledger: { ...stationFileOptions.ledger, help: "append the job, once it has run, to this ledger (one JSON line, fsynced; `clonestation ledger` lists it); without it the station's ledger is ~/.local/state/clonestation/ledger.jsonl (or $CLONESTATION_LEDGER)", negation: 'no ledger line for this job' },
  metrics: { ...stationFileOptions.metrics, help: 'serve Prometheus metrics of the job and its drives on http://ADDRESS:PORT/metrics while it runs (:9464 for every address)' },
  'metrics-file': stationFileOptions['metrics-file'],
  'metrics-linger': { ...stationFileOptions['metrics-linger'], help: 'once the job has ended, keep /metrics up until Prometheus has scraped its final state, at most SECONDS (Ctrl-C ends it)' },
  'metrics-interval': stationFileOptions['metrics-interval'],
});
