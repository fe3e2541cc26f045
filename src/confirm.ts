// Asking before overwriting a drive. Never assumed: no terminal and no --yes is a refusal.
import { createInterface } from 'node:readline/promises';
import { RefusedError } from './errors.js';
import { describe, type DriveInfo } from './drive.js';
import { formatBytes } from './units.js';

/** What will be lost, for the question and for the log. */
export function overwriteSummary(target: DriveInfo, what: string): string[] {
  const lines = [`About to overwrite ${describe(target)}`];
  if (target.byId.length > 0) lines.push(`  by-id: ${target.byId[0]}`);
  if (target.partitions.length > 0)
    for (const p of target.partitions) lines.push(`  partition ${p.name}: ${formatBytes(p.size)} at ${formatBytes(p.start)}`);
  else lines.push('  no partitions');
  lines.push(`  ${what}`);
  return lines;
}

export interface ConfirmOptions {
  yes: boolean;
  input?: NodeJS.ReadStream;
  output?: NodeJS.WriteStream;
}

/** Confirms writing a block device; resolves when allowed, throws RefusedError when not. */
export async function confirmOverwrite(target: DriveInfo, what: string, opts: ConfirmOptions): Promise<void> {
  if (opts.yes || target.kind !== 'block') return;
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stderr;
  if (!input.isTTY || !output.isTTY)
    throw new RefusedError(
      'CONFIRMATION_REQUIRED',
      `target ${target.path} is a block device and there is no terminal to ask on: pass --yes to confirm overwriting it`,
      { target: target.realPath },
    );
  output.write(`${overwriteSummary(target, what).join('\n')}\n`);
  const rl = createInterface({ input, output });
  const ac = new AbortController();
  // Ctrl-C at the prompt is a "no", not a hang.
  rl.on('SIGINT', () => ac.abort());
  try {
    const answer = await rl.question(`Type 'yes' to overwrite ${target.path}: `, { signal: ac.signal }).catch(() => '');
    if (answer.trim().toLowerCase() !== 'yes')
      throw new RefusedError('DECLINED', `not confirmed: ${target.path} was left untouched`, { target: target.realPath });
  } finally {
    rl.close();
  }
}

/** One question for several block-device targets: all of them, or none. */
export async function confirmOverwriteAll(targets: { drive: DriveInfo; what: string }[], opts: ConfirmOptions): Promise<void> {
  const blocks = targets.filter((t) => t.drive.kind === 'block');
  if (opts.yes || blocks.length === 0) return;
  if (blocks.length === 1) return confirmOverwrite(blocks[0].drive, blocks[0].what, opts);
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stderr;
  if (!input.isTTY || !output.isTTY)
    throw new RefusedError(
      'CONFIRMATION_REQUIRED',
      `${blocks.length} targets are block devices and there is no terminal to ask on: pass --yes to confirm overwriting ${blocks.map((b) => b.drive.path).join(', ')}`,
    );
  for (const b of blocks) output.write(`${overwriteSummary(b.drive, b.what).join('\n')}\n`);
  const rl = createInterface({ input, output });
  const ac = new AbortController();
  rl.on('SIGINT', () => ac.abort());
  try {
    const answer = await rl.question(`Type 'yes' to overwrite all ${blocks.length} drives above: `, { signal: ac.signal }).catch(() => '');
    if (answer.trim().toLowerCase() !== 'yes') throw new RefusedError('DECLINED', 'not confirmed: every target was left untouched');
  } finally {
    rl.close();
  }
}
