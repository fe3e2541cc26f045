// A real terminal for e2e tests: tmux runs the command, send-keys types, capture-pane reads.
import { execFileSync, spawnSync } from 'node:child_process';

export const hasTmux = spawnSync('tmux', ['-V']).status === 0;

export class TmuxSession {
  readonly name = `cs-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  constructor(command: string, cols = 160, rows = 48) {
    execFileSync('tmux', ['new-session', '-d', '-s', this.name, '-x', String(cols), '-y', String(rows), command], {
      env: { ...process.env, TERM: 'xterm-256color' },
    });
  }
  screen(): string {
    return execFileSync('tmux', ['capture-pane', '-p', '-t', this.name], { encoding: 'utf8' });
  }
  /** The screen with its colours: capture-pane -e keeps the SGR escape codes. */
  screenColours(): string {
    return execFileSync('tmux', ['capture-pane', '-p', '-e', '-t', this.name], { encoding: 'utf8' });
  }
  keys(...keys: string[]): void {
    execFileSync('tmux', ['send-keys', '-t', this.name, ...keys]);
  }
  /** Polls the screen until `pattern` shows up; throws with the screen when it does not. */
  async waitFor(pattern: RegExp, ms = 20_000): Promise<string> {
    const deadline = Date.now() + ms;
    let last = '';
    while (Date.now() < deadline) {
      last = this.screen();
      if (pattern.test(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${pattern} on the terminal:\n${last}`);
  }
  kill(): void {
    spawnSync('tmux', ['kill-session', '-t', this.name]);
  }
}

/** A character as the terminal shows it: its colours as xterm indexes (-1: the default). */
export interface ShownCell {
  ch: string;
  fg: number;
  bg: number;
}

/** Reads one line of capture-pane -e output into characters with their colours (SGR only). */
export function shownCells(line: string): ShownCell[] {
  const out: ShownCell[] = [];
  let fg = -1;
  let bg = -1;
  const sgr = /^\x1b\[([\d;]*)m/;
  for (let i = 0; i < line.length; ) {
    const m = sgr.exec(line.slice(i, i + 32));
    if (m) {
      const p = m[1] === '' ? [0] : m[1].split(';').map(Number);
      for (let k = 0; k < p.length; k++) {
        const v = p[k];
        if (v === 0) fg = bg = -1;
        else if (v === 38 && p[k + 1] === 5) (fg = p[k + 2]), (k += 2);
        else if (v === 48 && p[k + 1] === 5) (bg = p[k + 2]), (k += 2);
        else if (v === 39) fg = -1;
        else if (v === 49) bg = -1;
        else if (v >= 30 && v <= 37) fg = v - 30;
        else if (v >= 40 && v <= 47) bg = v - 40;
        else if (v >= 90 && v <= 97) fg = v - 90 + 8;
        else if (v >= 100 && v <= 107) bg = v - 100 + 8;
      }
      i += m[0].length;
      continue;
    }
    if (line[i] === '\x1b') {
      // another escape (not a colour): skip it
      const other = /^\x1b\[[\d;?]*[A-Za-z]|^\x1b./.exec(line.slice(i, i + 32));
      i += other ? other[0].length : 1;
      continue;
    }
    const ch = String.fromCodePoint(line.codePointAt(i) ?? 32);
    out.push({ ch, fg, bg });
    i += ch.length;
  }
  return out;
}
