// The client end of a mint's HTTP API (protocol/mint-api.ts), for the tasker,
// `cycles redeem` and the extension. Browser-safe: fetch only.

import { toHex } from '../protocol/bytes.ts';
import type { MessageType } from '../protocol/constants.ts';
import { keysetFromJson, type PublicKeyset } from '../protocol/credits/keyset.ts';
import type { CreditCurve } from '../protocol/credits/curve.ts';
import { fromErrorRecord, isErrorCode, MintError, NetworkError, TimeoutError, type ErrorRecord } from '../protocol/errors.ts';
import { decodeMessage, type Message, type MessageOf } from '../protocol/messages/index.ts';
import { messageBody, messageBytesOf, ROUTES, type MintInfo, type PublishedKeyset, type SpendState } from '../protocol/mint-api.ts';

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

  /**
   * One request. A refusal throws the mint's own typed error (MintError, or
   * the SchemaError, SignatureError, … it names); a mint that cannot be
   * reached, or answers outside its API, throws NetworkError (with the HTTP
   * status, if any) or TimeoutError. A RATE_LIMITED refusal is a MintError
   * whose message says when to retry (the answer's Retry-After).
   */
  async #call(path: string, body?: string): Promise<unknown> {
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(this.url + path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await res.text();
    } catch (cause) {
      if ((cause as Error)?.name === 'TimeoutError') throw new TimeoutError(`${path}: expected an answer from ${this.url} within ${this.#timeoutMs} ms, got none`, { cause });
      throw new NetworkError(`${path}: cannot reach the mint at ${this.url}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new NetworkError(`${path}: expected JSON from the mint, got HTTP ${res.status} with something else`, { status: res.status });
    }
    if (!res.ok) {
      const record = (json as { error?: Partial<ErrorRecord> } | null)?.error;
      if (record && isErrorCode(record.code)) {
        const message = `${path}: ${typeof record.message === 'string' ? record.message : `HTTP ${res.status}`}`;
        throw fromErrorRecord({ code: record.code, message, ...(typeof record.field === 'string' ? { field: record.field } : {}) });
      }
      throw new NetworkError(`${path}: expected a typed refusal from the mint, got HTTP ${res.status}`, { status: res.status });
    }
    return json;
  }

  async #message<T extends MessageType>(path: string, msg: Message, type: T): Promise<MessageOf<T>> {
    const json = await this.#call(path, messageBody(msg));
    let answer: Message;
    try {
      answer = decodeMessage(messageBytesOf(json));
    } catch (cause) {
      // The mint's bytes, not ours: an answer outside its API, as a transport fault would be.
      throw new NetworkError(`${path}: expected a ${type} message from the mint, got one that does not read: ${(cause as Error).message}`, { status: 200, cause });
    }
    if (answer.t !== type) throw new NetworkError(`${path}: expected a ${type} answer, got ${answer.t}`, { status: 200 });
    return answer as MessageOf<T>;
  }

  /** The mint's id, which a deposit for it names, and how far a deposit's ts may be from the mint's clock. */
  async info(): Promise<MintInfo> {
    const json = (await this.#call(ROUTES.info)) as Partial<MintInfo> | null;
    if (typeof json?.mint !== 'string' || !/^[0-9a-f]{32}$/.test(json.mint) || typeof json.depositWindowMs !== 'number') {
      throw new NetworkError(`${ROUTES.info}: expected { mint: 32 hex digits, depositWindowMs }, got something else`, { status: 200 });
    }
    return { mint: json.mint, depositWindowMs: json.depositWindowMs };
  }

  async keysets(): Promise<PublishedKeyset[]> {
    const json = (await this.#call(ROUTES.keys)) as { keysets?: PublishedKeyset[] };
    if (!Array.isArray(json.keysets)) throw new NetworkError(`${ROUTES.keys}: expected { keysets: [...] }, got ${typeof json.keysets}`, { status: 200 });
    return json.keysets;
  }

  /** The active keyset, its id checked against its keys. */
  async activeKeyset(curve: CreditCurve): Promise<PublicKeyset> {
    const active = (await this.keysets()).find((k) => k.active);
    if (!active) throw new NetworkError(`${ROUTES.keys}: expected an active keyset, got none`, { status: 200 });
    return keysetFromJson(curve, active);
  }

  async keyset(curve: CreditCurve, id: Uint8Array): Promise<PublicKeyset> {
    const found = (await this.keysets()).find((k) => k.id === toHex(id));
    if (!found) throw new MintError('UNKNOWN_KEYSET', `${ROUTES.keys}: the mint has no keyset ${toHex(id)}`, { field: 'keyset' });
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
    if (!Array.isArray(json.states) || json.states.length !== Ys.length) {
      throw new NetworkError(`${ROUTES.state}: expected ${Ys.length} states, got ${Array.isArray(json.states) ? json.states.length : typeof json.states}`, { status: 200 });
    }
    return json.states.map((s) => s.state);
  }

  /** An account's balance; undefined when the mint has no such account. */
  async balance(account: string): Promise<number | undefined> {
    try {
      return ((await this.#call(ROUTES.accounts + encodeURIComponent(account))) as { balance: number }).balance;
    } catch (error) {
      if (error instanceof MintError && error.code === 'UNKNOWN_ACCOUNT') return undefined;
      throw error;
    }
  }
}
