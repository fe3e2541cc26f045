/**
 * What the metrics cost (issue 17: "a station of 16 jobs with metrics on, scraped every
 * second, uses at most 1% of one core more than without").
 *
 *   npx tsc -p . && npm run bench:metrics      (BENCH_PAIRS=10 BENCH_METRICS_MIB=128)
 *
 *  1. the scrape path, in process: a station of 16 jobs (3 drives each), 1000 scrapes; each
 *     timed with performance.now() around StationMetrics.update() (every job's view read,
 *     the gauges set) and registry.metrics() (prom-client's collect and text), and the CPU of
 *     the whole loop (process.cpuUsage, user + system). Scraped once a second, ms per scrape
 *     / 10 = % of one core. With the process's own metrics and without.
 *  2. a real station of 16 clone jobs (files of BENCH_METRICS_MIB in /dev/shm, no verify, no
 *     log, no ledger), each held to BENCH_METRICS_RATE bytes/s (16 MiB/s: the copy's own CPU
 *     stays small, so 1% of a core is measurable), run in a child process with --metrics and
 *     scraped every second by this process, and without; BENCH_PAIRS pairs, the order
 *     alternating (with first, then without first) so drift of the machine cancels. Each
 *     child measures its own CPU seconds (process.cpuUsage: user + system of every thread,
 *     as getrusage(RUSAGE_SELF)) over its steady state (from second 2 to the last whole
 *     second before its jobs end: loading and planning left out) and over the whole run.
 *     A first run, not counted, allocates the targets' pages. The figure: per pair, (CPU s / wall s with metrics) - (CPU s / wall s without), in
 *     points of one core; their median and a distribution-free 95% confidence interval of
 *     the median (order statistics of the binomial, no assumption on the noise's shape).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { StationMetrics } from '../src/metrics/station-metrics.js';
import type { JobKind, StationJob } from '../src/jobs/kind.js';
import type { JobView } from '../dashboard/source.js';

const pairs = Number(process.env.BENCH_PAIRS ?? process.env.BENCH_RUNS ?? 10);
const mib = Number(process.env.BENCH_METRICS_MIB ?? 128);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * A distribution-free confidence interval of the median: the k-th smallest and k-th largest
 * of n, k the largest with P(Binomial(n, 1/2) < k) <= (1 - level) / 2. Undefined for n < 6.
 */
export function medianInterval(xs: number[], level = 0.95): { low: number; high: number; coverage: number } | undefined {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const pmf = (i: number): number => {
    let c = 1;
    for (let j = 0; j < i; j++) c = (c * (n - j)) / (j + 1);
    return c / 2 ** n;
  };
  let k = 0;
  let below = 0;
  // below = P(X < k + 1)
  while (k < n && below + pmf(k) <= (1 - level) / 2) below += pmf(k++);
  if (k === 0) return undefined;
  return { low: s[k - 1], high: s[n - k], coverage: 1 - 2 * below };
}

/** 16 running jobs of 3 drives each, whose views move on at every scrape. */
function benchJobs(): { jobs: StationJob[]; views: JobView[] } {
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
  return { jobs, views };
}

/** The scrape path in process: ms per scrape in update() and in registry.metrics(), and CPU ms per scrape of the whole loop. */
async function scrapePath(processMetrics: boolean, n = 1000): Promise<{ updateMs: number; serialiseMs: number; cpuMs: number; bytes: number }> {
  const m = new StationMetrics({ station: 'bench', processMetrics });
  const { jobs, views } = benchJobs();
  m.watch(jobs);
  let bytes = 0;
  // warm up (JIT), then measure
  for (let i = 0; i < 100; i++) bytes = (await m.text()).length;
  let update = 0;
  let serialise = 0;
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    for (const v of views) v.bytesDone += 1e8;
    const t0 = performance.now();
    m.update();
    const t1 = performance.now();
    bytes = (await m.registry.metrics()).length;
    serialise += performance.now() - t1;
    update += t1 - t0;
  }
  const c = process.cpuUsage(c0);
  return { updateMs: update / n, serialiseMs: serialise / n, cpuMs: (c.user + c.system) / 1000 / n, bytes };
}

/**
 * CPU seconds (user + system) of this process's main thread, where the metrics run (the
 * copies run in workers): /proc/self/task/PID/stat, utime and stime in clock ticks (100 a
 * second on Linux, the kernel's USER_HZ).
 */
