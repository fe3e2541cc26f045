// --include-hpa (root; a loop device stands in for the drive). Against a fake `hdparm` on PATH
// that records its arguments and reports an HPA (what a SATA drive would say): the removal's
// exact commands in order (dry-run prints them and runs nothing), the whole native size erased,
// the certificate's HPA before/after; a drive that ignores the change fails before any pass.
// A loop device cannot grow, so the fake's native size is the loop's size: what is proven here
// is our side (commands, checks, range, certificate), not a real drive's SET MAX ADDRESS.
// Against the real hdparm on a real loop: the HPA is not readable there, --include-hpa refused.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { attachPartitioned, makeFile, runCli, sha256, useLoopScratch } from '../helpers/fixtures.js';
import { execFileSync } from 'node:child_process';
import { pdfText } from '../helpers/pdf.js';

const MiB = 1 << 20;

// -N DEV: the HPA from the state file (FAKE_HPA "visible/native" until set); SET MAX: records
// the new size unless FAKE_HPA_IGNORE (a drive that refuses, as hdparm still exits 0)
const HDPARM = `#!/bin/bash
echo "hdparm $*" >> "$FAKE_LOG"
state="$FAKE_LOG.hpa"
[ -f "$state" ] || echo "$FAKE_HPA" > "$state"
if [ "$1" = "-N" ] && [ $# -eq 2 ]; then
  cur=$(cat "$state"); r=\${cur%/*}; n=\${cur#*/}
  if [ "$r" -lt "$n" ]; then s=enabled; else s=disabled; fi
  printf '\\n%s:\\n max sectors   = %s/%s, HPA is %s\\n' "$2" "$r" "$n" "$s"
fi
if [ "$1" = "--yes-i-know-what-i-am-doing" ] && [ "$2" = "-N" ]; then
  printf '\\n%s:\\n setting max visible sectors to %s (temporary)\\n' "$4" "$3"
  [ -n "$FAKE_HPA_IGNORE" ] || echo "$3/\${FAKE_HPA#*/}" > "$state"
fi
exit 0
`;

interface HpaCert {
  result: string;
  reason?: string;
  drive: { hpa: unknown };
  hpa: { requested: boolean; before: unknown; included: boolean; change: string; commands: string[][]; after: unknown };
  erase: { range: { offset: number; length: number }; bytesWritten: number; steps: { name: string; state: string }[]; errors: { code: string }[] };
}

