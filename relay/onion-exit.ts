// The mint exit: the relay end of a route to a mint (docs/relay-onion.md).
// The relay's exit policy lists mint origins; each is reached at the
// destination id sha256(label ‖ origin). What arrives is an exit envelope
// (protocol/onion/envelope.ts): the exit POSTs its body, an Oblivious HTTP
// request sealed to the mint so the exit cannot read it, to the mint's
// oblivious endpoint, and sends the answer back on the envelope's reply
// block, in one packet. A longer answer is refused (TOO_LARGE) until
// messages are cut into several packets. An envelope with an empty body
// asks for the mint's public key configuration (GET /v1/oblivious-keys), so
// a stealth client learns what to seal to without ever meeting the mint. The
// exit keeps no record of requests beyond the count in flight.

import { ONION_RELAY } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { NetworkError, SpareCyclesError, TimeoutError } from '../protocol/errors.ts';
import { ROUTES } from '../protocol/mint-api.ts';
import { canonicalOrigin, decodeEnvelope, mintExitId } from '../protocol/onion/envelope.ts';
import { MAX_MESSAGE_BYTES } from '../protocol/onion/index.ts';
import type { ExitAnswer, ExitRegistry } from './onion-router.ts';

export interface MintExitOptions {
  backend: CryptoBackend;
  /** The mints this exit delivers to: http(s) origins, as URL.origin writes them. */
  origins: readonly string[];
  /** Deadline of one POST to a mint. */
  timeoutMs?: number;
  /** POSTs in flight at once; more are refused (BUSY). */
  maxInFlight?: number;
  /** The fetch to use; the global one unless given. */
  fetch?: typeof fetch;
}

export class MintExit {
  readonly #backend: CryptoBackend;
  readonly #origins: readonly string[];
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  readonly #fetch: typeof fetch;
  readonly #abort = new AbortController();
  #inFlight = 0;

  constructor(options: MintExitOptions) {
    this.#backend = options.backend;
    this.#origins = options.origins.map(canonicalOrigin);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxInFlight = options.maxInFlight ?? 64;
    this.#fetch = options.fetch ?? fetch;
  }

  /** Plugs one handler per mint into the relay's exits. */
  register(exits: ExitRegistry): void {
    for (const origin of this.#origins) {
      exits.set(mintExitId(this.#backend, origin), (message, answer) => this.#handle(origin, message, answer));
    }
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Abandons the POSTs in flight. */
  stop(): void {
    this.#abort.abort();
  }

  async #handle(origin: string, message: Uint8Array, answer: ExitAnswer): Promise<void> {
    const envelope = decodeEnvelope(message);
    if (this.#inFlight >= this.#maxInFlight) throw new SpareCyclesError('BUSY', `mint exit: ${this.#maxInFlight} requests in flight already`);
    this.#inFlight++;
    try {
      const body = await this.#post(origin, envelope.body.length === 0 ? undefined : envelope.body);
      if (this.#abort.signal.aborted) return;
      answer(envelope.surb, body);
    } finally {
      this.#inFlight--;
    }
  }

  /** POSTs a sealed request; without one, GETs the mint's key configuration. */
  async #post(origin: string, body: Uint8Array | undefined): Promise<Uint8Array> {
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#timeoutMs)]);
    let res: Response;
    try {
      res = await this.#fetch(
        body === undefined ? `${origin}${ROUTES.obliviousKeys}` : `${origin}${ONION_RELAY.mintExitPath}`,
        body === undefined
          ? { method: 'GET', signal, redirect: 'error' }
          : {
              method: 'POST',
              headers: { 'content-type': ONION_RELAY.exitRequestType, accept: ONION_RELAY.exitResponseType },
              // A copy on its own ArrayBuffer: what fetch's types take as a body.
              body: new Uint8Array(body),
              signal,
              redirect: 'error',
            },
      );
    } catch (cause) {
      if (signal.aborted && !this.#abort.signal.aborted) throw new TimeoutError(`mint exit: no answer within ${this.#timeoutMs} ms`, { cause });
      throw new NetworkError('mint exit: the mint could not be reached', { cause });
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new NetworkError(`mint exit: the mint answered ${res.status}`, { status: res.status });
    }
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_MESSAGE_BYTES) {
      await res.body?.cancel().catch(() => {});
      throw tooLarge(declared);
    }
    return readCapped(res);
  }
}

/** The body, read no further than one packet's worth, so a mint cannot make the exit buffer much. */
async function readCapped(res: Response): Promise<Uint8Array> {
  const out = new Uint8Array(MAX_MESSAGE_BYTES);
  let length = 0;
  if (!res.body) return out.slice(0, 0);
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out.slice(0, length);
    if (length + value.length > MAX_MESSAGE_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge(length + value.length);
    }
    out.set(value, length);
    length += value.length;
  }
}

function tooLarge(bytes: number): SpareCyclesError {
  return new SpareCyclesError('TOO_LARGE', `mint exit: an answer of ${bytes} bytes does not fit one packet (${MAX_MESSAGE_BYTES})`);
}