function mainThreadSeconds(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14 and 15 of stat(5), counted from after the command's closing parenthesis (field 3 first)
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * The child: a station of 16 pairs, each job held to BENCH_METRICS_RATE bytes/s (the
 * station's maxRate), with or without --metrics; prints its CPU and wall seconds, whole and
 * in its steady state.
 */
async function child(dir: string, port: number | undefined): Promise<void> {
  const { runStation } = await import('../src/station/cli.js');
  const { TextReporter } = await import('../src/progress.js');
  const rate = Number(process.env.BENCH_METRICS_RATE ?? 16 * 1024 * 1024);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const ac = new AbortController();
  // CPU and time at each second (user + system of every thread of the process)
  const samples: { cpu: number; main: number; at: number }[] = [];
  const sample = (): void => {
    const c = process.cpuUsage(c0);
    samples.push({ cpu: (c.user + c.system) / 1e6, main: mainThreadSeconds(), at: (performance.now() - t0) / 1000 });
  };
  const sampler = setInterval(sample, 1000);
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
  // steady: from the sample at 2 s to the last one a whole second before the end
  const from = samples[1];
  const to = samples[samples.length - 2];
  const steady = from && to && to.at > from.at ? { cpu: to.cpu - from.cpu, main: to.main - from.main, wall: to.at - from.at } : { cpu: NaN, main: NaN, wall: NaN };
  process.stdout.write(`${JSON.stringify({ cpu: (c.user + c.system) / 1e6, wall: (performance.now() - t0) / 1000, steady })}\n`);
}

interface RunFigures {
  cpu: number;
  wall: number;
  steady: { cpu: number; main: number; wall: number };
  scrapes: number;
}

/** One station run (a child process); this process scrapes it every second when `port` is given. */
async function stationRun(dir: string, port: number | undefined): Promise<RunFigures> {
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
  return { ...(JSON.parse(out.trim().split('\n').pop() as string) as Omit<RunFigures, 'scrapes'>), scrapes };
}

const pts = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}`;

function summary(what: string, diffs: number[]): string {
  const ci = medianInterval(diffs);
  return `${what}: median ${pts(median(diffs))} points of a core${ci ? `, ${(ci.coverage * 100).toFixed(1)}% interval of the median [${pts(ci.low)}, ${pts(ci.high)}]` : ''} (${diffs.length} pairs)`;
}

async function main(): Promise<void> {
  for (const pm of [true, false]) {
    const r = await scrapePath(pm);
    console.log(
      `scrape path, 16 jobs x 3 drives (${r.bytes} bytes of text), ${pm ? 'with' : 'without'} the process's own metrics: update ${r.updateMs.toFixed(3)} ms + collect and serialise ${r.serialiseMs.toFixed(3)} ms per scrape (CPU ${r.cpuMs.toFixed(3)} ms); scraped every second: ${(r.cpuMs / 10).toFixed(3)}% of one core`,
    );
  }
  const dir = mkdtempSync(join('/dev/shm', 'cs-bench-metrics-'));
  try {
    const block = Buffer.alloc(mib * 1024 * 1024, 0x5a);
    for (let i = 0; i < 16; i++) {
      writeFileSync(join(dir, `s${i}`), block);
      writeFileSync(join(dir, `t${i}`), Buffer.alloc(0));
    }
    // one run first, not counted: the targets' tmpfs pages are allocated by whichever run
    // writes them first (measured: +25 points of a core for that run alone)
    await stationRun(dir, undefined);
    const steady: number[] = [];
    const mainThread: number[] = [];
    const whole: number[] = [];
    for (let r = 0; r < pairs; r++) {
      // the order alternates: a drift of the machine (other work starting, the page cache) cancels
      const port = 19000 + Math.floor(Math.random() * 1000);
      let off: RunFigures;
      let on: RunFigures;
      if (r % 2 === 0) {
        on = await stationRun(dir, port);
        off = await stationRun(dir, undefined);
      } else {
        off = await stationRun(dir, undefined);
        on = await stationRun(dir, port);
      }
      const s = on.steady.cpu / on.steady.wall - off.steady.cpu / off.steady.wall;
      const m = on.steady.main / on.steady.wall - off.steady.main / off.steady.wall;
      mainThread.push(m);
      const w = on.cpu / on.wall - off.cpu / off.wall;
      steady.push(s);
      whole.push(w);
      console.log(
        `pair ${r + 1}: without ${off.cpu.toFixed(2)} CPU s in ${off.wall.toFixed(2)} s (steady ${((100 * off.steady.cpu) / off.steady.wall).toFixed(2)}% of a core), with metrics ${on.cpu.toFixed(2)} CPU s in ${on.wall.toFixed(2)} s (steady ${((100 * on.steady.cpu) / on.steady.wall).toFixed(2)}%, ${on.scrapes} scrapes): steady ${pts(s)}, whole ${pts(w)} points; main thread ${pts(m)} points`,
      );
    }
    console.log(`station of 16 jobs (${mib} MiB each, tmpfs files, each held to ${process.env.BENCH_METRICS_RATE ?? 16 * 1024 * 1024} B/s), with metrics scraped every second minus without, CPU s / wall s:`);
    console.log(`  ${summary('steady state, whole process', steady)}`);
    console.log(`  ${summary('steady state, main thread (where the metrics run; the copies run in workers)', mainThread)}`);
    console.log(`  ${summary('whole runs (loading prom-client, starting the server included)', whole)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3], Number(process.argv[4]) || undefined);
else await main();
