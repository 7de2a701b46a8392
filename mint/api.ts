// The mint's HTTP API, in one place for the server and every client (the
// tasker, `cycles redeem`, the extension). JSON over HTTP. Requests that move
// value carry the protocol message as base64 of its canonical bencoding, so
// a signature covers exactly one byte string; everything else is plain JSON.
// Browser-safe: fetch only. docs/mint-api.md describes it for other clients.
//
//   GET  /v1/keys                 → { keysets: [{ id, active, keys: { "1": hex, … } }] }
//   POST /v1/deposit  { message } → { account, amount }             (signed deposit)
//   POST /v1/pay      { message } → { message }                     (payment → payment-ok)
//   POST /v1/redeem   { message } → { message }                     (redeem → redeem-ok)
//   POST /v1/state    { Ys: [hex] } → { states: [{ Y, state }] }    (state: "spent" | "unspent")
//   GET  /v1/accounts/<name>      → { account, balance }
//   GET  /health, GET /metrics
//
// A refusal is `{ error: { code, message, field? } }` with a status from
// STATUS_OF; `code` is one of protocol/constants.ts ERROR_CODES.

import { fromBase64, fromHex, toBase64, toHex } from '../protocol/bytes.ts';
import { CREDIT_LIMITS, type ErrorCode } from '../protocol/constants.ts';
import { keysetFromJson, type KeysetJson, type PublicKeyset } from '../protocol/credits/keyset.ts';
import type { CreditCurve } from '../protocol/credits/curve.ts';
import { fromErrorRecord, SchemaError, type ErrorRecord, type SpareCyclesError } from '../protocol/errors.ts';
import { decodeMessage, encodeMessage, type Message, type MessageOf } from '../protocol/messages/index.ts';
import type { MessageType } from '../protocol/constants.ts';

export const ROUTES = {
  keys: '/v1/keys',
  deposit: '/v1/deposit',
  pay: '/v1/pay',
  redeem: '/v1/redeem',
  state: '/v1/state',
  accounts: '/v1/accounts/',
} as const;

/** Largest request body the mint reads. */
export const MAX_BODY_BYTES = 128 * 1024;

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

/** A typed refusal from the mint, or a transport failure. */
export class MintHttpError extends Error {
  readonly status: number;
  readonly error: SpareCyclesError | undefined;
  constructor(status: number, message: string, error?: SpareCyclesError) {
    super(message, error ? { cause: error } : undefined);
    this.name = 'MintHttpError';
    this.status = status;
    this.error = error;
  }
  get code(): string | undefined {
    return this.error?.code;
  }
}

export interface MintClientOptions {
  fetch?: typeof fetch;
  /** Per-request deadline. */
  timeoutMs?: number;
}

/** A mint's HTTP API. Retrying a request with the same message is safe: the mint answers it once. */
export class MintClient {
  readonly url: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(url: string, options: MintClientOptions = {}) {
    this.url = url.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  async #call(path: string, body?: string): Promise<unknown> {
    const res = await this.#fetch(this.url + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new MintHttpError(res.status, `${path}: the mint answered ${res.status} with something other than JSON`);
    }
    if (!res.ok) {
      const record = (json as { error?: ErrorRecord }).error;
      const error = record && typeof record.code === 'string' ? fromErrorRecord(record) : undefined;
      throw new MintHttpError(res.status, `${path}: ${error ? `${error.code}: ${error.message}` : `HTTP ${res.status}`}`, error);
    }
    return json;
  }

  async #message<T extends MessageType>(path: string, msg: Message, type: T): Promise<MessageOf<T>> {
    const answer = decodeMessage(messageBytesOf(await this.#call(path, messageBody(msg))));
    if (answer.t !== type) throw new MintHttpError(200, `${path}: expected a ${type} answer, got ${answer.t}`);
    return answer as MessageOf<T>;
  }

  async keysets(): Promise<PublishedKeyset[]> {
    const json = (await this.#call(ROUTES.keys)) as { keysets?: PublishedKeyset[] };
    if (!Array.isArray(json.keysets)) throw new MintHttpError(200, `${ROUTES.keys}: expected { keysets: [...] }`);
    return json.keysets;
  }

  /** The active keyset, its id checked against its keys. */
  async activeKeyset(curve: CreditCurve): Promise<PublicKeyset> {
    const active = (await this.keysets()).find((k) => k.active);
    if (!active) throw new MintHttpError(200, `${ROUTES.keys}: the mint names no active keyset`);
    return keysetFromJson(curve, active);
  }

  async keyset(curve: CreditCurve, id: Uint8Array): Promise<PublicKeyset> {
    const found = (await this.keysets()).find((k) => k.id === toHex(id));
    if (!found) throw new MintHttpError(404, `${ROUTES.keys}: the mint has no keyset ${toHex(id)}`);
    return keysetFromJson(curve, found);
  }

  async deposit(msg: MessageOf<'deposit'>): Promise<{ account: string; amount: number }> {
    return (await this.#call(ROUTES.deposit, messageBody(msg))) as { account: string; amount: number };
  }

  pay(msg: MessageOf<'payment'>): Promise<MessageOf<'payment-ok'>> {
    return this.#message(ROUTES.pay, msg, 'payment-ok');
  }

  redeem(msg: MessageOf<'redeem'>): Promise<MessageOf<'redeem-ok'>> {
    return this.#message(ROUTES.redeem, msg, 'redeem-ok');
  }

  async state(Ys: readonly Uint8Array[]): Promise<SpendState[]> {
    const json = (await this.#call(ROUTES.state, JSON.stringify({ Ys: Ys.map(toHex) }))) as { states?: { state: SpendState }[] };
    if (!Array.isArray(json.states) || json.states.length !== Ys.length) throw new MintHttpError(200, `${ROUTES.state}: expected one state per Y`);
    return json.states.map((s) => s.state);
  }

  /** An account's balance; undefined when the mint has no such account. */
  async balance(account: string): Promise<number | undefined> {
    try {
      return ((await this.#call(ROUTES.accounts + encodeURIComponent(account))) as { balance: number }).balance;
    } catch (error) {
      if (error instanceof MintHttpError && error.code === 'UNKNOWN_ACCOUNT') return undefined;
      throw error;
    }
  }
}
