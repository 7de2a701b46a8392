// Asks an edge relay for offers over WebSocket (protocol/messages/relay.ts)
// and keeps only those that verify under their own tasker key: a relay can
// withhold an offer, never forge one. Platform-neutral: the browser passes
// its WebSocket, Node tests pass the `ws` package's.

import { LIMITS, type ErrorCode, type RelayErrorCode } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { SpareCyclesError, type ErrorDetails } from '../protocol/errors.ts';
import { decodeMessage, encodeMessage, verifyMessage } from '../protocol/messages/index.ts';
import type { Message, Offer } from '../protocol/messages/index.ts';

interface SocketLike {
  binaryType: string;
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onclose: (() => void) | null;
  send(data: Uint8Array): void;
  close(): void;
}

export type SocketConstructor = new (url: string) => SocketLike;

/** The relay could not be reached (NETWORK), gave no answer in time (TIMEOUT), sent one that does not read (DECODE, …), or refused. */
export class RelayError extends SpareCyclesError {
  constructor(code: ErrorCode, message: string, details?: ErrorDetails) {
    super(code, message, details);
  }
}

/** A relay-error's code as ours; a code this implementation does not know is the relay's own business. */
const REFUSALS: Record<RelayErrorCode, ErrorCode> = {
  BAD_REQUEST: 'PROTOCOL',
  RATE_LIMITED: 'RATE_LIMITED',
  UNAVAILABLE: 'NETWORK',
  INTERNAL: 'INTERNAL',
};

export interface RelayOffers {
  offers: Offer[];
  /** Offers the relay sent that did not decode or verify. */
  refused: number;
}

export function fetchOffersFromRelay(options: {
  url: string;
  backend: CryptoBackend;
  WebSocket?: SocketConstructor;
  timeoutMs?: number;
}): Promise<RelayOffers> {
  const Socket = options.WebSocket ?? (globalThis as unknown as { WebSocket: SocketConstructor }).WebSocket;
  const id = options.backend.randomBytes(8);
  return new Promise((resolve, reject) => {
    const socket = new Socket(options.url);
    socket.binaryType = 'arraybuffer';
    const timeoutMs = options.timeoutMs ?? 15_000;
    const timer = setTimeout(() => finish(new RelayError('TIMEOUT', `expected an answer from ${options.url} within ${timeoutMs} ms, got none`)), timeoutMs);
    let settled = false;
    const finish = (result: RelayOffers | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    socket.onopen = () => socket.send(encodeMessage({ t: 'relay-find', v: 1, id } as Message));
    socket.onerror = () => finish(new RelayError('NETWORK', `cannot reach the relay at ${options.url}`));
    socket.onclose = () => finish(new RelayError('NETWORK', `the relay at ${options.url} closed the connection before answering`));
    socket.onmessage = (event) => {
      let answer: Message;
      try {
        const data = event.data instanceof ArrayBuffer ? new Uint8Array(event.data) : (event.data as Uint8Array);
        answer = decodeMessage(new Uint8Array(data), { maxBytes: LIMITS.messageBytes });
      } catch (error) {
        const code = error instanceof SpareCyclesError ? error.code : 'DECODE';
        finish(new RelayError(code, `the relay sent a malformed answer: ${(error as Error).message}`, { cause: error }));
        return;
      }
      if (answer.t === 'relay-error') {
        const code = Object.hasOwn(REFUSALS, answer.code) ? REFUSALS[answer.code as RelayErrorCode] : 'NETWORK';
        finish(new RelayError(code, `the relay refused: ${answer.code} ${answer.message}`));
      } else if (answer.t === 'relay-offers') finish(verifiedOffers(options.backend, answer.offers));
    };
  });
}

function verifiedOffers(backend: CryptoBackend, encoded: Uint8Array[]): RelayOffers {
  const offers: Offer[] = [];
  let refused = 0;
  for (const bytes of encoded) {
    try {
      const message = decodeMessage(bytes);
      if (message.t === 'offer') {
        verifyMessage(backend, message);
        offers.push(message);
      } else refused++;
    } catch {
      refused++;
    }
  }
  return { offers, refused };
}

/** The offer a volunteer should take: units left, not expired, best paid. */
export function chooseOffer(offers: Offer[], nowSeconds = Date.now() / 1000): Offer | undefined {
  return offers
    .filter((o) => o.left > 0 && o.deadline > nowSeconds)
    .sort((a, b) => b.price - a.price || b.left - a.left)[0];
}
