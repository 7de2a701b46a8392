// The client end of a mint's HTTP API (protocol/mint-api.ts), for the tasker,
// `cycles redeem` and the extension. Browser-safe: fetch only.
//
// Plain by default. In oblivious mode every request is sealed to the mint's
// pinned key configuration (protocol/oblivious.ts) and handed to a `send`
// transport: a direct POST to /v1/oblivious unless another is given (an
// onion route), so whoever carries it sees only ciphertext and sizes.

import { fromBase64, fromUtf8, toHex, utf8 } from '../protocol/bytes.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { nobleCrypto } from '../protocol/crypto/noble.ts';
import type { MessageType } from '../protocol/constants.ts';
import { keysetFromJson, type PublicKeyset } from '../protocol/credits/keyset.ts';
import type { CreditCurve } from '../protocol/credits/curve.ts';
import { DecodeError, fromErrorRecord, isErrorCode, MintError, NetworkError, SpareCyclesError, TimeoutError, type ErrorRecord } from '../protocol/errors.ts';
import { decodeMessage, type Message, type MessageOf } from '../protocol/messages/index.ts';
import { messageBody, messageBytesOf, ROUTES, type MintInfo, type ObliviousKeysJson, type PublishedKeyset, type SpendState } from '../protocol/mint-api.ts';
import {
  decapsulateResponse,
  decodeInnerResponse,
  decodeKeyConfigs,
  encapsulateRequest,
  encodeInnerRequest,
  OBLIVIOUS,
  type KeyConfig,
} from '../protocol/oblivious.ts';

/** Carries an encapsulated request to the mint and brings its encapsulated answer back. */
export type ObliviousSend = (request: Uint8Array) => Promise<Uint8Array>;

export interface ObliviousOptions {
  /** The mint's key configuration, pinned: fetched once (MintClient.obliviousKeyConfig) and kept. */
  keyConfig: KeyConfig;
  /** The transport; a direct POST to the mint's /v1/oblivious unless given. */
  send?: ObliviousSend;
  /** X25519 and randomness for sealing; @noble/curves unless given. */
  backend?: CryptoBackend;
}

export interface MintClientOptions {
  fetch?: typeof fetch;
  /** Per-request deadline. */
  timeoutMs?: number;
  /** Seal every request to the mint (see the top of this file); plain HTTP unless set. */
  oblivious?: ObliviousOptions;
}

interface Reply {
  status: number;
  text: string;
}

/** A mint's HTTP API. Retrying a request with the same message is safe: the mint answers it once. */
export class MintClient {
  readonly url: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #oblivious: Required<ObliviousOptions> | undefined;

  constructor(url: string, options: MintClientOptions = {}) {
    this.url = url.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    const o = options.oblivious;
    this.#oblivious = o && { keyConfig: o.keyConfig, send: o.send ?? ((bytes) => this.#post(bytes)), backend: o.backend ?? nobleCrypto };
  }

  /** Whether requests go sealed. */
  get oblivious(): boolean {
    return this.#oblivious !== undefined;
  }

