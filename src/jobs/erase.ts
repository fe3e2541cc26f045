// The erase kind: one drive overwritten with a method's passes (or a block-layer fast path),
// read back as --verify says, and a signed certificate written for it whatever the outcome.
import { existsSync, statSync, accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { inspectDrive, type DriveInfo } from '../drive.js';
import { checkTargetFree } from '../safety.js';
import { RefusedError, UsageError } from '../errors.js';
import { formatBytes, formatRate } from '../units.js';
import { Phase, cancelRequested, enterPhase, pauseRequested, postEvent } from '../contract.js';
import { planErase, passName, METHOD_NAMES, type ErasePlan } from '../erase/methods.js';
import { eraseSteps, runErase, type EraseOutcome, type HpaRequest } from '../erase/run.js';
import { allocatePatternCounters, readPatternCounters } from '../erase/pattern.js';
import { HPA_CHANGE, hdparmInstalled, hiddenAreas, hpaCommands, NOT_READABLE, type HiddenAreas } from '../erase/hidden.js';
import { checkFirmware, firmwareCommands, probeFirmware, type FirmwareProbe } from '../erase/firmware.js';
import { signCertificate } from '../erase/certificate.js';
import { pdfPathFor, renderCertificatePdf, writeFileAtomic } from '../erase/pdf.js';
import { loadStationKey } from '../erase/keys.js';
import { defineKind, driveIdentity, elapsedSeconds, ENDED, type JobEntry, type JobIo, type JobResult, type StationJob } from './kind.js';
import { driveView } from './view-parts.js';
import type { JobView } from '../../dashboard/source.js';

export interface ErasePayload {
  path: string;
  offset: number;
  length: number;
  plan: ErasePlan;
  fallback: boolean;
  /** the step names, for progress */
  steps: string[];
  /** a firmware method: the commands it runs (also --dry-run's output) */
  commands?: string[][];
  /** --include-hpa on a drive with an HPA: it is removed first (its commands also --dry-run's output) */
  hpa?: HpaRequest & { commands: string[][] };
}

export interface EraseResult extends JobResult {
  outcome?: EraseOutcome;
  startedAt: string;
  endedAt: string;
  /** where settle() wrote the signed certificate */
  certificate?: string;
  /** and its PDF rendering */
  pdf?: string;
}

interface EraseMeta {
  hidden: HiddenAreas;
  includeHpa: boolean;
  firmware?: FirmwareProbe;
  certDir: string;
  operator?: string;
  customer?: string;
  version: string;
  commandLine: string;
}

type EraseJob = StationJob<ErasePayload, EraseResult>;

/** The result as people read it: erased only when every step ran and every read-back matched. */
export function certificateResult(state: string, outcome: EraseOutcome | undefined): 'erased' | 'failed' | 'incomplete' {
  if (state === 'done' && outcome?.state === 'done') return 'erased';
  return state === 'cancelled' || outcome?.state === 'cancelled' ? 'incomplete' : 'failed';
}

function certName(d: DriveInfo | undefined, path: string, at: string): string {
  const who = (d?.serial || d?.name || path.split('/').pop() || 'drive').replace(/[^A-Za-z0-9._-]/g, '_');
  return `erase-${who}-${at.replace(/[:.]/g, '-')}.json`;
}

const eraseKind = defineKind<ErasePayload, EraseResult>({
  name: 'erase',
  summary: 'a drive overwritten (or zeroed out, discarded), read back, and a signed certificate for it',
  module: import.meta.url,
  jsWork: false,
  fields: {
    drive: { type: 'path', required: true, writes: true, help: 'the drive (or file) erased' },
    method: { type: 'string', help: `${METHOD_NAMES.join(', ')}` },
    passes: { type: 'count', min: 1, max: 100, help: "rounds of the method's passes" },
    blank: { type: 'boolean', help: 'a final zero pass' },
    verify: { type: 'string', help: 'none, last, all, sample:PERCENT' },
    fallback: { type: 'boolean', help: 'discard: write zeros where the range does not read zeros afterwards' },
    operator: { type: 'string', help: 'who erased, for the certificate' },
    customer: { type: 'string', help: 'whose drive, for the certificate' },
    certs: { type: 'path', help: 'the folder certificates are written to (default: the current folder)' },
    includeHpa: { type: 'boolean', help: "remove the drive's HPA (volatile) and erase its whole native size; refused where the HPA cannot be read" },
  },

  plan(entry: JobEntry, d, id) {
    const path = entry.drive as string;
    const method = (entry.method as string | undefined) ?? 'zero';
    const plan = planErase(method, { passes: entry.passes as number | undefined, blank: Boolean(entry.blank), verify: entry.verify as string | undefined });
    if (!existsSync(path)) throw new UsageError(`drive ${path} does not exist: check the name (clonestation list shows drives)`, 'NOT_FOUND', { path });
    const drive = inspectDrive(path, 'target');
    // clone's refusals: system, mounted, swapped-on or held drives are not written
    checkTargetFree(drive);
    if (drive.readOnly) throw new RefusedError('TARGET_READ_ONLY', `${path} is read-only: it cannot be erased`, { path });
    if (plan.fast && drive.kind !== 'block') throw new UsageError(`--method ${plan.fast} needs a block device: ${path} is a file; use an overwrite method`, 'UNSUPPORTED', { path });
    if (plan.firmware && drive.kind !== 'block') throw new UsageError(`--method ${plan.firmware} needs a drive: ${path} is a file`, 'UNSUPPORTED', { path });
    const firmware = plan.firmware ? probeFirmware(path) : undefined;
    if (plan.firmware && firmware) checkFirmware(plan.firmware, path, firmware);
    if (drive.size === 0) throw new UsageError(`${path} is empty: nothing to erase`, 'BAD_SIZE', { path });
    const certDir = resolve((entry.certs as string | undefined) ?? '.');
    try {
      if (!statSync(certDir).isDirectory()) throw new Error('not a folder');
      accessSync(certDir, constants.W_OK);
    } catch (e) {
      throw new UsageError(`certificates cannot be written to ${certDir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give a writable folder with --certs`, 'BAD_OUTPUT', { certDir });
    }
    const hidden = hiddenAreas(drive);
    const includeHpa = Boolean(entry.includeHpa);
    let hpa: ErasePayload['hpa'];
    if (includeHpa) {
      if (drive.kind !== 'block' || !drive.disk) throw new UsageError(`--include-hpa needs a drive: ${path} is a file, it has no HPA`, 'UNSUPPORTED', { path });
      if (drive.isPartition) throw new UsageError(`--include-hpa erases a whole drive's native area: ${path} is a partition of ${drive.disk.path}; name the whole drive`, 'UNSUPPORTED', { path });
      if (typeof hidden.hpa === 'string') {
        const why = hdparmInstalled() ? `its HPA is ${NOT_READABLE} (hdparm -N ${drive.disk.path} gave no answer: a loop device, a USB bridge, NVMe or a virtual disk carries no ATA commands)` : 'hdparm is not installed (Debian: apt install hdparm), so its HPA cannot be read';
        throw new RefusedError('HPA_UNREADABLE', `--include-hpa on ${path}: ${why}; connect the drive directly (SATA) or erase without --include-hpa (the certificate then says the HPA was not readable)`, { path });
      }
      if (hidden.hpa.enabled && hidden.hpa.reportedSectors < hidden.hpa.nativeSectors)
        hpa = { disk: drive.disk.path, before: hidden.hpa, logicalSectorSize: drive.logicalSectorSize, commands: hpaCommands(drive.disk.path, hidden.hpa) };
    }
    const steps = eraseSteps(plan, hpa !== undefined).map((s) => s.name);
    const payload: ErasePayload = { path, offset: 0, length: drive.size, plan, fallback: Boolean(entry.fallback), steps, commands: plan.firmware ? firmwareCommands(plan.firmware, path) : undefined, hpa };
    // what only the main thread needs (the certificate's fields): never crosses to a worker
    const meta: EraseMeta = {
      hidden,
      includeHpa,
      firmware,
      certDir,
      operator: entry.operator as string | undefined,
      customer: entry.customer as string | undefined,
      version: d.version,
      commandLine: d.commandLine,
    };
    const what = plan.firmware ? `erased by its firmware (${plan.firmware})` : plan.fast ? `erased by ${plan.fast}` : `erased with ${method} (${plan.passes.length} pass${plan.passes.length > 1 ? 'es' : ''}${entry.blank ? ', blanked' : ''})`;
    return {
      payload,
      source: { path: `erase ${method}` },
      targets: [{ path, drive }],
      touches: [{ path, drive, what: 'the drive erased', writes: true }],
      overwrites: [{ drive, what: `${what}, job ${id}: every byte is lost` }],
      length: steps.length * drive.size,
      counters: { pattern: allocatePatternCounters() },
      jsWork: false,
      fitRing: () => 2 * 2 * (4 << 20),
      settle(result: EraseResult) {
        writeCertificate(payload, drive, meta, result);
      },
    };
  },

  async run(p: ErasePayload, io: JobIo): Promise<EraseResult> {
    const { control, port } = io;
    const startedAt = new Date().toISOString();
    enterPhase(control, port, Phase.copying);
    let before = 0;
    let pass = 'start';
    const tick = setInterval(() => {
      const c = readPatternCounters(io.counters.pattern);
      postEvent(port, { type: 'progress', done: before + c.done, total: p.steps.length * p.length, pass, bytesBad: 0 });
    }, 250);
    try {
      const outcome = await runErase(
        { path: p.path, offset: p.offset, length: p.length, plan: p.plan, fallback: p.fallback, hpa: p.hpa },
        {
          counters: io.counters.pattern,
          cancelled: () => cancelRequested(control),
          paused: () => pauseRequested(control),
          step: (name, i, n) => {
            pass = `${name} (${i}/${n})`;
            postEvent(port, { type: 'progress', done: before, total: p.steps.length * p.length, pass, bytesBad: 0 });
          },
          ended: (s) => {
            if (s.op !== 'hpa') before += p.length;
            postEvent(port, { type: 'note', message: `${p.path}: ${s.name}: ${s.state}${s.error ? ` (${s.error.message}${s.error.offset !== undefined ? ` at byte ${s.error.offset}` : ''})` : ''}`, fields: { step: s.name, state: s.state, offset: s.error?.offset } });
          },
        },
      );
      return { state: outcome.state, code: outcome.code, reason: outcome.reason, outcome, startedAt, endedAt: new Date().toISOString() };
    } finally {
      clearInterval(tick);
      enterPhase(control, port, Phase.finished);
    }
  },

  view(j: EraseJob): JobView {
    const running = !ENDED.has(j.state) && j.state !== 'queued';
    const p = j.planned.payload;
    const o = j.result?.outcome;
    const total = p.steps.length * p.length;
    return {
      id: j.id,
      role: 'erase',
      drives: [driveView('target', p.path, j.planned.targets[0].drive)],
      state: running && pauseRequested(j.control) ? 'paused' : j.state,
      pass: ENDED.has(j.state) ? '-' : (j.live.pass ?? 'start'),
      bytesDone: ENDED.has(j.state) ? (o ? o.bytesWritten + o.bytesVerified : 0) : (j.live.done ?? 0),
      bytesTotal: ENDED.has(j.state) ? Math.max(1, o ? o.bytesWritten + o.bytesVerified : 1) : total,
      bytesBad: 0,
      errors: o?.errors.length ?? 0,
      elapsed: elapsedSeconds(j),
      badAreas: false,
      canPause: true,
      note: j.error ?? (j.result && j.result.state !== 'done' ? j.result.reason : j.result ? `verify ${o?.verifyResult ?? '-'}${j.result.certificate ? `; certificate ${j.result.certificate}` : ''}` : undefined),
    };
  },

  report(j: EraseJob) {
    const p = j.planned.payload;
    const t = j.planned.targets[0];
    const o = j.result?.outcome;
    return {
      method: p.plan.method,
      passes: p.plan.passes.map(passName),
      verify: p.plan.verify,
      result: ENDED.has(j.state) ? certificateResult(j.state, o) : undefined,
      verifyResult: o?.verifyResult,
      bytesWritten: o?.bytesWritten,
      bytesVerified: o?.bytesVerified,
      errors: o?.errors,
      notes: o?.notes,
      certificate: j.result?.certificate,
      pdf: j.result?.pdf,
      // bytes written and read back over the job's seconds (the station's "slowest")
      averageBytesPerSec: o && elapsedSeconds(j) > 0 ? (o.bytesWritten + o.bytesVerified) / elapsedSeconds(j) : 0,
      targets: [{ ...driveIdentity(t.path, t.drive), state: j.state, ...(j.state !== 'done' && (j.error ?? j.result?.reason) ? { reason: j.error ?? j.result?.reason } : {}) }],
    };
  },

  rows(j: EraseJob) {
    const p = j.planned.payload;
    const o = j.result?.outcome;
    const secs = elapsedSeconds(j);
    const bytes = o ? o.bytesWritten + o.bytesVerified : 0;
    const note = j.error ?? j.result?.reason ?? (j.result?.certificate ? `certificate ${j.result.certificate}` : '');
    return [[`erase ${p.plan.method}`, p.path, j.state, formatBytes(bytes), secs > 0 ? formatRate(bytes / secs) : '-', o?.verifyResult ?? '-', note]];
  },
});

function hpaRecord(p: ErasePayload, meta: EraseMeta, o: EraseOutcome | undefined): Record<string, unknown> {
  const before = meta.hidden.hpa;
  const requested = meta.includeHpa;
  if (typeof before === 'string') return { requested, before, included: false, after: before };
  if (!before.enabled || before.reportedSectors >= before.nativeSectors) return { requested, before, included: true, after: before, change: 'none: the drive has no HPA, its native size is visible' };
  if (!p.hpa) return { requested, before, included: false, after: before, change: 'none: the area the HPA hides was NOT erased (use --include-hpa)' };
  const removed = o?.steps.find((s) => s.op === 'hpa');
  return {
    requested,
    before,
    included: removed?.state === 'done',
    change: HPA_CHANGE,
    commands: o?.hpa?.commands ?? [],
    after: o?.hpa?.after ?? 'not reached: the erase ended before the HPA was removed',
  };
}

/** Signs and writes the drive's certificate (main thread, after the run); a failure to write it fails the job. */
function writeCertificate(p: ErasePayload, d: DriveInfo, meta: EraseMeta, result: EraseResult): void {
  const o = result.outcome;
  const start = Date.parse(result.startedAt);
  const end = Date.parse(result.endedAt);
  const seconds = Math.max(0, (end - start) / 1000);
  const body = {
    result: certificateResult(result.state, o),
    reason: result.state !== 'done' ? result.reason : undefined,
    drive: {
      path: p.path,
      kind: d.kind,
      model: d.model ?? null,
      serial: d.serial ?? null,
      wwn: d.wwn ?? null,
      transport: d.transport ?? null,
      sizeBytes: d.size,
      logicalSectorSize: d.logicalSectorSize,
      physicalSectorSize: d.physicalSectorSize,
      sectors: Math.floor(d.size / d.logicalSectorSize),
      hpa: meta.hidden.hpa,
      dco: meta.hidden.dco,
    },
    // the HPA: what the drive said before the erase, whether the erase covered it, what it says after
    hpa: hpaRecord(p, meta, o),
    erase: {
      method: p.plan.method,
      passes: p.plan.passes.map(passName),
      passCount: p.plan.passes.length,
      fast: p.plan.fast ?? null,
      firmware: p.plan.firmware ? { method: p.plan.firmware, supports: meta.firmware?.supports ?? [], ata: meta.firmware?.ata, nvme: meta.firmware?.nvme, commands: p.commands } : null,
      range: o?.range ?? { offset: p.offset, length: p.length },
      verify: p.plan.verify.mode === 'sample' ? `sample:${p.plan.verify.percent}` : p.plan.verify.mode,
      verifyResult: o?.verifyResult ?? 'not reached',
      bytesWritten: o?.bytesWritten ?? 0,
      bytesVerified: o?.bytesVerified ?? 0,
      steps: o?.steps ?? [],
      errors: o?.errors ?? [],
      notes: o?.notes ?? [],
    },
    time: { start: result.startedAt, end: result.endedAt, seconds, bytesPerSecond: seconds > 0 ? Math.round((o?.bytesWritten ?? 0) / seconds) : 0 },
    station: { host: hostname(), tool: 'clonestation', version: meta.version, commandLine: meta.commandLine },
    operator: meta.operator ?? null,
    customer: meta.customer ?? null,
  };
  const file = join(meta.certDir, certName(d, p.path, result.startedAt));
  let pdf: Buffer;
  try {
    const cert = signCertificate(body, loadStationKey());
    // rendered before anything is written: a PDF that cannot be made leaves no lone JSON
    pdf = renderCertificatePdf(cert, { jsonName: basename(file) });
    // whole or not at all, and never over another certificate
    writeFileAtomic(file, Buffer.from(`${JSON.stringify(cert, null, 2)}\n`), { noClobber: true });
    result.certificate = file;
  } catch (e) {
    result.state = 'failed';
    result.code = (e as { code?: string }).code ?? 'CERT_UNWRITTEN';
    result.reason = `${result.reason ? `${result.reason}; ` : ''}the certificate could not be written to ${file}: ${(e as Error).message}`;
    return;
  }
  const pdfFile = pdfPathFor(file);
  try {
    writeFileAtomic(pdfFile, pdf);
    result.pdf = pdfFile;
  } catch (e) {
    result.state = 'failed';
    result.code = 'PDF_UNWRITTEN';
    result.reason = `${result.reason ? `${result.reason}; ` : ''}the signed certificate ${file} was written but its PDF ${pdfFile} could not be (${(e as Error).message}): make it with clonestation cert pdf ${file}`;
  }
}

export default eraseKind;
