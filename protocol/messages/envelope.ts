// The envelope every message shares, and the building blocks of their schemas.
//
// A message is a bencoded dictionary with `t` (its type name), `v` (its
// version) and its own fields. A signed message also carries the signer's
// ed25519 key in a field of its own and `sig`, a 64-byte signature over
// `DOMAINS[domain] ‖ encode(message without sig)`. Types, versions and
// domains come from the one table in constants.ts (MESSAGE_TYPES); each
// message family's file adds only its fields and cross-field rules.

import type { BInput, BValue } from '../bencode.ts';
import { MESSAGE_TYPES, LIMITS, type Domain, type MessageType } from '../constants.ts';
import { SchemaError } from '../errors.ts';
import { bytes, int, literal, struct, type Schema, type StructOf } from '../schema.ts';

// Field schemas shared by several messages.
export const publicKey = bytes({ length: 32 });
export const signature = bytes({ length: 64 });
/** A BitTorrent v1 info-hash: the identity of a task or a result torrent. */
export const infoHash = bytes({ length: 20 });
/** Nonces, leases and request ids. */
export const nonce = bytes({ length: 16 });
export const sha256Hash = bytes({ length: 32 });
/** A mint keyset id (Cashu NUT-02 style, 8 bytes). */
export const keysetId = bytes({ length: 8 });
/** A ristretto255 point encoding; the mint checks it is a valid point. */
export const point = bytes({ length: 32 });
/** Unix time in milliseconds or seconds, as the field's comment says. */
export const timestamp = int(0, Number.MAX_SAFE_INTEGER);
export const unitIndex = int(0, LIMITS.unitsPerTask - 1);
/** A credit amount; which amounts a keyset signs is the mint's business. */
export const amount = int(1, Number.MAX_SAFE_INTEGER);

type Fields = Record<string, Schema<unknown>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type Entry<T extends MessageType> = (typeof MESSAGE_TYPES)[T];
type Head<T extends MessageType> = { t: T; v: Entry<T>['version'] };
type BytesKeys<F> = { [K in keyof F]: F[K] extends Schema<Uint8Array> ? K : never }[keyof F] & string;

/** Types whose row in MESSAGE_TYPES names a signing domain. */
export type SignedType = {
  [T in MessageType]: Entry<T> extends { readonly domain: Domain } ? T : never;
}[MessageType];
export type UnsignedType = Exclude<MessageType, SignedType>;

export interface MessageSpec<T extends MessageType = MessageType, M = unknown> {
  readonly type: T;
  readonly version: number;
  /** The signing domain; undefined for unsigned types. */
  readonly domain: Domain | undefined;
  /** The field that holds the signer's ed25519 key; undefined for unsigned types. */
  readonly signer: string | undefined;
  /** Reads a whole message dictionary; error fields are relative to the message (`want`, `units[3].lease`). */
  readonly schema: Schema<M>;
}

export type MessageOfSpec<S> = S extends MessageSpec<MessageType, infer M> ? M : never;

/** A SchemaError about one field, for cross-field rules. */
export function invalid(field: string, message: string): SchemaError {
  return new SchemaError(`${field}: ${message}`, { field });
}

/** Throws a SchemaError naming the second occurrence of a repeated key. */
export function requireUnique<T>(items: readonly T[], key: (item: T) => string, field: (i: number) => string): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = key(item);
    if (seen.has(k)) throw invalid(field(i), 'expected no repeats, got a repeated value');
    seen.add(k);
  });
}

function define<T extends MessageType, M>(
  type: T,
  fields: Fields,
  signer: string | undefined,
  check: ((message: M) => void) | undefined,
): MessageSpec<T, M> {
  const entry: { version: number; domain?: Domain } = MESSAGE_TYPES[type];
  const domain = entry.domain;
  const all = { t: literal(type), v: literal(entry.version), ...fields, ...(domain ? { sig: signature } : {}) };
  const inner = struct(all) as unknown as Schema<M>;
  const prefix = `${type}.`;
  const schema: Schema<M> = {
    read(value: BValue): M {
      let out: M;
      try {
        // The type name as the root path makes messages read "claim.want: expected ...".
        out = inner.read(value, type);
      } catch (error) {
        // Fields are named relative to the message, as `t` and `v` are.
        if (error instanceof SchemaError && error.field?.startsWith(prefix)) {
          throw new SchemaError(error.message, { field: error.field.slice(prefix.length), cause: error.cause });
        }
        throw error;
      }
      check?.(out);
      return out;
    },
    write: (value: M): BInput => inner.write(value),
  };
  return { type, version: entry.version, domain, signer, schema };
}

/** A message signed by the key in its `signer` field; `sig` is added and required. */
export function signedMessage<T extends SignedType, F extends Fields, S extends BytesKeys<F>>(
  type: T,
  signer: S,
  fields: F,
  check?: (message: StructOf<F>) => void,
): MessageSpec<T, Simplify<Head<T> & StructOf<F> & { sig: Uint8Array }>> {
  return define<T, Simplify<Head<T> & StructOf<F> & { sig: Uint8Array }>>(type, fields, signer, check as ((message: unknown) => void) | undefined);
}

/** A message with no signature of its own (a bearer request, or a reply on an authenticated channel). */
export function unsignedMessage<T extends UnsignedType, F extends Fields>(
  type: T,
  fields: F,
  check?: (message: StructOf<F>) => void,
): MessageSpec<T, Simplify<Head<T> & StructOf<F>>> {
  return define<T, Simplify<Head<T> & StructOf<F>>>(type, fields, undefined, check as ((message: unknown) => void) | undefined);
}
