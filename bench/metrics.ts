/**
 * What the metrics cost (issue 17: "a station of 16 jobs with metrics on, scraped every
 * second, uses at most 1% of one core more than without").
 *
 *   npx tsc -p . && node dist/bench/metrics.js        (BENCH_RUNS=3 BENCH_METRICS_MIB=128)
 *
 *  1. scrape: the cost of one scrape of a station of 16 jobs (3 drives each), in process:
 *     CPU time (process.cpuUsage, user + system) of 500 scrapes / 500. Scraped once a
 *     second, that is this many ms of CPU per second: ms / 10 = % of one core.
 *  2. station: a real station of 16 clone jobs (files of BENCH_METRICS_MIB in /dev/shm, no
 *     verify, no log, no ledger), each held to BENCH_METRICS_RATE bytes/s (16 MiB/s: the
 *     copy's own CPU stays small, so 1% of a core is measurable), run in a child process with
 *     --metrics and scraped every second by this process, and without; the child's CPU
 *     seconds (process.cpuUsage, user + system) per wall second, interleaved runs, medians.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StationMetrics } from '../src/metrics/station-metrics.js';
import type { JobKind, StationJob } from '../src/jobs/kind.js';
import type { JobView } from '../dashboard/source.js';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const mib = Number(process.env.BENCH_METRICS_MIB ?? 128);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function scrapeCost(n = 500): Promise<{ msPerScrape: number; bytes: number }> {
  const m = new StationMetrics({ station: 'bench' });
  const views: JobView[] = [];
  const jobs: StationJob[] = Array.from({ length: 16 }, (_, i) => {
    const v: JobView = {
      id: i + 1,
      role: 'pair',
      drives: [
        { role: 'source', path: `/dev/disk/by-id/ata-src-${i}`, model: 'WDC WD40EFRX-68N32N0', serial: `WD-WCC7K${i}ABCDEF` },
        { role: 'target', path: `/dev/disk/by-id/ata-t1-${i}`, model: 'ST4000VN008-2DR166', serial: `ZDH${i}XYZ` },
        { role: 'target', path: `/dev/disk/by-id/ata-t2-${i}`, model: 'ST4000VN008-2DR166', serial: `ZDH${i}ABC` },
      ],
      state: 'running',
      pass: 'copy',
      bytesDone: 0,
      bytesTotal: 4e12,
      bytesBad: 0,
      errors: 0,
      elapsed: 10,
      badAreas: false,
      canPause: true,
    };
    views.push(v);
    const kind = { name: 'clone', view: () => v, rows: () => [] } as unknown as JobKind;
    return { id: i + 1, kind, state: 'running', planned: {}, control: new SharedArrayBuffer(8), live: { notes: [] }, ringBytes: 0 } as unknown as StationJob;
  });
  m.watch(jobs);
  let bytes = 0;
  // warm up (JIT), then measure
  for (let i = 0; i < 50; i++) bytes = (await m.text()).length;
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    for (const v of views) v.bytesDone += 1e8;
    bytes = (await m.text()).length;
  }
  const c = process.cpuUsage(c0);
  return { msPerScrape: (c.user + c.system) / 1000 / n, bytes };
}

/**
 * The child: a station of 16 pairs, each job held to BENCH_METRICS_RATE bytes/s (the
 * station's maxRate), with or without --metrics; prints its CPU and wall seconds.
 */
async function child(dir: string, port: number | undefined): Promise<void> {
  const { runStation } = await import('../src/station/cli.js');
  const { TextReporter } = await import('../src/progress.js');
  const rate = Number(process.env.BENCH_METRICS_RATE ?? 16 * 1024 * 1024);
  const t0 = Date.now();
  const c0 = process.cpuUsage();
  const ac = new AbortController();
  // CPU at each second: the steady state (seconds 2 to 7) leaves out loading and planning
  const samples: number[] = [];
  const sampler = setInterval(() => {
    const c = process.cpuUsage(c0);
    samples.push((c.user + c.system) / 1e6);
  }, 1000);
  await runStation(
    {
      jobs: Array.from({ length: 16 }, (_, i) => ({ kind: 'clone', source: join(dir, `s${i}`), targets: [join(dir, `t${i}`)] })),
      options: { maxParallel: 16, maxRate: rate, verify: false },
      yes: true,
      defaultLog: false,
      ledgerPath: false,
      ui: false,
      ...(port ? { metrics: { address: `127.0.0.1:${port}` } } : {}),
    },
    new TextReporter(process.stderr, true),
    ac.signal,
  );
  clearInterval(sampler);
  const c = process.cpuUsage(c0);
  const steady = samples.length >= 7 ? (samples[6] - samples[1]) / 5 : NaN;
  process.stdout.write(`${JSON.stringify({ cpu: (c.user + c.system) / 1e6, wall: (Date.now() - t0) / 1000, steady })}\n`);
}

