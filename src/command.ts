// Commands as declarations: typed options, one parser over node:util parseArgs, help and usage generated from them, a dispatcher that knows no command by name.
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';
import { parseCount, parseSize } from './units.js';
import type { Reporter } from './progress.js';

/** What every option declares; `help` is one sentence, wrapped by the help generator. */
interface OptionBase {
  help: string;
  /** one letter: `-y` for `--yes` */
  short?: string;
  /** the heading it is listed under in help ("Engine tuning"); else "Options" */
  group?: string;
  /** the value's name in help: `--log FILE` */
  arg?: string;
  /** the default as help shows it, when the command (not the parser) supplies it */
  defaultText?: string;
  /** declares `--no-NAME` too, with this help; its value is `values['no-NAME']` */
  negation?: string;
}

export type OptionSpec =
  | (OptionBase & { type: 'boolean' })
  | (OptionBase & { type: 'string'; multiple?: boolean })
  /** bytes; `asText`: kept as typed for the command to read, as sectors (8s) resolve against the drive they are of */
  | (OptionBase & { type: 'size'; asText?: boolean; default?: string })
  | (OptionBase & { type: 'count'; min: number; max: number; default?: string })
  /** a comma-separated list, read (and checked) by `parse` */
  | (OptionBase & { type: 'list'; parse: (text: string, option: string) => readonly unknown[]; default?: string })
  | (OptionBase & { type: 'enum'; values: readonly string[]; default?: string });

export type Options = Record<string, OptionSpec>;

type ValueOf<S> = S extends { type: 'boolean' }
  ? boolean
  : S extends { type: 'count' }
    ? number
    : S extends { type: 'size'; asText: true }
      ? string
      : S extends { type: 'size' }
        ? number
        : S extends { type: 'list'; parse: (text: string, option: string) => infer R }
          ? R
          : S extends { type: 'enum'; values: readonly (infer V)[] }
            ? V
            : S extends { type: 'string'; multiple: true }
              ? string[]
              : string;

/** The parsed values of a command's options: absent ones are undefined (or their default). */
export type Values<O extends Options> = { [K in keyof O]?: ValueOf<O[K]> } & {
  [K in keyof O as O[K] extends { negation: string } ? `no-${K & string}` : never]?: boolean;
};

export interface Parsed<O extends Options> {
  values: Values<O>;
  positionals: string[];
}

/** What a command's run gets besides its arguments. */
export interface Context {
  signal: AbortSignal;
  /** JSON lines on stdout (`--json`), else progress on stderr */
  reporter(json: boolean | undefined): Reporter;
  version(): string;
  /** the command line as typed, for reports and manifests */
  commandLine: string;
  /** every registered command (for help) */
  commands: readonly Command[];
}

export interface Usage {
  args: string;
  summary: string;
}

export interface CommandSpec<O extends Options> {
  /** one word, or two for a subcommand ("map show") */
  name: string;
  /** one line, for the list of commands */
  summary: string;
  /** the positional arguments: `SOURCE TARGET`, `IMAGE [DRIVE]`, `IMAGE TARGET...`; their count is checked from it */
  args: string;
  /** more ways to call it: arguments (after `clonestation NAME`) and what that does */
  usage?: Usage[];
  /** replaces the count check that `args` implies (called before option values are read) */
  checkArgs?: (positionals: string[], given: ReadonlySet<string>) => void;
  options: O;
  /** paragraphs after the options in help */
  notes?: string[];
  run(parsed: Parsed<O>, context: Context): Promise<number>;
}

/** A command as the registry holds it: its options' types erased. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly args: string;
  readonly usage: readonly Usage[];
  readonly options: Options;
  readonly notes: readonly string[];
  readonly checkArgs?: (positionals: string[], given: ReadonlySet<string>) => void;
  run(parsed: Parsed<Options>, context: Context): Promise<number>;
}

/** Declares a command; its run sees its own options' types. */
export function defineCommand<const O extends Options>(spec: CommandSpec<O>): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    args: spec.args,
    usage: spec.usage ?? [],
    options: spec.options,
    notes: spec.notes ?? [],
    checkArgs: spec.checkArgs,
    // The parser builds values from these very options, so the types agree.
    run: (parsed, context) => spec.run(parsed as Parsed<O>, context),
  };
}

/** Declares options shared by several commands, keeping their literal types. */
export function defineOptions<const O extends Options>(options: O): O {
  return options;
}

// ---- parsing ----

