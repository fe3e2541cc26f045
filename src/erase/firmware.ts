// Firmware erase: ATA Secure Erase / Enhanced through hdparm, NVMe Format (secure erase,
// crypto erase) and NVMe Sanitize (block, crypto, overwrite) through nvme-cli, behind a probe
// of what the drive says it supports; the exact commands, for --dry-run and the certificate.
import { execFile, spawnSync } from 'node:child_process';
import { RefusedError, UsageError } from '../errors.js';

export const FIRMWARE_METHODS = ['ata-secure-erase', 'ata-enhanced-erase', 'nvme-format', 'nvme-format-crypto', 'nvme-sanitize-block', 'nvme-sanitize-crypto', 'nvme-sanitize-overwrite'] as const;
export type FirmwareMethod = (typeof FIRMWARE_METHODS)[number];

/** The temporary ATA user password the erase sets (the command clears it again). */
export const ATA_PASSWORD = 'clonestation';

export interface FirmwareProbe {
  /** what the drive says it supports, for the plan and the certificate */
  supports: FirmwareMethod[];
  /** ATA: the security state as hdparm -I prints it */
  ata?: { supported: boolean; enabled: boolean; locked: boolean; frozen: boolean; enhanced: boolean; minutes?: number; enhancedMinutes?: number };
  nvme?: { format: boolean; cryptoFormat: boolean; sanitize: { block: boolean; crypto: boolean; overwrite: boolean } };
}

function run(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 15_000 });
  return r.status === 0 ? r.stdout : undefined;
}

/** The security section of `hdparm -I`. */
export function parseAtaSecurity(text: string): FirmwareProbe['ata'] {
  const i = text.indexOf('Security:');
  if (i < 0) return undefined;
  const sec = text.slice(i, text.indexOf('\n\n', i) > 0 ? text.indexOf('\n\n', i) : undefined);
  const line = (re: RegExp): boolean => re.test(sec);
  const mins = /(\d+)min for SECURITY ERASE UNIT/.exec(sec);
  const emins = /(\d+)min for ENHANCED SECURITY ERASE UNIT/.exec(sec);
  return {
    supported: line(/^\s*supported\s*$/m),
    enabled: line(/^\s*enabled\s*$/m),
    locked: line(/^\s*locked\s*$/m),
    frozen: line(/^\s*frozen\s*$/m),
    enhanced: line(/supported: enhanced erase/),
    minutes: mins ? Number(mins[1]) : undefined,
    enhancedMinutes: emins ? Number(emins[1]) : undefined,
  };
}

/** Asks hdparm -I and nvme id-ctrl what the drive supports (either may be missing or refuse). */
export function probeFirmware(path: string): FirmwareProbe {
  const out: FirmwareProbe = { supports: [] };
  const hd = run('hdparm', ['-I', path]);
  const ata = hd ? parseAtaSecurity(hd) : undefined;
  if (ata) {
    out.ata = ata;
    if (ata.supported) out.supports.push('ata-secure-erase');
    if (ata.supported && ata.enhanced) out.supports.push('ata-enhanced-erase');
  }
  const id = run('nvme', ['id-ctrl', path, '--output-format=json']);
  if (id) {
    try {
      const c = JSON.parse(id) as { oacs?: number; sanicap?: number; fna?: number };
      const oacs = c.oacs ?? 0;
      const sanicap = c.sanicap ?? 0;
      const fna = c.fna ?? 0;
      out.nvme = { format: (oacs & 0x2) !== 0, cryptoFormat: (oacs & 0x2) !== 0 && (fna & 0x4) !== 0, sanitize: { crypto: (sanicap & 0x1) !== 0, block: (sanicap & 0x2) !== 0, overwrite: (sanicap & 0x4) !== 0 } };
      if (out.nvme.format) out.supports.push('nvme-format');
      if (out.nvme.cryptoFormat) out.supports.push('nvme-format-crypto');
      if (out.nvme.sanitize.block) out.supports.push('nvme-sanitize-block');
      if (out.nvme.sanitize.crypto) out.supports.push('nvme-sanitize-crypto');
      if (out.nvme.sanitize.overwrite) out.supports.push('nvme-sanitize-overwrite');
    } catch {
      /* not JSON: no NVMe answer */
    }
  }
  return out;
}