/** One station run (a child process); this process scrapes it every second when `port` is given. */
async function stationRun(dir: string, port: number | undefined): Promise<{ cpu: number; wall: number; steady: number; scrapes: number }> {
  const c = spawn(process.execPath, [import.meta.filename, '--child', dir, String(port ?? 0)], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let scrapes = 0;
  let done = false;
  const scraper = (async () => {
    if (!port) return;
    while (!done) {
      await new Promise((r) => setTimeout(r, 1000));
      if (done) break;
      try {
        await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        scrapes++;
      } catch {
        // not up yet, or gone
      }
    }
  })();
  const code = await new Promise<number | null>((r) => c.on('exit', r));
  done = true;
  await scraper;
  if (code !== 0) throw new Error(`station exited ${code}`);
  return { ...(JSON.parse(out.trim().split('\n').pop() as string) as { cpu: number; wall: number; steady: number }), scrapes };
}

async function main(): Promise<void> {
  const { msPerScrape, bytes } = await scrapeCost();
  console.log(`scrape of 16 jobs x 3 drives (${bytes} bytes of text): ${msPerScrape.toFixed(3)} ms CPU; scraped every second: ${(msPerScrape / 10).toFixed(3)}% of one core`);
  const dir = mkdtempSync(join('/dev/shm', 'cs-bench-metrics-'));
  try {
    const block = Buffer.alloc(mib * 1024 * 1024, 0x5a);
    for (let i = 0; i < 16; i++) {
      writeFileSync(join(dir, `s${i}`), block);
      writeFileSync(join(dir, `t${i}`), Buffer.alloc(0));
    }
    const off: { cpu: number; wall: number; steady: number }[] = [];
    const on: { cpu: number; wall: number; steady: number; scrapes: number }[] = [];
    for (let r = 0; r < runs; r++) {
      off.push(await stationRun(dir, undefined));
      on.push(await stationRun(dir, 19000 + Math.floor(Math.random() * 1000)));
      console.log(`run ${r + 1}: without ${off[r].cpu.toFixed(2)} CPU s in ${off[r].wall.toFixed(2)} s (steady ${(off[r].steady * 100).toFixed(2)}% of a core); with metrics ${on[r].cpu.toFixed(2)} CPU s in ${on[r].wall.toFixed(2)} s (steady ${(on[r].steady * 100).toFixed(2)}%, ${on[r].scrapes} scrapes)`);
    }
    const perWall = (xs: { cpu: number; wall: number }[]): number => median(xs.map((x) => x.cpu / x.wall));
    const a = perWall(off);
    const b = perWall(on);
    const sa = median(off.map((x) => x.steady));
    const sb = median(on.map((x) => x.steady));
    console.log(`steady state (seconds 2 to 7 of each run), medians: ${(sa * 100).toFixed(2)}% of a core without metrics, ${(sb * 100).toFixed(2)}% with: ${((sb - sa) * 100).toFixed(2)} points more`);
    console.log(`station of 16 jobs (${mib} MiB each, tmpfs files, each held to ${process.env.BENCH_METRICS_RATE ?? 16 * 1024 * 1024} B/s), medians of ${runs}: ${(a * 100).toFixed(2)}% of a core without metrics, ${(b * 100).toFixed(2)}% with, whole runs (loading prom-client included): ${((b - a) * 100).toFixed(2)} points more`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3], Number(process.argv[4]) || undefined);
else await main();
