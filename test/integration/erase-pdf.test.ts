// Erase certificates as PDFs, read by poppler and tesseract (not by us): every erase writes one
// next to its JSON (the outcome, the method, the drive), page 1 renders to a non-blank image;
// `cert pdf` renders a signed certificate (its serial read back by OCR, a long error list on
// further pages) and refuses an edited one with nothing written.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRoot } from '../helpers/root.js';
import { makeFile, runCli, useLoopScratch } from '../helpers/fixtures.js';
import { ocrTopOfPage1, pdfPages, pdfText, renderPage1 } from '../helpers/pdf.js';
import { signCertificate } from '../../src/erase/certificate.js';
import { loadStationKey } from '../../src/erase/keys.js';

const MiB = 1 << 20;

describeRoot('erase certificate PDFs', () => {
  const fx = useLoopScratch({ beforeAll, afterAll });
  let certs = '';
  let key = '';
  beforeAll(() => {
    certs = join(fx.dir(), 'certs');
    mkdirSync(certs);
    key = join(fx.dir(), 'key.pem');
  });
  const env = () => ({ CLONESTATION_KEY: key });

  it('an erase writes the PDF next to its JSON: ERASED, the method, the drive, the key; page 1 renders', () => {
    const d = fx.loop(makeFile(join(fx.dir(), 'a.img'), 8 * MiB), 512);
    const r = runCli(['erase', d.dev, '--method', 'dod-short', '--yes', '--no-ui', '--no-log', '--certs', certs, '--operator', 'Ops Team 7', '--customer', 'Customer 42'], undefined, env());
    expect(r.status, r.stderr).toBe(0);
    const name = d.dev.replace('/dev/', '');
    const json = readdirSync(certs).filter((f) => f.startsWith(`erase-${name}-`) && f.endsWith('.json'));
    expect(json).toHaveLength(1);
    const pdf = join(certs, json[0].replace(/\.json$/, '.pdf'));
    expect(existsSync(pdf)).toBe(true);
    // no temporary file left next to it
    expect(readdirSync(certs).filter((f) => f.startsWith('.'))).toEqual([]);
    const cert = JSON.parse(readFileSync(join(certs, json[0]), 'utf8')) as { signature: { fingerprint: string }; erase: { bytesWritten: number } };
    const text = pdfText(pdf);
    expect(text).toMatch(/^\s*ERASED\s*$/m);
    expect(text).not.toMatch(/INCOMPLETE|FAILED/);
    expect(text).toContain('dod-short');
    expect(text).toContain('0x00, 0xff, random');
    expect(text).toContain(d.dev);
    // a loop device has no serial: the PDF says so rather than leaving it blank
    expect(text).toContain('serial not reported');
    expect(text).toMatch(/Host Protected Area[\s\S]*Before the erase\s+not readable through this transport/);
    expect(text).toContain('Ops Team 7');
    expect(text).toContain('Customer 42');
    expect(text).toContain(String(cert.erase.bytesWritten));
    expect(text.replace(/\s+/g, '')).toContain(cert.signature.fingerprint);
    expect(text).toContain(`clonestation cert check ${json[0]}`);
    const page = renderPage1(pdf);
    // A4 at 50 dpi is 413 x 585 pixels
    expect(page.width).toBeGreaterThan(400);
    expect(page.width).toBeLessThan(430);
    expect(page.height).toBeGreaterThan(570);
    expect(page.height).toBeLessThan(600);
    // text covers a few percent of a page, never none and never all
    expect(page.inked).toBeGreaterThan(0.01 * page.width * page.height);
    expect(page.inked).toBeLessThan(0.5 * page.width * page.height);
    // the certificate itself still checks (the PDF is a rendering, not a change)
    expect(runCli(['cert', 'check', join(certs, json[0])]).status).toBe(0);
  });

  it('cert pdf renders a signed certificate: the serial read back from the image by OCR, a long error list on further pages', () => {
    const errors = Array.from({ length: 240 }, (_, i) => ({ offset: 7340032 + i * 4096, code: 'EIO', message: 'pwrite: Input/output error', step: 'pass 1/1 0x00' }));
    const cert = signCertificate(
      {
        result: 'failed',
        reason: 'pass 1/1 0x00 failed at byte 7340032: pwrite: Input/output error',
        drive: { path: '/dev/sdq', model: 'WDC WD10EZEX-00BN5A0', serial: 'WCC3F7KZ4N2P', wwn: '0x50014ee2b5c6d7e8', sizeBytes: 1000204886016, logicalSectorSize: 512, physicalSectorSize: 4096 },
        erase: { method: 'zero', passes: ['0x00'], verify: 'last', verifyResult: 'not reached', bytesWritten: 7340032, bytesVerified: 0, errors },
        time: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T00:01:00.000Z', seconds: 60 },
      },
      loadStationKey(key),
    );
    const file = join(certs, 'sdq.json');
    writeFileSync(file, JSON.stringify(cert, null, 2));
    const out = join(certs, 'paper', 'sdq-copy.pdf');
    mkdirSync(join(certs, 'paper'));
    const r = runCli(['cert', 'pdf', file, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(out);
    const text = pdfText(out);
    expect(text).toMatch(/^\s*FAILED\s*$/m);
    expect(text).not.toContain('ERASED');
    expect(text).toContain('WCC3F7KZ4N2P');
    expect(text).toContain('0x50014ee2b5c6d7e8');
    // every error's offset is there, on pages after the first, none cut off
    for (const e of errors) expect(text).toContain(`offset: ${e.offset}`);
    const pages = pdfPages(out);
    expect(pages).toBeGreaterThan(2);
    expect(text).toContain(`page ${pages} of ${pages}`);
    // the outcome and serial on every page
    expect(text.split('\f').filter((p) => p.trim()).every((p) => p.includes('serial WCC3F7KZ4N2P - FAILED'))).toBe(true);
    // the page turned into an image has the serial (tesseract; it may split a word with spaces)
    expect(ocrTopOfPage1(out)).toContain('WCC3F7KZ4N2P');
    // without --out: next to the certificate
    const next = runCli(['cert', 'pdf', file]);
    expect(next.status, next.stderr).toBe(0);
    expect(existsSync(join(certs, 'sdq.pdf'))).toBe(true);
  });

  it('cert pdf refuses an edited certificate, and writes nothing', () => {
    const cert = signCertificate({ result: 'failed', drive: { serial: 'S1' }, erase: { method: 'zero' } }, loadStationKey(key));
    const edited = { ...cert, result: 'erased' };
    const file = join(certs, 'edited.json');
    writeFileSync(file, JSON.stringify(edited));
    const r = runCli(['cert', 'pdf', file, '--out', join(certs, 'edited-out.pdf')]);
    expect(r.status).toBe(5);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^clonestation: certificate .*edited\.json does not verify \(the signature does not match.*\): no PDF is made from it \[CERT_INVALID\]$/m);
    expect(existsSync(join(certs, 'edited-out.pdf'))).toBe(false);
    expect(existsSync(join(certs, 'edited.pdf'))).toBe(false);
    // not JSON at all, and a file that is not there
    writeFileSync(join(certs, 'junk.json'), 'not json');
    expect(runCli(['cert', 'pdf', join(certs, 'junk.json')]).status).toBe(5);
    const missing = runCli(['cert', 'pdf', join(certs, 'nothing.json')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/\[NOT_FOUND\]/);
  });
});
