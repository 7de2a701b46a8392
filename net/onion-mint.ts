// A mint reached only through onion routes (stealth mode): every request is
// an Oblivious HTTP request sealed to the mint (net/mint-client.ts), handed
// in an exit envelope to a relay whose exit policy lists the mint, and
// answered on a reply block back to a mailbox of ours. The mint sees the
// exit; the exit sees a sealed request and a reply block; the first relay
// sees our address and a packet it cannot read.
//
// A request that gets no answer is sent again, on a new route, with the
// very same sealed bytes: the mint answers a repeated request as it answered
// the first (request ids, docs/mint-api.md), so a lost answer neither pays
// twice nor loses a credit. Requests that can wait (redeem, swap) may be
// held back first for a random, exponentially distributed time, so that
// their timing at the mint says little about when their credits were earned.

import { fromBase64 } from '../protocol/bytes.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { DecodeError, NetworkError, SpareCyclesError, TimeoutError } from '../protocol/errors.ts';
import type { ObliviousKeysJson } from '../protocol/mint-api.ts';
import { decodeKeyConfigs, type KeyConfig } from '../protocol/oblivious.ts';
import { canonicalOrigin, encodeEnvelope, MAX_ENVELOPE_BODY, mintExitId } from '../protocol/onion/envelope.ts';
import { MintClient } from './mint-client.ts';
import type { OnionClient } from './onion-client.ts';
import type { PathHop } from './relay-view.ts';

/**
 * Credits per redeem or swap through a route: a sealed request must fit one
 * packet, and a swap's answer (a blind signature and its proof per output)
 * one more. Eight credits, and the outputs of their sum, fit both.
 */
export const ONION_MINT_BATCH = 8;

export interface OnionMintOptions {
  backend: CryptoBackend;
  client: OnionClient;
  /** The mint's URL; its origin is what exits list. */
  url: string;
  /** How long one try waits for its answer. */
  tryMs?: number;
  /** Tries, each on a new route, before the request fails. */
  tries?: number;
  /** Milliseconds to hold each request back before it goes; none unless given (see poissonDelay). */
  delay?: () => number;
}

/** Waits drawn from an exponential distribution of mean `meanMs`: the gaps of a Poisson process. */
export function poissonDelay(meanMs: number, random: () => number = Math.random): () => number {
  return () => -Math.log(1 - random()) * meanMs;
}

export class OnionMint {
  readonly origin: string;
  readonly #o: OnionMintOptions;

  constructor(options: OnionMintOptions) {
    this.#o = options;
    this.origin = canonicalOrigin(new URL(options.url).origin);
  }

  /** The mint's key configuration, asked through an exit (an envelope with an empty body). */
  async keyConfig(): Promise<KeyConfig> {
    const answer = await this.#request(new Uint8Array(0));
    try {
      const json = JSON.parse(new TextDecoder().decode(answer)) as Partial<ObliviousKeysJson>;
      if (typeof json.keys !== 'string') throw new DecodeError('keys: expected base64');
      return decodeKeyConfigs(fromBase64(json.keys))[0]!;
    } catch (cause) {
      throw new NetworkError(`the mint's key configuration came back through the exit unreadable: ${(cause as Error).message}`, { cause });
    }
  }

  /** A MintClient whose every request goes sealed through routes. */
  async mintClient(): Promise<MintClient> {
    const keyConfig = await this.keyConfig();
    const tries = this.#o.tries ?? 4;
    const tryMs = this.#o.tryMs ?? 15_000;
    return new MintClient(this.#o.url, {
      // The client's own deadline covers every try and the wait before the first.
      timeoutMs: tries * tryMs + 10 * 60_000,
      oblivious: { keyConfig, backend: this.#o.backend, send: (sealed) => this.send(sealed) },
    });
  }

  /** Carries one sealed request and brings its sealed answer back. */
  async send(sealed: Uint8Array): Promise<Uint8Array> {
    if (sealed.length === 0 || sealed.length > MAX_ENVELOPE_BODY) {
      throw new SpareCyclesError('TOO_LARGE', `a sealed mint request of ${sealed.length} bytes does not fit one packet (1..${MAX_ENVELOPE_BODY}); send fewer credits at once`);
    }
    const wait = this.#o.delay?.() ?? 0;
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return this.#request(sealed);
  }

  async #request(body: Uint8Array): Promise<Uint8Array> {
    const tries = this.#o.tries ?? 4;
    let last: SpareCyclesError | undefined;
    for (let i = 0; i < tries; i++) {
      let route: PathHop[] | undefined;
      try {
        route = await this.#o.client.view.choosePath({ mint: this.origin });
        return await this.#try(route, body);
      } catch (error) {
        last = error instanceof SpareCyclesError ? error : new NetworkError((error as Error).message, { cause: error });
        // The middle relay is where a lost request most likely died; an unreachable first hop was reported already.
        if (route && last.code === 'TIMEOUT') this.#o.client.view.reportFailure(route[1]!.id);
        if (last.code === 'NOT_FOUND') break;
      }
    }
    throw last ?? new NetworkError('no try was made');
  }

  #try(route: PathHop[], body: Uint8Array): Promise<Uint8Array> {
    const { client } = this.#o;
    const tryMs = this.#o.tryMs ?? 15_000;
    const home = route[0]!;
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(`no answer from the mint through the exit within ${tryMs} ms`)), tryMs);
      const done = (answer: Uint8Array) => {
        clearTimeout(timer);
        resolve(answer);
      };
      (async () => {
        const mailbox = await client.replyMailbox(home.id);
        // The answer comes back from the exit, through the same middle, to our mailbox at the first hop.
        const surb = client.makeSurb([route[2]!, route[1]!, home], home.epoch, mailbox, done);
        await client.send(route, mintExitId(this.#o.backend, this.origin), encodeEnvelope({ surb, body }), home.epoch);
      })().catch((error: unknown) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }
}
