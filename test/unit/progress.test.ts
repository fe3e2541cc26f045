import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { JsonReporter, RateMeter, TextReporter, progressLine } from '../../src/progress.js';

describe('progress', () => {
  it('shows percent, sizes, rate and ETA', () => {
    const line = progressLine({ phase: 'copy', done: 512 << 20, total: 1 << 30, elapsed: 2, rate: 268435456, bytesBad: 0 });
    expect(line).toContain(' 50.0%');
    expect(line).toContain('512.00 MiB of 1.00 GiB');
    expect(line).toContain('268.4 MB/s');
    expect(line).toContain('ETA 0:02');
    expect(line).not.toContain('bad');
  });
  it('has no ETA before there is a rate, and shows bad bytes', () => {
    const line = progressLine({ phase: 'copy', done: 0, total: 100, elapsed: 0, rate: 0, bytesBad: 512 });
    expect(line).toContain('ETA --:--');
    expect(line).toContain('bad 512 B');
  });
  it('measures rate over a sliding window', () => {
    const m = new RateMeter(2);
    m.sample(0, 0);
    m.sample(1, 100);
    expect(m.sample(2, 200)).toBe(100);
    // after a stall, the window forgets the fast start
    m.sample(3, 200);
    m.sample(4, 200);
    expect(m.sample(5, 200)).toBe(0);
  });
  it('writes one JSON object per line, progress at most once a second', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const r = new JsonReporter(out);
    const v = { phase: 'copy' as const, done: 1, total: 2, elapsed: 0.1, rate: 1, bytesBad: 0 };
    r.progress(v);
    r.progress({ ...v, elapsed: 0.5 });
    r.progress({ ...v, elapsed: 1.2 });
    r.done({ bytes: 2 });
    const events = text.trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    expect(events.map((e) => e.event)).toEqual(['progress', 'progress', 'done']);
  });
  it('prints errors as one line with the code', () => {
    const out = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
    let text = '';
    (out as unknown as PassThrough).on('data', (d: Buffer) => (text += d.toString()));
    new TextReporter(out).error('SAME_DRIVE', 'source and target are the same drive');
    expect(text).toBe('clonestation: source and target are the same drive [SAME_DRIVE]\n');
  });
});
