// Regenerates test/vectors/tokens.json: credit tokens (protocol/credits/token.ts)
// with their exact bencoding and string, and malformed tokens with the error
// each must raise.
//
//   npx tsx scripts/generate-vectors-tokens.ts
//
// Deterministic: secrets and keyset seeds are labelled SHA-512s of fixed
// strings, and each C is the real k·hash_to_curve(x) under the labelled
// keyset, so a rerun changes nothing unless the format did.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sha512 } from '@noble/hashes/sha2.js';
import { encode, type BInput } from '../protocol/bencode.ts';
import { concatBytes, toBase64, toHex, utf8 } from '../protocol/bytes.ts';
import { MESSAGE_LIMITS } from '../protocol/constants.ts';
import { hashToCurve } from '../protocol/credits/bdhke.ts';
import { nobleCurve } from '../protocol/credits/curve.ts';
import { DENOMINATIONS, deriveKeyset, type Keyset } from '../protocol/credits/keyset.ts';
import { TOKEN_PREFIX, decodeToken, encodeToken, type TokenCredit } from '../protocol/credits/token.ts';
import { SpareCyclesError } from '../protocol/errors.ts';

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new SpareCyclesError('INTERNAL', `generate-vectors-tokens: ${what}`);
}

const bytes32 = (label: string) => sha512(utf8(`sparecycles/test-vector/tokens/${label}`)).subarray(0, 32);
const keysetA = deriveKeyset(nobleCurve, bytes32('keyset/a'));
const keysetB = deriveKeyset(nobleCurve, bytes32('keyset/b'));

function credit(keyset: Keyset, amount: number, label: string): TokenCredit {
  const x = bytes32(`x/${label}`);
  return { keyset: keyset.id, amount, x, C: nobleCurve.mul(keyset.secrets.get(amount)!, hashToCurve(nobleCurve, x)) };
}

const creditJson = (c: TokenCredit) => ({ keyset: toHex(c.keyset), amount: c.amount, x: toHex(c.x), C: toHex(c.C) });
/** The dictionary a token bencodes, for building malformed ones. */
const dictOf = (mint: string, credits: TokenCredit[]) => ({
  v: 1,
  m: mint,
  p: credits.map((c) => ({ k: c.keyset, a: c.amount, x: c.x, C: c.C })),
});
const base64url = (bytes: Uint8Array) => toBase64(bytes).replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_');
const tokenOf = (value: BInput) => TOKEN_PREFIX + base64url(encode(value));

// ---- Valid ---------------------------------------------------------------------------------

const validCases: { name: string; mint: string; credits: TokenCredit[] }[] = [
  { name: 'one credit', mint: 'http://127.0.0.1:8300', credits: [credit(keysetA, 1, 'one')] },
  {
    name: 'several credits of two keysets',
    mint: 'https://mint.example.org/sparecycles',
    credits: [credit(keysetA, 8, 'a8'), credit(keysetA, 4, 'a4'), credit(keysetA, 1, 'a1'), credit(keysetB, 2, 'b2')],
  },
  { name: 'the largest denomination', mint: 'https://mint.example.org', credits: [credit(keysetB, DENOMINATIONS.at(-1)!, 'largest')] },
  {
    name: 'a mint URL of the longest length',
    mint: `https://${'m'.repeat(MESSAGE_LIMITS.mintUrlBytes - 8)}`,
    credits: [credit(keysetA, 2, 'long-url')],
  },
];

const valid = validCases.map(({ name, mint, credits }) => {
  const token = encodeToken(mint, credits);
  const bencode = encode(dictOf(mint, credits));
  check(token === TOKEN_PREFIX + base64url(bencode), `${name}: the token is not the prefix and base64url of its bencoding`);
  const back = decodeToken(token);
  check(back.mint === mint && JSON.stringify(back.credits.map(creditJson)) === JSON.stringify(credits.map(creditJson)), `${name}: round trip`);
  return { name, mint, credits: credits.map(creditJson), bencode: toHex(bencode), token };
});

