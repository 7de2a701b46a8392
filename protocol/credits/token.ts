// Tokens: credits written out as one string, for handing them to someone
// else (a chat message, a file, a QR code), like Cashu's cashuA tokens.
//
//   sccredits1 ‖ base64url(bencode({ v: 1, m: mint URL, p: [{ k, a, x, C }, …] }))
//
// k is the keyset id (8 bytes), a the amount (a denomination), x the secret
// and C the unblinded signature. A token is a bearer instrument: whoever
// reads it can spend it, so the sender removes what it exported from its
// wallet. The encoding is canonical (sorted bencode, unpadded base64url with
// zero trailing bits), so one set of credits has exactly one token string.

import { decode, encode, isDict } from '../bencode.ts';
import { fromBase64, toBase64 } from '../bytes.ts';
import { MESSAGE_LIMITS } from '../constants.ts';
import { DecodeError, SchemaError, VersionError } from '../errors.ts';
import { requireUnique } from '../messages/envelope.ts';
import { bytes, int, list, literal, struct, text, type Schema } from '../schema.ts';
import { isDenomination } from './keyset.ts';

export const TOKEN_PREFIX = 'sccredits1';
export const TOKEN_VERSION = 1;
/** Most credits in one token. */
export const TOKEN_MAX_CREDITS = 1000;
/** Largest bencoded token: 1000 credits of about 110 bytes each, and the mint URL. */
export const TOKEN_MAX_BYTES = 128 * 1024;
/** Longest token string: the prefix and the base64url of TOKEN_MAX_BYTES. */
export const TOKEN_MAX_CHARS = TOKEN_PREFIX.length + Math.ceil((TOKEN_MAX_BYTES * 4) / 3);

/** A mint's http(s) URL, as offers carry it. */
export const MINT_URL_PATTERN = /^https?:\/\/[\x21-\x7e]+$/;

export interface TokenCredit {
  /** The keyset id the credit was signed under, 8 bytes. */
  keyset: Uint8Array;
  amount: number;
  /** The secret, 32 bytes. */
  x: Uint8Array;
  /** C = k·hash_to_curve(x), 32 bytes. */
  C: Uint8Array;
}

export interface Token {
  mint: string;
  credits: TokenCredit[];
}

const denomination: Schema<number> = {
  read(value, path) {
    const n = int(1, Number.MAX_SAFE_INTEGER).read(value, path);
    if (!isDenomination(n)) throw new SchemaError(`${path}: expected a denomination (a power of two), got ${n}`, { field: path });
    return n;
  },
  write: (value) => value,
};

const schema = struct({
  v: literal(TOKEN_VERSION),
  m: text({ min: 1, max: MESSAGE_LIMITS.mintUrlBytes, pattern: MINT_URL_PATTERN }),
  p: list(struct({ k: bytes({ length: 8 }), a: denomination, x: bytes({ length: 32 }), C: bytes({ length: 32 }) }), {
    min: 1,
    max: TOKEN_MAX_CREDITS,
  }),
});

function read(bytes: Uint8Array): Token {
  const value = decode(bytes, { maxBytes: TOKEN_MAX_BYTES });
  if (!isDict(value)) throw new SchemaError('token: expected a dictionary', { field: 'token' });
  // The version first, so a newer token is named as one rather than as a shape error.
  if (typeof value.v !== 'number') throw new SchemaError('token.v: expected an integer version', { field: 'token.v' });
  if (value.v !== TOKEN_VERSION) {
    throw new VersionError(`token: expected version ${TOKEN_VERSION}, got ${value.v}`, value.v, { field: 'token.v' });
  }
  const t = schema.read(value, 'token');
  requireUnique(t.p, (c) => toBase64(c.x), (i) => `token.p[${i}].x`);
  return { mint: t.m, credits: t.p.map((c) => ({ keyset: c.k, amount: c.a, x: c.x, C: c.C })) };
}

function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_');
}

function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new DecodeError('token: expected unpadded base64url after the prefix', { field: 'token' });
  }
  const bytes = fromBase64(text.replaceAll('-', '+').replaceAll('_', '/') + '='.repeat((4 - (text.length % 4)) % 4));
  // Nonzero trailing bits would give one token two spellings.
  if (toBase64Url(bytes) !== text) throw new DecodeError('token: base64url is not canonical', { field: 'token' });
  return bytes;
}

/** The token string for credits of one mint. Validates on the way out: nothing leaves that decodeToken would refuse. */
export function encodeToken(mint: string, credits: readonly TokenCredit[]): string {
  const bytes = encode(schema.write({ v: TOKEN_VERSION, m: mint, p: credits.map((c) => ({ k: c.keyset, a: c.amount, x: c.x, C: c.C })) }));
  read(bytes);
  return TOKEN_PREFIX + toBase64Url(bytes);
}

/**
 * Reads a token string into fresh typed credits. DecodeError for a wrong
 * prefix, bad base64url or non-canonical bencode; VersionError for another
 * version; SchemaError for a wrong shape, a repeated secret, or more than
 * TOKEN_MAX_CREDITS credits. Surrounding whitespace is ignored.
 */
export function decodeToken(text: string): Token {
  if (typeof text !== 'string') throw new DecodeError('token: expected text', { field: 'token' });
  const trimmed = text.trim();
  if (trimmed.length > TOKEN_MAX_CHARS) {
    throw new DecodeError(`token: expected at most ${TOKEN_MAX_CHARS} characters, got ${trimmed.length}`, { field: 'token' });
  }
  if (!trimmed.startsWith(TOKEN_PREFIX)) {
    throw new DecodeError(`token: expected text starting ${TOKEN_PREFIX}, got ${JSON.stringify(trimmed.slice(0, 12))}`, {
      field: 'token',
    });
  }
  return read(fromBase64Url(trimmed.slice(TOKEN_PREFIX.length)));
}

/** Whether text looks like a token (by its prefix), without decoding it. */
export function isTokenText(text: string): boolean {
  return text.trim().startsWith(TOKEN_PREFIX);
}
