// Erase methods as lists of passes: fixed bytes repeated, or the native seeded random stream;
// the fast paths (zeroout, discard, secure-discard) are block-layer requests instead of passes.
import { randomBytes } from 'node:crypto';
import { UsageError } from '../errors.js';
import { FIRMWARE_METHODS, type FirmwareMethod } from './firmware.js';

/** One overwrite pass: these bytes repeated from the drive's offset 0, or the random stream of a seed. */
export type Pass = { kind: 'bytes'; hex: string } | { kind: 'random'; seed: string };

export const OVERWRITE_METHODS = ['zero', 'one', 'random', 'dod-short', 'dod', 'gutmann'] as const;
export const FAST_METHODS = ['zeroout', 'discard', 'secure-discard'] as const;
export type FastMethod = (typeof FAST_METHODS)[number];

/** --method as the help lists it (pattern:HEX aside). */
export const METHOD_NAMES: readonly string[] = [...OVERWRITE_METHODS, 'pattern:HEX', ...FAST_METHODS, ...FIRMWARE_METHODS];

export type VerifyMode = { mode: 'none' } | { mode: 'last' } | { mode: 'all' } | { mode: 'sample'; percent: number };

export interface ErasePlan {
  method: string;
  /** the overwrite passes in order (empty for a fast path) */
  passes: Pass[];
  fast?: FastMethod;
  /** a firmware erase (the drive does it; nothing is read back) */
  firmware?: FirmwareMethod;
  verify: VerifyMode;
}

const bytes = (hex: string): Pass => ({ kind: 'bytes', hex });
const random = (): Pass => ({ kind: 'random', seed: randomBytes(8).readBigUInt64LE().toString() });

/** Gutmann's 27 fixed patterns (passes 5 to 31 of 35), in his published order. */
export const GUTMANN_PATTERNS: readonly string[] = [
  '55', 'aa', '924924', '492492', '249249',
  '00', '11', '22', '33', '44', '55', '66', '77', '88', '99', 'aa', 'bb', 'cc', 'dd', 'ee', 'ff',
  '924924', '492492', '249249', '6db6db', 'b6db6d', 'db6db6',
];

/** The passes of one round of a method (fresh random seeds each call). */
export function methodPasses(method: string): Pass[] {
  switch (method) {
    case 'zero':
      return [bytes('00')];
    case 'one':
      return [bytes('ff')];
    case 'random':
      return [random()];
    case 'dod-short':
      // DoD 5220.22-M (3 passes): zeros, ones, random
      return [bytes('00'), bytes('ff'), random()];
    case 'dod':
      // DoD 5220.22-M ECE (7 passes): character, complement, random, character, complement, random, random
      return [bytes('00'), bytes('ff'), random(), bytes('96'), bytes('69'), random(), random()];
    case 'gutmann':
      return [random(), random(), random(), random(), ...GUTMANN_PATTERNS.map(bytes), random(), random(), random(), random()];
  }
  const m = /^pattern:(?:0x)?([0-9a-fA-F]+)$/.exec(method);
  if (m) {
    if (m[1].length % 2 !== 0 || m[1].length > 2 * 4096) throw new UsageError(`--method ${method}: the pattern must be whole bytes (an even number of hex digits, at most 4096 bytes)`, 'BAD_METHOD');
    return [bytes(m[1].toLowerCase())];
  }
  throw new UsageError(`--method ${method.slice(0, 60)} is not a method: use one of ${METHOD_NAMES.join(', ')}`, 'BAD_METHOD');
}

export function parseVerify(text: string | undefined): VerifyMode {
  if (text === undefined || text === 'last') return { mode: 'last' };
  if (text === 'none' || text === 'all') return { mode: text };
  const m = /^sample:(\d+(?:\.\d+)?)%?$/.exec(text);
  if (m) {
    const percent = Number(m[1]);
    if (percent > 0 && percent <= 100) return { mode: 'sample', percent };
  }
  throw new UsageError(`--verify ${text.slice(0, 60)}: use none, last, all or sample:PERCENT (a percent above 0, up to 100)`, 'BAD_VERIFY');
}

/** A method with its rounds, blanking and verify mode, as passes. */
export function planErase(method: string, opts: { passes?: number; blank?: boolean; verify?: string }): ErasePlan {
  if ((FIRMWARE_METHODS as readonly string[]).includes(method)) {
    if (opts.passes !== undefined && opts.passes !== 1) throw new UsageError(`--passes is for overwrite methods: ${method} is one command to the drive`, 'USAGE');
    if (opts.verify !== undefined && opts.verify !== 'none') throw new UsageError(`--verify ${opts.verify}: what ${method} leaves is the drive's choice (zeros, ones, or ciphertext); use --verify none, or add --blank for a zero pass that is read back`, 'USAGE');
    const passes: Pass[] = opts.blank ? [bytes('00')] : [];
    return { method, passes, firmware: method as FirmwareMethod, verify: opts.blank ? { mode: 'last' } : { mode: 'none' } };
  }
  const verify = parseVerify(opts.verify);
  if ((FAST_METHODS as readonly string[]).includes(method)) {
    if (opts.passes !== undefined && opts.passes !== 1) throw new UsageError(`--passes is for overwrite methods: ${method} is one request to the drive`, 'USAGE');
    if (opts.blank) throw new UsageError(`--blank is for overwrite methods: ${method} already leaves the drive reading zeros, or says it does not`, 'USAGE');
    return { method, passes: [], fast: method as FastMethod, verify };
  }
  const rounds = opts.passes ?? 1;
  const passes: Pass[] = [];
  for (let i = 0; i < rounds; i++) passes.push(...methodPasses(method));
  if (opts.blank) passes.push(bytes('00'));
  return { method, passes, verify };
}

/** The pass as people read it: "0x00", "0x924924", "random". */
export function passName(p: Pass): string {
  return p.kind === 'random' ? 'random' : `0x${p.hex}`;
}
