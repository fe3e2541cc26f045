// The erase policy over the native passes: every overwrite pass in turn, the read-backs the
// verify mode asks for, or a fast path and its zeros check; pause and cancel between steps.
import { passName, type ErasePlan, type Pass } from './methods.js';
import { runPattern, type PatternOp, type PatternResult } from './pattern.js';
import { runFirmware } from './firmware.js';
import { kernelSize, removeHpa, type Hpa } from './hidden.js';

export interface StepOutcome {
  /** "pass 2/7 0xff", "verify pass 7/7 random", "discard", "zeros check" */
  name: string;
  op: PatternOp | 'firmware' | 'hpa';
  state: PatternResult['state'];
  /** a firmware step: the commands it ran */
  commands?: string[][];
  bytes: number;
  seconds: number;
  error?: { code: string; message: string; offset?: number };
}

export interface EraseOutcome {
  state: 'done' | 'failed' | 'cancelled';
  code?: string;
  reason?: string;
  steps: StepOutcome[];
  bytesWritten: number;
  bytesVerified: number;
  /** verified: every read-back asked for matched; skipped: none asked for */
  verifyResult: 'passed' | 'failed' | 'skipped' | 'not reached';
  errors: { offset?: number; code: string; message: string; step: string }[];
  notes: string[];
  /** the bytes the passes covered (the native size once an HPA was removed) */
  range: { offset: number; length: number };
  /** --include-hpa: what hdparm -N said after the removal, and the commands run */
  hpa?: { after: Hpa | string; commands: string[][] };
}

/** --include-hpa on a drive with an HPA: removed first, then the whole native size is erased. */
export interface HpaRequest {
  /** the whole drive hdparm talks to */
  disk: string;
  before: Hpa;
  logicalSectorSize: number;
}

export interface EraseRequest {
  path: string;
  offset: number;
  length: number;
  plan: ErasePlan;
  /** discard: when the range does not read zeros after it, write a zero pass */
  fallback: boolean;
  blockSize?: number;
  threads?: number;
  hpa?: HpaRequest;
}

export interface EraseHooks {
  counters?: SharedArrayBuffer;
  cancelled(): boolean;
  paused(): boolean;
  /** a step starts (its name, its index from 1, the step count) */
  step(name: string, index: number, count: number, verifying: boolean): void;
  /** a step ended */
  ended(step: StepOutcome): void;
}

interface Step {
  name: string;
  op: PatternOp | 'firmware' | 'hpa';
  pass?: Pass;
  samplePercent?: number;
}

export const HPA_STEP = 'remove HPA';

/** The steps of a plan: the HPA's removal (--include-hpa on a drive that has one), passes and their read-backs in order. */
export function eraseSteps(plan: ErasePlan, removeHpa = false): Step[] {
  const first: Step[] = removeHpa ? [{ name: HPA_STEP, op: 'hpa' }] : [];
  return [...first, ...planSteps(plan)];
}