/** Damerau-Levenshtein distance (optimal string alignment): typos, drops, swaps. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidate nearest to `word`, if it is close: one edit for short words, two for longer, or a unique prefix. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  const limit = word.length >= 5 ? 2 : 1;
  if (best !== undefined && bestD <= limit && bestD < word.length) return best;
  // a unique candidate the word begins (--max for --max-parallel) or almost begins (--retry for --retries)
  const stem = word.length >= 5 ? word.slice(0, -1) : word;
  const prefixed = word.length >= 3 ? candidates.filter((c) => c.startsWith(stem)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** Every `--name` a command accepts, negations included. */
export function optionNames(options: Options): string[] {
  return Object.entries(options).flatMap(([name, o]) => (o.negation !== undefined ? [name, `no-${name}`] : [name]));
}

const seeHelp = (command: string): string => `(see clonestation ${command} --help)`;

/** The result of reading a command's arguments: its values, or a request for its help. */
export type ParseResult = { help: true } | ({ help: false } & Parsed<Options>);

/**
 * Reads a command's arguments: unknown options (with the nearest one suggested), missing and
 * empty values, the count of positionals, then each option's type, in the order given.
 */
export function parseCommand(command: Command, args: string[]): ParseResult {
  const spec: Record<string, { type: 'boolean' | 'string'; short?: string; multiple?: boolean }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(command.options)) {
    spec[name] = { type: o.type === 'boolean' ? 'boolean' : 'string', ...(o.short ? { short: o.short } : {}), ...(o.type === 'string' && o.multiple ? { multiple: true } : {}) };
    if (o.negation !== undefined) spec[`no-${name}`] = { type: 'boolean' };
  }
  const { tokens } = parseArgs({ args, options: spec, allowPositionals: true, strict: false, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { help: true };
  const raw = new Map<string, string | boolean | string[]>();
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') positionals.push(t.value);
    if (t.kind !== 'option') continue;
    const s = spec[t.name];
    if (s === undefined) {
      const guess = t.rawName.startsWith('--') ? nearest(t.name, optionNames(command.options)) : undefined;
      throw new UsageError(`unknown option ${t.rawName} for ${command.name}${guess ? `: did you mean --${guess}?` : ''} (clonestation ${command.name} --help lists them)`);
    }
    const label = `--${t.name}`;
    if (s.type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`${label} takes no value (${label}, not ${label}=${t.value}) ${seeHelp(command.name)}`);
      raw.set(t.name, true);
      continue;
    }
    if (t.value === undefined) throw new UsageError(`${label} needs a value ${seeHelp(command.name)}`);
    // `--log --json`: the next word is an option, not a value (a value starting with - goes as --x=-1)
    if (t.inlineValue === false && t.value.length > 1 && t.value.startsWith('-'))
      throw new UsageError(`${label} needs a value, and ${t.value} looks like an option: for a value starting with -, write ${label}=${t.value} ${seeHelp(command.name)}`);
    if (s.multiple) raw.set(t.name, [...((raw.get(t.name) as string[] | undefined) ?? []), t.value]);
    else raw.set(t.name, t.value);
  }
  // An empty value (--block-size=, --log '') is a mistake, never "use the default": refused
  // here, once, for every option and argument of every command.
  for (const [name, value] of raw) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === 'string' && v.trim() === '') throw new UsageError(`--${name} needs a value, not an empty one ${seeHelp(command.name)}`);
    }
  }
  const empty = positionals.findIndex((p) => p.trim() === '');
  if (empty >= 0) throw new UsageError(`argument ${empty + 1} is empty: give a path ${seeHelp(command.name)}`);
  if (command.checkArgs) command.checkArgs(positionals, new Set(raw.keys()));
  else checkCount(command, positionals.length);
  const values: Record<string, unknown> = {};
  for (const [name, value] of raw) {
    const o = command.options[name];
    values[name] = o === undefined ? value : typed(o, value, `--${name}`);
  }
  for (const [name, o] of Object.entries(command.options)) {
    if (values[name] === undefined && 'default' in o && o.default !== undefined) values[name] = typed(o, o.default, `--${name}`);
  }
  return { help: false, values: values as Values<Options>, positionals };
}

function typed(o: OptionSpec, value: string | boolean | string[], name: string): unknown {
  if (typeof value !== 'string') return value;
  switch (o.type) {
    case 'size':
      return o.asText ? value : parseSize(value, name);
    case 'count':
      return parseCount(value, name, o.min, o.max);
    case 'list':
      return o.parse(value, name);
    case 'enum':
      if (!o.values.includes(value)) throw new UsageError(`${name} must be ${orList(o.values)}, not ${JSON.stringify(value)}`);
      return value;
    default:
      return value;
  }
}

