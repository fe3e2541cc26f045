// A dashboard on fake streams: no terminal, the drawn screen read back from blessed's buffer.
import { PassThrough } from 'node:stream';
import type { Dashboard } from '../../dashboard/dashboard.js';

export interface FakeTerminal {
  input: PassThrough & { isTTY: boolean; setRawMode: (b: boolean) => void };
  output: PassThrough & { isTTY: boolean; columns: number; rows: number };
  resize(cols: number, rows: number): void;
}

export function fakeTerminal(cols: number, rows: number): FakeTerminal {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: (_b: boolean) => {} });
  const output = Object.assign(new PassThrough(), { isTTY: true, columns: cols, rows });
  output.resume(); // what blessed writes is not read; the buffer is
  return {
    input,
    output,
    resize(c: number, r: number): void {
      output.columns = c;
      output.rows = r;
      output.emit('resize');
    },
  };
}

type Cell = [number, string];
/** blessed keeps what it drew in screen.lines (not in its typings) */
export function screenLines(d: Dashboard): Cell[][] {
  return (d.screen as unknown as { lines: Cell[][] }).lines;
}

/** The drawn screen as text, one string per row. */
export function screenText(d: Dashboard): string[] {
  return screenLines(d).map((l) => l.map((c) => c[1]).join(''));
}

/** Cell colours from blessed's attribute: flags << 18 | fg << 9 | bg. */
export function cellColours(cell: Cell): { fg: number; bg: number; ch: string } {
  return { fg: (cell[0] >> 9) & 0x1ff, bg: cell[0] & 0x1ff, ch: cell[1] };
}