describeRoot('clonestation erase --include-hpa', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let bin = '';
  let certs = '';
  beforeAll(() => {
    bin = join(fx.dir(), 'bin');
    certs = join(fx.dir(), 'certs');
    mkdirSync(bin);
    mkdirSync(certs);
    writeFileSync(join(bin, 'hdparm'), HDPARM, { mode: 0o755 });
  });
  const fake = (log: string, hpa: string, ignore = false) => ({ PATH: `${bin}:${process.env.PATH}`, FAKE_LOG: log, FAKE_HPA: hpa, ...(ignore ? { FAKE_HPA_IGNORE: '1' } : {}), CLONESTATION_KEY: join(fx.dir(), 'key.pem') });
  const calls = (log: string): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
  const reads = (dev: string) => [`hdparm -N ${dev}`, `hdparm --dco-identify ${dev}`];
  const certOf = (dev: string): { cert: HpaCert; file: string } => {
    const files = readdirSync(certs).filter((f) => f.startsWith(`erase-${dev.replace('/dev/', '')}-`) && f.endsWith('.json'));
    expect(files).toHaveLength(1);
    const file = join(certs, files[0]);
    const cert = JSON.parse(readFileSync(file, 'utf8')) as HpaCert;
    rmSync(file);
    rmSync(file.replace(/\.json$/, '.pdf'), { force: true });
    return { cert, file };
  };

  it('--dry-run prints the removal commands first, and runs nothing but the reads', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'a.img'), 8 * MiB), 512);
    const log = join(fx.dir(), 'dry.log');
    const before = sha256(d.file);
    const r = runCli(['erase', d.dev, '--method', 'zero', '--include-hpa', '--dry-run', '--certs', certs], undefined, fake(log, '8192/16384'));
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${d.dev}: remove HPA; pass 1/1 0x00; verify pass 1/1 0x00$`));
    // a loop has no rescan file in sysfs: no third command
    expect(lines.slice(1).map((l) => l.trim())).toEqual([`hdparm --yes-i-know-what-i-am-doing -N 16384 ${d.dev}`, `hdparm -N ${d.dev}`]);
    expect(calls(log)).toEqual(reads(d.dev));
    expect(sha256(d.file)).toBe(before);
    expect(readdirSync(certs)).toEqual([]);
  });

  it('removes the HPA (volatile), checks it is gone, erases the whole native size, and certifies before and after', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'b.img'), 8 * MiB), 512);
    const log = join(fx.dir(), 'run.log');
    const r = runCli(['erase', d.dev, '--method', 'zero', '--include-hpa', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, fake(log, '8192/16384'));
    expect(r.status, r.stderr).toBe(0);
    expect(calls(log)).toEqual([...reads(d.dev), `hdparm --yes-i-know-what-i-am-doing -N 16384 ${d.dev}`, `hdparm -N ${d.dev}`]);
    expect(readFileSync(d.file).every((b) => b === 0)).toBe(true);
    const pdf = readdirSync(certs).find((f) => f.startsWith(`erase-${d.dev.replace('/dev/', '')}-`) && f.endsWith('.pdf'))!;
    const text = pdfText(join(certs, pdf));
    expect(text).toMatch(/Host Protected Area/);
    expect(text).toMatch(/Change made\s+volatile/);
    expect(text).toMatch(/Erased with the rest\s+true/);
    expect(text).toContain(`1. hdparm --yes-i-know-what-i-am-doing -N 16384 ${d.dev}`);
    const { cert, file } = certOf(d.dev);
    expect(cert.result).toBe('erased');
    expect(cert.drive.hpa).toEqual({ reportedSectors: 8192, nativeSectors: 16384, enabled: true });
    expect(cert.hpa).toMatchObject({
      requested: true,
      before: { reportedSectors: 8192, nativeSectors: 16384, enabled: true },
      included: true,
      after: { reportedSectors: 16384, nativeSectors: 16384, enabled: false },
      commands: [['hdparm', '--yes-i-know-what-i-am-doing', '-N', '16384', d.dev], ['hdparm', '-N', d.dev]],
    });
    expect(cert.hpa.change).toMatch(/^volatile/);
    expect(cert.erase.range).toEqual({ offset: 0, length: 16384 * 512 });
    expect(cert.erase.bytesWritten).toBe(16384 * 512);
    expect(cert.erase.steps.map((s) => `${s.name}: ${s.state}`)).toEqual(['remove HPA: done', 'pass 1/1 0x00: done', 'verify pass 1/1 0x00: done']);
    void file;
  });

  it('a drive that keeps its HPA after hdparm -N fails before any pass: nothing written, the certificate says failed', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'c.img'), 8 * MiB), 512);
    const log = join(fx.dir(), 'ignore.log');
    const before = sha256(d.file);
    const r = runCli(['erase', d.dev, '--method', 'zero', '--include-hpa', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, fake(log, '8192/16384', true));
    expect(r.status).not.toBe(0);
    expect(sha256(d.file)).toBe(before);
    const { cert, file } = certOf(d.dev);
    expect(cert.result).toBe('failed');
    expect(cert.reason).toMatch(/still reports 8192 of 16384 sectors after hdparm -N 16384/);
    expect(cert.erase.errors.map((e) => e.code)).toEqual(['HPA_NOT_REMOVED']);
    expect(cert.erase.bytesWritten).toBe(0);
    expect(cert.hpa).toMatchObject({ included: false, after: { reportedSectors: 8192, enabled: true } });
    void file;
  });

  it('a native size the kernel does not show after the removal fails the erase before any pass (the hidden area could not be written)', () => {
    // the fake says 20000 native sectors; the loop (the kernel's view) has 16384
    const d = fx.loop(makeFile(join(fx.dir(), 'd.img'), 8 * MiB), 512);
    const log = join(fx.dir(), 'small.log');
    const before = sha256(d.file);
    const r = runCli(['erase', d.dev, '--method', 'zero', '--include-hpa', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, fake(log, '8192/20000'));
    expect(r.status).not.toBe(0);
    expect(sha256(d.file)).toBe(before);
    const { cert } = certOf(d.dev);
    expect(cert.result).toBe('failed');
    expect(cert.reason).toMatch(/native 20000 sectors but the kernel still shows 8388608 bytes, not 10240000/);
    expect(cert.hpa).toMatchObject({ included: false, after: { reportedSectors: 20000, nativeSectors: 20000 } });
  });

  it('without --include-hpa a drive with an HPA is erased as far as it shows, and the certificate and PDF say the hidden area was not', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'e.img'), 8 * MiB), 512);
    const log = join(fx.dir(), 'noinc.log');
    const r = runCli(['erase', d.dev, '--method', 'zero', '--verify', 'none', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, fake(log, '8192/16384'));
    expect(r.status, r.stderr).toBe(0);
    expect(calls(log)).toEqual(reads(d.dev));
    const files = readdirSync(certs).filter((f) => f.startsWith(`erase-${d.dev.replace('/dev/', '')}-`) && f.endsWith('.pdf'));
    expect(pdfText(join(certs, files[0]))).toContain('the area the HPA hides was NOT erased');
    const { cert } = certOf(d.dev);
    expect(cert.hpa).toMatchObject({ requested: false, included: false, before: { reportedSectors: 8192, nativeSectors: 16384 } });
    expect(cert.hpa.change).toMatch(/NOT erased \(use --include-hpa\)/);
  });

  it('the real hdparm on a real loop cannot read an HPA: --include-hpa is refused (HPA_UNREADABLE, exit 4), nothing written', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'f.img'), 8 * MiB), 512);
    const before = sha256(d.file);
    const r = runCli(['erase', d.dev, '--include-hpa', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, { CLONESTATION_KEY: join(fx.dir(), 'key.pem') });
    expect(r.status).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^clonestation: --include-hpa on \/dev\/loop\d+: its HPA is not readable through this transport .*erase without --include-hpa.*\[HPA_UNREADABLE\]$/m);
    expect(sha256(d.file)).toBe(before);
    expect(readdirSync(certs)).toEqual([]);
    // a partition of a drive whose HPA the (fake) hdparm shows: the HPA belongs to the whole drive
    const img = makeFile(join(fx.dir(), 'parted.img'), 16 * MiB);
    execFileSync('sfdisk', ['-q', img], { input: 'label: gpt\n,8M\n' });
    const disk = attachPartitioned(img);
    fx.track(disk);
    expect(disk.partitions).toHaveLength(1);
    const partBefore = sha256(img);
    const p = runCli(['erase', disk.partitions[0], '--include-hpa', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, fake(join(fx.dir(), 'part.log'), '16384/32768'));
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(new RegExp(`--include-hpa erases a whole drive's native area: ${disk.partitions[0]} is a partition of ${disk.dev}; name the whole drive \\[UNSUPPORTED\\]`));
    expect(sha256(img)).toBe(partBefore);
    // and a file has no HPA at all
    const f = makeFile(join(fx.dir(), 'plain.img'), MiB);
    const u = runCli(['erase', f, '--include-hpa', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, { CLONESTATION_KEY: join(fx.dir(), 'key.pem') });
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(/--include-hpa needs a drive: .* is a file.*\[UNSUPPORTED\]/);
  });
});
