// A tiny declarative validator for untrusted JSON (image manifests): a schema checks a value
// and returns it typed, or throws a SchemaError naming the field (`range.offset must be a
// non-negative integer (it is -4096)`). The TypeScript type is inferred from the schema, so
// the shape is written once.

/** A value at `at` (a dotted path like `image.parts[2].name`) is not what the schema says. */
export class SchemaError extends Error {
  constructor(
    readonly at: string,
    readonly problem: string,
  ) {
    super(at === '' ? problem : `${at} ${problem}`);
  }
}

export interface Schema<T> {
  readonly check: (v: unknown, at: string) => T;
  readonly optional?: boolean;
}
export interface OptionalSchema<T> extends Schema<T | undefined> {
  readonly optional: true;
}
export type Infer<S> = S extends Schema<infer T> ? T : never;

/** How a rejected value is shown in the message: short, one line, never the whole value. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') {
    const s = JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    return `the string ${s}`;
  }
  return String(v);
}

export function fail(at: string, expected: string, v: unknown): never {
  throw new SchemaError(at, `must be ${expected} (it is ${describe(v)})`);
}

const join = (at: string, key: string): string => (at === '' ? key : `${at}.${key}`);

/** A key from the document as shown in a message: plain, or quoted and cut short (never a newline, never 1 MB). */
const keyText = (key: string): string => (/^[A-Za-z0-9_]{1,40}$/.test(key) ? key : JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key));

export const bool = (): Schema<boolean> => ({ check: (v, at) => (typeof v === 'boolean' ? v : fail(at, 'true or false', v)) });

/** A whole number from `min` to `max` that a double holds exactly (no 1e300, no 0.5). */
export function int(min = 0, max = Number.MAX_SAFE_INTEGER): Schema<number> {
  const what = min === 0 && max === Number.MAX_SAFE_INTEGER ? 'a non-negative integer' : min === 1 && max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : `an integer from ${min} to ${max}`;
  return { check: (v, at) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max ? v : fail(at, what, v)) };
}

/** A finite number, not negative. */
export const amount = (): Schema<number> => ({ check: (v, at) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(at, 'a non-negative number', v)) });

/** A string of at most `max` characters, without NUL; `pattern` and its description when given. */
export function str(max = 4096, pattern?: RegExp, what?: string): Schema<string> {
  return {
    check: (v, at) => {
      if (typeof v !== 'string') return fail(at, what ?? 'a string', v);
      if (v.length > max) return fail(at, `${what ?? 'a string'} of at most ${max} characters`, `${v.length} characters long`);
      if (v.includes('\0')) return fail(at, `${what ?? 'a string'} without NUL characters`, v);
      if (pattern && !pattern.test(v)) return fail(at, what ?? `a string like ${pattern}`, v);
      return v;
    },
  };
}

export function literal<const T extends string>(value: T): Schema<T> {
  return { check: (v, at) => (v === value ? value : fail(at, JSON.stringify(value), v)) };
}

export function oneOf<const T extends string>(values: readonly T[]): Schema<T> {
  return { check: (v, at) => ((values as readonly unknown[]).includes(v) ? (v as T) : fail(at, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v)) };
}

/** A date and time as toISOString() writes it (2026-11-30T10:00:00.000Z), and a real one. */
export const isoDate = (): Schema<string> => ({
  check: (v, at) => {
    if (typeof v !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) || Number.isNaN(Date.parse(v))) return fail(at, 'a date like 2026-11-30T10:00:00.000Z', v);
    return v;
  },
});

/**
 * A plain file name inside one folder: not empty, not . or .., no '/', no NUL or other
 * control character (a newline would break a `sha256sum -c` file), at most 255 bytes.
 */
export const fileName = (): Schema<string> => ({
  check: (v, at) => {
    const what = 'a plain file name (no folder, not . or ..)';
    if (typeof v !== 'string') return fail(at, what, v);
    if (v === '' || v === '.' || v === '..' || v.includes('/') || /[\x00-\x1f\x7f]/.test(v)) return fail(at, what, v);
    if (Buffer.byteLength(v) > 255) return fail(at, `${what} of at most 255 bytes`, v);
    return v;
  },
});

export function arr<T>(item: Schema<T>, max = 1_000_000): Schema<T[]> {
  return {
    check: (v, at) => {
      if (!Array.isArray(v)) return fail(at, 'a list', v);
      if (v.length > max) return fail(at, `a list of at most ${max} items`, `${v.length} items long`);
      return v.map((x, i) => item.check(x, `${at}[${i}]`));
    },
  };
}

export function opt<T>(s: Schema<T>): OptionalSchema<T> {
  return { check: (v, at) => (v === undefined ? undefined : s.check(v, at)), optional: true };
}

type Shape = Record<string, Schema<unknown>>;
type OptKeys<S extends Shape> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S];
type ReqKeys<S extends Shape> = Exclude<keyof S, OptKeys<S>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjOut<S extends Shape> = Simplify<{ [K in ReqKeys<S>]: Infer<S[K]> } & { [K in OptKeys<S>]?: Exclude<Infer<S[K]>, undefined> }>;

/**
 * An object with these fields. A missing required field is named; a field that is present
 * must match (null is not "absent"). Unknown fields are left out of the result (a newer
 * writer may add some): only what the schema checked is returned.
 */
export function obj<S extends Shape>(shape: S): Schema<ObjOut<S>> {
  return {
    check: (v, at) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(at === '' ? 'the document' : at, 'a JSON object', v);
      const src = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [key, s] of Object.entries(shape)) {
        const has = Object.prototype.hasOwnProperty.call(src, key);
        if (!has && !s.optional) throw new SchemaError(join(at, key), 'is missing');
        if (!has) continue;
        const value = s.check(src[key], join(at, key));
        if (value !== undefined) out[key] = value;
      }
      return out as ObjOut<S>;
    },
  };
}

/** An object whose keys are some of `keys`, each value checked by `value(key)`; other keys are refused. */
export function someOf<const K extends string, V>(keys: readonly K[], value: (key: K) => Schema<V>): Schema<Partial<Record<K, V>>> {
  return {
    check: (v, at) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(at, 'an object', v);
      const out: Partial<Record<K, V>> = {};
      for (const [key, x] of Object.entries(v as Record<string, unknown>)) {
        if (!(keys as readonly string[]).includes(key)) throw new SchemaError(join(at, keyText(key)), `is not known: use ${keys.join(', ')}`);
        out[key as K] = value(key as K).check(x, join(at, key));
      }
      return out;
    },
  };
}
