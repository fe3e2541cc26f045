// Commands as declarations: the parser (types, defaults, shorts, negations, empty values, suggestions) and the generated help. No root.
import { describe, expect, it } from 'vitest';
import { defineCommand, editDistance, findCommand, helpText, nearest, optionNames, parseCommand, unknownCommand, usageText, wrap, type Command, type ParseResult } from '../../src/command.js';
import { commands } from '../../src/commands/index.js';
import { tuningOptions } from '../../src/commands/options.js';
import { DEFAULT_BLOCK_SIZE, DEFAULT_DEPTH } from '../../src/engine.js';
import { parseSize } from '../../src/units.js';
import { CloneStationError } from '../../src/errors.js';
import { runCli } from '../helpers/fixtures.js';

const toy = defineCommand({
  name: 'toy',
  summary: 'a command made for this test',
  args: 'SOURCE [TARGET...]',
  options: {
    flag: { type: 'boolean', short: 'f', help: 'a flag' },
    ui: { type: 'boolean', help: 'a negatable flag', negation: 'the other way' },
    log: { type: 'string', arg: 'FILE', help: 'a string with a negation', negation: 'none' },
    pair: { type: 'string', multiple: true, help: 'repeatable' },
    size: { type: 'size', help: 'a size' },
    offset: { type: 'size', asText: true, help: 'a size read later' },
    depth: { type: 'count', min: 1, max: 8, help: 'a count', default: '4' },
    hash: { type: 'list', parse: (t: string) => t.split(','), help: 'a list' },
    backend: { type: 'enum', values: ['auto', 'io_uring', 'threads'], help: 'a choice' },
  },
  run: async () => 0,
});

function parsed(args: string[], c: Command = toy): Extract<ParseResult, { help: false }> {
  const r = parseCommand(c, args);
  if (r.help) throw new Error('help asked for');
  return r;
}

/** The one-line error a bad command line gives, with its code. */
function refusal(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof CloneStationError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('no error');
}