/** The commands a firmware method runs, in order, exactly as they are executed. */
export function firmwareCommands(method: FirmwareMethod, path: string): string[][] {
  switch (method) {
    case 'ata-secure-erase':
    case 'ata-enhanced-erase':
      return [
        ['hdparm', '--user-master', 'u', '--security-set-pass', ATA_PASSWORD, path],
        ['hdparm', '--user-master', 'u', method === 'ata-enhanced-erase' ? '--security-erase-enhanced' : '--security-erase', ATA_PASSWORD, path],
      ];
    case 'nvme-format':
      return [['nvme', 'format', path, '--ses=1', '--force']];
    case 'nvme-format-crypto':
      return [['nvme', 'format', path, '--ses=2', '--force']];
    case 'nvme-sanitize-block':
      return [['nvme', 'sanitize', path, '--sanact=2']];
    case 'nvme-sanitize-crypto':
      return [['nvme', 'sanitize', path, '--sanact=4']];
    case 'nvme-sanitize-overwrite':
      return [['nvme', 'sanitize', path, '--sanact=3', '--ovrpat=0']];
  }
}

/** Plan-time refusals: a method the drive does not support, a frozen or locked ATA drive. */
export function checkFirmware(method: FirmwareMethod, path: string, probe: FirmwareProbe): void {
  const ata = method.startsWith('ata-');
  if (ata && probe.ata?.frozen)
    throw new RefusedError('DRIVE_FROZEN', `${path}: ATA security is frozen (the BIOS froze it at boot): suspend and resume the machine (systemctl suspend) or unplug and replug the drive's power, then retry`, { path });
  if (ata && (probe.ata?.locked || probe.ata?.enabled))
    throw new RefusedError('DRIVE_LOCKED', `${path}: ATA security is ${probe.ata?.locked ? 'locked' : 'enabled'} with a password already: unlock or disable it first (hdparm --user-master u --security-disable PASSWORD ${path})`, { path });
  if (!probe.supports.includes(method)) {
    const has = probe.supports.length ? `it supports ${probe.supports.join(', ')}` : 'neither hdparm -I nor nvme id-ctrl reports a firmware erase for it';
    throw new UsageError(`${path} does not support --method ${method} (${has}): use one of those, or an overwrite method`, 'UNSUPPORTED', { path, supports: probe.supports });
  }
}

function exec(cmd: string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 24 * 3600 * 1000 }, (err, stdout, stderr) => resolve({ ok: !err, output: `${stdout}${stderr}`.trim() }));
  });
}

/** Runs a firmware method's commands; NVMe sanitize is then polled until the log says it ended. */
export async function runFirmware(method: FirmwareMethod, path: string, cancelled: () => boolean): Promise<{ ok: boolean; message: string; commands: string[][] }> {
  const commands = firmwareCommands(method, path);
  for (const c of commands) {
    const r = await exec(c);
    if (!r.ok) {
      const unlock = method.startsWith('ata-') ? ` (the drive may keep the password '${ATA_PASSWORD}': hdparm --user-master u --security-disable ${ATA_PASSWORD} ${path})` : '';
      return { ok: false, message: `${c.join(' ')} failed: ${r.output.split('\n').pop() ?? ''}${unlock}`, commands };
    }
  }
  if (method.startsWith('nvme-sanitize')) {
    // SPROG 65535 with SSTAT's low bits 1 (completed) or 4 (completed, no-deallocate)
    for (;;) {
      const r = await exec(['nvme', 'sanitize-log', path, '--output-format=json']);
      let log: Record<string, { sprog?: number; sstat?: number }> | undefined;
      try {
        log = r.ok ? (JSON.parse(r.output.slice(r.output.indexOf('{'))) as typeof log) : undefined;
      } catch {
        return { ok: false, message: `nvme sanitize-log ${path} printed no JSON: ${r.output.slice(0, 120)}`, commands };
      }
      const entry = log ? Object.values(log)[0] : undefined;
      const st = (entry?.sstat ?? 0) & 0x7;
      if (st === 1 || st === 4) break;
      if (st === 3) return { ok: false, message: `${path}: the sanitize failed (sanitize-log sstat ${entry?.sstat})`, commands };
      if (!r.ok || cancelled()) return { ok: false, message: r.ok ? 'cancelled while the drive sanitizes (it goes on by itself)' : `nvme sanitize-log ${path} failed: ${r.output}`, commands };
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
  return { ok: true, message: 'done', commands };
}
