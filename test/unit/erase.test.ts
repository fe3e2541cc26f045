// Erase policy without drives: methods as passes, --verify modes, the steps they make, the
// canonical JSON and the ed25519 certificate (any change fails its check), the station key file.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planErase, parseVerify, methodPasses, passName } from '../../src/erase/methods.js';
import { eraseSteps } from '../../src/erase/run.js';
import { canonicalJson, checkCertificate, signCertificate } from '../../src/erase/certificate.js';
import { loadStationKey } from '../../src/erase/keys.js';
import { CloneStationError } from '../../src/errors.js';
import { hpaCommands, parseHidden, NOT_READABLE } from '../../src/erase/hidden.js';
import { checkFirmware, firmwareCommands, parseAtaSecurity } from '../../src/erase/firmware.js';

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof CloneStationError ? e.code : 'other';
  }
  return undefined;
}

describe('erase methods', () => {
  it('gives each method its published passes', () => {
    expect(methodPasses('zero').map(passName)).toEqual(['0x00']);
    expect(methodPasses('one').map(passName)).toEqual(['0xff']);
    expect(methodPasses('dod-short').map(passName)).toEqual(['0x00', '0xff', 'random']);
    expect(methodPasses('dod').map(passName)).toEqual(['0x00', '0xff', 'random', '0x96', '0x69', 'random', 'random']);
    const g = methodPasses('gutmann').map(passName);
    expect(g).toHaveLength(35);
    expect(g.slice(0, 4)).toEqual(['random', 'random', 'random', 'random']);
    expect(g.slice(31)).toEqual(['random', 'random', 'random', 'random']);
    expect(g.slice(4, 9)).toEqual(['0x55', '0xaa', '0x924924', '0x492492', '0x249249']);
    expect(g.slice(28, 31)).toEqual(['0x6db6db', '0xb6db6d', '0xdb6db6']);
    expect(methodPasses('pattern:0xDEAD').map(passName)).toEqual(['0xdead']);
  });

  it('draws a fresh seed for each random pass', () => {
    const seeds = methodPasses('gutmann').flatMap((p) => (p.kind === 'random' ? [p.seed] : []));
    expect(new Set(seeds).size).toBe(8);
  });

  it('repeats rounds with --passes, ends in zeros with --blank, and refuses both for the fast paths', () => {
    expect(planErase('dod-short', { passes: 2, blank: true }).passes.map(passName)).toEqual(['0x00', '0xff', 'random', '0x00', '0xff', 'random', '0x00']);
    expect(code(() => planErase('zeroout', { passes: 2 }))).toBe('USAGE');
    expect(code(() => planErase('discard', { blank: true }))).toBe('USAGE');
    expect(code(() => planErase('pattern:abc', {}))).toBe('BAD_METHOD');
    expect(code(() => planErase('pattern:', {}))).toBe('BAD_METHOD');
    expect(code(() => planErase('shred', {}))).toBe('BAD_METHOD');
  });

  it('reads --verify', () => {
    expect(parseVerify(undefined)).toEqual({ mode: 'last' });
    expect(parseVerify('sample:12.5')).toEqual({ mode: 'sample', percent: 12.5 });
    for (const bad of ['sample:0', 'sample:101', 'sample:', 'some'])
      expect(code(() => parseVerify(bad)), bad).toBe('BAD_VERIFY');
  });

  it('makes read-back steps as the verify mode says; a discard is always read back, a zeroout unless none', () => {
    const names = (m: string, v: string): string[] => eraseSteps(planErase(m, { verify: v })).map((s) => s.name);
    expect(names('dod-short', 'last')).toEqual(['pass 1/3 0x00', 'pass 2/3 0xff', 'pass 3/3 random', 'verify pass 3/3 random']);
    expect(names('dod-short', 'all')).toHaveLength(6);
    expect(names('zero', 'none')).toEqual(['pass 1/1 0x00']);
    expect(names('zero', 'sample:5')).toEqual(['pass 1/1 0x00', 'verify 5% of pass 1/1 0x00']);
    expect(names('zeroout', 'none')).toEqual(['zeroout']);
    expect(names('discard', 'none')).toEqual(['discard', 'zeros check']);
  });
});