  /**
   * The mint's key configuration for sealed requests (GET /v1/oblivious-keys),
   * to pin and hand to `oblivious`. Asked in the clear: it is public, and the
   * same for every client.
   */
  async obliviousKeyConfig(): Promise<KeyConfig> {
    const json = (await this.#call(ROUTES.obliviousKeys)) as Partial<ObliviousKeysJson> | null;
    try {
      if (typeof json?.keys !== 'string') throw new DecodeError('keys: expected base64');
      return decodeKeyConfigs(fromBase64(json.keys))[0]!;
    } catch (cause) {
      throw new NetworkError(`${ROUTES.obliviousKeys}: expected { keys: base64 of a key configuration we can seal to }, got one that does not read: ${(cause as Error).message}`, { status: 200, cause });
    }
  }

  /** One request and its answer's status and text, in the clear or sealed. */
  async #exchange(path: string, body?: string): Promise<Reply> {
    if (this.#oblivious) return this.#sealed(path, body);
    try {
      const res = await this.#fetch(this.url + path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      return { status: res.status, text: await res.text() };
    } catch (cause) {
      throw this.#unreachable(path, cause);
    }
  }

  #unreachable(path: string, cause: unknown): Error {
    if (cause instanceof SpareCyclesError) return cause;
    if ((cause as Error)?.name === 'TimeoutError') return new TimeoutError(`${path}: expected an answer from ${this.url} within ${this.#timeoutMs} ms, got none`, { cause });
    return new NetworkError(`${path}: cannot reach the mint at ${this.url}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }

  /** The request sealed and sent; the answer opened. An answer that does not open is the carrier's fault, never the mint's refusal. */
  async #sealed(path: string, body?: string): Promise<Reply> {
    const o = this.#oblivious!;
    const inner = encodeInnerRequest({ method: body === undefined ? 'GET' : 'POST', path, body: utf8(body ?? '') });
    const { encapsulated, context } = encapsulateRequest(o.backend, o.keyConfig, inner);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let sealedAnswer: Uint8Array;
    try {
      sealedAnswer = await Promise.race([
        o.send(encapsulated),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TimeoutError(`${path}: expected a sealed answer within ${this.#timeoutMs} ms, got none`)), this.#timeoutMs);
        }),
      ]);
    } catch (cause) {
      throw this.#unreachable(path, cause);
    } finally {
      clearTimeout(timer);
    }
    try {
      const answer = decodeInnerResponse(decapsulateResponse(context, sealedAnswer));
      return { status: answer.status, text: fromUtf8(answer.body) };
    } catch (cause) {
      throw new NetworkError(`${path}: expected a sealed answer from the mint, got one that does not open or read: ${(cause as Error).message}`, { status: 200, cause });
    }
  }

  /** The default transport: the sealed bytes POSTed to the mint's /v1/oblivious. A refusal of the envelope itself comes back in the clear. */
  async #post(request: Uint8Array): Promise<Uint8Array> {
    const res = await this.#fetch(this.url + ROUTES.oblivious, {
      method: 'POST',
      headers: { 'content-type': OBLIVIOUS.requestType },
      body: request as Uint8Array<ArrayBuffer>,
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (res.ok && (res.headers.get('content-type') ?? '').startsWith(OBLIVIOUS.responseType)) return bytes;
    throw refusalOf(ROUTES.oblivious, { status: res.status, text: new TextDecoder().decode(bytes) });
  }

  /**
   * One request. A refusal throws the mint's own typed error (MintError, or
   * the SchemaError, SignatureError, … it names); a mint that cannot be
   * reached, or answers outside its API, throws NetworkError (with the HTTP
   * status, if any) or TimeoutError. A RATE_LIMITED refusal is a MintError
   * whose message says when to retry (the answer's Retry-After).
   */
  async #call(path: string, body?: string): Promise<unknown> {
    const reply = await this.#exchange(path, body);
    if (reply.status < 200 || reply.status > 299) throw refusalOf(path, reply);
    try {
      return JSON.parse(reply.text);
    } catch {
      throw new NetworkError(`${path}: expected JSON from the mint, got HTTP ${reply.status} with something else`, { status: reply.status });
    }
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

/** The mint's typed refusal in an answer that is not a success; NetworkError if it names none. */
function refusalOf(path: string, reply: Reply): SpareCyclesError {
  let json: unknown;
  try {
    json = JSON.parse(reply.text);
  } catch {
    return new NetworkError(`${path}: expected JSON from the mint, got HTTP ${reply.status} with something else`, { status: reply.status });
  }
  const record = (json as { error?: Partial<ErrorRecord> } | null)?.error;
  if (record && isErrorCode(record.code)) {
    const message = `${path}: ${typeof record.message === 'string' ? record.message : `HTTP ${reply.status}`}`;
    return fromErrorRecord({ code: record.code, message, ...(typeof record.field === 'string' ? { field: record.field } : {}) });
  }
  return new NetworkError(`${path}: expected a typed refusal from the mint, got HTTP ${reply.status}`, { status: reply.status });
}
