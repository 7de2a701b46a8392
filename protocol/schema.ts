// Schemas for decoded bencode. A schema turns an untrusted BValue into a new,
// typed object (never the input with fields added), checking every bound on
// the way, and turns the typed object back into bencode for signing. Errors
// name the field path and say "expected X, got Y".

import type { BInput, BValue } from './bencode.ts';
import { isDict } from './bencode.ts';
import { fromUtf8 } from './bytes.ts';
import { SchemaError } from './errors.ts';

export interface Schema<T> {
  /** Validates `value` (found at `path`) and returns a fresh typed copy. */
  read(value: BValue, path: string): T;
  /** The bencode form of a typed value. */
  write(value: T): BInput;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

function describe(value: BValue): string {
  if (typeof value === 'number') return `integer ${value}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return 'a dictionary';
}

function fail(path: string, expected: string, value: BValue): never {
  throw new SchemaError(`${path}: expected ${expected}, got ${describe(value)}`, { field: path });
}

export function int(min: number, max: number): Schema<number> {
  return {
    read(value, path) {
      if (typeof value !== 'number' || value < min || value > max) fail(path, `an integer in [${min}, ${max}]`, value);
      return value;
    },
    write: (value) => value,
  };
}

export function bytes(options: { length?: number; max?: number }): Schema<Uint8Array> {
  const { length, max = length ?? Infinity } = options;
  const expected = length !== undefined ? `${length} bytes` : `at most ${max} bytes`;
  return {
    read(value, path) {
      if (!(value instanceof Uint8Array)) fail(path, expected, value);
      if (length !== undefined ? value.length !== length : value.length > max) fail(path, expected, value);
      return value.slice();
    },
    write: (value) => value,
  };
}

export function text(options: { max: number; min?: number; pattern?: RegExp }): Schema<string> {
  const { max, min = 0, pattern } = options;
  return {
    read(value, path) {
      if (!(value instanceof Uint8Array) || value.length > max) fail(path, `UTF-8 text of at most ${max} bytes`, value);
      let out: string;
      try {
        out = fromUtf8(value);
      } catch (cause) {
        throw new SchemaError(`${path}: expected UTF-8 text, got malformed bytes`, { field: path, cause });
      }
      if (out.length < min) fail(path, `text of at least ${min} characters`, value);
      if (pattern && !pattern.test(out)) {
        throw new SchemaError(`${path}: expected text matching ${pattern}, got ${JSON.stringify(out.slice(0, 40))}`, {
          field: path,
        });
      }
      return out;
    },
    write: (value) => value,
  };
}

export function oneOf<const T extends string>(choices: readonly T[]): Schema<T> {
  const inner = text({ max: 64 });
  return {
    read(value, path) {
      const out = inner.read(value, path);
      if (!(choices as readonly string[]).includes(out)) {
        throw new SchemaError(`${path}: expected one of ${choices.join(', ')}, got ${JSON.stringify(out)}`, {
          field: path,
        });
      }
      return out as T;
    },
    write: (value) => value,
  };
}

export function literal<const T extends string | number>(expected: T): Schema<T> {
  return {
    read(value, path) {
      const got = typeof expected === 'number' ? value : value instanceof Uint8Array ? safeText(value) : undefined;
      if (got !== expected) fail(path, JSON.stringify(expected), value);
      return expected;
    },
    write: (value) => value,
  };
}

function safeText(value: Uint8Array): string | undefined {
  try {
    return fromUtf8(value);
  } catch {
    return undefined;
  }
}

export function list<T>(item: Schema<T>, options: { max: number; min?: number }): Schema<T[]> {
  const { max, min = 0 } = options;
  return {
    read(value, path) {
      if (!Array.isArray(value) || value.length > max || value.length < min) {
        fail(path, `a list of ${min} to ${max} items`, value);
      }
      return value.map((v, i) => item.read(v, `${path}[${i}]`));
    },
    write: (value) => value.map((v) => item.write(v)),
  };
}

const OPTIONAL = Symbol('optional');
export interface Optional<T> extends Schema<T | undefined> {
  readonly [OPTIONAL]: true;
}

export function optional<T>(inner: Schema<T>): Optional<T> {
  return {
    [OPTIONAL]: true,
    read: (value, path) => inner.read(value, path),
    write: (value) => (value === undefined ? undefined : inner.write(value)) as BInput,
  };
}

type Fields = Record<string, Schema<unknown>>;
type RequiredKeys<F> = { [K in keyof F]: F[K] extends Optional<unknown> ? never : K }[keyof F];
type OptionalKeys<F> = { [K in keyof F]: F[K] extends Optional<unknown> ? K : never }[keyof F];
export type StructOf<F> = { [K in RequiredKeys<F>]: Infer<F[K]> } & {
  [K in OptionalKeys<F>]?: Exclude<Infer<F[K]>, undefined>;
};

/**
 * A dictionary with exactly these fields. Unknown keys are refused: a signed
 * object must re-encode to the very bytes that were signed, so nothing may be
 * dropped on the way in. New fields come with a new version.
 */
export function struct<F extends Fields>(fields: F): Schema<StructOf<F>> {
  const names = Object.keys(fields);
  return {
    read(value, path) {
      if (!isDict(value)) fail(path, 'a dictionary', value);
      for (const key of Object.keys(value)) {
        if (!Object.hasOwn(fields, key)) {
          throw new SchemaError(`${path}: unexpected field ${JSON.stringify(key.slice(0, 40))}`, {
            field: `${path}.${key}`,
          });
        }
      }
      const out: Record<string, unknown> = {};
      for (const name of names) {
        const schema = fields[name]!;
        const item = value[name];
        if (item === undefined) {
          if (OPTIONAL in schema) continue;
          throw new SchemaError(`${path}: missing field ${name}`, { field: `${path}.${name}` });
        }
        out[name] = schema.read(item, `${path}.${name}`);
      }
      return out as StructOf<F>;
    },
    write(value) {
      const out: Record<string, BInput | undefined> = {};
      for (const name of names) {
        const item = (value as Record<string, unknown>)[name];
        if (item !== undefined) out[name] = fields[name]!.write(item);
      }
      return out;
    },
  };
}

/** 0 or 1 on the wire, since bencode has no booleans. */
export function flag(): Schema<boolean> {
  const inner = int(0, 1);
  return {
    read: (value, path) => inner.read(value, path) === 1,
    write: (value) => (value ? 1 : 0),
  };
}
