/**
 * Erase passes against dd and nwipe: a zero pass (`clonestation erase --method zero
 * --verify none`) and a random pass on a tmpfs-backed and a disk-backed loop device, against
 * `dd if=/dev/zero of=DEV bs=4M oflag=direct` and, when installed, `nwipe --autonuke --nogui
 * --method=zero --verify=off --noblank`; interleaved runs, medians and ratios; then 8 drives
 * erased at once (sum MB/s).
 *
 *   npm run bench:erase                        # 2 GiB per loop, 3 runs
 *   BENCH_SIZE_MIB=512 BENCH_RUNS=1 npm run bench:erase
 *
 * Needs root (losetup). Writes only to loop devices it attached over files it created, and
 * removes them on exit, error and signals. Rates of our passes are the pass's own seconds
 * (from the certificate); dd and nwipe are timed as processes. Exits 0 whatever the ratios.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MB, MiB, assertOwnedLoop, findExecutable, findRepoRoot, installSignalHandlers, isRoot, losetupAttach, machineText, median, onCleanup, positiveIntEnv, resultsFile, runMain, table, writeJson } from './common.js';

const root = findRepoRoot();
const cli = join(root, 'dist', 'src', 'cli.js');

function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0 && !(cmd === 'dd' && /No space left/.test(r.stderr))) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim().split('\n').pop()}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Our pass: the pass's seconds from the certificate it wrote. */
function ours(dev: string, method: string, dir: string): number {
  const certs = mkdtempSync(join(dir, 'certs-'));
  timed(process.execPath, [cli, 'erase', dev, '--method', method, '--verify', 'none', '--yes', '--no-ui', '--no-log', '--certs', certs], { CLONESTATION_KEY: join(dir, 'key.pem') });
  const file = readdirSync(certs)[0];
  const cert = JSON.parse(readFileSync(join(certs, file), 'utf8')) as { erase: { steps: { seconds: number }[] } };
  rmSync(certs, { recursive: true });
  return cert.erase.steps[0].seconds;
}

async function main(): Promise<number> {
  if (!isRoot('bench:erase needs root (losetup)')) return 2;
  installSignalHandlers('stopping: detaching loops', 2000);
  const size = positiveIntEnv('BENCH_SIZE_MIB', 2048) * MiB;
  const runs = positiveIntEnv('BENCH_RUNS', 3);
  const nwipe = findExecutable('nwipe', ['/usr/sbin', '/sbin']);
  const out: Record<string, unknown> = { machine: machineText(), size, runs, nwipe: Boolean(nwipe) };
  const rows: string[][] = [['backing', 'dd MB/s', 'nwipe MB/s', 'zero MB/s', 'random MB/s', 'zero/dd', 'zero/nwipe', 'random/zero']];
  for (const [name, base] of [['tmpfs', '/dev/shm'], ['disk', '/var/tmp']] as const) {
    const dir = mkdtempSync(join(base, 'cs-bench-erase-'));
    onCleanup(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'drive.img');
    execFileSync('truncate', ['-s', String(size), file]);
    const dev = losetupAttach(file, true);
    onCleanup(`detach ${dev}`, () => void spawnSync('losetup', ['-d', dev]));
    assertOwnedLoop(dev, file);
    const r: Record<string, number[]> = { dd: [], nwipe: [], zero: [], random: [] };
    for (let i = 0; i < runs; i++) {
      r.dd.push(size / timed('dd', ['if=/dev/zero', `of=${dev}`, 'bs=4M', 'oflag=direct', 'status=none']) / MB);
      if (nwipe) r.nwipe.push(size / timed(nwipe, ['--autonuke', '--nogui', '--method=zero', '--verify=off', '--noblank', dev]) / MB);
      r.zero.push(size / ours(dev, 'zero', dir) / MB);
      r.random.push(size / ours(dev, 'random', dir) / MB);
    }
    const m = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.length ? median(v) : 0]));
    out[name] = { runs: r, medians: m };
    rows.push([name, m.dd.toFixed(0), nwipe ? m.nwipe.toFixed(0) : 'not installed', m.zero.toFixed(0), m.random.toFixed(0), (m.zero / m.dd).toFixed(2), nwipe ? (m.zero / m.nwipe).toFixed(2) : '-', (m.random / m.zero).toFixed(2)]);
  }
  // 8 drives at once, tmpfs-backed, a zero pass each: their bytes over the command's seconds
  const dir = mkdtempSync(join('/dev/shm', 'cs-bench-erase8-'));
  onCleanup(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const each = Math.max(64 * MiB, Math.floor(size / 8 / MiB) * MiB);
  const devs: string[] = [];
  for (let i = 0; i < 8; i++) {
    const f = join(dir, `d${i}.img`);
    execFileSync('truncate', ['-s', String(each), f]);
    const dev = losetupAttach(f, true);
    onCleanup(`detach ${dev}`, () => void spawnSync('losetup', ['-d', dev]));
    assertOwnedLoop(dev, f);
    devs.push(dev);
  }
  const secs = timed(process.execPath, [cli, 'erase', ...devs, '--method', 'zero', '--verify', 'none', '--yes', '--no-ui', '--no-log', '--certs', dir], { CLONESTATION_KEY: join(dir, 'key.pem') });
  out.eight = { bytesEach: each, seconds: secs, sumMBs: (8 * each) / secs / MB };
  console.log(`${machineText()}; ${size / MiB} MiB per loop, ${runs} runs, medians\n`);
  console.log(table(rows));
  console.log(`\n8 drives at once (tmpfs, ${each / MiB} MiB each, zero pass, whole command): ${((8 * each) / secs / MB).toFixed(0)} MB/s in sum`);
  const file = resultsFile(root, 'erase');
  writeJson(file, out);
  console.log(`\nresults: ${file}`);
  return 0;
}

runMain(main);
