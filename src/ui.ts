// Whether a command shows the dashboard, and running a command's work under it: the
// terminal is handed to dashboard/ while the work runs, notes and the pino log go to its
// log pane, and the terminal comes back clean before the summary is printed.
import type { DashboardSource, LogFeed } from '../dashboard/index.js';
import { UsageError, ExitStatus } from './errors.js';
import type { Reporter } from './progress.js';

export interface UiFlags {
  ui?: boolean;
  'no-ui'?: boolean;
  json?: boolean;
}

/** --ui / --no-ui, else on when stdout and stdin are terminals (and not --json). */
export function wantsUi(v: UiFlags, stdout?: { isTTY?: boolean }, stdin?: { isTTY?: boolean }): boolean {
  if (v.ui && v['no-ui']) throw new UsageError('--ui and --no-ui contradict each other: give one');
  if (v.ui && v.json) throw new UsageError('--ui and --json both want stdout: give one');
  // process.stdin is a getter that builds the stream (~5 ms): only asked for when needed
  const terminal = (): boolean => Boolean((stdout ?? process.stdout).isTTY && (stdin ?? process.stdin).isTTY);
  if (v.ui) {
    if (!terminal()) throw new UsageError('--ui needs a terminal on stdin and stdout; without one, progress is printed as lines');
    return true;
  }
  if (v['no-ui'] || v.json) return false;
  return terminal();
}

/** A reporter for while the dashboard owns the terminal: notes go to its log pane. */
export function feedReporter(feed: LogFeed, after: Reporter): Reporter {
  return {
    note: (m) => feed.add(m),
    progress: () => {},
    phaseEnd: () => {},
    done: (f) => after.done(f),
    error: (code, m, f) => after.error(code, m, f),
  };
}

/**
 * Shows `source` on the dashboard until `work` has settled and the operator has left (q;
 * or a confirmed q / Ctrl-C / SIGINT, which stop every job gracefully first). Returns what
 * `work` returned, or throws what it threw, after the terminal is restored.
 */
export async function runWithDashboard<T>(source: DashboardSource, feed: LogFeed, work: () => Promise<T>, signal: AbortSignal, openWhen?: Promise<void>): Promise<T> {
  const { openDashboard } = await import('../dashboard/index.js');
  let settled = false;
  const running = work().then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  // The work may still ask on the terminal (a block-device target) or be refused: the
  // dashboard takes the screen only once it says it is ready.
  if (openWhen) {
    const first = await Promise.race([openWhen.then(() => 'ready' as const), running.then(() => 'ended' as const)]);
    if (first === 'ended') {
      const outcome = await running;
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    }
  }
  // the work may end in ways the source cannot see (a thrown error): then it is finished too
  const view: DashboardSource = {
    title: source.title,
    jobs: () => source.jobs(),
    pause: (id) => source.pause(id),
    resume: (id) => source.resume(id),
    cancel: (id) => source.cancel(id),
    report: (id) => source.report(id),
    stopAll: () => source.stopAll(),
    finished: () => settled || source.finished(),
  };
  let session: ReturnType<typeof openDashboard>;
  try {
    session = openDashboard(view, {
      feed,
      onForce: () => {
        process.stderr.write('\nclonestation: Ctrl-C again: leaving now; targets are incomplete\n');
        process.exit(ExitStatus.cancelled);
      },
    });
  } catch (e) {
    // no dashboard after all (a terminal blessed cannot drive): the work goes on without it
    process.stderr.write(`clonestation: the dashboard could not start (${e instanceof Error ? e.message : String(e)}); going on without it\n`);
    const outcome = await running;
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }
  const onAbort = (): void => session.requestStop();
  signal.addEventListener('abort', onAbort);
  if (signal.aborted) onAbort();
  try {
    const outcome = await running;
    settled = true;
    feed.add('every job has ended: q leaves and prints the summary');
    session.dashboard.tick();
    await session.whenQuit();
    session.close();
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  } finally {
    signal.removeEventListener('abort', onAbort);
    session.close();
  }
}
