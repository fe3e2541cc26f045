// What a drive benchmark runs: CrystalDiskMark's tests by profile (KDiskMark's meanings), or
// custom entries in fio's words (`rw=randread,bs=4k,qd=32,jobs=4`), checked and named.
import { UsageError } from '../errors.js';
import { parseSize } from '../units.js';
import { IOGEN_LIMITS, IOGEN_PATTERNS, type IoGenPattern } from '../iogen.js';

/** One test: a workload, run for each loop. */
export interface BenchTest {
  /** e.g. "SEQ1M Q8T1 read", "RND4K Q32T1 write", or the custom entry as given */
  name: string;
  rw: IoGenPattern;
  blockSize: number;
  depth: number;
  jobs: number;
  /** mixed patterns: percent of reads */
  readPercent?: number;
}

/**
 * How loops combine and which tests run (KDiskMark's profiles): `default` averages loops of
 * CrystalDiskMark's set; `peak` keeps each test's best loop of the high-queue tests;
 * `realworld` averages loops of the Q1T1 tests only; `quick` is the default set, short.
 */
export const PROFILES = ['default', 'quick', 'peak', 'realworld'] as const;
export type Profile = (typeof PROFILES)[number];

export interface ProfileShape {
  /** how a test's loops become its figure */
  combine: 'mean' | 'best';
  /** seconds measured per loop and ramp before it, unless --runtime / --ramp say otherwise */
  runtime: number;
  ramp: number;
}

export const PROFILE_SHAPE: Record<Profile, ProfileShape> = {
  default: { combine: 'mean', runtime: 5, ramp: 1 },
  quick: { combine: 'mean', runtime: 1, ramp: 0.25 },
  peak: { combine: 'best', runtime: 5, ramp: 1 },
  realworld: { combine: 'mean', runtime: 5, ramp: 1 },
};

const MiB = 1 << 20;
const KiB = 1 << 10;

function cdm(kind: 'SEQ' | 'RND', bs: number, q: number, t: number): Omit<BenchTest, 'rw' | 'name'> & { label: string; random: boolean } {
  return { label: `${kind}${bs >= MiB ? `${bs / MiB}M` : `${bs / KiB}K`} Q${q}T${t}`, random: kind === 'RND', blockSize: bs, depth: q, jobs: t };
}

/** The tests of a profile, reads first then writes (as CrystalDiskMark shows them); `threads` adds RND4K Q32T16. */
export function profileTests(profile: Profile, o: { threads?: boolean; readOnly?: boolean } = {}): BenchTest[] {
  const seq8 = cdm('SEQ', MiB, 8, 1);
  const seq1 = cdm('SEQ', MiB, 1, 1);
  const rnd32 = cdm('RND', 4 * KiB, 32, 1);
  const rnd32t16 = cdm('RND', 4 * KiB, 32, 16);
  const rnd1 = cdm('RND', 4 * KiB, 1, 1);
  const set = profile === 'peak' ? [seq8, rnd32t16] : profile === 'realworld' ? [seq1, rnd1] : [seq8, seq1, rnd32, ...(o.threads ? [rnd32t16] : []), rnd1];
  const out: BenchTest[] = [];
  for (const dir of o.readOnly ? (['read'] as const) : (['read', 'write'] as const)) {
    for (const t of set) out.push({ name: `${t.label} ${dir}`, rw: t.random ? (dir === 'read' ? 'randread' : 'randwrite') : dir, blockSize: t.blockSize, depth: t.depth, jobs: t.jobs });
  }
  return out;
}

const testKeys = ['rw', 'bs', 'qd', 'jobs', 'mix'] as const;

/** `rw=randread,bs=4k,qd=32,jobs=4[,mix=70]`: a custom test (--test), fio's names for its keys. */
export function parseTestEntry(text: string): BenchTest {
  const bad = (why: string): UsageError => new UsageError(`--test ${JSON.stringify(text)}: ${why} (e.g. rw=randread,bs=4k,qd=32,jobs=4)`, 'BAD_TEST');
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*(\S+)\s*$/.exec(part);
    if (!m) throw bad(`"${part}" is not KEY=VALUE`);
    if (!(testKeys as readonly string[]).includes(m[1])) throw bad(`unknown key "${m[1]}" (known: ${testKeys.join(', ')})`);
    if (fields.has(m[1])) throw bad(`"${m[1]}" is given twice`);
    fields.set(m[1], m[2]);
  }
  const rw = fields.get('rw');
  if (!rw || !(IOGEN_PATTERNS as readonly string[]).includes(rw)) throw bad(`rw must be one of ${IOGEN_PATTERNS.join(', ')}`);
  const whole = (key: string, dflt: number, max: number): number => {
    const v = fields.get(key);
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw bad(`${key} must be a whole number from 1 to ${max}`);
    return Number(v);
  };
  let blockSize = 4096;
  const bs = fields.get('bs');
  if (bs !== undefined) {
    try {
      blockSize = parseSize(bs, 'bs');
    } catch {
      throw bad(`bs ${JSON.stringify(bs)} is not a size`);
    }
    if (blockSize < 512 || blockSize > IOGEN_LIMITS.maxBlockSize || blockSize % 512 !== 0) throw bad(`bs must be a multiple of 512 bytes up to ${IOGEN_LIMITS.maxBlockSize / MiB} MiB`);
  }
  const mixed = rw === 'rw' || rw === 'randrw';
  const mix = fields.get('mix');
  if (mix !== undefined && !mixed) throw bad('mix is for rw=rw or rw=randrw');
  let readPercent: number | undefined;
  if (mixed) {
    readPercent = mix === undefined ? 50 : Number(mix);
    if (mix !== undefined && (!/^\d+$/.test(mix) || readPercent > 100)) throw bad('mix (the percent of reads) must be a whole number from 0 to 100');
  }
  return { name: text.replace(/\s+/g, ''), rw: rw as IoGenPattern, blockSize, depth: whole('qd', 1, IOGEN_LIMITS.maxDepth), jobs: whole('jobs', 1, IOGEN_LIMITS.maxJobs), readPercent };
}

/** Whether a test writes (a mixed one does). */
export function writes(t: Pick<BenchTest, 'rw' | 'readPercent'>): boolean {
  return t.rw === 'write' || t.rw === 'randwrite' || ((t.rw === 'rw' || t.rw === 'randrw') && (t.readPercent ?? 50) < 100);
}
