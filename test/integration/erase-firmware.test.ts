// Firmware erase paths against fake `hdparm` and `nvme` executables on PATH that record their
// arguments (root: a loop device stands in for the drive): the capability probe, --dry-run's
// exact commands with nothing run or written, the commands run in order, a frozen drive
// refused with what to do, an unsupported method refused, --blank's zero pass read back.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { makeFile, runCli, sha256, useLoopScratch } from '../helpers/fixtures.js';

const MiB = 1 << 20;

const HDPARM = `#!/bin/bash
echo "hdparm $*" >> "$FAKE_LOG"
if [ "$1" = "-I" ]; then
cat <<'OUT'

/dev/fake:

ATA device, with non-removable media
	Model Number:       FAKE SSD 1TB
Security: 
	Master password revision code = 65534
		supported
	not	enabled
	not	locked
	$FROZEN
	not	expired: security count
		supported: enhanced erase
	2min for SECURITY ERASE UNIT. 4min for ENHANCED SECURITY ERASE UNIT.

OUT
fi
exit 0
`;

const NVME = `#!/bin/bash
echo "nvme $*" >> "$FAKE_LOG"
case "$1" in
  id-ctrl) echo '{"vid":1,"oacs":2,"sanicap":3,"fna":4}' ;;
  sanitize-log) echo '{"nvme0n1":{"sprog":65535,"sstat":1}}' ;;
esac
exit 0
`;

describeRoot('clonestation erase: firmware methods against fake hdparm and nvme', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let bin = '';
  let certs = '';
  beforeAll(() => {
    bin = join(fx.dir(), 'bin');
    certs = join(fx.dir(), 'certs');
    mkdirSync(bin);
    mkdirSync(certs);
  });
  const fake = (log: string, frozen = false) => {
    writeFileSync(join(bin, 'hdparm'), HDPARM.replace('$FROZEN', frozen ? '\tfrozen' : 'not\tfrozen'), { mode: 0o755 });
    writeFileSync(join(bin, 'nvme'), NVME, { mode: 0o755 });
    return { PATH: `${bin}:${process.env.PATH}`, FAKE_LOG: log, CLONESTATION_KEY: join(fx.dir(), 'key.pem') };
  };
  // what the plan asks every drive: hdparm -I, -N and --dco-identify, nvme id-ctrl (reads only)
  const probe = (c: string): boolean => /^hdparm (-I|-N|--dco-identify) \/dev\/\S+$/.test(c) || c.startsWith('nvme id-ctrl');
  const calls = (log: string): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

  it('--dry-run prints the exact commands after the probe, and runs and writes nothing', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'a.img'), 8 * MiB), 512);
    const log = join(fx.dir(), 'dry.log');
    const before = sha256(d.file);
    const r = runCli(['erase', d.dev, '--method', 'ata-enhanced-erase', '--dry-run', '--certs', certs], undefined, fake(log));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`hdparm --user-master u --security-set-pass clonestation ${d.dev}`);
    expect(r.stdout).toContain(`hdparm --user-master u --security-erase-enhanced clonestation ${d.dev}`);
    expect(calls(log).every((c) => probe(c))).toBe(true);
    expect(sha256(d.file)).toBe(before);
  });

  it('runs the ATA commands in order and certifies them', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'b.img'), 8 * MiB), 512);
    const log = join(fx.dir(), 'ata.log');
    const r = runCli(['erase', d.dev, '--method', 'ata-secure-erase', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, fake(log));
    expect(r.status, r.stderr).toBe(0);
    const run = calls(log).filter((c) => !probe(c));
    expect(run).toEqual([`hdparm --user-master u --security-set-pass clonestation ${d.dev}`, `hdparm --user-master u --security-erase clonestation ${d.dev}`]);
    const file = readdirSync(certs).find((f) => f.includes(d.dev.replace('/dev/', '')) && f.endsWith('.json'))!;
    const cert = JSON.parse(readFileSync(join(certs, file), 'utf8')) as { result: string; erase: { firmware: { method: string; supports: string[]; commands: string[][] } } };
    expect(cert.result).toBe('erased');
    expect(cert.erase.firmware.method).toBe('ata-secure-erase');
    expect(cert.erase.firmware.supports).toEqual(expect.arrayContaining(['ata-secure-erase', 'ata-enhanced-erase', 'nvme-sanitize-block']));
    expect(cert.erase.firmware.commands[1]).toEqual(['hdparm', '--user-master', 'u', '--security-erase', 'clonestation', d.dev]);
  });

  it('refuses a frozen drive with what to do, and a method the drive does not report, running nothing', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'c.img'), 8 * MiB), 512);
    const log = join(fx.dir(), 'frozen.log');
    const before = sha256(d.file);
    const r = runCli(['erase', d.dev, '--method', 'ata-secure-erase', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, fake(log, true));
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/frozen.*suspend and resume.*\[DRIVE_FROZEN\]/);
    const u = runCli(['erase', d.dev, '--method', 'nvme-sanitize-overwrite', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, fake(log));
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(/does not support --method nvme-sanitize-overwrite \(it supports .*nvme-sanitize-block.*\[UNSUPPORTED\]/);
    expect(calls(log).every((c) => probe(c))).toBe(true);
    expect(sha256(d.file)).toBe(before);
  });

  it('sanitizes an NVMe drive and polls its log until done; --blank then writes zeros and reads them back', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'e.img'), 8 * MiB), 4096);
    const log = join(fx.dir(), 'nvme.log');
    const r = runCli(['erase', d.dev, '--method', 'nvme-sanitize-block', '--blank', '--yes', '--no-ui', '--no-log', '--certs', certs], undefined, fake(log));
    expect(r.status, r.stderr).toBe(0);
    const run = calls(log).filter((c) => !probe(c));
    expect(run).toEqual([`nvme sanitize ${d.dev} --sanact=2`, `nvme sanitize-log ${d.dev} --output-format=json`]);
    expect(readFileSync(d.file).every((b) => b === 0)).toBe(true);
    const v = runCli(['erase', d.dev, '--method', 'nvme-format', '--verify', 'last', '--yes'], undefined, fake(log));
    expect(v.status).toBe(2);
    expect(v.stderr).toMatch(/--verify last: what nvme-format leaves is the drive's choice.*\[USAGE\]/);
  });
});
