// A CLI run in the background: its output as it comes, a wait for a line, signals, its end.
import { spawn, type ChildProcess } from 'node:child_process';
import { cli } from './fixtures.js';

export interface RunningCli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** resolves once stdout + stderr match (rejects if the run ends first, or after `ms`) */
  waitFor: (pattern: RegExp, ms?: number) => Promise<void>;
  /** resolves with the exit status (null when killed by a signal) once the run has ended */
  ended: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
}

export function startCli(args: string[]): RunningCli {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  let done = false;
  const ended = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (status, signal) => {
      done = true;
      resolve({ status, signal });
    }),
  );
  const waitFor = async (pattern: RegExp, ms = 30_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!pattern.test(out + err)) {
      if (done) throw new Error(`the run ended before printing ${pattern}:\n${out}${err}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} after ${ms} ms:\n${out}${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, stdout: () => out, stderr: () => err, waitFor, ended };
}
