// How much ring memory a job holds: cut to the job and to its share of the station's ring
// budget (a job alone, src/jobs/here.ts, gets the whole budget). The station's gate that keeps
// the running jobs' rings within it is src/station/ring.ts.

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The ring memory (native rings, tap memory) of all running jobs of one station, at most: a
 * job alone gets all of it to fit its ring into. With the rest of the process (Node, the
 * workers, the job table) a station stays under 600 MiB resident for 16 jobs with --verify
 * --hash (bench:station, scenario rss-hash).
 */
export const RING_BUDGET_BYTES = 256 * MiB;

/** Not smaller than this unless the job is (depth 1 is what costs throughput; 256 KiB slots are slower than 1-4 MiB) */
export const MIN_RING_DEPTH = 2;
export const MIN_RING_BLOCK = 1 * MiB;

export interface RingInput {
  /** bytes the job copies */
  length: number;
  targets: number;
  blockSize: number;
  /** the user chose the block size: keep it */
  blockSizeGiven: boolean;
  depth: number;
  verifyDepth: number;
  verify: boolean;
  /** hash taps: the copy's ring is tap memory (a SharedArrayBuffer), held beside the verify ring */
  hash: boolean;
  /** this job's share of the budget */
  share: number;
}

export interface RingShape {
  blockSize: number;
  depth: number;
  verifyDepth: number;
  /** the most ring memory the job holds at once */
  bytes: number;
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Copy ring, verify ring, and what the job holds at once (both for hash jobs: tap memory is freed by the garbage collector, not at the end of the copy). */
export function ringBytes(s: { blockSize: number; depth: number; verifyDepth: number }, r: Pick<RingInput, 'targets' | 'verify' | 'hash'>): number {
  const copy = s.depth * s.blockSize;
  const verify = r.verify ? s.verifyDepth * (1 + r.targets) * s.blockSize : 0;
  return r.hash ? copy + verify : Math.max(copy, verify);
}

/**
 * The ring of one job: never larger than the job (a 4 KiB job gets one 4 KiB slot, not 16
 * MiB of slots that the kernel maps, faults in and unmaps for nothing), and within its share
 * of the budget where it can be: the verify ring first (its depth buys nothing beyond 2),
 * then the slot size (unless given), then the copy depth, never below MIN_RING_DEPTH slots
 * of MIN_RING_BLOCK. A job still over its share waits for room (MemoryGate).
 */
export function ringShape(r: RingInput): RingShape {
  let blockSize = Math.min(r.blockSize, roundUp(Math.max(r.length, 1), 4 * KiB));
  const chunks = (bs: number): number => Math.max(1, Math.ceil(r.length / bs));
  let depth = Math.min(r.depth, chunks(blockSize));
  let verifyDepth = Math.min(r.verifyDepth, chunks(blockSize));
  const size = (): number => ringBytes({ blockSize, depth, verifyDepth }, r);
  for (let i = 0; i < 64 && size() > r.share; i++) {
    const copy = depth * blockSize;
    const verify = r.verify ? verifyDepth * (1 + r.targets) * blockSize : 0;
    if (r.verify && verify >= copy && verifyDepth > MIN_RING_DEPTH) verifyDepth--;
    else if (!r.blockSizeGiven && blockSize / 2 >= MIN_RING_BLOCK && blockSize % (8 * KiB) === 0) {
      // half the slot, twice the slots (up to the depth asked for): the same bytes in flight per slot count
      blockSize /= 2;
      depth = Math.min(r.depth, chunks(blockSize), depth);
      verifyDepth = Math.min(r.verifyDepth, chunks(blockSize), verifyDepth);
    } else if (depth > MIN_RING_DEPTH) depth--;
    else if (r.verify && verifyDepth > MIN_RING_DEPTH) verifyDepth--;
    else break;
  }
  return { blockSize, depth, verifyDepth, bytes: size() };
}
