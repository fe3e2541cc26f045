/**
 * Mapfile benchmark: a rescue of a badly failing drive can leave a map of a million blocks,
 * and clonestation loads it at start and saves it every few seconds, so both must stay well
 * under 2 s. Builds a 1,000,000-block map, then times, over several runs:
 *   load: read the file + parseMap + new Mapbook
 *   save: Mapbook.toMap + formatMap + saveMap (write .tmp, fsync, rename, fsync folder)
 * and prints the median of each with PASS/FAIL against 2000 ms.
 *
 *   npx tsc -p . && node dist/bench/mapfile.js          # BENCH_BLOCKS=... BENCH_RUNS=...
 *
 * Node built-ins only. Works in a temporary folder it deletes. Exits 1 when a median misses
 * its target, so CI can gate on it; 2 on bad usage.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Mapbook } from '../src/rescue/mapbook.js';
import { loadMap, saveMap, type BlockStatus, type MapHeader } from '../src/rescue/mapfile.js';

const TARGET_MS = 2000;
const SECTOR = 512;

function positiveIntEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`bench/mapfile: ${name} must be a positive integer, got "${raw}"\n`);
    process.exit(2);
  }
  return n;
}

/** A map of `blocks` blocks of varied sizes and statuses, no two neighbours alike. */
function buildBook(blocks: number): Mapbook {
  // Sizes of 1..64 sectors so positions need 8+ hex digits, as on a real drive.
  const sizes: number[] = [];
  let total = 0;
  for (let i = 0; i < blocks; i++) {
    const s = (1 + ((i * 2654435761) % 64)) * SECTOR;
    sizes.push(s);
    total += s;
  }
  const book = new Mapbook(total);
  const cycle: BlockStatus[] = ['+', '-', '+', '/', '+', '*', '+', '?'];
  let pos = 0;
  for (let i = 0; i < blocks; i++) {
    book.set(pos, sizes[i]!, cycle[i % cycle.length]!);
    pos += sizes[i]!;
  }
  return book;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<number> {
  const blocks = positiveIntEnv('BENCH_BLOCKS', 1_000_000);
  const runs = positiveIntEnv('BENCH_RUNS', 5);
  const dir = mkdtempSync(join(tmpdir(), 'cs-bench-mapfile-'));
  try {
    let t = performance.now();
    const book = buildBook(blocks);
    const buildMs = performance.now() - t;
    if (book.blocks().length !== blocks) throw new Error(`built ${book.blocks().length} blocks, wanted ${blocks}`);
    const path = join(dir, 'bench.map');
    const header: MapHeader = {
      commandLine: 'node dist/bench/mapfile.js',
      version: 'bench',
      startTime: new Date(),
      currentTime: new Date(),
      finished: false,
    };
    process.stdout.write(`mapfile bench: ${blocks} blocks over ${book.size} bytes (built with set() in ${buildMs.toFixed(0)} ms), ${runs} runs, in ${dir}\n`);

    const save: number[] = [];
    const load: number[] = [];
    for (let r = 0; r < runs; r++) {
      t = performance.now();
      await saveMap(path, book.toMap(), { ...header, currentTime: new Date() });
      save.push(performance.now() - t);

      t = performance.now();
      const map = await loadMap(path, book.size);
      const loaded = new Mapbook(book.size, map);
      load.push(performance.now() - t);
      if (loaded.blocks().length !== blocks || loaded.totals()['+'] !== book.totals()['+']) throw new Error('the loaded map differs from the saved one');
    }
    const bytes = statSync(path).size;

    // A taste of the planner's cost: marking scattered sectors in the full map.
    t = performance.now();
    const sets = 10_000;
    for (let i = 0; i < sets; i++) book.set(((i * 7919) % blocks) * SECTOR * 16, SECTOR, i % 2 === 0 ? '-' : '+');
    const setUs = ((performance.now() - t) * 1000) / sets;

    const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' ');
    const verdict = (ms: number): string => (ms < TARGET_MS ? 'PASS' : 'FAIL');
    const loadMs = median(load);
    const saveMs = median(save);
    process.stdout.write(`map file: ${(bytes / 1e6).toFixed(1)} MB\n`);
    process.stdout.write(`load (read + parse + Mapbook): median ${loadMs.toFixed(0)} ms  [${fmt(load)}]  ${verdict(loadMs)} (< ${TARGET_MS} ms)\n`);
    process.stdout.write(`save (toMap + format + save):  median ${saveMs.toFixed(0)} ms  [${fmt(save)}]  ${verdict(saveMs)} (< ${TARGET_MS} ms)\n`);
    process.stdout.write(`set() on the full map: ${setUs.toFixed(1)} µs each over ${sets} calls (information only)\n`);
    return loadMs < TARGET_MS && saveMs < TARGET_MS ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench/mapfile: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
