/**
 * ZIP image benchmark: backup to a ZIP and restore from it, against the tools people use.
 *
 * One deterministic image (default 1 GiB: about 50% zeros, 25% text, 25% random, in runs of
 * 4 KiB..2 MiB that do not line up with our chunks) is generated once into tmpfs. Then, interleaved (each run
 * starts with a different tool), medians of BENCH_RUNS runs:
 *   backup   ours   ZipImageWriter, level 6, BENCH_THREADS deflate workers (default 2)
 *            yazl   yazl addReadStream, level 6 (single stream; the reference in JS)
 *            zip    Info-ZIP `zip -6` (size and time)
 *   restore  ours   ZipImageReader -> `dd of=TARGET bs=4M oflag=direct` (the same writer as
 *                   unzip's, so only the reading and inflating differ)
 *            unzip  `unzip -p IMAGE.zip | dd of=TARGET bs=4M oflag=direct`
 * Both restores read our archive and write a file on tmpfs with O_DIRECT.
 * Targets (printed with PASS/FAIL): ours/yazl backup throughput >= 1.5, ours/zip archive
 * size <= 1.05, ours/unzip restore throughput >= 1.0. Exit status 1 when one misses.
 *
 *   npm run build && npm run bench:zip       # BENCH_SIZE_MIB=256 BENCH_RUNS=3 BENCH_THREADS=2
 *                                            # BENCH_CHUNKS_KIB=256,1024,4096 (our chunk sizes)
 *
 * Needs zip, unzip and dd; no root. Results JSON in bench/results/zip-<date>.json.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { makeImage } from './mixed-image.js';
import { openPartSink } from '../src/image/parts.js';
import { ZipImageReader } from '../src/image/zip/reader.js';
import { ZipImageWriter } from '../src/image/zip/writer.js';
import {
  MB,
  MiB,
  UsageError,
  configOrExit,
  describeFailure,
  findRepoRoot,
  haveRequired,
  installSignalHandlers,
  machineInfo,
  median,
  onCleanup,
  runInterleaved,
  runMain,
  runTimed,
  positiveIntEnv,
  resultsFile,
  table,
  writeJson,
  printChecks,
  type Check,
} from './common.js';

const USAGE = `usage: node dist/bench/zip.js
environment: BENCH_SIZE_MIB (default 1024), BENCH_RUNS (default 3), BENCH_THREADS (default 2),
             BENCH_CHUNKS_KIB (comma list, default 1024: our writer once per chunk size)`;

const TARGETS = { backupVsYazl: 1.5, sizeVsZip: 1.05, restoreVsUnzip: 1.0 };

interface Config {
  sizeMiB: number;
  runs: number;
  threads: number;
  chunksKiB: number[];
}

function parse(argv: string[]): Config | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  if (argv.length > 0) throw new UsageError(`unexpected arguments: ${argv.join(' ')}`);
  const chunksRaw = process.env['BENCH_CHUNKS_KIB'] ?? '1024';
  const chunksKiB = chunksRaw.split(',').map((x) => Number(x.trim()));
  if (chunksKiB.some((c) => !Number.isInteger(c) || c < 64)) throw new UsageError(`BENCH_CHUNKS_KIB must list integers >= 64, got "${chunksRaw}"`);
  return {
    sizeMiB: positiveIntEnv('BENCH_SIZE_MIB', 1024),
    runs: positiveIntEnv('BENCH_RUNS', 3),
    threads: positiveIntEnv('BENCH_THREADS', 2),
    chunksKiB,
  };
}

interface Rec {
  seconds: number[];
  sizes: number[];
  skipped?: string;
  error?: string;
}

async function ours(image: string, out: string, threads: number, chunkSize: number): Promise<number> {
  rmSync(out, { force: true });
  const w = new ZipImageWriter({ sink: openPartSink(out), entryName: 'image.img', level: 6, threads, chunkSize, size: statSync(image).size });
  // the engine hands the writer ring slots: 4 MiB SharedArrayBuffer views, 4 in flight
  const depth = 4;
  const slotSize = 4 * MiB;
  const slots = Array.from({ length: depth }, () => new Uint8Array(new SharedArrayBuffer(slotSize)));
  const busy: Array<Promise<void> | undefined> = new Array<Promise<void> | undefined>(depth);
  const fh = await open(image, 'r');
  try {
    for (let i = 0, pos = 0; ; i++) {
      const k = i % depth;
      await busy[k];
      const slot = slots[k];
      if (!slot) throw new Error('no slot');
      const { bytesRead } = await fh.read(slot, 0, slotSize, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      busy[k] = w.write(slot.subarray(0, bytesRead));
    }
    await Promise.all(busy);
  } finally {
    await fh.close();
  }
  const r = await w.finish();
  return r.archiveSize;
}

async function viaYazl(image: string, out: string): Promise<number> {
  const z = new yazl.ZipFile();
  z.addReadStream(createReadStream(image, { highWaterMark: 4 * MiB }), 'image.img', { compressionLevel: 6, size: statSync(image).size });
  z.end();
  await pipeline(z.outputStream, createWriteStream(out));
  return statSync(out).size;
}

async function infoZip(image: string, out: string): Promise<number> {
  rmSync(out, { force: true });
  const r = await runTimed('zip', ['-6', '-q', '-j', out, image], { timeoutMs: 3_600_000 });
  if (r.code !== 0) throw new Error(describeFailure('zip', r));
  return statSync(out).size;
}

/** dd writing its stdin to target with O_DIRECT, 4 MiB blocks; resolves when it exits 0. */
function ddTo(target: string): { stdin: NodeJS.WritableStream; done: Promise<void> } {
  const dd = spawn('dd', [`of=${target}`, 'bs=4M', 'iflag=fullblock', 'oflag=direct', 'status=none'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  dd.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<void>((res, rej) => {
    dd.on('error', rej);
    dd.on('close', (code) => (code === 0 ? res() : rej(new Error(`dd exited with ${code}: ${err.trim()}`))));
  });
  return { stdin: dd.stdin, done };
}

async function restoreOurs(archive: string, target: string): Promise<number> {
  rmSync(target, { force: true });
  const r = await ZipImageReader.open(archive);
  const dd = ddTo(target);
  try {
    await pipeline(r.stream(), dd.stdin);
  } finally {
    await r.close();
  }
  await dd.done;
  return statSync(target).size;
}

async function restoreUnzip(archive: string, target: string): Promise<number> {
  rmSync(target, { force: true });
  const r = await runTimed('sh', ['-c', 'unzip -p "$1" | dd of="$2" bs=4M iflag=fullblock oflag=direct status=none', 'sh', archive, target], { timeoutMs: 3_600_000 });
  if (r.code !== 0) throw new Error(describeFailure('unzip | dd', r));
  return statSync(target).size;
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const cfg = configOrExit(parse, USAGE);
  if (typeof cfg === 'number') return cfg;
  if (!haveRequired(['zip', 'unzip', 'dd'])) return 2;
  installSignalHandlers('stopping the benchmark', 2000);
  const repo = findRepoRoot();
  const dir = mkdtempSync('/dev/shm/cs-bench-zip-');
  onCleanup('scratch folder', () => rmSync(dir, { recursive: true, force: true }));
  const size = cfg.sizeMiB * MiB;
  const image = join(dir, 'image.img');
  let t = performance.now();
  const mix = await makeImage(image, size);
  process.stdout.write(
    `zip bench: ${cfg.sizeMiB} MiB image (${mix.zeros} MiB zeros, ${mix.text} text, ${mix.random} random) made in ${((performance.now() - t) / 1000).toFixed(1)} s in ${dir}; ${cfg.runs} interleaved runs, ${cfg.threads} deflate threads\n`,
  );

  type Tool = string;
  const backup: Array<{ tool: Tool; rec: Rec; run: (out: string) => Promise<number> }> = [
    ...cfg.chunksKiB.map((k) => ({ tool: `ours-${k}k`, rec: { seconds: [], sizes: [] } as Rec, run: (out: string) => ours(image, out, cfg.threads, k * 1024) })),
    { tool: 'yazl', rec: { seconds: [], sizes: [] }, run: (out: string) => viaYazl(image, out) },
    { tool: 'zip -6', rec: { seconds: [], sizes: [] }, run: (out: string) => infoZip(image, out) },
  ];
  const archive = (tool: Tool): string => join(dir, `${tool.replace(/[^a-z0-9]+/gi, '_')}.zip`);
  await runInterleaved(
    backup.map((b) => ({ tool: b.tool, rec: b.rec })),
    cfg.runs,
    async (tool, rec) => {
      const b = backup.find((x) => x.tool === tool);
      if (!b) throw new Error(`unknown tool ${tool}`);
      t = performance.now();
      const bytes = await b.run(archive(tool));
      rec.seconds.push((performance.now() - t) / 1000);
      rec.sizes.push(bytes);
      process.stdout.write(`  backup  ${tool.padEnd(10)} ${(size / MB / (rec.seconds.at(-1) ?? 1)).toFixed(1).padStart(7)} MB/s  ${bytes} bytes\n`);
    },
    (tool, e) => process.stdout.write(`  backup  ${tool} FAILED: ${e}\n`),
  );

  const ourTool = backup[0]?.tool ?? 'ours-1024k';
  const ourArchive = archive(ourTool);
  const target = join(dir, 'target.img');
  const restore: Array<{ tool: Tool; rec: Rec; run: () => Promise<number> }> = [
    { tool: 'ours', rec: { seconds: [], sizes: [] }, run: () => restoreOurs(ourArchive, target) },
    { tool: 'unzip|dd', rec: { seconds: [], sizes: [] }, run: () => restoreUnzip(ourArchive, target) },
  ];
  await runInterleaved(
    restore.map((r) => ({ tool: r.tool, rec: r.rec })),
    cfg.runs,
    async (tool, rec) => {
      const r = restore.find((x) => x.tool === tool);
      if (!r) throw new Error(`unknown tool ${tool}`);
      t = performance.now();
      const bytes = await r.run();
      rec.seconds.push((performance.now() - t) / 1000);
      rec.sizes.push(bytes);
      if (bytes !== size) throw new Error(`${tool} restored ${bytes} bytes, not ${size}`);
      process.stdout.write(`  restore ${tool.padEnd(10)} ${(size / MB / (rec.seconds.at(-1) ?? 1)).toFixed(1).padStart(7)} MB/s\n`);
    },
    (tool, e) => process.stdout.write(`  restore ${tool} FAILED: ${e}\n`),
  );

  const rate = (rec: Rec): number => size / MB / median(rec.seconds);
  const rows = [['backup', 'MB/s (median)', 'archive bytes', 'ratio']];
  for (const b of backup) rows.push([b.tool, b.rec.error ? 'FAILED' : rate(b.rec).toFixed(1), String(b.rec.sizes[0] ?? '-'), b.rec.sizes[0] ? (size / b.rec.sizes[0]).toFixed(2) : '-']);
  const rrows = [['restore', 'MB/s (median)']];
  for (const r of restore) rrows.push([r.tool, r.rec.error ? 'FAILED' : rate(r.rec).toFixed(1)]);
  process.stdout.write(`\n${table(rows)}\n\n${table(rrows)}\n\n`);

  const ourRec = backup[0]?.rec;
  const yazlRec = backup.find((b) => b.tool === 'yazl')?.rec;
  const zipRec = backup.find((b) => b.tool === 'zip -6')?.rec;
  const checks: Check[] = [];
  if (ourRec && yazlRec && !ourRec.error && !yazlRec.error) {
    const v = rate(ourRec) / rate(yazlRec);
    checks.push({ name: `backup throughput ${ourTool} / yazl`, value: v, target: `>= ${TARGETS.backupVsYazl}`, pass: v >= TARGETS.backupVsYazl });
  }
  if (ourRec && zipRec && ourRec.sizes[0] && zipRec.sizes[0]) {
    const v = ourRec.sizes[0] / zipRec.sizes[0];
    checks.push({ name: `archive size ${ourTool} / zip -6`, value: v, target: `<= ${TARGETS.sizeVsZip}`, pass: v <= TARGETS.sizeVsZip });
  }
  if (ourRec && zipRec && !zipRec.error) {
    checks.push({ name: `(info) backup throughput ${ourTool} / zip -6`, value: rate(ourRec) / rate(zipRec), target: '-', pass: true });
  }
  const [ro, ru] = [restore[0]?.rec, restore[1]?.rec];
  if (ro && ru && !ro.error && !ru.error) {
    const v = rate(ro) / rate(ru);
    checks.push({ name: 'restore throughput ours / unzip|dd', value: v, target: `>= ${TARGETS.restoreVsUnzip}`, pass: v >= TARGETS.restoreVsUnzip });
  }
  printChecks(checks);

  const file = resultsFile(repo, 'zip');
  writeJson(file, {
    bench: 'zip',
    date: new Date().toISOString(),
    machine: machineInfo(),
    config: cfg,
    image: { bytes: size, blocksMiB: mix },
    backup: backup.map((b) => ({ tool: b.tool, ...b.rec, medianMBps: b.rec.seconds.length ? rate(b.rec) : null })),
    restore: restore.map((r) => ({ tool: r.tool, ...r.rec, medianMBps: r.rec.seconds.length ? rate(r.rec) : null, target: 'file on tmpfs via dd oflag=direct' })),
    checks,
  });
  process.stdout.write(`results: ${file}\n`);
  const failed = checks.some((c) => !c.pass) || backup.some((b) => b.rec.error) || restore.some((r) => r.rec.error);
  return failed ? 1 : 0;
}

runMain(main, 'zip');
