// README's CLI reference, generated from the command declarations: `npm run docs:cli` rewrites the marked blocks; a unit test fails when they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { groupedOptions, optionHelp, optionLabel, synopsis, type Command } from '../command.js';
import { commands } from './index.js';
import { kindNamed, kindNames, loadAllKinds } from '../jobs/index.js';
import type { FieldDecl, JobKind } from '../jobs/kind.js';

const START = /^<!-- generated: clonestation help (.+?) -->$/;
/** the job kinds' job-file fields */
const KINDS = '<!-- generated: clonestation job kinds -->';
const END = '<!-- end generated -->';

/** A command's reference as markdown: how to call it, and its options by group. */
export function commandMarkdown(c: Command): string {
  const calls = [synopsis(c), ...c.usage.map((u) => `clonestation ${c.name} ${u.args}`)];
  const width = Math.max(...calls.map((l) => l.length)) + 2;
  const notes = ['', ...c.usage.map((u) => u.summary)];
  const lines = ['```', ...calls.map((l, i) => (notes[i] ? `${l.padEnd(width)}# ${notes[i]}` : l)), '```'];
  const groups = groupedOptions(c);
  if (groups.length > 0) {
    lines.push('', '| option | meaning |', '|---|---|');
    for (const { group, options } of groups) {
      if (groups.length > 1) lines.push(`| **${group}** | |`);
      for (const [name, o] of options) lines.push(`| \`${cell(optionLabel(name, o)).replace(/, /g, '`, `')}\` | ${cell(optionHelp(name, o))} |`);
    }
  }
  return lines.join('\n');
}

/** What a job-file field takes, in words. */
function fieldType(f: FieldDecl): string {
  switch (f.type) {
    case 'paths':
      return f.exactly !== undefined ? `list of ${f.exactly} path${f.exactly === 1 ? '' : 's'}` : 'list of paths';
    case 'size':
      return 'size ("4MiB" or bytes)';
    case 'count':
      return `whole number ${f.min ?? 0}..${f.max ?? ''}`;
    case 'hashes':
      return 'list of hash names';
    case 'strings':
      return 'list of texts';
    case 'enum':
      return (f.values ?? []).join(', ');
    default:
      return f.type;
  }
}

/** Every registered job kind's job-file fields, as markdown (internal fields left out). */
export function kindsMarkdown(kinds: readonly JobKind[] = kindNames().flatMap((n) => kindNamed(n) ?? [])): string {
  const lines = ['| kind | field | takes | meaning |', '|---|---|---|---|'];
  for (const k of kinds) {
    lines.push(`| **${k.name}** | | | ${cell(k.summary)} |`);
    for (const [name, f] of Object.entries(k.fields)) if (!f.internal) lines.push(`| | \`${name}\`${f.required ? ' (required)' : ''} | ${cell(fieldType(f))} | ${cell(f.help)} |`);
  }
  return lines.join('\n');
}

/** Text in a table cell: a | would end it. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** The commands README has a generated block for, in order. */
export function readmeBlocks(readme: string): string[] {
  return readme.split('\n').flatMap((l) => START.exec(l)?.[1] ?? []);
}

/** README with every generated block rewritten from the declarations; a block naming no command is an error. */
export function updateReadme(readme: string, all: readonly Command[] = commands): string {
  const out: string[] = [];
  const lines = readme.split('\n');
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i]);
    if (lines[i] === KINDS) {
      const end = lines.indexOf(END, i + 1);
      if (end < 0) throw new Error(`README: the generated block of job kinds has no ${END}`);
      out.push(kindsMarkdown(), END);
      i = end;
      continue;
    }
    const m = START.exec(lines[i]);
    if (!m) continue;
    const c = all.find((x) => x.name === m[1]);
    if (!c) throw new Error(`README: a generated block for "${m[1]}", which is no command`);
    const end = lines.indexOf(END, i + 1);
    if (end < 0) throw new Error(`README: the generated block for "${m[1]}" has no ${END}`);
    out.push(commandMarkdown(c), END);
    i = end;
  }
  return out.join('\n');
}

// `node dist/src/commands/readme.js [README.md]` (npm run docs:cli): rewrite the blocks in place.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await loadAllKinds();
  const path = process.argv[2] ?? 'README.md';
  const before = readFileSync(path, 'utf8');
  const after = updateReadme(before);
  const missing = commands.filter((c) => c.name !== 'help' && !readmeBlocks(before).includes(c.name)).map((c) => c.name);
  if (after !== before) writeFileSync(path, after);
  process.stdout.write(`${path}: ${after === before ? 'up to date' : 'rewritten'}; ${readmeBlocks(before).length} generated block(s)${missing.length ? `; no block for: ${missing.join(', ')}` : ''}\n`);
}
