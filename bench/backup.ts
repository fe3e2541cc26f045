/**
 * Raw backup throughput: `clonestation backup` (no hash, and sha256 on the fly) against
 * `clonestation clone` to the same backing, and node:crypto's sha256 rate, in one run.
 *
 *   npm run bench:backup                          # 1 GiB, 3 interleaved runs, tmpfs and disk
 *   BENCH_SIZE_MIB=256 BENCH_RUNS=2 BENCH_ON=disk npm run bench:backup
 *
 * Targets (issue 6): a raw backup runs at least 0.9x the clone; sha256 on the fly keeps at
 * least 0.9x the lower of the clone rate and node:crypto's sha256 rate.
 * Needs root (losetup). Everything lives in a fresh folder (in /dev/shm, or in /var/tmp on
 * the disk), removed on exit. On tmpfs the "drives" are memory: every copy costs CPU
 * (memcpy in the loop driver and the writer), so on 2 cores hashing competes with the copy
 * itself; on disk-backed loops the copy is DMA and the hash has a core of its own.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  MB,
  MiB,
  describeFailure,
  dropCaches,
  fillRandom,
  findRepoRoot,
  isRoot,
  losetupAttach,
  machineInfo,
  median,
  onCleanup,
  positiveIntEnv,
  resultsFile,
  runInterleaved,
  runMain,
  runTimed,
  table,
  withOwnCleanups,
  writeJson,
} from './common.js';
import { execFileSync } from 'node:child_process';

const TOOLS = ['clone', 'backup', 'backup+sha256', 'backup zip+sha256'] as const;
type Tool = (typeof TOOLS)[number];

/** node:crypto sha256 over `bytes` of random data in 4 MiB pieces (the ring's block), MB/s. */
function sha256Rate(bytes: number): number {
  const buf = randomFillSync(Buffer.alloc(4 * MiB));
  const h = createHash('sha256');
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < bytes; done += buf.length) h.update(buf);
  h.digest();
  return bytes / MB / (Number(process.hrtime.bigint() - t0) / 1e9);
}

type Setup = 'tmpfs' | 'disk';

async function main(): Promise<number> {
  if (!isRoot('bench:backup needs root (losetup)')) return 1;
  const sizeMiB = positiveIntEnv('BENCH_SIZE_MIB', 1024);
  const runs = positiveIntEnv('BENCH_RUNS', 3);
  const setups = (process.env.BENCH_ON ?? 'tmpfs,disk').split(',') as Setup[];
  const root = findRepoRoot();
  const results: Record<string, unknown> = {};
  for (const setup of setups) results[setup] = await withOwnCleanups(() => benchOn(setup, sizeMiB, runs, root));
  const out = resultsFile(root, 'backup');
  writeJson(out, { machine: machineInfo(), sizeMiB, runs, results });
  console.log(`results: ${out}`);
  return 0;
}

async function benchOn(setup: Setup, sizeMiB: number, runs: number, root: string): Promise<unknown> {
  const size = sizeMiB * MiB;
  const cli = join(root, 'dist', 'src', 'cli.js');
  const base = setup === 'tmpfs' ? '/dev/shm' : '/var/tmp';
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'cs-bench-backup-'));
  onCleanup('scratch folder', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'source.img');
  await fillRandom(file, size, { chunkBytes: 4 * MiB, sync: false });
  const dev = losetupAttach(file, true);
  onCleanup(`loop device ${dev}`, () => execFileSync('losetup', ['-d', dev]));

  const args: Record<Tool, string[]> = {
    clone: ['clone', dev, join(dir, 'clone.img')],
    backup: ['backup', dev, join(dir, 'raw.img'), '--hash', 'none'],
    'backup+sha256': ['backup', dev, join(dir, 'hashed.img'), '--hash', 'sha256'],
    // random data: what the zip path costs when nothing compresses (stored blocks)
    'backup zip+sha256': ['backup', dev, join(dir, 'image.zip'), '--hash', 'sha256', '--level', '1'],
  };
  const recs = TOOLS.map((tool) => ({ tool, rec: { rates: [] as number[], error: undefined as string | undefined, skipped: undefined as string | undefined } }));
  await runInterleaved(
    recs,
    runs,
    async (tool, rec) => {
      // Every tool starts with no output of an earlier run (freeing 1 GiB of tmpfs pages on
      // a rename over an old image would be counted otherwise).
      for (const f of readdirSync(dir)) if (f !== 'source.img') rmSync(join(dir, f), { force: true });
      dropCaches();
      const r = await runTimed(process.execPath, [cli, ...args[tool]], { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(describeFailure(tool, r));
      rec.rates.push(size / MB / r.seconds);
    },
    (tool, error) => console.error(`${tool} failed: ${error}`),
  );
  const sha = median([0, 1, 2].map(() => sha256Rate(Math.min(size, 1024 * MiB))));
  const rate = (t: Tool): number => median(recs.find((r) => r.tool === t)?.rec.rates ?? []);
  const clone = rate('clone');
  const ratios = {
    rawVsClone: rate('backup') / clone,
    sha256VsCeiling: rate('backup+sha256') / Math.min(clone, sha),
  };
  console.log(`raw backup, ${sizeMiB} MiB, ${setup}-backed loop device to an image on ${setup}, ${runs} interleaved runs (median MB/s, wall clock incl. start-up)`);
  console.log(
    table([
      ['', 'MB/s'],
      ...TOOLS.map((t) => [t, rate(t).toFixed(0)]),
      ['node:crypto sha256 (in memory)', sha.toFixed(0)],
    ]),
  );
  console.log(`raw backup / clone: ${ratios.rawVsClone.toFixed(2)}x (target >= 0.9x)`);
  console.log(`backup with sha256 / min(clone, sha256): ${ratios.sha256VsCeiling.toFixed(2)}x (target >= 0.9x)`);
  return { rates: Object.fromEntries(TOOLS.map((t) => [t, rate(t)])), sha256MBs: sha, ratios };
}

runMain(main);
