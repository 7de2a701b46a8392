// Single-use reply blocks. The maker of a SURB builds a header for a route
// back to itself (its last hop hands the reply to the maker's mailbox,
// naming the SURB's id) and gives the replier that header, the first hop's
// id and a key. The replier seals its message under that key and sends it
// with the header; each relay peels a layer as it would off any packet; the
// maker, who kept every hop's payload key, puts those layers back on, opens
// its own and checks the zero tag. The replier never learns the maker's
// address, and the relays cannot tell a reply from a request until the last
// hop. The header's alpha fixes every hop's replay tag, so a second reply
// on one SURB is dropped at its first hop.

import { concatBytes, copyBytes } from '../bytes.ts';
import { ONION } from '../constants.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { DecodeError, KeyError, SchemaError, VersionError } from '../errors.ts';
import { joinPacket, readHeader } from './codec.ts';
import { buildHeader, type OnionHop } from './header.ts';
import { senderKey, surbPayloadKey } from './kdf.ts';
import { ADDRESS_BYTES, HEADER_BYTES, PAYLOAD_BYTES, SURB_ID_BYTES } from './layout.ts';
import { lionessDecrypt, lionessEncrypt } from './lioness.ts';
import { decodePayload, encodePayload } from './payload.ts';

/** What the maker hands the replier. */
export interface Surb {
  readonly firstHop: Uint8Array;
  readonly header: Uint8Array;
  /** The replier seals its message under this (32 bytes). */
  readonly key: Uint8Array;
}

/** What the maker keeps, once, to open the reply. */
export interface SurbSecrets {
  readonly id: Uint8Array;
  readonly key: Uint8Array;
  /** Each hop's LIONESS key, in route order. */
  readonly payloadKeys: readonly Uint8Array[];
}

export interface SurbSpec {
  readonly epoch: number;
  /** Relays back to the maker; the last hands the reply to `mailbox`. */
  readonly route: readonly OnionHop[];
  /** Where the last hop hands the reply: the maker's mailbox there. */
  readonly mailbox: Uint8Array;
  /** The id the maker finds its secrets by; random unless given. */
  readonly id?: Uint8Array;
  readonly ephemeral?: Uint8Array;
}

/** version ‖ first hop ‖ header ‖ key. */
export const SURB_BYTES = 1 + ADDRESS_BYTES + HEADER_BYTES + 32;

export function createSurb(backend: CryptoBackend, spec: SurbSpec): { surb: Surb; secrets: SurbSecrets } {
  const id = spec.id ?? backend.randomBytes(SURB_ID_BYTES);
  if (!(id instanceof Uint8Array) || id.length !== SURB_ID_BYTES) throw new SchemaError(`id: expected ${SURB_ID_BYTES} bytes`, { field: 'id' });
  if (id.every((b) => b === 0)) throw new SchemaError('id: a reply block id may not be all zeros', { field: 'id' });
  if (!(spec.mailbox instanceof Uint8Array) || spec.mailbox.length !== ADDRESS_BYTES) {
    throw new SchemaError(`mailbox: expected ${ADDRESS_BYTES} bytes`, { field: 'mailbox' });
  }
  const ephemeral = spec.ephemeral ?? backend.randomBytes(32);
  const { header, payloadKeys } = buildHeader(backend, {
    epoch: spec.epoch,
    route: spec.route,
    last: { command: 'reply', address: spec.mailbox, surbId: id },
    ephemeral,
  });
  const key = senderKey(backend, ephemeral, 'surbKey');
  return {
    surb: { firstHop: copyBytes(spec.route[0]!.id), header, key },
    secrets: { id: copyBytes(id), key, payloadKeys },
  };
}

/** The replier's packet: the SURB's header and its message sealed under the SURB's key. */
export function replyPacket(backend: CryptoBackend, surb: Surb, message: Uint8Array): { firstHop: Uint8Array; packet: Uint8Array } {
  checkSurb(surb);
  const payload = lionessEncrypt(backend, surbPayloadKey(backend, surb.key), encodePayload(message));
  return { firstHop: copyBytes(surb.firstHop), packet: joinPacket(surb.header, payload) };
}

/** The maker opens the payload its mailbox received; ONION_PAYLOAD when it was changed on the way or is for another SURB. */
export function openReply(backend: CryptoBackend, secrets: SurbSecrets, payload: Uint8Array): Uint8Array {
  if (!(payload instanceof Uint8Array) || payload.length !== PAYLOAD_BYTES) {
    throw new DecodeError(`reply payload: expected ${PAYLOAD_BYTES} bytes`, { field: 'payload' });
  }
  let block = payload;
  for (let i = secrets.payloadKeys.length - 1; i >= 0; i--) block = lionessEncrypt(backend, secrets.payloadKeys[i]!, block);
  return decodePayload(lionessDecrypt(backend, surbPayloadKey(backend, secrets.key), block));
}

export function encodeSurb(surb: Surb): Uint8Array {
  checkSurb(surb);
  return concatBytes(Uint8Array.of(ONION.version), surb.firstHop, surb.header, surb.key);
}

export function decodeSurb(bytes: Uint8Array): Surb {
  if (!(bytes instanceof Uint8Array) || bytes.length !== SURB_BYTES) {
    throw new DecodeError(`reply block: expected ${SURB_BYTES} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`, { field: 'surb' });
  }
  if (bytes[0] !== ONION.version) throw new VersionError(`reply block: version ${bytes[0]} is not ${ONION.version}`, bytes[0], { field: 'version' });
  const surb = {
    firstHop: copyBytes(bytes, 1, 1 + ADDRESS_BYTES),
    header: copyBytes(bytes, 1 + ADDRESS_BYTES, 1 + ADDRESS_BYTES + HEADER_BYTES),
    key: copyBytes(bytes, 1 + ADDRESS_BYTES + HEADER_BYTES),
  };
  checkSurb(surb);
  return surb;
}

function checkSurb(surb: Surb): void {
  if (!(surb.firstHop instanceof Uint8Array) || surb.firstHop.length !== ADDRESS_BYTES) {
    throw new SchemaError(`reply block: expected a ${ADDRESS_BYTES}-byte first hop`, { field: 'firstHop' });
  }
  if (!(surb.key instanceof Uint8Array) || surb.key.length !== 32) throw new KeyError('reply block: expected a 32-byte key', { field: 'key' });
  if (!(surb.header instanceof Uint8Array)) throw new DecodeError('reply block: expected a header', { field: 'header' });
  readHeader(surb.header);
}
