/**
 * Dashboard CPU benchmark: the operator's screen must not eat the station's CPU. Renders 16
 * synthetic jobs (12 clones, 1:N among them, and 4 rescues whose maps of ~2,000 extents
 * change every second; a rescue selected, so its map is drawn every frame) at 4 Hz on a
 * 160x48 screen for BENCH_SECONDS (default 20), and measures the process's CPU time
 * (process.cpuUsage, user + system) over wall time. Budget: 5% of one core.
 *
 *   npm run build:ts && npm run bench:ui          # BENCH_SECONDS=... BENCH_COLS=... BENCH_ROWS=...
 *
 * The terminal is a stream that counts and drops what blessed writes (the bytes a real
 * terminal would receive are reported). The synthetic source's own cost is measured alone
 * first and reported; it is included in the figure (a real source reads shared counters,
 * which is cheaper). Writes bench/results/ui-<date>.json; exits 1 when over budget.
 */
import { Writable, PassThrough } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { Dashboard } from '../dashboard/dashboard.js';
import type { DashboardSource, JobView, MapView } from '../dashboard/source.js';
import { findRepoRoot, machineInfo, positiveIntEnv, resultsFile, writeJson } from './common.js';

const BUDGET_PERCENT = 5;
const GiB = 2 ** 30;

/** 16 jobs whose progress follows the clock; rescue maps are rebuilt once a second. */
class SyntheticSource implements DashboardSource {
  readonly title = 'bench';
  private readonly t0 = performance.now();
  private maps = new Map<number, { at: number; map: MapView }>();
  constructor(private readonly count: number) {}

  private map(id: number, seconds: number): MapView {
    const cached = this.maps.get(id);
    const second = Math.floor(seconds);
    if (cached && cached.at === second) return cached.map;
    const size = 500 * GiB;
    const extents: MapView['extents'] = [];
    const n = 2000;
    const done = Math.min(n, 200 + second * 20);
    for (let i = 0; i < n; i++) {
      const status = i < done ? (i % 37 === 0 ? '-' : i % 23 === 0 ? '*' : i % 29 === 0 ? '/' : '+') : '?';
      extents.push({ pos: (i * size) / n, size: size / n, status });
    }
    const map: MapView = { size, extents, current: { pos: (done * size) / n, status: '?', pass: 1 } };
    this.maps.set(id, { at: second, map });
    return map;
  }

  jobs(): JobView[] {
    const s = (performance.now() - this.t0) / 1000;
    const out: JobView[] = [];
    for (let id = 1; id <= this.count; id++) {
      const rescue = id <= 4;
      const total = (rescue ? 500 : 250 + id * 10) * GiB;
      const rate = (80 + ((id * 37) % 120)) * 1e6 * (1 + 0.2 * Math.sin(s + id));
      const targets = id % 5 === 0 ? 3 : 1;
      out.push({
        id,
        role: rescue ? 'rescue' : targets > 1 ? `1:${targets}` : 'pair',
        drives: [
          { role: 'source', path: `/dev/sd${String.fromCharCode(97 + id)}`, model: 'WDC WD5000AAKX', serial: `WD-WCC2E${id}` },
          ...Array.from({ length: targets }, (_, k) => ({ role: 'target' as const, path: `/dev/sd${String.fromCharCode(97 + id)}${k + 1}`, model: 'ST500DM002', serial: `Z3T${id}${k}` })),
        ],
        state: id === 7 ? 'paused' : 'running',
        pass: rescue ? 'copy 1' : 'copy',
        bytesDone: Math.min(total, s * rate),
        bytesTotal: total,
        bytesBad: rescue ? Math.floor(s) * 4096 : 0,
        errors: rescue ? Math.floor(s / 2) : 0,
        elapsed: s,
        badAreas: rescue,
        map: rescue ? this.map(id, s) : undefined,
        canPause: !rescue,
      });
    }
    return out;
  }
  pause(): void {}
  resume(): void {}
  cancel(): void {}
  report(): unknown {
    return {};
  }
  stopAll(): void {}
  finished(): boolean {
    return false;
  }
}

/** A terminal that drops what it is sent, counting it. */
class NullTerminal extends Writable {
  bytes = 0;
  readonly isTTY = true;
  constructor(
    readonly columns: number,
    readonly rows: number,
  ) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.bytes += chunk.length;
    cb();
  }
}

function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000;
}

async function measure(seconds: number, f: () => () => void): Promise<{ cpuMs: number; wallMs: number }> {
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const stop = f();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop();
  return { cpuMs: cpuMs(process.cpuUsage(c0)), wallMs: performance.now() - w0 };
}

async function main(): Promise<number> {
  const seconds = positiveIntEnv('BENCH_SECONDS', 20);
  const cols = positiveIntEnv('BENCH_COLS', 160);
  const rows = positiveIntEnv('BENCH_ROWS', 48);
  const jobs = positiveIntEnv('BENCH_JOBS', 16);
  const hz = positiveIntEnv('BENCH_HZ', 4);
  process.stdout.write(`dashboard CPU: ${jobs} jobs at ${hz} Hz on ${cols}x${rows} for ${seconds} s (budget ${BUDGET_PERCENT}% of one core)\n`);

  // The synthetic source alone, polled at the same rate: what the figure includes besides the UI.
  const alone = await measure(Math.min(5, seconds), () => {
    const src = new SyntheticSource(jobs);
    const timer = setInterval(() => src.jobs(), 1000 / hz);
    return () => clearInterval(timer);
  });

  const out = new NullTerminal(cols, rows);
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => {} });
  let dash: Dashboard | undefined;
  // warm up (module loading, first layout, the JIT) before measuring
  dash = new Dashboard(new SyntheticSource(jobs), { input, output: out, hz });
  await new Promise((r) => setTimeout(r, 2000));
  const bytes0 = out.bytes;
  const run = await measure(seconds, () => () => undefined);
  const written = out.bytes - bytes0;
  dash.destroy();
  dash = undefined;

  const percent = (100 * run.cpuMs) / run.wallMs;
  const sourcePercent = (100 * alone.cpuMs) / alone.wallMs;
  const ratio = percent / BUDGET_PERCENT;
  const pass = percent <= BUDGET_PERCENT;
  process.stdout.write(`synthetic source alone: ${sourcePercent.toFixed(2)}% of one core (included below)\n`);
  process.stdout.write(`dashboard: ${percent.toFixed(2)}% of one core (${run.cpuMs.toFixed(0)} ms CPU in ${(run.wallMs / 1000).toFixed(1)} s); ${(written / 1024 / (run.wallMs / 1000)).toFixed(1)} KiB/s to the terminal\n`);
  process.stdout.write(`ratio to the ${BUDGET_PERCENT}% budget: ${ratio.toFixed(2)}x  ${pass ? 'PASS' : 'FAIL'}\n`);
  const file = resultsFile(findRepoRoot(), 'ui');
  writeJson(file, {
    bench: 'ui',
    date: new Date().toISOString(),
    machine: machineInfo(),
    config: { jobs, hz, cols, rows, seconds, rescueJobsWithMaps: 4, mapExtents: 2000 },
    cpuPercentOfOneCore: percent,
    syntheticSourceCpuPercent: sourcePercent,
    budgetPercent: BUDGET_PERCENT,
    ratioToBudget: ratio,
    pass,
    terminalBytesPerSec: written / (run.wallMs / 1000),
  });
  process.stdout.write(`results: ${file}\n`);
  return pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench/ui: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
