/**
 * Used-map benchmark: how long src/usedmap takes to map a 4 GiB ext4 image that is 20% full,
 * against `dumpe2fs` on the same image (which reads the same descriptors and bitmaps and
 * prints every group's free block list). Both run on a warm page cache, interleaved; the map
 * is timed in-process and as a fresh `node` process (start-up included), dumpe2fs as a process.
 *
 *   npm run bench:usedmap   # BENCH_SIZE_GIB=4 BENCH_FILL_PCT=20 BENCH_RUNS=7 BENCH_BLOCK_SIZE=4096 BENCH_DIR=/dev/shm
 *
 * Needs mke2fs (with -d) and dumpe2fs; no root. Works in a temporary folder it deletes.
 * Writes bench/results/usedmap-<date>.json. Exits 1 when the map disagrees with dumpe2fs.
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { fileReader, usedMap } from '../src/usedmap/index.js';
import { MiB, findRepoRoot, machineInfo, median, onCleanup, positiveIntEnv, resultsFile, runMain, table, writeJson } from './common.js';

const GiB = 1024 * MiB;

async function mapOnce(img: string, size: number): Promise<{ ms: number; usedBytes: number; extents: number }> {
  const t0 = performance.now();
  const h = await open(img, 'r');
  try {
    const map = await usedMap(fileReader(h), size, { where: img });
    return { ms: performance.now() - t0, usedBytes: map.usedBytes, extents: map.extentCount };
  } finally {
    await h.close();
  }
}

/** Files of random bytes adding up to `bytes`: a few large ones and many small ones. */
function makeTree(dir: string, bytes: number): number {
  const buf = Buffer.alloc(20 * MiB);
  randomFillSync(buf);
  let left = bytes;
  let n = 0;
  const big = Math.floor((bytes * 0.75) / (20 * MiB));
  for (let i = 0; i < big; i++, n++) {
    buf.writeUInt32LE(i, 0);
    writeFileSync(join(dir, `big-${i}.bin`), buf);
    left -= buf.length;
  }
  mkdirSync(join(dir, 'small'));
  for (let i = 0; left > 0; i++, n++) {
    const size = Math.min(left, 4096 + ((i * 2654435761) % (120 * 1024)));
    writeFileSync(join(dir, 'small', `s-${i}.bin`), buf.subarray(i % 1000, (i % 1000) + size));
    left -= size;
  }
  return n;
}

function timeProcess(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 * MiB });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr?.toString().trim()}`);
  return ms;
}

async function main(): Promise<number> {
  // A child run: map one image and print the milliseconds (the "fresh process" column).
  if (process.argv[2] === '--map-only') {
    const r = await mapOnce(process.argv[3]!, Number(process.argv[4]));
    process.stdout.write(`${r.ms}\n`);
    return 0;
  }
  const sizeGiB = positiveIntEnv('BENCH_SIZE_GIB', 4);
  const fillPct = positiveIntEnv('BENCH_FILL_PCT', 20);
  const runs = positiveIntEnv('BENCH_RUNS', 7);
  const blockSizeWanted = positiveIntEnv('BENCH_BLOCK_SIZE', 4096);
  const size = sizeGiB * GiB;
  const dir = mkdtempSync(join(process.env['BENCH_DIR'] ?? '/dev/shm', 'cs-bench-usedmap-'));
  onCleanup('remove bench folder', () => rmSync(dir, { recursive: true, force: true }));
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  // Files a little under the fill: the journal and inode tables make up the rest.
  const files = makeTree(tree, Math.floor(((size * fillPct) / 100) * 0.92));
  const img = join(dir, 'ext4.img');
  const made = spawnSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', String(blockSizeWanted), '-d', tree, img, `${sizeGiB}G`], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (made.status !== 0) throw new Error(`mke2fs failed: ${made.stderr.toString()}`);
  rmSync(tree, { recursive: true, force: true });
  // mke2fs -d packs files end to end; deleting every third small file leaves free space in
  // thousands of holes, as a used file system has.
  const script = join(dir, 'rm.cmds');
  writeFileSync(script, Array.from({ length: Math.floor(files / 3) }, (_, i) => `rm small/s-${3 * i}.bin`).join('\n') + '\n');
  const rm = spawnSync('debugfs', ['-w', '-f', script, img], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (rm.status !== 0) throw new Error(`debugfs failed: ${rm.stderr.toString()}`);

  const hdr = spawnSync('dumpe2fs', ['-h', img], { encoding: 'utf8' }).stdout;
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(hdr)![1]);
  const blockSize = field('Block size');
  const usedByDumpe2fs = (field('Block count') - field('Free blocks')) * blockSize;
  const groups = Math.ceil(field('Block count') / field('Blocks per group'));

  const self = fileURLToPath(import.meta.url);
  const inProc: number[] = [];
  const fresh: number[] = [];
  const dump: number[] = [];
  let first: Awaited<ReturnType<typeof mapOnce>> | undefined;
  for (let i = 0; i < runs; i++) {
    const r = await mapOnce(img, size);
    first ??= r;
    inProc.push(r.ms);
    fresh.push(timeProcess(process.execPath, [self, '--map-only', img, String(size)]));
    dump.push(timeProcess('dumpe2fs', [img]));
  }
  const ok = first!.usedBytes === usedByDumpe2fs;
  const rows = [
    ['tool', 'median ms', 'dumpe2fs time / this'],
    ['usedMap (in process)', median(inProc).toFixed(1), `${(median(dump) / median(inProc)).toFixed(2)}x`],
    ['node + usedMap (new process)', median(fresh).toFixed(1), `${(median(dump) / median(fresh)).toFixed(2)}x`],
    ['dumpe2fs IMG > /dev/null', median(dump).toFixed(1), '1.00x'],
  ];
  console.log(`${sizeGiB} GiB ext4 (${blockSize}-byte blocks, ${groups} groups), ${((100 * usedByDumpe2fs) / size).toFixed(1)}% used, ${files} files written, a third of the small ones deleted; ${runs} interleaved runs, warm cache`);
  console.log(table(rows, [0]));
  console.log(`used: ${(first!.usedBytes / MiB).toFixed(1)} MiB in ${first!.extents} extents; dumpe2fs says ${(usedByDumpe2fs / MiB).toFixed(1)} MiB: ${ok ? 'agree' : 'DISAGREE'}`);
  const out = resultsFile(findRepoRoot(), 'usedmap');
  writeJson(out, { machine: machineInfo(), sizeGiB, fillPct, files, blockSize, groups, runs, usedBytes: first!.usedBytes, extents: first!.extents, usedByDumpe2fs, agree: ok, ms: { inProcess: inProc, freshProcess: fresh, dumpe2fs: dump } });
  console.log(`results: ${out}`);
  return ok ? 0 : 1;
}

runMain(main, 'usedmap');
