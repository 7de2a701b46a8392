// The packet as bytes: its fixed size, its version first, and the fields
// of its header. Every packet is ONION.packetBytes long, whatever its route
// and wherever it is on it.

import { ONION } from '../constants.ts';
import { DecodeError, KeyError, SchemaError, VersionError } from '../errors.ts';
import { ALPHA_BYTES, ALPHA_OFFSET, BETA_OFFSET, EPOCH_OFFSET, GAMMA_OFFSET, HEADER_BYTES, MAC_BYTES } from './layout.ts';

export interface PacketFields {
  readonly epoch: number;
  readonly alpha: Uint8Array;
  readonly beta: Uint8Array;
  readonly gamma: Uint8Array;
  /** version ‖ epoch ‖ alpha ‖ beta: what gamma authenticates. */
  readonly authenticated: Uint8Array;
  readonly payload: Uint8Array;
}

/** Splits a packet (views into it, nothing copied): the size and version first, as a relay sees them. */
export function readPacket(packet: Uint8Array): PacketFields {
  if (!(packet instanceof Uint8Array) || packet.length !== ONION.packetBytes) {
    const got = packet instanceof Uint8Array ? `${packet.length} bytes` : typeof packet;
    throw new DecodeError(`onion packet: expected ${ONION.packetBytes} bytes, got ${got}`, { field: 'packet' });
  }
  const header = readHeader(packet.subarray(0, HEADER_BYTES));
  return { ...header, payload: packet.subarray(HEADER_BYTES) };
}

export function readHeader(header: Uint8Array): Omit<PacketFields, 'payload'> {
  if (header.length !== HEADER_BYTES) throw new DecodeError(`onion header: expected ${HEADER_BYTES} bytes, got ${header.length}`, { field: 'header' });
  if (header[0] !== ONION.version) {
    throw new VersionError(`onion packet: version ${header[0]} is not one this relay speaks (${ONION.version})`, header[0], { field: 'version' });
  }
  const alpha = header.subarray(ALPHA_OFFSET, ALPHA_OFFSET + ALPHA_BYTES);
  if (!isCanonicalU(alpha)) throw new KeyError('onion packet: alpha is not a canonical X25519 public key', { field: 'alpha' });
  return {
    epoch: new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(EPOCH_OFFSET, false),
    alpha,
    beta: header.subarray(BETA_OFFSET, GAMMA_OFFSET),
    gamma: header.subarray(GAMMA_OFFSET, GAMMA_OFFSET + MAC_BYTES),
    authenticated: header.subarray(0, GAMMA_OFFSET),
  };
}

/** version ‖ epoch ‖ alpha ‖ beta, the part of a header gamma covers. */
export function authenticatedPart(epoch: number, alpha: Uint8Array, beta: Uint8Array): Uint8Array {
  const out = new Uint8Array(GAMMA_OFFSET);
  out[0] = ONION.version;
  new DataView(out.buffer).setUint32(EPOCH_OFFSET, epoch, false);
  out.set(alpha, ALPHA_OFFSET);
  out.set(beta, BETA_OFFSET);
  return out;
}

export function writePacket(authenticated: Uint8Array, gamma: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(ONION.packetBytes);
  out.set(authenticated);
  out.set(gamma, GAMMA_OFFSET);
  out.set(payload, HEADER_BYTES);
  return out;
}

/** A header and a sealed payload, as one packet. */
export function joinPacket(header: Uint8Array, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(ONION.packetBytes);
  out.set(header);
  out.set(payload, HEADER_BYTES);
  return out;
}

export function checkEpoch(epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
    throw new SchemaError(`epoch: expected an integer from 0 to 2^32-1, got ${epoch}`, { field: 'epoch' });
  }
}

/**
 * Whether 32 bytes are a u-coordinate below p = 2^255 - 19, little-endian.
 * X25519 itself accepts the 2^255 encodings of which only these are
 * canonical; refusing the rest leaves one encoding per key, as the sender
 * (an X25519 output) always produces.
 */
export function isCanonicalU(u: Uint8Array): boolean {
  if (u[31]! > 0x7f) return false;
  if (u[31]! < 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (u[i] !== 0xff) return true;
  return u[0]! < 0xed;
}
