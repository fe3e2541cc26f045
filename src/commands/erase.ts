// `erase DRIVE...`: drives overwritten (or zeroed out, discarded), read back, a signed certificate each (a station of erase jobs).
import { defineCommand, type Command } from '../command.js';
import { UsageError } from '../errors.js';
import { stationFileOptions, uiOption, yesOption } from './options.js';
import { stationCommand } from './shared.js';

export const eraseCommand = defineCommand({
  name: 'erase',
  summary: 'erase drives, verified, a signed certificate each',
  args: 'DRIVE...',
  options: {
    method: {
      type: 'string',
      arg: 'M',
      group: 'Erase',
      help: 'zero, one (0xFF), random (seeded, regenerated to verify), pattern:HEX, dod-short (zeros, ones, random), dod (7 passes: 00, FF, random, 96, 69, random, random), gutmann (35 passes), zeroout (BLKZEROOUT), discard (BLKDISCARD, then a read-back of zeros), secure-discard (BLKSECDISCARD); firmware (after a probe of what the drive supports): ata-secure-erase, ata-enhanced-erase (hdparm), nvme-format, nvme-format-crypto, nvme-sanitize-block, nvme-sanitize-crypto, nvme-sanitize-overwrite (nvme-cli)',
      defaultText: 'zero',
    },
    passes: { type: 'count', min: 1, max: 100, group: 'Erase', arg: 'N', help: "rounds of the method's passes", defaultText: '1' },
    blank: { type: 'boolean', group: 'Erase', help: 'a final zero pass' },
    verify: { type: 'string', arg: 'MODE', group: 'Erase', help: 'read back with O_DIRECT and compare: none, last (the last pass), all (every pass), sample:PERCENT (that share of the last pass)', defaultText: 'last' },
    'dry-run': { type: 'boolean', group: 'Erase', help: "print each drive's steps (a firmware method's exact hdparm or nvme commands) after every check, and write nothing" },
    'include-hpa': { type: 'boolean', group: 'Erase', help: "a drive with a Host Protected Area: remove it first (hdparm -N NATIVE, volatile: it returns at the next power cycle) and erase the whole native size; refused (HPA_UNREADABLE) where the HPA cannot be read (loop devices, USB bridges, NVMe)" },
    fallback: { type: 'boolean', group: 'Erase', help: 'discard, secure-discard: write a zero pass where the range does not read zeros afterwards (else the drive fails)' },
    'max-parallel': { type: 'count', min: 1, max: 64, group: 'Station', help: 'drives erased at once', defaultText: 'all of them, up to 64' },
    operator: { type: 'string', arg: 'NAME', group: 'Certificate', help: 'who erased: written into every certificate' },
    customer: { type: 'string', arg: 'NAME', group: 'Certificate', help: 'whose drives: written into every certificate' },
    certs: { type: 'string', arg: 'DIR', group: 'Certificate', help: "the folder each drive's signed certificate (erase-SERIAL-TIME.json) and its PDF (erase-SERIAL-TIME.pdf) are written to; the signing key is $CLONESTATION_KEY or ~/.local/state/clonestation/erase-signing-key.pem, made on first use", defaultText: 'the current folder' },
    ...yesOption,
    ...uiOption,
    ...stationFileOptions,
  },
  notes: [
    'Every byte of each DRIVE is lost. Drives get clone\'s refusals (system, mounted, held drives, one drive named twice) and one question naming each drive\'s model, serial and size (or --yes). A drive that fails (a write or read error, a mismatch on read-back) ends only its own job; its certificate says failed, an interrupted one incomplete, never erased.',
    'Check a certificate with: clonestation cert check CERT.json (or erase verify-cert); make its PDF again with: clonestation cert pdf CERT.json',
  ],
  checkArgs: (positionals) => {
    if (positionals.length === 0) throw new UsageError('erase needs at least one DRIVE (see clonestation erase --help)');
  },
  async run({ values, positionals }, context) {
    const entries = positionals.map((drive) => ({
      kind: 'erase',
      drive,
      method: values.method,
      passes: values.passes,
      blank: values.blank,
      verify: values.verify,
      fallback: values.fallback,
      operator: values.operator,
      customer: values.customer,
      certs: values.certs,
      includeHpa: values['include-hpa'],
    }));
    if (values['dry-run']) {
      const { default: kind } = await import('../jobs/erase.js');
      const { ExitStatus } = await import('../errors.js');
      for (const [i, e] of entries.entries()) {
        const planned = await kind.plan(e, { version: context.version(), commandLine: context.commandLine }, i + 1);
        const p = planned.payload;
        // the HPA's removal runs first, then a firmware method's commands
        const commands = [...(p.hpa?.commands ?? []), ...(p.commands ?? [])];
        process.stdout.write(`${p.path}: ${p.steps.join('; ')}\n${commands.map((c) => `  ${c.join(' ')}\n`).join('')}`);
      }
      return ExitStatus.ok;
    }
    return stationCommand(entries, { ...values, verify: undefined, hash: undefined }, { backend: 'auto' }, context, { maxParallel: values['max-parallel'] ?? Math.min(64, positionals.length) }, 'erase');
  },
});

