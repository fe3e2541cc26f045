// The CLI end of a restore to many targets: the report path checked first, the run, one
// summary line per target, the report written, exit 0 only when every target is good.
import { IoError, CancelledError } from '../errors.js';
import type { Reporter } from '../progress.js';
import { formatBytes, formatRate } from '../units.js';
import { checkOutputPath, checkOwnFile, why, writeOutputFile } from '../outpath.js';
import { restoreMany, restoreReport, targetLines, type RestoreManyOptions, type RestoreManyResult } from '../image/restore-many.js';
import type { JobWatch } from '../jobs/reported.js';
import type { RestoreResult } from '../image/restore.js';
import type { DriveInfo } from '../drive.js';
import type { RestorePartitionsResult } from '../image/restore-partitions.js';

/** `watch`: the run seen as one restore job (its metrics, its ledger line), as in a station. */
export async function restoreManyCommand(o: RestoreManyOptions, reportPath: string | undefined, rep: Reporter, signal: AbortSignal, watch?: JobWatch): Promise<number> {
  if (reportPath !== undefined) {
    checkOutputPath(reportPath, 'the report', { code: 'BAD_REPORT', fix: 'give --report a writable file path' });
    checkOwnFile(reportPath, 'the report', [{ path: o.image, role: 'the image' }, ...o.targets.map((t) => ({ path: t, role: 'a target' }))], { code: 'BAD_REPORT' });
  }
  const started = new Date();
  const r = watch ? await restoreHere(o, rep, signal, watch) : await restoreMany(o, rep, signal);
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

/** restoreMany() run here as the restore kind's job (its view, report and ledger line). */
async function restoreHere(o: RestoreManyOptions, rep: Reporter, signal: AbortSignal, watch: JobWatch): Promise<RestoreManyResult> {
  const { runReportedHere } = await import('../jobs/reported.js');
  const { default: restoreKind, restoreResult } = await import('../jobs/restore.js');
  const { hereDrive } = await import('../metrics/job-outputs.js');
  const targets = await Promise.all(o.targets.map(async (path) => ({ path, drive: await hereDrive(path, 'target') })));
  const plan = { payload: o, source: { path: o.image }, targets, length: 0 };
  return runReportedHere(restoreKind, plan, rep, signal, (into, sig) => restoreMany(o, into, sig), restoreResult, watch);
}

/** A restore to one target (restore()) as the restore kind's result, for its report and ledger line. */
export function oneTargetResult(image: string, target: string, drive: DriveInfo | undefined, r: RestoreResult, range: { offset: number; targetOffset?: number }): RestoreManyResult {
  return {
    image,
    format: r.format,
    parts: r.parts,
    bytes: r.bytes,
    // not said by restore(): where the backup read it, unless --target-offset (null in JSON)
    targetOffset: range.targetOffset ?? Number.NaN,
    range: { offset: range.offset, length: r.bytes },
    seconds: r.seconds,
    copySeconds: r.seconds,
    verifySeconds: 0,
    aggregateBytesPerSec: r.bytesPerSec,
    ...(r.checked ? { checked: r.checked } : {}),
    // the restored bytes' hashes (the checked one matched the manifest)
    ...(r.hashes && Object.keys(r.hashes).length > 0 ? { hashes: r.hashes } : {}),
    targets: [
      {
        path: target,
        state: 'done',
        writeRetries: 0,
        ...(r.checked ? { checked: r.checked } : {}),
        verified: r.checked !== undefined,
        targetDirect: r.targetDirect,
        kind: drive?.kind === 'block' ? 'block' : 'file',
        ...(drive?.model ? { model: drive.model } : {}),
        ...(drive?.serial ? { serial: drive.serial } : {}),
        ...(drive?.size !== undefined ? { size: drive.size } : {}),
        ...(r.adjusted ? { adjusted: r.adjusted } : {}),
      },
    ],
    notes: [],
  };
}

/** A restore of partitions (restorePartitions()) as the restore kind's result: the target, every byte written, checked when each partition was. */
export function partitionsResult(image: string, target: string, drive: DriveInfo | undefined, r: RestorePartitionsResult, found: { format: RestoreManyResult['format']; parts: readonly unknown[] } | undefined): RestoreManyResult {
  const checked = r.partitions.every((p) => p.checked !== undefined) ? r.partitions[0]?.checked : undefined;
  const one = oneTargetResult(image, target, drive, { bytes: r.bytes, seconds: r.seconds, bytesPerSec: r.bytesPerSec, format: found?.format ?? 'raw', parts: found?.parts.length ?? 1, targetDirect: false /* not said by restorePartitions() */, ...(checked ? { checked } : {}) }, { offset: 0 });
  return { ...one, notes: r.partitions.map((p) => `partition ${p.number}: ${p.bytes} bytes at ${p.targetOffset}${p.checked ? `, ${p.checked} matches the manifest` : ''}`) };
}
