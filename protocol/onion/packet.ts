// A forward packet: a header whose last hop delivers, and the message
// under one LIONESS layer per hop, put on from the last hop to the first so
// that each hop peels its own.

import type { CryptoBackend } from '../crypto/backend.ts';
import { SchemaError } from '../errors.ts';
import { joinPacket } from './codec.ts';
import { buildHeader, type OnionHop } from './header.ts';
import { ADDRESS_BYTES } from './layout.ts';
import { lionessEncrypt } from './lioness.ts';
import { encodePayload } from './payload.ts';
import { copyBytes } from '../bytes.ts';

export interface ForwardSpec {
  readonly epoch: number;
  /** Relays in order; the last one delivers. At most ONION.maxHops. */
  readonly route: readonly OnionHop[];
  /** Where the last hop delivers the message: a 32-byte id its process understands. */
  readonly destination: Uint8Array;
  readonly message: Uint8Array;
  /** The packet's ephemeral secret; random unless given (test vectors give one). */
  readonly ephemeral?: Uint8Array;
}

export interface Outgoing {
  /** The relay to send `packet` to: the route's first. */
  readonly firstHop: Uint8Array;
  readonly packet: Uint8Array;
}

export function createPacket(backend: CryptoBackend, spec: ForwardSpec): Outgoing {
  if (!(spec.destination instanceof Uint8Array) || spec.destination.length !== ADDRESS_BYTES) {
    throw new SchemaError(`destination: expected ${ADDRESS_BYTES} bytes`, { field: 'destination' });
  }
  let payload = encodePayload(spec.message);
  const { header, payloadKeys } = buildHeader(backend, {
    epoch: spec.epoch,
    route: spec.route,
    last: { command: 'deliver', address: spec.destination, surbId: new Uint8Array(16) },
    ephemeral: spec.ephemeral ?? backend.randomBytes(32),
  });
  for (let i = payloadKeys.length - 1; i >= 0; i--) payload = lionessEncrypt(backend, payloadKeys[i]!, payload);
  return { firstHop: copyBytes(spec.route[0]!.id), packet: joinPacket(header, payload) };
}
