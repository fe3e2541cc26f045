// README's CLI reference is generated from the command declarations (npm run docs:cli): this fails when they drift apart. No root.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { commands } from '../../src/commands/index.js';
import { commandMarkdown, kindsMarkdown, readmeBlocks, updateReadme } from '../../src/commands/readme.js';
import { kindNamed, kindNames, loadAllKinds } from '../../src/jobs/index.js';
import { optionLabel } from '../../src/command.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe("README's CLI reference", () => {
  // the table of job kinds is made from every kind's declaration: each is loaded first
  beforeAll(async () => void (await loadAllKinds()));
  it('is what the declarations generate (run npm run docs:cli after changing a command)', () => {
    expect(updateReadme(readme)).toBe(readme);
  });
  it('has one generated block for every command (help has no options)', () => {
    const blocks = readmeBlocks(readme);
    expect(new Set(blocks).size).toBe(blocks.length);
    expect([...blocks].sort()).toEqual(commands.filter((c) => c.name !== 'help').map((c) => c.name).sort());
  });
  it('would catch a drift: an option added to a declaration changes the block', () => {
    const clone = commands.find((c) => c.name === 'clone')!;
    const grown = { ...clone, options: { ...clone.options, 'brand-new': { type: 'boolean' as const, help: 'not in README' } } };
    expect(updateReadme(readme, commands.map((c) => (c === clone ? grown : c)))).not.toBe(readme);
    expect(commandMarkdown(grown)).toContain('`--brand-new`');
  });
  it('lists every option of every command', () => {
    for (const c of commands.filter((x) => x.name !== 'help')) {
      const md = commandMarkdown(c);
      for (const [name, o] of Object.entries(c.options)) expect(md).toContain(`\`${optionLabel(name, o).split(', ').pop()!.replace(/\|/g, '\\|')}\``);
    }
  });
  it("has the job kinds' fields, generated from their declarations, every field of every kind named", () => {
    expect(readme).toContain(`<!-- generated: clonestation job kinds -->\n${kindsMarkdown()}\n<!-- end generated -->`);
    for (const name of kindNames()) {
      const k = kindNamed(name)!;
      expect(kindsMarkdown()).toContain(`| **${name}** |`);
      for (const [field, f] of Object.entries(k.fields)) if (!f.internal) expect(kindsMarkdown()).toContain(`\`${field}\``);
    }
    const clone = kindNamed('clone')!;
    expect(kindsMarkdown([{ ...clone, fields: { ...clone.fields, colour: { type: 'string', help: 'new' } } }])).toContain('`colour`');
  });
  it('refuses a block for a command that does not exist', () => {
    expect(() => updateReadme('<!-- generated: clonestation help nope -->\n<!-- end generated -->\n')).toThrow(/no command/);
  });
});