// ---- Invalid -------------------------------------------------------------------------------

type ErrorName = 'DecodeError' | 'SchemaError' | 'VersionError';
const invalid: { name: string; token: string; error: ErrorName; field: string | null }[] = [];

function bad(name: string, error: ErrorName, field: string | null, token: string): void {
  let thrown: { name: string; field?: string } | undefined;
  try {
    decodeToken(token);
  } catch (e) {
    thrown = e as { name: string; field?: string };
  }
  check(thrown !== undefined, `${name}: decodeToken accepted it`);
  check(thrown.name === error && (thrown.field ?? null) === field, `${name}: expected ${error} on ${field}, got ${thrown.name} on ${thrown.field}`);
  invalid.push({ name, token, error, field });
}

type Dict = Record<string, unknown>;
const base = validCases[1]!;
const baseToken = valid[1]!.token;
/** A token whose dictionary `edit` changed. */
const tamper = (edit: (d: Dict, p: Dict[]) => void) => {
  const d = dictOf(base.mint, base.credits) as unknown as Dict;
  edit(d, d.p as Dict[]);
  return tokenOf(d as BInput);
};

bad('empty', 'DecodeError', 'token', '');
bad('a Cashu token', 'DecodeError', 'token', `cashuA${baseToken.slice(TOKEN_PREFIX.length)}`);
bad('the prefix in upper case', 'DecodeError', 'token', TOKEN_PREFIX.toUpperCase() + baseToken.slice(TOKEN_PREFIX.length));
bad('the prefix alone', 'DecodeError', null, TOKEN_PREFIX);
bad('base64 padding', 'DecodeError', 'token', `${valid[0]!.token}==`);
const at = TOKEN_PREFIX.length + 5;
bad('a character of standard base64 (+)', 'DecodeError', 'token', `${baseToken.slice(0, at)}+${baseToken.slice(at + 1)}`);
bad('a character outside base64url', 'DecodeError', 'token', `${baseToken.slice(0, at)}.${baseToken.slice(at + 1)}`);
{
  const payload = baseToken.slice(TOKEN_PREFIX.length);
  bad('a length of 4n + 1', 'DecodeError', 'token', `${TOKEN_PREFIX}${payload.slice(0, payload.length - (payload.length % 4))}A`);
}
{
  // The last character of an unpadded 4n+2 or 4n+3 string holds trailing bits that must be zero.
  const withTail = valid.find((v) => (v.token.length - TOKEN_PREFIX.length) % 4 !== 0);
  check(withTail !== undefined, 'no valid token has trailing bits to spoil');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(withTail.token.at(-1)!);
  bad('nonzero trailing bits', 'DecodeError', 'token', withTail.token.slice(0, -1) + alphabet[last ^ 1]);
}
bad('bytes after the dictionary', 'DecodeError', null, TOKEN_PREFIX + base64url(concatBytes(encode(dictOf(base.mint, base.credits) as BInput), utf8('e'))));
{
  // Keys out of order: `v` before `m`.
  const body = `d1:vi1e1:m${base.mint.length}:${base.mint}1:plee`;
  bad('dictionary keys out of order', 'DecodeError', null, TOKEN_PREFIX + base64url(utf8(body)));
}
bad('a list instead of a dictionary', 'SchemaError', 'token', tokenOf([1, 2, 3]));
bad('version 2', 'VersionError', 'token.v', tamper((d) => (d.v = 2)));
bad('version 0', 'VersionError', 'token.v', tamper((d) => (d.v = 0)));
bad('the version as text', 'SchemaError', 'token.v', tamper((d) => (d.v = '1')));
bad('no version', 'SchemaError', 'token.v', tamper((d) => delete d.v));
bad('no mint', 'SchemaError', 'token.m', tamper((d) => delete d.m));
bad('a mint that is not http(s)', 'SchemaError', 'token.m', tamper((d) => (d.m = 'ftp://mint.example.org')));
bad('a mint URL with a space', 'SchemaError', 'token.m', tamper((d) => (d.m = 'https://mint.example.org/a b')));
bad('a mint URL one byte too long', 'SchemaError', 'token.m', tamper((d) => (d.m = `https://${'m'.repeat(MESSAGE_LIMITS.mintUrlBytes - 7)}`)));
bad('no credits list', 'SchemaError', 'token.p', tamper((d) => delete d.p));
bad('an empty credits list', 'SchemaError', 'token.p', tamper((d) => (d.p = [])));
bad('an unknown top-level field', 'SchemaError', 'token.z', tamper((d) => (d.z = 1)));
bad('a credit that is a list', 'SchemaError', 'token.p[1]', tamper((_, p) => ((p as unknown[])[1] = [1])));
bad('a keyset id of 7 bytes', 'SchemaError', 'token.p[0].k', tamper((_, p) => (p[0]!.k = (p[0]!.k as Uint8Array).subarray(0, 7))));
bad('a keyset id of 9 bytes', 'SchemaError', 'token.p[0].k', tamper((_, p) => (p[0]!.k = new Uint8Array(9))));
bad('amount 0', 'SchemaError', 'token.p[0].a', tamper((_, p) => (p[0]!.a = 0)));
bad('amount −1', 'SchemaError', 'token.p[0].a', tamper((_, p) => (p[0]!.a = -1)));
bad('amount 3, not a power of two', 'SchemaError', 'token.p[0].a', tamper((_, p) => (p[0]!.a = 3)));
bad('amount 2^24, beyond the largest denomination', 'SchemaError', 'token.p[0].a', tamper((_, p) => (p[0]!.a = 2 ** 24)));
bad('an amount as text', 'SchemaError', 'token.p[2].a', tamper((_, p) => (p[2]!.a = '1')));
bad('a secret of 31 bytes', 'SchemaError', 'token.p[0].x', tamper((_, p) => (p[0]!.x = (p[0]!.x as Uint8Array).subarray(0, 31))));
bad('a secret that is an integer', 'SchemaError', 'token.p[3].x', tamper((_, p) => (p[3]!.x = 7)));
bad('C of 33 bytes', 'SchemaError', 'token.p[1].C', tamper((_, p) => (p[1]!.C = new Uint8Array(33))));
bad('a credit without C', 'SchemaError', 'token.p[1].C', tamper((_, p) => delete p[1]!.C));
bad('an unknown field in a credit', 'SchemaError', 'token.p[0].z', tamper((_, p) => (p[0]!.z = 0)));
bad('the same secret twice', 'SchemaError', 'token.p[3].x', tamper((_, p) => (p[3]!.x = p[0]!.x)));
bad(
  'the same credit twice',
  'SchemaError',
  'token.p[1].x',
  tamper((d, p) => (d.p = [p[0], p[0]])),
);

const file = {
  description:
    'SpareCycles credit tokens: `token` is TOKEN_PREFIX followed by the unpadded base64url of `bencode`, the canonical ' +
    'bencoding of { v: 1, m: mint, p: [{ k: keyset id, a: amount, x: secret, C: signature }] } (bytes as hex here). ' +
    'Each C is k·hash_to_curve(x) under a keyset derived from a labelled seed. `invalid` tokens must make decodeToken ' +
    'raise `error` on `field` (null: the bencode decoder names no field).',
  generatedBy: 'npx tsx scripts/generate-vectors-tokens.ts',
  prefix: TOKEN_PREFIX,
  valid,
  invalid,
};

const path = fileURLToPath(new URL('../test/vectors/tokens.json', import.meta.url));
writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
console.log(`wrote ${valid.length} valid and ${invalid.length} invalid token vectors to ${path}`);