function planSteps(plan: ErasePlan): Step[] {
  const v = plan.verify;
  if (plan.fast) {
    const steps: Step[] = [{ name: plan.fast, op: plan.fast }];
    // a discard is always checked (a drive may discard and keep its data); zeroout unless none
    if (plan.fast !== 'zeroout' || v.mode !== 'none') steps.push({ name: 'zeros check', op: 'verify', pass: { kind: 'bytes', hex: '00' }, samplePercent: v.mode === 'sample' ? v.percent : undefined });
    return steps;
  }
  const steps: Step[] = [];
  if (plan.firmware) steps.push({ name: plan.firmware, op: 'firmware' });
  const n = plan.passes.length;
  plan.passes.forEach((pass, i) => {
    const label = `pass ${i + 1}/${n} ${passName(pass)}`;
    steps.push({ name: label, op: 'write', pass });
    const last = i === n - 1;
    if (v.mode === 'all' || (last && v.mode === 'last')) steps.push({ name: `verify ${label}`, op: 'verify', pass });
    if (last && v.mode === 'sample') steps.push({ name: `verify ${v.percent}% of ${label}`, op: 'verify', pass, samplePercent: v.percent });
  });
  return steps;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function runErase(req: EraseRequest, hooks: EraseHooks): Promise<EraseOutcome> {
  const out: EraseOutcome = { state: 'done', steps: [], bytesWritten: 0, bytesVerified: 0, verifyResult: 'skipped', errors: [], notes: [], range: { offset: req.offset, length: req.length } };
  const steps = eraseSteps(req.plan, req.hpa !== undefined);
  let length = req.length;
  if (steps.some((s) => s.op === 'verify')) out.verifyResult = 'not reached';
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    while (hooks.paused() && !hooks.cancelled()) await sleep(50);
    if (hooks.cancelled()) {
      out.state = 'cancelled';
      out.code = 'CANCELLED';
      out.reason = `cancelled before ${s.name}: the drive is not fully erased`;
      return out;
    }
    hooks.step(s.name, i + 1, steps.length, s.op === 'verify');
    if (s.op === 'hpa') {
      const h = req.hpa!;
      const t0 = Date.now();
      const r = await removeHpa(h.disk, h.before);
      out.hpa = { after: r.after, commands: r.commands };
      let message = r.message;
      if (r.ok) {
        // the passes cover what the kernel now shows, which must be the whole native area
        const size = kernelSize(h.disk);
        const native = h.before.nativeSectors * h.logicalSectorSize;
        if (size === undefined || size < native) message = `the drive reports its native ${h.before.nativeSectors} sectors but the kernel still shows ${size ?? 'an unknown number of'} bytes, not ${native}: the hidden area cannot be written through it (disconnect and reconnect the drive, or erase without --include-hpa)`;
        else length = size - req.offset;
      }
      const step: StepOutcome = { name: s.name, op: 'hpa', state: message ? 'failed' : 'done', bytes: 0, seconds: (Date.now() - t0) / 1000, commands: r.commands, ...(message ? { error: { code: 'HPA_NOT_REMOVED', message } } : {}) };
      out.steps.push(step);
      hooks.ended(step);
      if (message) {
        out.errors.push({ code: 'HPA_NOT_REMOVED', message, step: s.name });
        out.state = 'failed';
        out.code = 'HPA_NOT_REMOVED';
        out.reason = message;
        return out;
      }
      out.range = { offset: req.offset, length };
      out.notes.push(`HPA removed (volatile): ${h.before.reportedSectors} of ${h.before.nativeSectors} sectors were visible, now all ${h.before.nativeSectors}; the passes cover ${length} bytes`);
      continue;
    }
    if (s.op === 'firmware') {
      const t0 = Date.now();
      const f = await runFirmware(req.plan.firmware!, req.path, hooks.cancelled);
      const step: StepOutcome = { name: s.name, op: 'firmware', state: f.ok ? 'done' : 'failed', bytes: f.ok ? length : 0, seconds: (Date.now() - t0) / 1000, commands: f.commands, ...(f.ok ? {} : { error: { code: 'FIRMWARE_FAILED', message: f.message } }) };
      out.steps.push(step);
      hooks.ended(step);
      if (!f.ok) {
        out.errors.push({ code: 'FIRMWARE_FAILED', message: f.message, step: s.name });
        out.state = 'failed';
        out.code = 'FIRMWARE_FAILED';
        out.reason = f.message;
        return out;
      }
      out.bytesWritten += length;
      continue;
    }
    const op = s.op;
    const r = await runPattern({ path: req.path, op, pass: s.pass, offset: req.offset, length, samplePercent: s.samplePercent, blockSize: req.blockSize, threads: req.threads, counters: hooks.counters, cancelled: hooks.cancelled });
    const step: StepOutcome = { name: s.name, op: s.op, state: r.state, bytes: s.op === 'verify' ? r.bytesChecked : r.bytesDone, seconds: r.elapsedNs / 1e9, ...(r.error ? { error: { code: r.error.code, message: r.error.message, offset: r.error.offset } } : {}) };
    out.steps.push(step);
    hooks.ended(step);
    if (s.op === 'verify') out.bytesVerified += r.bytesChecked;
    else out.bytesWritten += r.bytesDone;
    if (r.state === 'cancelled') {
      out.state = 'cancelled';
      out.code = 'CANCELLED';
      out.reason = `cancelled during ${s.name}: the drive is not fully erased`;
      return out;
    }
    if (r.state === 'failed') {
      const e = r.error;
      const at = e?.offset !== undefined ? ` at byte ${e.offset}` : '';
      out.errors.push({ offset: e?.offset, code: e?.code ?? 'EIO', message: e?.message ?? 'failed', step: s.name });
      if (s.op === 'verify' && e?.code === 'EILSEQ') {
        if (s.name === 'zeros check' && req.plan.fast !== 'zeroout') {
          // the drive discarded but does not read zeros there
          out.notes.push(`${req.plan.fast}: the range does not read as zeros afterwards (first nonzero byte ${e.offset}): this drive keeps or scrambles discarded data`);
          if (req.fallback) {
            out.notes.push('falling back on a zero pass (--fallback)');
            steps.push({ name: 'fallback pass 0x00', op: 'write', pass: { kind: 'bytes', hex: '00' } }, { name: 'verify fallback pass 0x00', op: 'verify', pass: { kind: 'bytes', hex: '00' } });
            out.errors.pop();
            continue;
          }
          out.state = 'failed';
          out.code = 'NOT_ZEROED';
          out.reason = `${req.plan.fast} left data readable (first nonzero byte at ${e.offset}): erase with --method zeroout or zero, or add --fallback`;
          out.verifyResult = 'failed';
          return out;
        }
        out.state = 'failed';
        out.code = 'VERIFY_MISMATCH';
        out.reason = `${s.name}: the drive does not hold what was written${at} (${r.mismatchedBytes} bytes differ in the blocks compared)`;
        out.verifyResult = 'failed';
        return out;
      }
      out.state = 'failed';
      out.code = e?.code === 'EOPNOTSUPP' || e?.code === 'ENOTTY' || e?.code === 'ENOTBLK' ? 'UNSUPPORTED' : 'IO_ERROR';
      out.reason =
        out.code === 'UNSUPPORTED'
          ? `${s.name} is not supported by this drive (${e?.message}): use --method zeroout, discard or an overwrite method`
          : `${s.name} failed${at}: ${e?.message ?? 'I/O error'}`;
      if (s.op === 'verify') out.verifyResult = 'failed';
      return out;
    }
  }
  // every read-back ran and matched (each failure returned above)
  if (out.verifyResult === 'not reached') out.verifyResult = 'passed';
  return out;
}
