/**
 * Raw backup throughput: `clonestation backup` (no hash, and sha256 on the fly) against
 * `clonestation clone` to the same backing, and node:crypto's sha256 rate, in one run.
 *
 *   npm run bench:backup                          # 1 GiB, 3 interleaved runs, tmpfs
 *   BENCH_SIZE_MIB=256 BENCH_RUNS=2 npm run bench:backup
 *
 * Targets (issue 6): a raw backup runs at least 0.9x the clone; sha256 on the fly keeps at
 * least 0.9x the lower of the clone rate and node:crypto's sha256 rate.
 * Needs root (losetup). Everything lives in a fresh tmpfs folder, removed on exit.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  MB,
  MiB,
  describeFailure,
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
  writeJson,
} from './common.js';

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

async function main(): Promise<number> {
  if (!isRoot('bench:backup needs root (losetup)')) return 1;
  const sizeMiB = positiveIntEnv('BENCH_SIZE_MIB', 1024);
  const runs = positiveIntEnv('BENCH_RUNS', 3);
  const size = sizeMiB * MiB;
  const root = findRepoRoot();
  const cli = join(root, 'dist', 'src', 'cli.js');
  const dir = mkdtempSync('/dev/shm/cs-bench-backup-');
  onCleanup('scratch folder', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'source.img');
  await fillRandom(file, size, { chunkBytes: 4 * MiB, sync: false });
  const dev = losetupAttach(file, true);
  onCleanup(`loop device ${dev}`, () => runTimed('losetup', ['-d', dev], { timeoutMs: 10_000 }));

  const args: Record<Tool, string[]> = {
    clone: ['clone', dev, join(dir, 'clone.img')],
    backup: ['backup', dev, join(dir, 'raw.img'), '--hash', 'none', '--force'],
    'backup+sha256': ['backup', dev, join(dir, 'hashed.img'), '--hash', 'sha256', '--force'],
    // random data: what the zip path costs when nothing compresses (stored blocks)
    'backup zip+sha256': ['backup', dev, join(dir, 'image.zip'), '--hash', 'sha256', '--level', '1', '--force'],
  };
  const recs = TOOLS.map((tool) => ({ tool, rec: { rates: [] as number[], error: undefined as string | undefined, skipped: undefined as string | undefined } }));
  await runInterleaved(
    recs,
    runs,
    async (tool, rec) => {
      rmSync(join(dir, 'clone.img'), { force: true });
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
  console.log(`raw backup, ${sizeMiB} MiB on tmpfs-backed loop devices, ${runs} interleaved runs (median MB/s, wall clock incl. start-up)`);
  console.log(
    table([
      ['', 'MB/s'],
      ...TOOLS.map((t) => [t, rate(t).toFixed(0)]),
      ['node:crypto sha256 (in memory)', sha.toFixed(0)],
    ]),
  );
  console.log(`raw backup / clone: ${ratios.rawVsClone.toFixed(2)}x (target >= 0.9x)`);
  console.log(`backup with sha256 / min(clone, sha256): ${ratios.sha256VsCeiling.toFixed(2)}x (target >= 0.9x)`);
  const out = resultsFile(root, 'backup');
  writeJson(out, { machine: machineInfo(), sizeMiB, runs, rates: Object.fromEntries(TOOLS.map((t) => [t, rate(t)])), sha256MBs: sha, ratios });
  console.log(`results: ${out}`);
  return 0;
}

runMain(main);
