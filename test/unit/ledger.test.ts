// The job ledger: appended lines (fsynced, never rewritten), untrusted lines reported, filters, several stations joined; the ledger command's exit codes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { appendLedger, parseLedger, readLedger } from '../../src/ledger/file.js';
import { joinLedgers, matches } from '../../src/ledger/filter.js';
import type { LedgerRecord } from '../../src/ledger/record.js';

const dir = mkdtempSync(join(tmpdir(), 'cs-ledger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli.js');

function rec(o: Partial<LedgerRecord> & { serials?: string[] } = {}): LedgerRecord {
  const { serials = ['SRC1', 'TGT1'], ...rest } = o;
  return {
    v: 1,
    station: 'st-1',
    run: 'r1',
    job: 1,
    kind: 'clone',
    outcome: 'done',
    endedAt: '2026-11-30T10:00:00.000Z',
    seconds: 10,
    bytes: 1000,
    bytesDone: 1000,
    bytesBad: 0,
    drives: [
      { role: 'source', path: '/dev/sda', serial: serials[0] },
      { role: 'target', path: '/dev/sdb', serial: serials[1], state: 'done' },
    ],
    ...rest,
  };
}

describe('appendLedger', () => {
  it('appends one line per job after what is there, making the folder if needed', () => {
    const f = join(dir, 'new', 'sub', 'ledger.jsonl');
    appendLedger(f, rec({ job: 1 }));
    const before = readFileSync(f, 'utf8');
    appendLedger(f, rec({ job: 2 }));
    const after = readFileSync(f, 'utf8');
    // never rewritten: the old bytes are the new file's start
    expect(after.startsWith(before)).toBe(true);
    expect(after.split('\n').filter(Boolean).map((l) => JSON.parse(l).job)).toEqual([1, 2]);
    expect(after.endsWith('\n')).toBe(true);
  });

  it('keeps lines of two writers whole (O_APPEND)', async () => {
    const f = join(dir, 'two.jsonl');
    const big = 'x'.repeat(3000);
    await Promise.all(
      [1, 2].map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const code = `import('${join(import.meta.dirname, '..', '..', 'dist', 'src', 'ledger', 'file.js')}').then(({appendLedger})=>{for(let i=0;i<200;i++)appendLedger(${JSON.stringify(f)},{v:1,station:'w${w}',run:'r',job:i,kind:'clone',outcome:'done',endedAt:'2026-11-30T10:00:00Z',seconds:0,bytes:0,bytesDone:0,bytesBad:0,drives:[],error:'${big}'})})`;
            // two processes at once, each appending 200 lines
            const c = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'inherit'] });
            c.on('exit', (status) => (status === 0 ? resolve() : reject(new Error(`writer ${w} exited ${status}`))));
          }),
      ),
    );
    const { records, problems } = readLedger(f);
    expect(problems).toEqual([]);
    expect(records.length).toBe(400);
  });
});

describe('parseLedger (untrusted)', () => {
  it('reports each bad line with its number and keeps the good ones', () => {
    const good = JSON.stringify(rec());
    const text = [good, 'not json', '[1,2]', JSON.stringify({ ...rec(), endedAt: 'soon' }), JSON.stringify({ ...rec(), drives: 'x' }), JSON.stringify({ ...rec(), job: 2 }), '{"v":1,"station":"cut'].join('\n');
    const { records, problems } = parseLedger(text, 'L');
    expect(records.map((r) => r.job)).toEqual([1, 2]);
    expect(problems.map((p) => p.line)).toEqual([2, 3, 4, 5, 7]);
    expect(problems[0].why).toBe('not JSON');
    expect(problems[2].why).toMatch(/endedAt/);
    expect(problems[3].why).toMatch(/drives/);
    expect(problems[4].why).toMatch(/cut short/);
  });
});

describe('filters and joins', () => {
  const a = rec({ job: 1, endedAt: '2026-11-29T23:00:00Z', serials: ['AAA', 'BBB'] });
  const b = rec({ job: 2, endedAt: '2026-11-30T12:00:00Z', outcome: 'failed', kind: 'backup', serials: ['CCC'] });
  it('by serial (either role, any case), kind, outcome and time window', () => {
    expect(matches(a, { serial: 'bbb' })).toBe(true);
    expect(matches(b, { serial: 'bbb' })).toBe(false);
    expect(matches(b, { kind: 'backup', outcome: 'failed' })).toBe(true);
    expect(matches(a, { kind: 'backup' })).toBe(false);
    expect(matches(a, { since: Date.parse('2026-11-30') })).toBe(false);
    expect(matches(b, { since: Date.parse('2026-11-30') })).toBe(true);
    expect(matches(b, { until: Date.parse('2026-11-30T12:00:00Z') })).toBe(false);
  });
  it('joins stations in time order, one record per station, run and job', () => {
    const c = rec({ station: 'st-2', job: 1, endedAt: '2026-11-30T01:00:00Z' });
    const joined = joinLedgers([[b, a], [c, a]]);
    expect(joined.map((r) => `${r.station}/${r.job}`)).toEqual(['st-1/1', 'st-2/1', 'st-1/2']);
  });
});

describe('clonestation ledger', () => {
  const s1 = join(dir, 's1.jsonl');
  const s2 = join(dir, 's2.jsonl');
  writeFileSync(s1, `${JSON.stringify(rec({ job: 1, serials: ['WD-1', 'WD-2'] }))}\n${JSON.stringify(rec({ job: 2, outcome: 'failed', serials: ['WD-3', 'WD-4'] }))}\n`);
  writeFileSync(s2, `${JSON.stringify(rec({ station: 'st-2', job: 1, kind: 'verify', serials: ['WD-2'] }))}\n`);
  appendFileSync(s2, 'garbage\u001b[2J\n');
  const run = (args: string[]) => spawnSync(process.execPath, [cli, 'ledger', ...args], { encoding: 'utf8' });

  it('joins several stations and filters by serial; a bad line is reported on stderr, not fatal', () => {
    const r = run([s1, s2, '--serial', 'WD-2', '--json']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').map((l) => `${JSON.parse(l).station}/${JSON.parse(l).job}`)).toEqual(['st-1/1', 'st-2/1']);
    expect(r.stderr).toBe(`clonestation: ledger ${s2} line 2: not JSON; skipped\n`);
    expect(statSync(s2).size).toBeGreaterThan(0);
  });
  it('lists a table with --outcome', () => {
    const r = run([s1, '--outcome', 'failed']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ENDED\s+STATION\s+JOB\s+KIND\s+OUTCOME/);
    expect(lines.length).toBe(2);
    expect(lines[1]).toMatch(/WD-3 WD-4/);
  });
  it.each([
    [['/nonexistent/ledger.jsonl'], 'BAD_LEDGER'],
    [[dir], 'BAD_LEDGER'],
    [['--since', 'yesterday', s1], 'BAD_DATE'],
    [['--outcome', 'maybe', s1], 'USAGE'],
  ])('refuses %j: exit 2, %s, one line', (args, code) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^clonestation: [^\\n]+ \\[${code}\\]\\n$`));
  });
});
