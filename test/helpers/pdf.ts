// Reading the certificate PDFs the way a third party would: poppler's pdftotext and pdftoppm,
// and tesseract's OCR on the rendered page (no code of ours reads the PDF back).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The PDF's text, in reading order (pdftotext -layout keeps a row's label and value on one line). */
export function pdfText(file: string): string {
  return execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
}

export function pdfPages(file: string): number {
  const m = /^Pages:\s+(\d+)/m.exec(execFileSync('pdfinfo', [file], { encoding: 'utf8' }));
  return m ? Number(m[1]) : 0;
}

export interface Raster {
  width: number;
  height: number;
  /** pixels darker than near-white in any channel */
  inked: number;
}

/** Page 1 rendered by `pdftoppm -r DPI -f 1 -l 1` (PPM, P6) and its pixels counted. */
export function renderPage1(file: string, dpi = 50): Raster {
  const dir = mkdtempSync(join(tmpdir(), 'cs-pdf-'));
  try {
    execFileSync('pdftoppm', ['-r', String(dpi), '-f', '1', '-l', '1', file, join(dir, 'out')]);
    const name = readdirSync(dir).find((f) => f.endsWith('.ppm'));
    if (!name) throw new Error(`pdftoppm wrote no page: ${readdirSync(dir).join(', ')}`);
    const ppm = readFileSync(join(dir, name));
    // header: P6 <whitespace> width height maxval, one whitespace byte, then RGB bytes
    const head = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(ppm.subarray(0, 64).toString('latin1'));
    if (!head || head[3] !== '255') throw new Error('not an 8-bit P6 PPM');
    const width = Number(head[1]);
    const height = Number(head[2]);
    const px = ppm.subarray(head[0].length);
    if (px.length !== width * height * 3) throw new Error(`PPM holds ${px.length} bytes, not ${width * height * 3}`);
    let inked = 0;
    for (let i = 0; i < px.length; i += 3) if (px[i] < 200 || px[i + 1] < 200 || px[i + 2] < 200) inked++;
    return { width, height, inked };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What tesseract reads on the top quarter of page 1 rendered at `dpi` (gray), spaces removed. */
export function ocrTopOfPage1(file: string, dpi = 200): string {
  const dir = mkdtempSync(join(tmpdir(), 'cs-ocr-'));
  try {
    // A4 is 8.27 x 11.69 inches
    const w = Math.ceil(8.27 * dpi);
    const h = Math.ceil((11.69 * dpi) / 4);
    execFileSync('pdftoppm', ['-r', String(dpi), '-f', '1', '-l', '1', '-gray', '-x', '0', '-y', '0', '-W', String(w), '-H', String(h), file, join(dir, 'top')]);
    const name = readdirSync(dir).find((f) => f.endsWith('.pgm'));
    if (!name) throw new Error('pdftoppm wrote no page');
    const text = execFileSync('tesseract', [join(dir, name), '-'], { encoding: 'utf8', env: { ...process.env, OMP_THREAD_LIMIT: '1' }, stdio: ['ignore', 'pipe', 'ignore'] });
    return text.replace(/\s+/g, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
