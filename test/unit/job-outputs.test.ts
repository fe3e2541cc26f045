// Every single-job command (rescue, clone --map, a 1:1 clone, one backup, verify, restore to one or many) writes its job's metrics (--metrics-file, accepted by promtool) and one ledger line, read through its kind as a station's jobs are.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'cs-job-outputs-'));
const MiB = 1 << 20;
const src = join(dir, 'src.img');
const image = join(dir, 'b.img');
let data: Buffer;

beforeAll(() => {
  data = Buffer.alloc(4 * MiB);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
  writeFileSync(src, data);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], ledger: string): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: dir, timeout: 60_000, env: { ...process.env, CLONESTATION_LEDGER: ledger } });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

const zeros = (name: string, size = 4 * MiB): string => {
  const p = join(dir, name);
  writeFileSync(p, Buffer.alloc(size));
  return p;
};

function lines(ledger: string): Record<string, unknown>[] {
  return existsSync(ledger)
    ? readFileSync(ledger, 'utf8')
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
}

/** A sample's value: the line `name{...labels...} value` whose labels include all of `labels`. */
function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

function promtool(text: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The metrics file: accepted by promtool, the job (id 1) of `kind` in `state`, its size and bytes done. */
function checkFile(path: string, kind: string, state: string): string {
  const text = readFileSync(path, 'utf8');
  const check = promtool(text);
  expect(check.out).toBe('');
  expect(check.status).toBe(0);
  expect(value(text, 'clonestation_job_state', { job_id: '1', kind, state })).toBe(1);
  expect(value(text, 'clonestation_jobs_ended_total', { kind, state })).toBe(1);
  const size = value(text, 'clonestation_job_size_bytes', { job_id: '1', kind });
  expect(size).toBeGreaterThan(0);
  if (state === 'done' && kind !== 'rescue') expect(value(text, 'clonestation_job_done_bytes', { job_id: '1', kind })).toBe(size);
  return text;
}

describe('single-job commands: metrics file and ledger line', () => {
  it('rescue with unreadable sectors: bytes bad in the metrics and in the ledger, the drives with their roles', () => {
    const target = zeros('rescue-t.img');
    const sim = join(dir, 'sim.map');
    // reads fail in 64 KiB at 1 MiB (ddrescue's map format: positions and sizes in hex)
    writeFileSync(sim, '# Rescue Logfile\n0x00000000 + 1\n0x00000000 0x00100000 +\n0x00100000 0x00010000 -\n0x00110000 0x002F0000 +\n');
    const prom = join(dir, 'rescue.prom');
    const ledger = join(dir, 'rescue.jsonl');
    const r = run(['rescue', src, target, join(dir, 'rescue.map'), '--yes', '--simulate-errors', sim, '--metrics-file', prom, '--ledger', ledger], join(dir, 'unused.jsonl'));
    expect(r.stderr).toMatch(/bad 64\.00 KiB in 1 area\(s\)/);
    expect(r.status).toBe(0);
    const text = checkFile(prom, 'rescue', 'done');
    expect(value(text, 'clonestation_job_bad_bytes', { job_id: '1', kind: 'rescue' })).toBe(65536);
    expect(value(text, 'clonestation_job_done_bytes', { job_id: '1' })).toBe(4 * MiB - 65536);
    expect(value(text, 'clonestation_job_size_bytes', { job_id: '1' })).toBe(4 * MiB);
    expect(value(text, 'clonestation_drive_info', { role: 'source', drive: src })).toBe(1);
    expect(value(text, 'clonestation_drive_info', { role: 'target', drive: target })).toBe(1);
    const recs = lines(ledger);
    expect(recs.length).toBe(1);
    expect(recs[0]).toMatchObject({ kind: 'rescue', outcome: 'done', bytes: 4 * MiB, bytesDone: 4 * MiB - 65536, bytesBad: 65536 });
    expect((recs[0].drives as { role: string; path: string; size?: number }[]).map((d) => `${d.role} ${d.path} ${d.size}`)).toEqual([`source ${src} ${4 * MiB}`, `target ${target} ${4 * MiB}`]);
    expect(existsSync(join(dir, 'unused.jsonl'))).toBe(false);
  });

  it('clone --map is the same rescue job; --no-ledger writes no line', () => {
    const target = zeros('clonemap-t.img');
    const prom = join(dir, 'clonemap.prom');
    const ledger = join(dir, 'clonemap.jsonl');
    const r = run(['clone', src, target, '--map', join(dir, 'clonemap.map'), '--yes', '--metrics-file', prom, '--no-ledger'], ledger);
    expect(r.status).toBe(0);
    checkFile(prom, 'rescue', 'done');
    expect(readFileSync(target).equals(data)).toBe(true);
    expect(lines(ledger)).toEqual([]);
  });

  it("a 1:1 clone appends its line to the station's ledger ($CLONESTATION_LEDGER), or to --ledger", () => {
    const target = zeros('clone-t.img');
    const ledger = join(dir, 'clone-default.jsonl');
    expect(run(['clone', src, target, '--yes', '--no-ui'], ledger).status).toBe(0);
    const own = join(dir, 'clone-own.jsonl');
    expect(run(['clone', src, target, '--yes', '--no-ui', '--verify', '--ledger', own], ledger).status).toBe(0);
    const recs = lines(ledger);
    expect(recs.length).toBe(1);
    expect(recs[0]).toMatchObject({ kind: 'clone', outcome: 'done', bytes: 4 * MiB, bytesDone: 4 * MiB, bytesBad: 0 });
    const mine = lines(own);
    expect(mine.length).toBe(1);
    expect((mine[0].drives as { role: string; verified?: boolean }[]).find((d) => d.role === 'target')?.verified).toBe(true);
  });

  it('one backup: its line with the image and its sha256, as sha256sum gives it', () => {
    const ledger = join(dir, 'backup.jsonl');
    const r = run(['backup', src, image, '--no-ui'], ledger);
    expect(r.status).toBe(0);
    const recs = lines(ledger);
    expect(recs.length).toBe(1);
    expect(recs[0]).toMatchObject({ kind: 'backup', outcome: 'done', bytes: 4 * MiB, bytesBad: 0, hashes: { sha256: createHash('sha256').update(data).digest('hex') } });
    expect((recs[0].drives as { role: string; path: string }[]).map((d) => `${d.role} ${d.path}`)).toEqual([`source ${src}`, `target ${image}`]);
    // OUT with fields: the line names the image it became
    const templated = run(['backup', src, join(dir, 'b-{date}.img'), '--no-ui', '--hash', 'none'], ledger);
    expect(templated.status).toBe(0);
    const made = /backed up .* to (\S+\.img) /.exec(templated.stderr)?.[1];
    expect(made).toMatch(/b-\d{4}-\d\d-\d\d\.img$/);
    expect((lines(ledger)[1].drives as { role: string; path: string }[]).find((d) => d.role === 'target')?.path).toBe(made);
  });

  it('backup and verify with --metrics-file run as a station of one job: the file holds it done, with its drives', () => {
    const ledger = join(dir, 'station-one.jsonl');
    const prom = join(dir, 'backup.prom');
    const out = join(dir, 'b2.img');
    expect(run(['backup', src, out, '--no-ui', '--metrics-file', prom], ledger).status).toBe(0);
    const text = checkFile(prom, 'backup', 'done');
    expect(value(text, 'clonestation_job_size_bytes', { job_id: '1' })).toBe(4 * MiB);
    expect(value(text, 'clonestation_drive_info', { role: 'source', drive: src })).toBe(1);
    const vprom = join(dir, 'verify.prom');
    const good = join(dir, 'verify-station.img');
    writeFileSync(good, data);
    expect(run(['verify', out, good, '--no-ui', '--metrics-file', vprom], ledger).status).toBe(0);
    const vtext = checkFile(vprom, 'verify', 'done');
    expect(value(vtext, 'clonestation_drive_info', { role: 'target', drive: good })).toBe(1);
    expect(lines(ledger).map((x) => [x.kind, x.outcome])).toEqual([
      ['backup', 'done'],
      ['verify', 'done'],
    ]);
  });

  it('verify: a good drive is a done line, a differing one a failed line with its code (and exit 5 as before)', () => {
    const ledger = join(dir, 'verify.jsonl');
    const good = join(dir, 'verify-good.img');
    writeFileSync(good, data);
    expect(run(['verify', image, good, '--no-ui'], ledger).status).toBe(0);
    const bad = join(dir, 'verify-bad.img');
    const other = Buffer.from(data);
    other[3 * MiB + 7] ^= 0xff;
    writeFileSync(bad, other);
    const r = run(['verify', image, bad, '--no-ui'], ledger);
    expect(r.status).toBe(5);
    const recs = lines(ledger);
    expect(recs.map((x) => [x.kind, x.outcome])).toEqual([
      ['verify', 'done'],
      ['verify', 'failed'],
    ]);
    expect(recs[1].code).toMatch(/^[A-Z_]+$/);
    expect((recs[1].drives as { role: string; path: string }[]).find((d) => d.role === 'target')?.path).toBe(bad);
  });

  it('restore to one target and to two: the metrics file holds the restore job done, the ledger a line each with every target', () => {
    const ledger = join(dir, 'restore.jsonl');
    const t1 = zeros('restore-1.img');
    const prom1 = join(dir, 'restore-1.prom');
    expect(run(['restore', image, t1, '--yes', '--no-ui', '--metrics-file', prom1], ledger).status).toBe(0);
    checkFile(prom1, 'restore', 'done');
    expect(readFileSync(t1).equals(data)).toBe(true);
    const t2 = zeros('restore-2.img');
    const t3 = zeros('restore-3.img');
    const prom2 = join(dir, 'restore-2.prom');
    const r = run(['restore', image, t2, t3, '--yes', '--no-ui', '--metrics-file', prom2], ledger);
    expect(r.stderr).toMatch(/2 of 2 target\(s\) good/);
    expect(r.status).toBe(0);
    const text = checkFile(prom2, 'restore', 'done');
    expect(value(text, 'clonestation_drive_outcome', { drive: t3, state: 'done' })).toBe(1);
    expect(value(text, 'clonestation_drive_verified', { drive: t2 })).toBe(1);
    const recs = lines(ledger);
    expect(recs.map((x) => x.kind)).toEqual(['restore', 'restore']);
    expect(recs[0].drives).toEqual([
      { role: 'source', path: image },
      { role: 'target', path: t1, size: 4 * MiB, state: 'done', verified: true },
    ]);
    expect((recs[1].drives as { role: string; path: string; state?: string }[]).map((d) => `${d.role} ${d.path} ${d.state}`)).toEqual([`source ${image} undefined`, `target ${t2} done`, `target ${t3} done`]);
    // the manifest's hash every target was checked against, as a backup's line carries it
    const manifest = JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8')) as { hashes: Record<string, string> };
    for (const rec of recs) {
      const [alg, hex] = Object.entries(rec.hashes as Record<string, string>)[0]!;
      expect(hex).toBe(manifest.hashes[alg]);
    }
  });

  it('a command refused before it wrote anything leaves no ledger line', () => {
    const ledger = join(dir, 'refused.jsonl');
    const r = run(['rescue', join(dir, 'no-such.img'), zeros('refused-t.img'), join(dir, 'refused.map'), '--yes'], ledger);
    expect(r.status).toBe(2);
    expect(lines(ledger)).toEqual([]);
  });
});