describe('erase certificates', () => {
  it('writes canonical JSON: keys sorted at every depth, no whitespace, undefined left out', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('signs with a station key made on first use (0600), and any change to the certificate fails its check', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-cert-'));
    try {
      const path = join(dir, 'state', 'key.pem');
      const key = loadStationKey(path);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(loadStationKey(path).fingerprint).toBe(key.fingerprint);
      const cert = signCertificate({ result: 'erased', drive: { serial: 'S123', sizeBytes: 1000 }, operator: 'Ada' }, key);
      expect(checkCertificate(cert)).toMatchObject({ ok: true, fingerprint: key.fingerprint });
      // survives a JSON round trip with other key order and spacing
      expect(checkCertificate(JSON.parse(JSON.stringify(cert, null, 3)))).toMatchObject({ ok: true });
      type Parsed = { result?: string; drive: { serial: string; sizeBytes: number }; operator?: string; extra?: number; signature: { value: string } };
      const edits: ((c: Parsed) => void)[] = [
        (c) => (c.result = 'erasee'),
        (c) => (c.drive.serial = 'S124'),
        (c) => (c.drive.sizeBytes = 1001),
        (c) => (c.operator = undefined),
        (c) => (c.extra = 1),
        (c) => (c.signature.value = c.signature.value.replace(/^./, (x: string) => (x === 'A' ? 'B' : 'A'))),
      ];
      for (const edit of edits) {
        const c = JSON.parse(JSON.stringify(cert)) as Parsed;
        edit(c);
        expect(checkCertificate(c).ok, String(edit)).toBe(false);
      }
      // another station's key, swapped in, does not sign this content
      const other = loadStationKey(join(dir, 'other.pem'));
      const swapped = JSON.parse(JSON.stringify(cert)) as { station: { publicKey: string; fingerprint: string }; signature: { publicKey: string; fingerprint: string } };
      swapped.station.publicKey = swapped.signature.publicKey = other.publicKey;
      swapped.station.fingerprint = swapped.signature.fingerprint = other.fingerprint;
      expect(checkCertificate(swapped).ok).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('hidden areas and firmware probes', () => {
  it("reads hdparm -N and --dco-identify, and says 'not readable' where they said nothing", () => {
    expect(parseHidden('\n/dev/sdb:\n max sectors   = 976771055/976773168, HPA is enabled\n', 'DCO Revision: 0x0002\n\tReal max sectors: 976773168\n')).toEqual({
      hpa: { reportedSectors: 976771055, nativeSectors: 976773168, enabled: true },
      dco: { realMaxSectors: 976773168 },
    });
    expect(parseHidden(undefined, 'SG_IO: bad/missing sense data')).toEqual({ hpa: NOT_READABLE, dco: NOT_READABLE });
  });

  it('removes an HPA with the volatile SET MAX (no p before the count), then reads it back, before any pass', () => {
    const hpa = { reportedSectors: 1000, nativeSectors: 2000, enabled: true };
    // (a loop has no sysfs rescan file: two commands)
    expect(hpaCommands('/dev/loop0', hpa)).toEqual([
      ['hdparm', '--yes-i-know-what-i-am-doing', '-N', '2000', '/dev/loop0'],
      ['hdparm', '-N', '/dev/loop0'],
    ]);
    expect(hpaCommands('/dev/loop0', hpa)[0].some((w) => w.startsWith('p'))).toBe(false);
    const plan = planErase('dod-short', { verify: 'last' });
    expect(eraseSteps(plan, true).map((s) => s.name)).toEqual(['remove HPA', ...eraseSteps(plan).map((s) => s.name)]);
    expect(eraseSteps(planErase('zeroout', {}), true).map((s) => s.name)).toEqual(['remove HPA', 'zeroout', 'zeros check']);
  });

  it("reads the security section of hdparm -I: frozen and locked drives are refused with what to do", () => {
    const text = (frozen: string, enabled: string) => `Security: \n\tMaster password revision code = 65534\n\t\tsupported\n\t${enabled}\tenabled\n\tnot\tlocked\n\t${frozen}\tfrozen\n\tnot\texpired: security count\n\t\tsupported: enhanced erase\n\t2min for SECURITY ERASE UNIT. 8min for ENHANCED SECURITY ERASE UNIT.\n\n`;
    const ok = parseAtaSecurity(text('not', 'not'))!;
    expect(ok).toEqual({ supported: true, enabled: false, locked: false, frozen: false, enhanced: true, minutes: 2, enhancedMinutes: 8 });
    const frozen = parseAtaSecurity(text('', 'not'))!;
    expect(frozen.frozen).toBe(true);
    expect(code(() => checkFirmware('ata-secure-erase', '/dev/sdz', { supports: ['ata-secure-erase'], ata: frozen }))).toBe('DRIVE_FROZEN');
    expect(code(() => checkFirmware('ata-secure-erase', '/dev/sdz', { supports: ['ata-secure-erase'], ata: parseAtaSecurity(text('not', ''))! }))).toBe('DRIVE_LOCKED');
    expect(code(() => checkFirmware('nvme-format', '/dev/sdz', { supports: ['ata-secure-erase'], ata: ok }))).toBe('UNSUPPORTED');
    expect(parseAtaSecurity('no security here')).toBeUndefined();
  });

  it('gives each firmware method its exact commands', () => {
    expect(firmwareCommands('nvme-format-crypto', '/dev/nvme0n1')).toEqual([['nvme', 'format', '/dev/nvme0n1', '--ses=2', '--force']]);
    expect(firmwareCommands('nvme-sanitize-crypto', '/dev/nvme0n1')).toEqual([['nvme', 'sanitize', '/dev/nvme0n1', '--sanact=4']]);
    expect(firmwareCommands('ata-enhanced-erase', '/dev/sdb')[1]).toEqual(['hdparm', '--user-master', 'u', '--security-erase-enhanced', 'clonestation', '/dev/sdb']);
  });
});