/** `a, b or c` */
export function orList(words: readonly string[], last = 'or'): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} ${last} ${words[words.length - 1]}`;
}

interface ArgShape {
  required: string[];
  optional: string[];
  /** the last argument may repeat */
  variadic: boolean;
  /** ... and it is optional (`[TARGET...]`) */
  variadicOptional: boolean;
}

/** `IMAGE TARGET...` -> IMAGE required, TARGET one or more; `IMAGE [DRIVE]` -> DRIVE optional. */
export function argShape(args: string): ArgShape {
  const shape: ArgShape = { required: [], optional: [], variadic: false, variadicOptional: false };
  for (const word of args.split(/\s+/).filter(Boolean)) {
    const optional = word.startsWith('[');
    const name = word.replace(/[[\].]/g, '');
    if (word.includes('...')) [shape.variadic, shape.variadicOptional] = [true, optional];
    (optional ? shape.optional : shape.required).push(name);
  }
  return shape;
}

function checkCount(command: Command, n: number): void {
  const s = argShape(command.args);
  const max = s.variadic ? Infinity : s.required.length + s.optional.length;
  if (n >= s.required.length && n <= max) return;
  const got = `, not ${n} argument${n === 1 ? '' : 's'}`;
  if (max === 0) throw new UsageError(`${command.name} takes no arguments ${seeHelp(command.name)}`);
  const names = s.variadic && !s.variadicOptional ? [...s.required.slice(0, -1), `at least one ${s.required[s.required.length - 1]}`] : s.required;
  const optional = s.optional.length > 0 ? ` and optionally ${orList(s.optional, 'and')}` : '';
  throw new UsageError(`${command.name} needs ${orList(names, 'and')}${optional}${got} ${seeHelp(command.name)}`);
}

// ---- dispatching ----

/** The command that argv names (the longest match: `map show` before `map`), and the rest. */
export function findCommand(commands: readonly Command[], argv: string[]): { command: Command; rest: string[] } | undefined {
  let found: { command: Command; rest: string[] } | undefined;
  for (const c of commands) {
    const words = c.name.split(' ');
    if (words.every((w, i) => argv[i] === w) && (!found || words.length > found.command.name.split(' ').length)) found = { command: c, rest: argv.slice(words.length) };
  }
  return found;
}

/** The error for a word that names no command: the nearest command, or the subcommands of a group. */
export function unknownCommand(commands: readonly Command[], argv: string[]): UsageError {
  const [first, second] = argv;
  const group = commands.filter((c) => c.name.startsWith(`${first} `));
  if (group.length > 0) {
    const subs = group.map((c) => c.name.split(' ')[1]);
    const guess = second !== undefined ? nearest(second, subs) : undefined;
    const what = second === undefined ? `${first} needs a subcommand` : `unknown command "${first} ${second}"`;
    return new UsageError(`${what}${guess ? `: did you mean ${first} ${guess}?` : ''} (usage: ${group.map((c) => synopsis(c)).join('; ')})`);
  }
  if (first.startsWith('-')) {
    const name = first.replace(/^-+/, '').replace(/=.*/, '');
    const top = ['help', 'version'];
    const guess = nearest(name, top);
    const owners = commands.filter((c) => optionNames(c.options).includes(name)).map((c) => c.name);
    if (owners.length > 0 && !top.includes(name)) return new UsageError(`${first} goes after the command: clonestation ${owners[0]} ... ${first} (clonestation --help lists the commands)`);
    return new UsageError(`unknown option ${first}${guess ? `: did you mean --${guess}?` : ''} (clonestation --help lists the commands)`);
  }
  const names = [...new Set(commands.map((c) => c.name.split(' ')[0]))];
  const guess = nearest(first, names);
  return new UsageError(`unknown command ${JSON.stringify(first)}${guess ? `: did you mean ${guess}?` : ''} (clonestation --help lists them)`);
}

/**
 * Runs the command argv names. No arguments or --help print the usage (exit 2 and 0),
 * `COMMAND --help` its help; everything else is the command's to run.
 */
export async function dispatch(argv: string[], context: Context, out: (text: string) => void): Promise<number> {
  const [first] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    out(usageText(context.commands));
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-V') {
    // (src/cli.ts answers a lone --version before loading any command)
    out(context.version());
    return 0;
  }
  const found = findCommand(context.commands, argv);
  if (!found) {
    // `map --help`: the help of every subcommand of the group
    const group = context.commands.filter((c) => c.name.startsWith(`${first} `));
    if (group.length > 0 && (argv[1] === '--help' || argv[1] === '-h')) {
      out(group.map(helpText).join('\n\n'));
      return 0;
    }
    throw unknownCommand(context.commands, argv);
  }
  const parsed = parseCommand(found.command, found.rest);
  if (parsed.help) {
    out(helpText(found.command));
    return 0;
  }
  return found.command.run(parsed, context);
}

// ---- help ----

const WIDTH = 80;
const COLUMN = 26;

/** Wraps text to `width` columns; every line but the first starts with `indent`. */
export function wrap(text: string, width: number, indent = '', first = ''): string[] {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const sep = line.trim() === '' || line.endsWith(' ') ? '' : ' ';
    if (line.length + sep.length + word.length > width && line.trim() !== '') {
      lines.push(line);
      line = indent + word;
    } else line += sep + word;
  }
  if (line.trim() !== '') lines.push(line);
  return lines;
}

/** `clonestation clone SOURCE TARGET [options]` */
export function synopsis(c: Command): string {
  return `clonestation ${c.name}${c.args ? ` ${c.args}` : ''}${Object.keys(c.options).length > 0 ? ' [options]' : ''}`;
}

/** The option as help writes it: `-y, --yes`, `--log FILE, --no-log`. */
export function optionLabel(name: string, o: OptionSpec): string {
  const arg = o.type === 'boolean' ? '' : ` ${o.arg ?? defaultArg(o)}`;
  return `${o.short ? `-${o.short}, ` : ''}--${name}${arg}${o.negation !== undefined ? `, --no-${name}` : ''}`;
}

function defaultArg(o: OptionSpec): string {
  switch (o.type) {
    case 'size':
      return 'SIZE';
    case 'count':
      return 'N';
    case 'list':
      return 'LIST';
    case 'enum':
      return o.values.join('|');
    default:
      return 'VALUE';
  }
}

/** The option's help: its sentence, the negation's, its default, an enum's choices. */
export function optionHelp(name: string, o: OptionSpec): string {
  const parts = [o.help];
  if (o.negation !== undefined) parts[0] += `; --no-${name}: ${o.negation}`;
  const dflt = o.defaultText ?? ('default' in o ? o.default : undefined);
  if (dflt !== undefined) parts.push(`(default: ${dflt})`);
  return parts.join(' ');
}

/** The options by group, in the order the groups first appear. */
export function groupedOptions(c: Command): { group: string; options: [string, OptionSpec][] }[] {
  const groups = new Map<string, [string, OptionSpec][]>();
  for (const entry of Object.entries(c.options)) {
    const g = entry[1].group ?? 'Options';
    groups.set(g, [...(groups.get(g) ?? []), entry]);
  }
  return [...groups].map(([group, options]) => ({ group, options }));
}

/** `clonestation COMMAND --help`. */
export function helpText(c: Command): string {
  const lines = [`clonestation ${c.name}: ${c.summary}`, '', 'Usage:', `  ${synopsis(c)}`];
  for (const u of c.usage) lines.push(`  clonestation ${c.name} ${u.args}`, `      ${u.summary}`);
  for (const { group, options } of groupedOptions(c)) {
    lines.push('', `${group}:`);
    for (const [name, o] of options) {
      const label = `  ${optionLabel(name, o)}`;
      const indent = ' '.repeat(COLUMN);
      const help = optionHelp(name, o);
      if (label.length < COLUMN - 1) lines.push(...wrap(help, WIDTH, indent, label.padEnd(COLUMN)));
      else lines.push(label, ...wrap(help, WIDTH, indent, indent));
    }
  }
  for (const n of c.notes) lines.push('', ...wrap(n, WIDTH));
  return lines.join('\n');
}

/** The top-level usage: every command, one line each. */
export function usageText(commands: readonly Command[]): string {
  const rows = commands.flatMap((c) => [[`${c.name}${c.args ? ` ${c.args}` : ''}`, c.summary], ...c.usage.map((u) => [`${c.name} ${u.args}`, u.summary])]);
  rows.push(['--help | --version', 'this text; the version']);
  const col = 40;
  const lines = [...wrap('clonestation: clone, rescue, image and benchmark drives at the speed of the drives', WIDTH), '', 'Usage:'];
  for (const [left, right] of rows) {
    const label = `  clonestation ${left}`;
    if (label.length < col - 1) lines.push(...wrap(right, WIDTH, ' '.repeat(col), label.padEnd(col)));
    else lines.push(label, ...wrap(right, WIDTH, ' '.repeat(col), ' '.repeat(col)));
  }
  lines.push(
    '',
    ...wrap("`clonestation COMMAND --help` (or `clonestation help COMMAND`) lists a command's options, grouped, with their defaults.", WIDTH),
    '',
    ...wrap('SIZE: bytes (4096, 0x1000), units (4KiB, 1MiB, 2GB; bare K/M/G are binary) or sectors (8s).', WIDTH),
    ...wrap('Exit status: 0 ok, 1 I/O error, 2 bad input, 3 internal error, 4 refused for safety, 5 verify mismatch, 130 interrupted.', WIDTH),
  );
  return lines.join('\n');
}