export const eraseVerifyCertCommand = defineCommand({
  name: 'erase verify-cert',
  summary: "check an erase certificate's signature",
  args: 'CERT',
  options: {
    json: { type: 'boolean', help: 'the outcome as one JSON line' },
  },
  async run({ values, positionals }) {
    const { readCertificate, checkCertificate } = await import('../erase/certificate.js');
    const { CloneStationError, ExitStatus } = await import('../errors.js');
    const path = positionals[0];
    const cert = readCertificate(path);
    const r = cert === undefined ? { ok: false, reason: 'it is not JSON' } : checkCertificate(cert);
    // exit 5, as any read-back that finds other bytes than were written
    if (!r.ok) throw new CloneStationError('CERT_INVALID', ExitStatus.verify, `certificate ${path} does not verify: ${r.reason}`, { path });
    const c = cert as { result?: string; drive?: { serial?: string; model?: string } };
    if (values.json) process.stdout.write(`${JSON.stringify({ event: 'cert', path, ok: true, fingerprint: r.fingerprint, result: c.result, serial: c.drive?.serial })}\n`);
    else process.stdout.write(`${path}: signature good (key sha256 ${r.fingerprint}); ${c.drive?.model ?? 'drive'} serial ${c.drive?.serial ?? '-'}: ${c.result}\n`);
    return ExitStatus.ok;
  },
});

/** The same check under the name issue 14 gives it. */
export const certCheckCommand: Command = { ...eraseVerifyCertCommand, name: 'cert check', summary: 'the same as erase verify-cert' };

export const certPdfCommand = defineCommand({
  name: 'cert pdf',
  summary: 'a checked erase certificate as a PDF',
  args: 'CERT',
  options: {
    out: { type: 'string', arg: 'FILE', help: 'the PDF written (atomically; an existing file is replaced)', defaultText: 'CERT with .pdf for .json' },
  },
  notes: ['A certificate whose signature does not verify is refused (exit 5, CERT_INVALID): a PDF is only ever made from an unchanged signed certificate.'],
  async run({ values, positionals }) {
    const { readCertificate, checkCertificate } = await import('../erase/certificate.js');
    const { pdfPathFor, writeCertificatePdf } = await import('../erase/pdf.js');
    const { CloneStationError, ExitStatus } = await import('../errors.js');
    const { basename, resolve } = await import('node:path');
    const path = positionals[0];
    const cert = readCertificate(path);
    const r = cert === undefined ? { ok: false, reason: 'it is not JSON' } : checkCertificate(cert);
    if (!r.ok) throw new CloneStationError('CERT_INVALID', ExitStatus.verify, `certificate ${path} does not verify (${r.reason}): no PDF is made from it`, { path });
    const out = resolve(values.out ?? pdfPathFor(path));
    if (out === resolve(path)) throw new UsageError(`--out ${values.out} is the certificate itself: name another file`, 'BAD_OUTPUT', { path });
    try {
      writeCertificatePdf(cert as import('../erase/certificate.js').Certificate, out, basename(path));
    } catch (e) {
      const { IoError } = await import('../errors.js');
      throw new IoError('PDF_UNWRITTEN', `cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give a writable --out`, { path: out });
    }
    process.stdout.write(`${out}\n`);
    return ExitStatus.ok;
  },
});
