// An erase certificate rendered as a PDF for paper files (pdfkit, standard fonts): the outcome
// in large type, every field of the signed JSON, the signature; written atomically.
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import PDFDocument from 'pdfkit';
import { InternalError } from '../errors.js';
import type { Certificate } from './certificate.js';

/** The words a result is shown with: only `erased` reads ERASED. */
export function outcomeWord(result: unknown): 'ERASED' | 'INCOMPLETE' | 'FAILED' {
  return result === 'erased' ? 'ERASED' : result === 'incomplete' ? 'INCOMPLETE' : 'FAILED';
}

const COLOURS = { ERASED: '#0a6b2d', INCOMPLETE: '#a15c00', FAILED: '#b00020' } as const;

// section headings and field labels; a field without one is shown by its JSON name, so nothing
// the certificate holds is left out of the PDF
const SECTIONS: [string, string][] = [
  ['drive', 'Drive'],
  ['hpa', 'Host Protected Area'],
  ['erase', 'Erase'],
  ['time', 'Time'],
  ['station', 'Station'],
];
const LABELS: Record<string, string> = {
  path: 'Path',
  kind: 'Kind',
  model: 'Model',
  serial: 'Serial',
  wwn: 'WWN',
  transport: 'Transport',
  sizeBytes: 'Size (bytes)',
  logicalSectorSize: 'Logical sector size',
  physicalSectorSize: 'Physical sector size',
  sectors: 'Sectors',
  hpa: 'HPA',
  dco: 'DCO',
  method: 'Method',
  passes: 'Passes',
  passCount: 'Pass count',
  fast: 'Block-layer fast path',
  firmware: 'Firmware sanitize',
  range: 'Byte range erased',
  verify: 'Verify mode',
  verifyResult: 'Verify result',
  bytesWritten: 'Bytes written',
  bytesVerified: 'Bytes verified',
  steps: 'Steps',
  errors: 'Errors',
  notes: 'Notes',
  requested: '--include-hpa given',
  included: 'Erased with the rest',
  before: 'Before the erase',
  after: 'After the erase',
  change: 'Change made',
  commands: 'Commands run',
  start: 'Start',
  end: 'End',
  seconds: 'Duration (seconds)',
  bytesPerSecond: 'Throughput (bytes written/s)',
  host: 'Host',
  tool: 'Tool',
  version: 'Tool version',
  commandLine: 'Command line',
  publicKey: 'Public key (SPKI, base64)',
  fingerprint: 'Key fingerprint (sha256)',
  operator: 'Operator',
  customer: 'Customer',
  reason: 'Reason',
  format: 'Format',
  algorithm: 'Algorithm',
  value: 'Signature (base64)',
};

