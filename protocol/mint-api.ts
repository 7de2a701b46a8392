// The mint's HTTP API as a wire table: routes, refusal statuses and bodies,
// shared by the server (mint/) and every client (net/mint-client.ts). JSON over
// HTTP. Requests that move value carry the protocol message as base64 of its
// canonical bencoding, so a signature covers exactly one byte string;
// everything else is plain JSON. docs/mint-api.md describes it for other clients.
//
//   GET  /v1/info                 → { mint, depositWindowMs }                (the id deposits name)
//   GET  /v1/keys                 → { keysets: [{ id, active, keys: { "1": hex, … } }] }
//   POST /v1/deposit  { message } → { account, amount }             (signed deposit)
//   POST /v1/pay      { message } → { message }                     (payment → payment-ok)
//   POST /v1/redeem   { message } → { message }                     (redeem → redeem-ok)
//   POST /v1/state    { Ys: [hex] } → { states: [{ Y, state }] }    (state: "spent" | "unspent")
//   GET  /v1/accounts/<key hex>   → { account, balance }
//   GET  /v1/oblivious-keys       → { keys: base64 of application/ohttp-keys }  (oblivious.ts)
//   POST /v1/oblivious  message/ohttp-req → message/ohttp-res       (any route above, sealed)
//   GET  /health, GET /metrics
//
// A refusal is `{ error: { code, message, field? } }` with a status from
// STATUS_OF; `code` is one of constants.ts ERROR_CODES. A RATE_LIMITED
// refusal carries a Retry-After header (seconds).

import { fromBase64, fromHex, toBase64 } from './bytes.ts';
import { CREDIT_LIMITS, type ErrorCode } from './constants.ts';
import type { KeysetJson } from './credits/keyset.ts';
import { SchemaError } from './errors.ts';
import { encodeMessage, type Message } from './messages/index.ts';

export const ROUTES = {
  info: '/v1/info',
  keys: '/v1/keys',
  deposit: '/v1/deposit',
  pay: '/v1/pay',
  redeem: '/v1/redeem',
  state: '/v1/state',
  accounts: '/v1/accounts/',
  obliviousKeys: '/v1/oblivious-keys',
  oblivious: '/v1/oblivious',
} as const;

/** Largest request body the mint reads. */
export const MAX_BODY_BYTES = 128 * 1024;

/**
 * How far a deposit's `ts` may be from the mint's clock, either way. Wide
 * enough for an operator's clock that is a few minutes off and a slow send;
 * narrow enough that a deposit seen once is soon worthless everywhere.
 */
export const DEPOSIT_WINDOW_MS = 10 * 60 * 1000;

/** GET /v1/info: what a client needs to address a deposit to this mint. */
export interface MintInfo {
  /** The mint's id (hex of 16 bytes), which every deposit for it names. */
  mint: string;
  /** DEPOSIT_WINDOW_MS as this mint applies it. */
  depositWindowMs: number;
}

/**
 * GET /v1/oblivious-keys: the mint's key configurations (RFC 9458 §3.2,
 * application/ohttp-keys) as base64, for clients that seal their requests
 * (protocol/oblivious.ts). A client fetches it once and pins it.
 */
export interface ObliviousKeysJson {
  keys: string;
}

export const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  SIGNATURE: 403,
  UNAUTHORIZED: 403,
  ALREADY_SPENT: 409,
  REQUEST_REUSED: 409,
  INSUFFICIENT_FUNDS: 402,
  UNKNOWN_ACCOUNT: 404,
  UNKNOWN_KEYSET: 404,
  TOO_LARGE: 413,
  RATE_LIMITED: 429,
  NOT_FOUND: 404,
  INTERNAL: 500,
  ALREADY_SIGNED: 409,
  WRONG_MINT: 403,
  STALE: 403,
};

export interface PublishedKeyset extends KeysetJson {
  active: boolean;
}

export type SpendState = 'spent' | 'unspent';

/** The JSON form of a request or answer that carries a protocol message. */
export function messageJson(msg: Message): { message: string } {
  return { message: toBase64(encodeMessage(msg)) };
}

export function messageBody(msg: Message): string {
  return JSON.stringify(messageJson(msg));
}

/** The message bytes inside a `{ message }` body; SchemaError if there are none. */
export function messageBytesOf(json: unknown): Uint8Array {
  const m = (json as { message?: unknown } | null)?.message;
  if (typeof m !== 'string') throw new SchemaError('message: expected base64 of a bencoded message', { field: 'message' });
  try {
    return fromBase64(m);
  } catch (cause) {
    throw new SchemaError('message: expected base64', { field: 'message', cause });
  }
}

/** The Ys of a state query; SchemaError for anything else. */
export function stateQueryOf(json: unknown): Uint8Array[] {
  const Ys = (json as { Ys?: unknown } | null)?.Ys;
  if (!Array.isArray(Ys) || Ys.length === 0 || Ys.length > CREDIT_LIMITS.stateQuery) {
    throw new SchemaError(`Ys: expected 1 to ${CREDIT_LIMITS.stateQuery} hex points`, { field: 'Ys' });
  }
  return Ys.map((y, i) => {
    if (typeof y !== 'string' || !/^[0-9a-f]{64}$/.test(y)) throw new SchemaError(`Ys[${i}]: expected 64 hex digits`, { field: `Ys[${i}]` });
    return fromHex(y);
  });
}

