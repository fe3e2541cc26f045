// What the dashboard needs from whatever runs the jobs: a list of job views it can read at
// any rate, and a handful of commands. This is the dashboard's whole interface to the
// station; adapters in src/ (src/station/view.ts) implement it. Nothing here knows how
// bytes move.

export type JobState = 'queued' | 'running' | 'paused' | 'catching-up' | 'verifying' | 'done' | 'failed' | 'cancelled';

/** GNU ddrescue's block statuses: non-tried, non-trimmed, non-scraped, bad sector, finished. */
export type MapStatus = '?' | '*' | '/' | '-' | '+';

export interface DriveView {
  role: 'source' | 'target';
  path: string;
  model?: string;
  serial?: string;
  /** a target's own outcome when it differs from the job's (failed, left the stream) */
  note?: string;
}

/** A rescue job's map, compacted (at most a few thousand extents) for display. */
export interface MapView {
  /** bytes the map covers: [0, size) */
  size: number;
  /** contiguous, in order */
  extents: { pos: number; size: number; status: MapStatus }[];
  /** where the rescue is: ddrescue's status line */
  current: { pos: number; status: string; pass: number };
}

export interface JobView {
  id: number;
  /** what the job is, for people: "1:3", "pair", "rescue" */
  role: string;
  drives: DriveView[];
  state: JobState;
  /** the phase within the state: copy, catch-up, verify; a rescue's pass (copy 1, trim...) */
  pass: string;
  bytesDone: number;
  bytesTotal: number;
  bytesBad: number;
  /** read or write errors (error areas for a rescue) */
  errors: number;
  /** byte offset being worked on, when known */
  position?: number;
  /** seconds since the job started (0 while queued) */
  elapsed: number;
  /** unreadable areas remain or are being worked on: no honest ETA exists */
  badAreas: boolean;
  map?: MapView;
  /** pause/resume is supported for this job */
  canPause: boolean;
  /** the reason a job failed, or another short remark */
  note?: string;
}

export interface DashboardSource {
  /** shown in the header: "station", "clone", "rescue", "demo" */
  readonly title: string;
  jobs(): JobView[];
  pause(id: number): void;
  resume(id: number): void;
  /** stops one job gracefully (a rescue saves its map) */
  cancel(id: number): void;
  /** the job's report: a JSON-able object (its summary so far, or its final report) */
  report(id: number): unknown;
  /** stops every job gracefully: what `q` does after the question */
  stopAll(): void;
  /** every job has ended */
  finished(): boolean;
}

export const endedStates: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled']);
