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
