#!/usr/bin/env node
// The command line: parse, dispatch, and turn every error into one line and an exit status.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import { CloneStationError, ExitStatus, InternalError, UsageError } from './errors.js';
import { parseCount, parseSize, formatBytes, formatRate } from './units.js';
import { JsonReporter, TextReporter, type Reporter } from './progress.js';
import { clone } from './clone.js';
import type { Backend } from './native.js';

const usage = `clonestation: clone, rescue, image and benchmark drives at the speed of the drives

Usage:
  clonestation clone SOURCE TARGET [options]   copy a drive or image to another
  clonestation demo [--keep] [--size SIZE]      clone generated images (no drives needed)
  clonestation --help | --version

Clone options:
  --offset SIZE          start reading the source here (default 0)
  --length SIZE          copy this many bytes (default: to the end of the source)
  --target-offset SIZE   start writing the target here (default 0)
  --block-size SIZE      bytes per ring slot, a multiple of 4KiB (default 4MiB)
  --depth N              ring slots in flight (default 4)
  --backend B            auto | io_uring | threads (default auto)
  --no-direct            buffered I/O instead of O_DIRECT
  --verify               re-read the target with O_DIRECT and compare
  --yes                  do not ask before overwriting a block device
  --json                 JSON lines on stdout instead of progress on stderr

SIZE: bytes (4096, 0x1000), units (4KiB, 1MiB, 2GB; bare K/M/G are binary) or sectors (8s).
Exit status: 0 ok, 1 I/O error, 2 bad input, 3 internal error, 4 refused for safety,
5 verify mismatch, 130 interrupted.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const cloneOptions = {
  offset: { type: 'string' },
  length: { type: 'string' },
  'target-offset': { type: 'string' },
  'block-size': { type: 'string' },
  depth: { type: 'string' },
  backend: { type: 'string' },
  'no-direct': { type: 'boolean' },
  verify: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  json: { type: 'boolean' },
} satisfies ParseArgsConfig['options'];

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    // node's messages name the option; keep the first sentence, add the way out.
    const first = (e as Error).message.split(/\.\s|\n/)[0];
    throw new UsageError(`${first} (see clonestation --help)`);
  }
}

function backendOf(v: string | undefined): Backend {
  if (v === undefined) return 'auto';
  if (v === 'auto' || v === 'io_uring' || v === 'threads') return v;
  throw new UsageError(`--backend must be auto, io_uring or threads, not ${JSON.stringify(v)}`);
}

async function cmdClone(args: string[], reporter: () => Reporter, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args, cloneOptions);
  if (positionals.length !== 2) throw new UsageError('clone needs exactly SOURCE and TARGET (see clonestation --help)');
  const rep = values.json ? new JsonReporter() : reporter();
  const result = await clone(
    {
      source: positionals[0],
      target: positionals[1],
      offset: values.offset,
      length: values.length,
      targetOffset: values['target-offset'],
      blockSize: values['block-size'] ? parseSize(values['block-size'], '--block-size') : undefined,
      depth: values.depth ? parseCount(values.depth, '--depth', 1, 256) : undefined,
      backend: backendOf(values.backend),
      direct: !values['no-direct'],
      verify: values.verify,
      yes: values.yes,
    },
    rep,
    signal,
  );
  rep.done({
    message: `cloned ${formatBytes(result.bytes)} in ${result.seconds.toFixed(2)} s (${formatRate(result.bytesPerSec)})${result.verified ? ', verified' : ''}`,
    ...result,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  });
  return ExitStatus.ok;
}

async function cmdDemo(args: string[], reporter: () => Reporter, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parse(args, { keep: { type: 'boolean' }, size: { type: 'string' }, json: { type: 'boolean' } });
  if (positionals.length > 0) throw new UsageError('demo takes no arguments (see clonestation --help)');
  const rep = values.json ? new JsonReporter() : reporter();
  // Loaded on demand: the demo's image generator is not on clone's start-up path.
  const { runDemo } = await import('./demo.js');
  await runDemo({ keep: values.keep ?? false, size: values.size ? parseSize(values.size, '--size') : undefined }, rep, signal);
  return ExitStatus.ok;
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
  const [cmd, ...rest] = argv;
  const signal = interruptSignal();
  const wantsJson = rest.includes('--json');
  const reporter = (): Reporter => new TextReporter();
  try {
    switch (cmd) {
      case 'clone':
        return await cmdClone(rest, reporter, signal);
      case 'demo':
        return await cmdDemo(rest, reporter, signal);
      case '--version':
      case '-V':
        process.stdout.write(`${version()}\n`);
        return ExitStatus.ok;
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(`${usage}\n`);
        return cmd === undefined ? ExitStatus.usage : ExitStatus.ok;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}: try clonestation --help`);
    }
  } catch (e) {
    const err = e instanceof CloneStationError ? e : new InternalError(e instanceof Error ? (e.stack ?? e.message) : String(e));
    (wantsJson ? new JsonReporter() : new TextReporter()).error(err.code, err.message, { exitStatus: err.exitStatus, ...err.details });
    return err.exitStatus;
  }
}

const status = await main(process.argv.slice(2));
// Let stdout drain (a pipe may be slow) before leaving with the status.
process.exitCode = status;
