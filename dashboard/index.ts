// The dashboard's entry: take over the terminal (capturing every other writer), run the
// dashboard until the operator leaves, give the terminal back clean.
import { captureOutput } from './capture.js';
import { Dashboard } from './dashboard.js';
import { LogFeed } from './logfeed.js';
import type { DashboardSource } from './source.js';

export type { DashboardSource, JobView, DriveView, MapView, MapStatus, JobState } from './source.js';
export { Dashboard } from './dashboard.js';
export { LogFeed } from './logfeed.js';
export { PlainProgress, plainLine } from './plain.js';

export interface DashboardSession {
  dashboard: Dashboard;
  /** resolves when the operator has left (see Dashboard.whenQuit) */
  whenQuit(): Promise<void>;
  /** stop every job gracefully, then leave (SIGINT/SIGTERM from outside) */
  requestStop(): void;
  /** give the terminal back; idempotent */
  close(): void;
}

export interface SessionOptions {
  feed?: LogFeed;
  hz?: number;
  /** a second Ctrl-C: called after the terminal is restored */
  onForce?: () => void;
}

/** Starts the dashboard on process.stdout. Only when stdout is a TTY. */
export function openDashboard(source: DashboardSource, o: SessionOptions = {}): DashboardSession {
  const feed = o.feed ?? new LogFeed();
  const capture = captureOutput((line, level) => feed.add(line, level));
  let closed = false;
  let dashboard: Dashboard | undefined;
  const close = (): void => {
    if (closed) return;
    closed = true;
    dashboard?.destroy();
    capture.restore();
    process.removeListener('exit', close);
  };
  // whatever ends the process, the terminal is given back
  process.on('exit', close);
  try {
    dashboard = new Dashboard(source, {
      output: capture.output as unknown as NodeJS.WritableStream, // blessed needs only write/columns/rows/isTTY/resize
      input: process.stdin,
      feed,
      hz: o.hz ?? 4,
      onForce: () => {
        close();
        o.onForce?.();
      },
    });
  } catch (e) {
    close();
    throw e;
  }
  const d = dashboard;
  return { dashboard: d, whenQuit: () => d.whenQuit(), requestStop: () => d.requestStop(), close };
}