describe('the parser', () => {
  it('reads every type: booleans, strings, repeated strings, sizes, counts, lists, enums; positionals in order', () => {
    const r = parsed(['src', '--flag', '--size', '4KiB', 'a', '--offset', '8s', '--depth=2', '--hash', 'x,y', '--backend', 'threads', '--pair', 'p:q', '--pair', 'r:s', '--log', 'l.json', 'b']);
    expect(r.positionals).toEqual(['src', 'a', 'b']);
    expect(r.values).toEqual({ flag: true, size: 4096, offset: '8s', depth: 2, hash: ['x', 'y'], backend: 'threads', pair: ['p:q', 'r:s'], log: 'l.json' });
  });
  it('fills in declared defaults, and only those', () => {
    expect(parsed(['src']).values).toEqual({ depth: 4 });
  });
  it('takes short aliases, alone and grouped', () => {
    expect(parsed(['src', '-f']).values.flag).toBe(true);
    expect(refusal(() => parsed(['src', '-x'])).code).toBe('USAGE');
  });
  it('declares --no-NAME for a negation, as its own value', () => {
    expect(parsed(['src', '--no-ui']).values).toMatchObject({ 'no-ui': true });
    expect(parsed(['src', '--no-log']).values).toMatchObject({ 'no-log': true });
    expect(parsed(['src', '--ui']).values).toMatchObject({ ui: true });
    expect(optionNames(toy.options)).toEqual(expect.arrayContaining(['ui', 'no-ui', 'log', 'no-log']));
    expect(refusal(() => parsed(['src', '--no-flag'])).code).toBe('USAGE');
  });
  it('refuses an empty value, an empty argument, a missing value and a value on a flag', () => {
    expect(refusal(() => parsed(['src', '--size=']))).toMatchObject({ code: 'USAGE', message: expect.stringContaining('--size needs a value, not an empty one') });
    expect(refusal(() => parsed(['src', '--log', ' '])).message).toContain('--log needs a value, not an empty one');
    expect(refusal(() => parsed(['src', '--pair', 'a:b', '--pair='])).code).toBe('USAGE');
    expect(refusal(() => parsed(['src', ''])).message).toContain('argument 2 is empty');
    expect(refusal(() => parsed(['src', '--size'])).message).toContain('--size needs a value');
    expect(refusal(() => parsed(['src', '--log', '--flag'])).message).toContain('write --log=--flag');
    expect(refusal(() => parsed(['src', '--flag=yes'])).message).toContain('--flag takes no value');
  });
  it('checks each value by its type, naming the option', () => {
    expect(refusal(() => parsed(['src', '--size', 'big']))).toMatchObject({ code: 'BAD_SIZE', message: expect.stringContaining('--size') });
    expect(refusal(() => parsed(['src', '--depth', '9']))).toMatchObject({ code: 'BAD_NUMBER', message: '--depth must be between 1 and 8' });
    expect(refusal(() => parsed(['src', '--backend', 'fast']))).toEqual({ code: 'USAGE', message: '--backend must be auto, io_uring or threads, not "fast"' });
    // a size kept as text is the command's to read (sectors are the drive's)
    expect(parsed(['src', '--offset', 'whatever']).values.offset).toBe('whatever');
  });
  it('counts positionals from the declared arguments', () => {
    expect(refusal(() => parsed([]))).toMatchObject({ code: 'USAGE', message: expect.stringContaining('toy needs SOURCE and optionally TARGET, not 0 arguments') });
    expect(parsed(['a', 'b', 'c', 'd']).positionals).toHaveLength(4);
    const rescue = commands.find((c) => c.name === 'rescue')!;
    expect(refusal(() => parseCommand(rescue, ['a', 'b'])).message).toContain('rescue needs SOURCE, TARGET and MAPFILE, not 2 arguments');
    const list = commands.find((c) => c.name === 'list')!;
    expect(refusal(() => parseCommand(list, ['sda'])).message).toContain('list takes no arguments');
  });
  it('asks for help on --help or -h, wherever it is', () => {
    expect(parseCommand(toy, ['--help']).help).toBe(true);
    expect(parseCommand(toy, ['src', '--size', 'x', '-h']).help).toBe(true);
  });
  it('suggests the nearest option for an unknown one, and none when nothing is close', () => {
    const clone = commands.find((c) => c.name === 'clone')!;
    expect(refusal(() => parseCommand(clone, ['a', 'b', '--verfy']))).toEqual({
      code: 'USAGE',
      message: 'unknown option --verfy for clone: did you mean --verify? (clonestation clone --help lists them)',
    });
    expect(refusal(() => parseCommand(clone, ['a', 'b', '--lenght', '1'])).message).toContain('did you mean --length?');
    expect(refusal(() => parseCommand(clone, ['a', 'b', '--no-verfy'])).message).toContain('did you mean --no-verify?');
    expect(refusal(() => parseCommand(commands.find((c) => c.name === 'rescue')!, ['a', 'b', 'm', '--retry', '1'])).message).toContain('did you mean --retries?');
    expect(refusal(() => parseCommand(clone, ['a', 'b', '--frobnicate'])).message).toBe('unknown option --frobnicate for clone (clonestation clone --help lists them)');
  });
  it('measures edits as Damerau-Levenshtein: a swap is one edit', () => {
    expect(editDistance('verify', 'verfy')).toBe(1);
    expect(editDistance('offest', 'offset')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(nearest('clon', ['clone', 'rescue'])).toBe('clone');
    expect(nearest('zzz', ['clone', 'rescue'])).toBeUndefined();
    expect(nearest('deep', ['depth', 'domain'])).toBeUndefined();
  });
});

describe('the dispatcher', () => {
  it('finds commands by their words, the longest first, and suggests the nearest for an unknown one', () => {
    expect(findCommand(commands, ['map', 'show', 'm.map'])?.command.name).toBe('map show');
    expect(findCommand(commands, ['clone', 'a', 'b'])?.rest).toEqual(['a', 'b']);
    expect(findCommand(commands, ['clon'])).toBeUndefined();
    expect(unknownCommand(commands, ['clon', 'a']).message).toBe('unknown command "clon": did you mean clone? (clonestation --help lists them)');
    expect(unknownCommand(commands, ['restor']).message).toContain('did you mean restore?');
    expect(unknownCommand(commands, ['frobnicate']).message).toBe('unknown command "frobnicate" (clonestation --help lists them)');
    expect(unknownCommand(commands, ['map', 'shw']).message).toContain('did you mean map show?');
    expect(unknownCommand(commands, ['--verison']).message).toContain('did you mean --version?');
    expect(unknownCommand(commands, ['--yes', 'clone']).message).toContain('--yes goes after the command');
  });
  it('through the CLI: an unknown option is one line, USAGE, exit 2', () => {
    const r = runCli(['clone', 'a', 'b', '--verfy']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('clonestation: unknown option --verfy for clone: did you mean --verify? (clonestation clone --help lists them) [USAGE]\n');
    const c = runCli(['rescu', 'a', 'b', 'm']);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/^clonestation: unknown command "rescu": did you mean rescue\? .*\[USAGE\]\n$/);
  });
});

describe('the generated help', () => {
  it('lists every declared option (and its negation) of every command in COMMAND --help, with the defaults', () => {
    for (const c of commands) {
      const text = helpText(c);
      for (const [name, o] of Object.entries(c.options)) {
        expect(text, `${c.name} --${name}`).toMatch(new RegExp(`--${name}\\b`));
        if (o.negation !== undefined) expect(text).toContain(`--no-${name}`);
        if (o.short) expect(text).toContain(`-${o.short}, --${name}`);
        const dflt = o.defaultText ?? ('default' in o ? o.default : undefined);
        if (dflt !== undefined) expect(text.replace(/\s+/g, ' ')).toContain(`(default: ${dflt})`);
      }
    }
  });
  it('keeps every line within 80 columns', () => {
    for (const text of [usageText(commands), ...commands.map(helpText)]) for (const line of text.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
  });
  it('the usage names every command', () => {
    const text = usageText(commands);
    for (const c of commands) expect(text).toContain(`clonestation ${c.name}`);
  });
  it('wraps at word boundaries with a hanging indent', () => {
    expect(wrap('aa bb cc dd', 8, '  ', '>')).toEqual(['> aa bb', '  cc dd']);
  });
  it('shows the engine defaults engine.ts uses', () => {
    expect(parseSize(tuningOptions['block-size'].defaultText, 'x')).toBe(DEFAULT_BLOCK_SIZE);
    expect(Number(tuningOptions.depth.defaultText)).toBe(DEFAULT_DEPTH);
  });
  it('through the CLI: help, help COMMAND and COMMAND --help are the same text, exit 0', () => {
    const a = runCli(['help', 'restore']);
    const b = runCli(['restore', '--help']);
    expect(a.status).toBe(0);
    expect(b.status).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toBe(`${helpText(commands.find((c) => c.name === 'restore')!)}\n`);
    expect(runCli(['map', 'show', '--help']).stdout).toContain('--no-color');
    const h = runCli(['help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toBe(runCli(['--help']).stdout);
    expect(runCli(['help', 'nope']).status).toBe(2);
  });
});