/** The standard fonts encode WinAnsi only: anything else is shown as '?', never dropped silently. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e\xa0-\xff\n]/g, '?');
}

function scalar(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) >= 10000 ? `${v} (${v.toLocaleString('en-US')})` : String(v);
  if (typeof v === 'string') return v === '' ? '-' : v;
  return JSON.stringify(v);
}

/** One line per entry of an object, `key: value`, nested objects inline. */
function inline(o: Record<string, unknown>): string {
  return Object.entries(o)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${v !== null && typeof v === 'object' ? (Array.isArray(v) ? v.map((x) => (x !== null && typeof x === 'object' ? JSON.stringify(x) : scalar(x))).join(', ') : `{${inline(v as Record<string, unknown>)}}`) : scalar(v)}`)
    .join('; ');
}

interface Row {
  label: string;
  value: string;
  /** a list entry: indented, no label column */
  item?: boolean;
}

/** A section's rows: scalars as label/value, lists item by item, objects one level down. */
function rows(o: Record<string, unknown>, prefix = ''): Row[] {
  const out: Row[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    const label = `${prefix}${LABELS[k] ?? k}`;
    if (Array.isArray(v)) {
      if (v.length === 0 || v.every((x) => x === null || typeof x !== 'object')) {
        out.push({ label, value: v.length === 0 ? 'none' : v.map(scalar).join(', ') });
      } else {
        out.push({ label, value: `${v.length}` });
        // (a command is a list of words: shown as its command line)
        v.forEach((x, i) => out.push({ label: '', value: `${i + 1}. ${Array.isArray(x) ? x.map(String).join(' ') : x !== null && typeof x === 'object' ? inline(x as Record<string, unknown>) : scalar(x)}`, item: true }));
      }
    } else if (v !== null && typeof v === 'object') {
      const sub = v as Record<string, unknown>;
      // small objects (a range, a hidden area) read best on one line
      if (Object.values(sub).every((x) => x === null || typeof x !== 'object') && Object.keys(sub).length <= 4) out.push({ label, value: inline(sub) });
      else out.push(...rows(sub, `${label} / `));
    } else out.push({ label, value: scalar(v) });
  }
  return out;
}

export interface PdfOptions {
  /** the JSON certificate's file name, for the line that names the signed original */
  jsonName: string;
}

/** The PDF's bytes (pdfkit writes synchronously into its stream buffer: read back at end()). */
export function renderCertificatePdf(cert: Certificate, opts: PdfOptions): Buffer {
  const drive = (cert.drive ?? {}) as Record<string, unknown>;
  const word = outcomeWord(cert.result);
  const serial = typeof drive.serial === 'string' && drive.serial !== '' ? drive.serial : 'not reported';
  const model = typeof drive.model === 'string' && drive.model !== '' ? drive.model : 'model not reported';
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: 56, bottom: 64, left: 56, right: 56 },
    bufferPages: true,
    info: { Title: `Erase certificate: ${printable(model)}, serial ${printable(serial)}: ${word}`, Creator: 'clonestation', Producer: 'clonestation (pdfkit)' },
  });
  const left = doc.page.margins.left;
  const width = doc.page.width - left - doc.page.margins.right;
  const labelWidth = 170;
  const bottom = () => doc.page.height - doc.page.margins.bottom;
  const text = (s: string) => printable(s);

  doc.font('Helvetica-Bold').fontSize(16).fillColor('black').text('Drive erase certificate', left, doc.page.margins.top, { width });
  doc.font('Helvetica').fontSize(9).fillColor('#444444').text(text(`${scalar(cert.format)}, signed by the station's ed25519 key`), { width });
  doc.moveDown(0.6);
  doc.font('Helvetica-Bold').fontSize(44).fillColor(COLOURS[word]).text(word, { width });
  doc.font('Helvetica-Bold').fontSize(13).fillColor('black').text(text(`${model}, serial ${serial}`), { width });
  doc.font('Helvetica').fontSize(10).fillColor('black').text(text(`${scalar(drive.path)}, ${scalar(drive.sizeBytes)} bytes`), { width });
  if (word !== 'ERASED') {
    doc.font('Helvetica').fontSize(10).fillColor(COLOURS[word]).text(text(word === 'INCOMPLETE' ? 'The erase did not finish: this drive is NOT fully erased.' : 'The erase failed: this drive is NOT certified as erased.'), { width });
    if (typeof cert.reason === 'string') doc.fillColor('black').text(text(`Reason: ${cert.reason}`), { width });
  }
  doc.moveDown(0.8);

  const heading = (h: string) => {
    if (doc.y + 40 > bottom()) doc.addPage();
    doc.moveDown(0.4);
    doc.font('Helvetica-Bold').fontSize(12).fillColor('black').text(h, left, doc.y, { width });
    doc.moveTo(left, doc.y + 1).lineTo(left + width, doc.y + 1).lineWidth(0.5).strokeColor('#999999').stroke();
    doc.moveDown(0.3);
  };
  const row = (r: Row) => {
    doc.font('Helvetica').fontSize(9).fillColor('black');
    const value = text(r.value);
    const vx = r.item ? left + 16 : left + labelWidth;
    const vw = width - (vx - left);
    const h = Math.max(doc.heightOfString(value, { width: vw }), doc.heightOfString(text(r.label) || 'x', { width: labelWidth - 8 }));
    // a row that does not fit starts a new page (a row longer than a page flows on by itself)
    if (doc.y + h > bottom()) doc.addPage();
    const y = doc.y;
    if (!r.item) doc.font('Helvetica-Bold').text(text(r.label), left, y, { width: labelWidth - 8 });
    const afterLabel = doc.y;
    doc.font('Helvetica').text(value, vx, y, { width: vw });
    doc.x = left;
    doc.y = Math.max(doc.y, afterLabel) + 2;
  };

  heading('Result');
  row({ label: 'Result', value: scalar(cert.result) });
  if (cert.reason !== undefined) row({ label: 'Reason', value: scalar(cert.reason) });
  const shown = new Set(['result', 'reason', 'signature', 'format']);
  for (const [key, title] of SECTIONS) {
    const v = cert[key];
    shown.add(key);
    if (v === undefined) continue;
    heading(title);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) rows(v as Record<string, unknown>).forEach(row);
    else row({ label: title, value: scalar(v) });
  }
  const rest = Object.fromEntries(Object.entries(cert).filter(([k]) => !shown.has(k)));
  if (Object.keys(rest).length) {
    heading(Object.keys(rest).every((k) => k === 'operator' || k === 'customer') ? 'Operator and customer' : 'Operator, customer and other fields');
    rows(rest).forEach(row);
  }
  heading('Signature');
  const sig = (cert.signature ?? {}) as Record<string, unknown>;
  rows(sig).forEach(row);
  doc.moveDown(0.8);
  if (doc.y + 50 > bottom()) doc.addPage();
  doc
    .font('Helvetica-Oblique')
    .fontSize(9)
    .fillColor('black')
    .text(text(`This PDF is a rendering for paper files. The signed original is the JSON certificate ${opts.jsonName}; where the two differ, the JSON is right. Check its signature and content with:`), left, doc.y, { width });
  doc.moveDown(0.3);
  doc.font('Courier').fontSize(8.5).text(text(`clonestation cert check ${opts.jsonName}`), left + 16, doc.y, { width: width - 16 });

  // every page names the drive and the outcome (a second page of an incomplete erase never looks erased)
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    const m = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc
      .font('Helvetica')
      .fontSize(8)
      .fillColor('#444444')
      .text(text(`clonestation erase certificate - serial ${serial} - ${word} - page ${i - range.start + 1} of ${range.count}`), left, doc.page.height - 40, { width, align: 'center', lineBreak: false });
    doc.page.margins.bottom = m;
  }
  doc.end();
  const parts: Buffer[] = [];
  for (let c = doc.read() as Buffer | null; c !== null; c = doc.read() as Buffer | null) parts.push(c);
  const pdf = Buffer.concat(parts);
  if (!pdf.subarray(-8).toString('latin1').includes('%%EOF')) throw new InternalError('pdfkit did not finish the certificate PDF synchronously');
  return pdf;
}

/** The PDF's name next to its JSON: the same base name, .pdf. */
export function pdfPathFor(jsonPath: string): string {
  return jsonPath.replace(/\.json$/i, '') + '.pdf';
}

/**
 * Writes bytes to `path` atomically: a temporary file in the same folder, synced, then renamed
 * over `path` or, with `noClobber`, hard-linked to it (which fails when `path` exists).
 */
export function writeFileAtomic(path: string, data: Buffer, opts: { mode?: number; noClobber?: boolean } = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'wx', opts.mode ?? 0o644);
  try {
    try {
      for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, data.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.noClobber) linkSync(tmp, path);
    else renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Renders a certificate and writes it to `path` (atomically). */
export function writeCertificatePdf(cert: Certificate, path: string, jsonName: string): void {
  writeFileAtomic(path, renderCertificatePdf(cert, { jsonName }));
}
