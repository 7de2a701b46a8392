// What a relay does with one packet: find its key for the packet's epoch,
// agree a secret with alpha, check gamma, check the replay tag, peel one
// layer off beta and the payload, and either pass on a packet of the same
// size (with alpha blinded, so it shares no bytes with the one that came in)
// or hand over what the last hop delivers. Every way a packet can be bad is
// a typed error, and a refused packet changes nothing but, once its MAC has
// verified, the replay store.

import { equalBytes } from '../bytes.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { KeyError, OnionError } from '../errors.ts';
import { authenticatedPart, readPacket, writePacket } from './codec.ts';
import { headerMac, hopKeys } from './kdf.ts';
import { BETA_BYTES, SLOT_BYTES } from './layout.ts';
import { lionessDecrypt, stream } from './lioness.ts';
import { decodePayload } from './payload.ts';
import type { ReplayStore } from './replay.ts';
import { decodeSlot } from './routing.ts';

/** A relay's onion secrets, one per epoch it still (or already) accepts. */
export interface OnionKeyring {
  /** The 32-byte X25519 onion secret for `epoch`, or undefined when the relay holds none: expired, or not begun. */
  secretFor(epoch: number): Uint8Array | undefined;
}

export interface ProcessOptions {
  readonly keys: OnionKeyring;
  readonly replay: ReplayStore;
}

export type Processed =
  | {
      readonly kind: 'forward';
      /** The next relay's id. */
      readonly next: Uint8Array;
      readonly delayMs: number;
      readonly packet: Uint8Array;
    }
  | {
      readonly kind: 'deliver';
      /** Where the message goes (a rendezvous, a mint): opaque to this layer. */
      readonly destination: Uint8Array;
      readonly delayMs: number;
      readonly message: Uint8Array;
    }
  | {
      readonly kind: 'reply';
      /** Whose mailbox the reply goes to: opaque to this layer. */
      readonly destination: Uint8Array;
      readonly delayMs: number;
      /** Which reply block it answers; its maker alone can open `payload`. */
      readonly surbId: Uint8Array;
      readonly payload: Uint8Array;
    };

export function processPacket(backend: CryptoBackend, packet: Uint8Array, options: ProcessOptions): Processed {
  const fields = readPacket(packet);
  const secret = options.keys.secretFor(fields.epoch);
  if (secret === undefined) throw new OnionError('ONION_EPOCH', `onion packet: no onion key for epoch ${fields.epoch}`, { field: 'epoch' });

  let shared: Uint8Array;
  try {
    shared = backend.x25519(secret, fields.alpha);
  } catch (cause) {
    throw new KeyError('onion packet: alpha has small order', { field: 'alpha', cause });
  }
  const keys = hopKeys(backend, fields.alpha, shared);
  if (!equalBytes(headerMac(backend, keys.headerMac, fields.authenticated), fields.gamma)) {
    throw new OnionError('ONION_MAC', 'onion packet: the header MAC does not verify at this hop', { field: 'gamma' });
  }
  // After the MAC, so a forged copy cannot burn the tag of a real packet still on its way.
  if (!options.replay.add(fields.epoch, keys.replayTag)) {
    throw new OnionError('ONION_REPLAY', 'onion packet: seen before in this epoch', { field: 'alpha' });
  }

  // Beta with a slot of zeros shifted in, decrypted: this hop's slot, then the next hop's beta.
  const padded = new Uint8Array(BETA_BYTES + SLOT_BYTES);
  padded.set(fields.beta);
  const open = stream(keys.headerStream, padded, backend);
  const { routing, nextMac } = decodeSlot(open.subarray(0, SLOT_BYTES));
  const payload = lionessDecrypt(backend, keys.payload, fields.payload);

  switch (routing.command) {
    case 'forward': {
      let alpha: Uint8Array;
      try {
        alpha = backend.x25519(keys.blind, fields.alpha);
      } catch (cause) {
        throw new KeyError('onion packet: alpha has small order', { field: 'alpha', cause });
      }
      const beta = open.subarray(SLOT_BYTES);
      return {
        kind: 'forward',
        next: routing.address,
        delayMs: routing.delayMs,
        packet: writePacket(authenticatedPart(fields.epoch, alpha, beta), nextMac, payload),
      };
    }
    case 'deliver':
      return { kind: 'deliver', destination: routing.address, delayMs: routing.delayMs, message: decodePayload(payload) };
    case 'reply':
      return { kind: 'reply', destination: routing.address, delayMs: routing.delayMs, surbId: routing.surbId, payload };
  }
}
