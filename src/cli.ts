#!/usr/bin/env node
// The command line: run the command argv names (src/commands/), and turn every error into one line and an exit status.
import { readFileSync } from 'node:fs';
import { CloneStationError, ExitStatus, InternalError } from './errors.js';
import { JsonReporter, TextReporter } from './progress.js';
import type { Context } from './command.js';
import { trace } from './trace.js';

trace('cli: imports evaluated');

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * SIGINT/SIGTERM become one abort signal: jobs stop at the next chunk and the command
 * reports what is incomplete. A second signal leaves at once.
 */
function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  const onSignal = (name: NodeJS.Signals): void => {
    if (ac.signal.aborted) {
      process.stderr.write(`\nclonestation: ${name} again: leaving now; targets are incomplete\n`);
      process.exit(ExitStatus.cancelled);
    }
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return ac.signal;
}

export async function main(argv: string[]): Promise<number> {
  // Answered before any command is loaded: `clonestation --version` stays fast.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`${version()}\n`);
    return ExitStatus.ok;
  }
  const wantsJson = argv.slice(1).includes('--json');
  const { dispatch } = await import('./command.js');
  const { commands } = await import('./commands/index.js');
  trace('cli: commands loaded');
  const context: Context = {
    signal: interruptSignal(),
    reporter: (json) => (json ? new JsonReporter() : new TextReporter()),
    version,
    commandLine: ['clonestation', ...argv].join(' '),
    commands,
  };
  try {
    return await dispatch(argv, context, (text) => process.stdout.write(`${text}\n`));
  } catch (e) {
    const err = e instanceof CloneStationError ? e : new InternalError(e instanceof Error ? (e.stack ?? e.message) : String(e));
    (wantsJson ? new JsonReporter() : new TextReporter()).error(err.code, err.message, { exitStatus: err.exitStatus, ...err.details });
    return err.exitStatus;
  }
}

const status = await main(process.argv.slice(2));
trace(`cli: main returned ${status}`);
process.on('exit', () => trace('process exit'));
// Let stdout drain (a pipe may be slow) before leaving with the status.
process.exitCode = status;
