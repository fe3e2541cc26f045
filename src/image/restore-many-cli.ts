// The CLI end of a restore to many targets: the report path checked first, the run, one
// summary line per target, the report written, exit 0 only when every target is good.
import { IoError, CancelledError } from '../errors.js';
import type { Reporter } from '../progress.js';
import { formatBytes, formatRate } from '../units.js';
import { checkOutputPath, checkOwnFile, why, writeOutputFile } from '../outpath.js';
import { restoreMany, restoreReport, targetLines, type RestoreManyOptions } from './restore-many.js';

export async function restoreManyCommand(o: RestoreManyOptions, reportPath: string | undefined, rep: Reporter, signal: AbortSignal): Promise<number> {
  if (reportPath !== undefined) {
    checkOutputPath(reportPath, 'the report', { code: 'BAD_REPORT', fix: 'give --report a writable file path' });
    checkOwnFile(reportPath, 'the report', [{ path: o.image, role: 'the image' }, ...o.targets.map((t) => ({ path: t, role: 'a target' }))], { code: 'BAD_REPORT' });
  }
  const started = new Date();
  const r = await restoreMany(o, rep, signal);
  const report = restoreReport(r, started);
  let reportFailed: IoError | undefined;
  if (reportPath !== undefined) {
    try {
      writeOutputFile(reportPath, `${JSON.stringify(report, null, 2)}\n`);
    } catch (e) {
      reportFailed = new IoError('REPORT_WRITE_FAILED', `the report could not be written to ${reportPath} (${why(e)}): the targets are as the summary says`, { path: reportPath });
      reportPath = undefined;
    }
  }
  const good = r.targets.filter((t) => t.state === 'done').length;
  const failed = r.targets.filter((t) => t.state === 'failed').length;
  rep.done({
    message: `${targetLines(r).join('\n')}\nrestore: ${good} of ${r.targets.length} target(s) good, ${failed} failed; ${formatBytes(r.bytes)} each in ${r.copySeconds.toFixed(2)} s (${formatRate(r.aggregateBytesPerSec)} in all)${r.verifySeconds > 0 ? `, read back in ${r.verifySeconds.toFixed(2)} s` : ''}${reportPath ? `; report ${reportPath}` : ''}`,
    ...report,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  });
  if (r.targets.some((t) => t.state === 'cancelled')) throw new CancelledError('restore stopped: cancelled targets are incomplete (see the lines above)');
  if (failed > 0) throw new IoError('JOBS_FAILED', `${failed} of ${r.targets.length} target(s) had failures (see the lines above${reportPath ? ` and ${reportPath}` : ''}): failed targets are not copies`);
  if (reportFailed) throw reportFailed;
  return 0;
}
