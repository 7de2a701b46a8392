// The sender's half of Sphinx: one ephemeral X25519 key, blinded once per
// hop, gives every hop on the route its own shared secret; beta is wrapped
// from the last hop outwards with a filler that keeps every layer the same
// length, so no hop learns how long the route is or where it sits on it.
// Forward packets and reply blocks both start here.

import { ONION } from '../constants.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { KeyError, SchemaError } from '../errors.ts';
import { authenticatedPart, checkEpoch } from './codec.ts';
import { headerMac, hopKeys, senderKey, type HopKeys } from './kdf.ts';
import { ADDRESS_BYTES, BETA_BYTES, GAMMA_OFFSET, HEADER_BYTES, MAC_BYTES, SLOT_BYTES } from './layout.ts';
import { stream } from './lioness.ts';
import { checkRouting, encodeSlot, type Routing } from './routing.ts';

/** A relay on a route. */
export interface OnionHop {
  /** Its 32-byte relay id: what the hop before it reads as "forward to". */
  readonly id: Uint8Array;
  /** Its X25519 onion public key for the packet's epoch. */
  readonly onionKey: Uint8Array;
  /** How long it holds the packet before passing it on, in milliseconds; 0 unless given. */
  readonly delayMs?: number;
}

export interface HeaderSpec {
  readonly epoch: number;
  readonly route: readonly OnionHop[];
  /** What the last hop does: deliver a message, or hand on a reply. */
  readonly last: Omit<Routing, 'delayMs'>;
  /** The packet's 32-byte ephemeral X25519 secret; fresh and random for every packet. */
  readonly ephemeral: Uint8Array;
}

export interface BuiltHeader {
  readonly header: Uint8Array;
  /** Each hop's LIONESS key, in route order. */
  readonly payloadKeys: readonly Uint8Array[];
}

export function buildHeader(backend: CryptoBackend, spec: HeaderSpec): BuiltHeader {
  const { route, epoch, ephemeral } = spec;
  checkEpoch(epoch);
  if (!Array.isArray(route) || route.length < 1 || route.length > ONION.maxHops) {
    throw new SchemaError(`route: expected 1 to ${ONION.maxHops} hops, got ${Array.isArray(route) ? route.length : typeof route}`, { field: 'route' });
  }
  if (!(ephemeral instanceof Uint8Array) || ephemeral.length !== 32) throw new KeyError('ephemeral: expected a 32-byte X25519 secret', { field: 'ephemeral' });
  const n = route.length;
  const routings: Routing[] = route.map((hop, i) => {
    if (!(hop.id instanceof Uint8Array) || hop.id.length !== ADDRESS_BYTES) {
      throw new SchemaError(`route[${i}]: expected a ${ADDRESS_BYTES}-byte relay id`, { field: `route[${i}]` });
    }
    if (!(hop.onionKey instanceof Uint8Array) || hop.onionKey.length !== 32) {
      throw new KeyError(`route[${i}]: expected a 32-byte onion key`, { field: `route[${i}]` });
    }
    const delayMs = hop.delayMs ?? 0;
    const routing: Routing =
      i < n - 1 ? { command: 'forward', delayMs, address: route[i + 1]!.id, surbId: new Uint8Array(16) } : { ...spec.last, delayMs };
    checkRouting(routing, `route[${i}]`);
    return routing;
  });

  // Alpha and the shared secret of every hop. The sender reaches hop i's
  // secret by multiplying its public key by x and then by each earlier
  // blinding scalar; the hop reaches the same point from alpha_i with its own
  // secret. X25519 clamps every scalar, but clamping yields a fixed integer,
  // and multiplying a point by integers commutes, so both agree.
  const alphas: Uint8Array[] = [];
  const keys: HopKeys[] = [];
  let alpha = backend.x25519PublicKey(ephemeral);
  for (let i = 0; i < n; i++) {
    let shared = dh(backend, ephemeral, route[i]!.onionKey, i);
    for (let j = 0; j < i; j++) shared = dh(backend, keys[j]!.blind, shared, i);
    alphas.push(alpha);
    keys.push(hopKeys(backend, alpha, shared));
    if (i < n - 1) alpha = dh(backend, keys[i]!.blind, alpha, i);
  }

  // Each hop's key stream covers beta and one more slot: the slot it shifts in.
  const streams = keys.map((k) => stream(k.headerStream, new Uint8Array(BETA_BYTES + SLOT_BYTES), backend));

  // The filler: what hops 0..n-2 shift into the end of beta, as the last hop
  // will see it. Hop i appends a slot of zeros and decrypts; the filler
  // follows those bytes through every hop before the last.
  let filler = new Uint8Array(0);
  for (let i = 0; i < n - 1; i++) {
    const next = new Uint8Array(filler.length + SLOT_BYTES);
    next.set(filler);
    const s = streams[i]!.subarray(BETA_BYTES - i * SLOT_BYTES);
    for (let b = 0; b < next.length; b++) next[b]! ^= s[b]!;
    filler = next;
  }

  // The last hop's beta: its slot, then random padding where unused hops
  // would be (so it cannot count them), encrypted, then the filler.
  const open = BETA_BYTES - filler.length;
  let beta = new Uint8Array(BETA_BYTES);
  beta.set(encodeSlot(routings[n - 1]!, new Uint8Array(MAC_BYTES)));
  beta.set(stream(senderKey(backend, ephemeral, 'padding'), new Uint8Array(open - SLOT_BYTES), backend), SLOT_BYTES);
  xorPrefix(beta, streams[n - 1]!, open);
  beta.set(filler, open);
  let gamma = headerMac(backend, keys[n - 1]!.headerMac, authenticatedPart(epoch, alphas[n - 1]!, beta));

  for (let i = n - 2; i >= 0; i--) {
    const next = new Uint8Array(BETA_BYTES);
    next.set(encodeSlot(routings[i]!, gamma));
    next.set(beta.subarray(0, BETA_BYTES - SLOT_BYTES), SLOT_BYTES);
    xorPrefix(next, streams[i]!, BETA_BYTES);
    beta = next;
    gamma = headerMac(backend, keys[i]!.headerMac, authenticatedPart(epoch, alphas[i]!, beta));
  }

  const header = new Uint8Array(HEADER_BYTES);
  header.set(authenticatedPart(epoch, alphas[0]!, beta));
  header.set(gamma, GAMMA_OFFSET);
  return { header, payloadKeys: keys.map((k) => k.payload) };
}

function xorPrefix(target: Uint8Array, s: Uint8Array, length: number): void {
  for (let i = 0; i < length; i++) target[i]! ^= s[i]!;
}

function dh(backend: CryptoBackend, secret: Uint8Array, point: Uint8Array, hop: number): Uint8Array {
  try {
    return backend.x25519(secret, point);
  } catch (cause) {
    throw new KeyError(`route[${hop}]: the onion key is not usable (small order or malformed)`, { field: `route[${hop}]`, cause });
  }
}
