// The client end of a mint's HTTP API (protocol/mint-api.ts), for the tasker,
// `cycles redeem` and the extension. Browser-safe: fetch only.

import { toHex } from '../protocol/bytes.ts';
import type { MessageType } from '../protocol/constants.ts';
import { keysetFromJson, type PublicKeyset } from '../protocol/credits/keyset.ts';
import type { CreditCurve } from '../protocol/credits/curve.ts';
import { fromErrorRecord, type ErrorRecord, type SpareCyclesError } from '../protocol/errors.ts';
import { decodeMessage, type Message, type MessageOf } from '../protocol/messages/index.ts';
import { messageBody, messageBytesOf, ROUTES, type PublishedKeyset, type SpendState } from '../protocol/mint-api.ts';

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
