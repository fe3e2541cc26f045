// What a station run leaves behind: a JSON report per job (drive identities, ranges,
// outcomes per target with reasons and offsets, durations, throughput) and a table.
import { fitTable } from '../../dashboard/format.js';
import { jobReport, type StationJob } from '../jobs/kind.js';

function countTargets(reports: Record<string, unknown>[], state: string): number {
  let n = 0;
  for (const r of reports) for (const t of (r.targets ?? []) as { state: string }[]) if (t.state === state) n++;
  return n;
}

export function stationReport(jobs: StationJob[], started: Date): Record<string, unknown> {
  const reports = jobs.map(jobReport);
  const rates = reports.map((r) => r.averageBytesPerSec as number).filter((r) => r > 0);
  return {
    startedAt: started.toISOString(),
    endedAt: new Date().toISOString(),
    jobs: reports,
    summary: {
      jobs: jobs.length,
      done: jobs.filter((j) => j.state === 'done').length,
      failed: jobs.filter((j) => j.state === 'failed').length,
      cancelled: jobs.filter((j) => j.state === 'cancelled').length,
      targetsDone: countTargets(reports, 'done'),
      targetsFailed: countTargets(reports, 'failed'),
      // (a loop, not Math.min(...rates): spreading 100,000 jobs' rates overflows the stack)
      slowestBytesPerSec: rates.reduce((m, r) => Math.min(m, r), rates.length > 0 ? Infinity : 0),
    },
  };
}

/** The terminal's width when the summary goes to one (stderr), else none: a log keeps every character. */
function terminalWidth(): number {
  return process.stderr.isTTY && process.stderr.columns > 0 ? process.stderr.columns : Number.POSITIVE_INFINITY;
}

/** One row per target, for people, fitted to `width` (paths cut in the middle, notes folded). */
export function summaryTable(jobs: StationJob[], width = terminalWidth()): string[] {
  const rows = [['JOB', 'SOURCE', 'TARGET', 'STATE', 'BYTES', 'RATE', 'VERIFIED', 'NOTE']];
  for (const j of jobs) for (const row of j.kind.rows(j)) rows.push([String(j.id), ...row]);
  return fitTable(rows, width, { paths: [1, 2], wrap: [7], min: 8 });
}
