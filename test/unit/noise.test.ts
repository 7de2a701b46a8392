// Noise_IK_25519_ChaChaPoly_SHA256 (protocol/noise.ts) against the public
// Noise test vectors in test/vectors/noise.json, through every backend, and
// every way a peer's bytes can be wrong: each is a HandshakeError, and a
// refused message changes nothing.

import { describe, expect, it } from 'vitest';
import vectors from '../vectors/noise.json' with { type: 'json' };
import { fromHex, toHex } from '../../protocol/bytes.ts';
import type { CryptoBackend } from '../../protocol/crypto/backend.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { nodeCrypto, opensslCrypto } from '../../protocol/crypto/node.ts';
import { HandshakeError, SpareCyclesError } from '../../protocol/errors.ts';
import {
  CipherState,
  IK_MESSAGE1_OVERHEAD,
  IK_MESSAGE2_OVERHEAD,
  IkInitiator,
  IkResponder,
  NOISE_MAX_MESSAGE,
  NOISE_MAX_NONCE,
  NOISE_PROTOCOL_NAME,
  staticKeyFromSecret,
  type NoiseSession,
} from '../../protocol/noise.ts';
import { caught } from '../support/caught.ts';

const BACKENDS: CryptoBackend[] = [nodeCrypto, opensslCrypto, naclCrypto, nobleCrypto];
const EMPTY = new Uint8Array(0);

function expectHandshakeError(f: () => unknown, field?: string): HandshakeError {
  const error = caught(f);
  expect(error).toBeInstanceOf(HandshakeError);
  expect((error as SpareCyclesError).code).toBe('HANDSHAKE');
  if (field !== undefined) expect((error as SpareCyclesError).field).toBe(field);
  return error as HandshakeError;
}

function pair(backend: CryptoBackend, prologue = Uint8Array.of(1, 2, 3)) {
  const initiatorStatic = staticKeyFromSecret(backend, backend.randomBytes(32));
  const responderStatic = staticKeyFromSecret(backend, backend.randomBytes(32));
  const initiator = new IkInitiator({ backend, prologue, s: initiatorStatic, rs: responderStatic.publicKey });
  const responder = new IkResponder({ backend, prologue, s: responderStatic });
  return { initiator, responder, initiatorStatic, responderStatic };
}

function handshake(backend: CryptoBackend): [NoiseSession, NoiseSession] {
  const { initiator, responder } = pair(backend);
  responder.readMessage1(initiator.writeMessage1(EMPTY));
  const answer = responder.writeMessage2(EMPTY);
  return [initiator.readMessage2(answer.message).session, answer.session];
}

describe.each(BACKENDS.map((backend) => ({ backend, name: backend.name })))('Noise IK with the $name backend', ({ backend }) => {
  it.each(vectors.vectors.map((v) => ({ v, source: v.source })))('matches every message of $source', ({ v }) => {
    expect(v.protocol_name).toBe(NOISE_PROTOCOL_NAME);
    const initiator = new IkInitiator({
      backend,
      prologue: fromHex(v.init_prologue),
      s: staticKeyFromSecret(backend, fromHex(v.init_static)),
      e: fromHex(v.init_ephemeral),
      rs: fromHex(v.init_remote_static),
    });
    const responder = new IkResponder({
      backend,
      prologue: fromHex(v.resp_prologue),
      s: staticKeyFromSecret(backend, fromHex(v.resp_static)),
      e: fromHex(v.resp_ephemeral),
    });
    const [m1, m2, ...transport] = v.messages;
    const c1 = initiator.writeMessage1(fromHex(m1!.payload));
    expect(toHex(c1)).toBe(m1!.ciphertext);
    const read1 = responder.readMessage1(c1);
    expect(toHex(read1.payload)).toBe(m1!.payload);
    expect(toHex(read1.remoteStatic)).toBe(toHex(backend.x25519PublicKey(fromHex(v.init_static))));
    const answer = responder.writeMessage2(fromHex(m2!.payload));
    expect(toHex(answer.message)).toBe(m2!.ciphertext);
    const read2 = initiator.readMessage2(answer.message);
    expect(toHex(read2.payload)).toBe(m2!.payload);
    if ('handshake_hash' in v) expect(toHex(read2.session.handshakeHash)).toBe(v.handshake_hash);
    expect(toHex(read2.session.handshakeHash)).toBe(toHex(answer.session.handshakeHash));
    const ends = [read2.session, answer.session] as const;
    transport.forEach((m, i) => {
      const [from, to] = i % 2 === 0 ? ends : [ends[1], ends[0]];
      const ct = from.send.encryptWithAd(EMPTY, fromHex(m.payload));
      expect(toHex(ct), `transport ${i}`).toBe(m.ciphertext);
      expect(toHex(to.receive.decryptWithAd(EMPTY, ct))).toBe(m.payload);
    });
  });

  it('refuses a small-order key wherever one can appear, with a HandshakeError', () => {
    for (const hex of vectors.smallOrder) {
      const point = fromHex(hex);
      // As the responder's static key the initiator knows beforehand.
      const s = staticKeyFromSecret(backend, backend.randomBytes(32));
      const initiator = new IkInitiator({ backend, prologue: EMPTY, s, rs: point });
      expectHandshakeError(() => initiator.writeMessage1(EMPTY), 'rs');
      // As the ephemeral key in a first message.
      const { initiator: honest, responder } = pair(backend);
      const m1 = honest.writeMessage1(EMPTY);
      m1.set(point, 0);
      expectHandshakeError(() => responder.readMessage1(m1), 're');
      // As the ephemeral key in a second message.
      const second = pair(backend);
      second.responder.readMessage1(second.initiator.writeMessage1(EMPTY));
      const m2 = second.responder.writeMessage2(EMPTY).message;
      m2.set(point, 0);
      expectHandshakeError(() => second.initiator.readMessage2(m2), 're');
    }
  });

  it('refuses a message of the wrong length, and a tampered one, with a HandshakeError', () => {
    const { initiator, responder } = pair(backend);
    const m1 = initiator.writeMessage1(Uint8Array.of(7));
    expect(m1.length).toBe(IK_MESSAGE1_OVERHEAD + 1);
    expectHandshakeError(() => new IkResponder({ backend, prologue: Uint8Array.of(1, 2, 3), s: pair(backend).responderStatic }).readMessage1(m1.subarray(0, IK_MESSAGE1_OVERHEAD - 1)));
    for (const at of [0, 40, -1]) {
      const fresh = pair(backend);
      const bytes = fresh.initiator.writeMessage1(EMPTY);
      bytes.set([bytes.at(at)! ^ 1], (at + bytes.length) % bytes.length);
      // Flipping a bit of e changes every key after it; flipping one of s or the tag fails the AEAD.
      expect(caught(() => fresh.responder.readMessage1(bytes))).toBeInstanceOf(HandshakeError);
    }
    responder.readMessage1(m1);
    const m2 = responder.writeMessage2(EMPTY).message;
    expect(m2.length).toBe(IK_MESSAGE2_OVERHEAD);
    expectHandshakeError(() => initiator.readMessage2(m2.subarray(0, IK_MESSAGE2_OVERHEAD - 1)));
  });

  it('refuses a first message made for another responder, or under another prologue', () => {
    const { initiator } = pair(backend);
    const m1 = initiator.writeMessage1(EMPTY);
    expectHandshakeError(() => pair(backend).responder.readMessage1(m1));
    const s = staticKeyFromSecret(backend, backend.randomBytes(32));
    const rs = staticKeyFromSecret(backend, backend.randomBytes(32));
    const a = new IkInitiator({ backend, prologue: Uint8Array.of(1), s, rs: rs.publicKey });
    const b = new IkResponder({ backend, prologue: Uint8Array.of(2), s: rs });
    expectHandshakeError(() => b.readMessage1(a.writeMessage1(EMPTY)));
  });

  it('refuses a second message that answers another first message', () => {
    const responderStatic = staticKeyFromSecret(backend, backend.randomBytes(32));
    const s = staticKeyFromSecret(backend, backend.randomBytes(32));
    const make = () => new IkInitiator({ backend, prologue: EMPTY, s, rs: responderStatic.publicKey });
    const [first, second] = [make(), make()];
    const responder = new IkResponder({ backend, prologue: EMPTY, s: responderStatic });
    responder.readMessage1(first.writeMessage1(EMPTY));
    second.writeMessage1(EMPTY);
    const answer = responder.writeMessage2(EMPTY).message;
    expectHandshakeError(() => second.readMessage2(answer));
    expect(first.readMessage2(answer).payload).toEqual(EMPTY);
  });

  it('carries transport messages both ways, and a refused one leaves the nonce where it was', () => {
    const [i, r] = handshake(backend);
    const a = i.send.encryptWithAd(EMPTY, Uint8Array.of(1));
    const b = i.send.encryptWithAd(EMPTY, Uint8Array.of(2));
    expectHandshakeError(() => r.receive.decryptWithAd(EMPTY, b)); // out of order
    const forged = a.slice();
    forged[0]! ^= 1;
    expectHandshakeError(() => r.receive.decryptWithAd(EMPTY, forged));
    expectHandshakeError(() => r.receive.decryptWithAd(EMPTY, a.subarray(0, 15)));
    expect(r.receive.nonce).toBe(0);
    expect(r.receive.decryptWithAd(EMPTY, a)).toEqual(Uint8Array.of(1));
    expect(r.receive.decryptWithAd(EMPTY, b)).toEqual(Uint8Array.of(2));
    expectHandshakeError(() => r.receive.decryptWithAd(EMPTY, a)); // a replay
    expect(i.receive.decryptWithAd(EMPTY, r.send.encryptWithAd(EMPTY, Uint8Array.of(3)))).toEqual(Uint8Array.of(3));
  });
});

describe('Noise state machines', () => {
  it('stop at the nonce limit instead of reusing a nonce', () => {
    const [i, r] = handshake(nodeCrypto);
    i.send.setNonce(NOISE_MAX_NONCE - 1);
    r.receive.setNonce(NOISE_MAX_NONCE - 1);
    expect(r.receive.decryptWithAd(EMPTY, i.send.encryptWithAd(EMPTY, Uint8Array.of(5)))).toEqual(Uint8Array.of(5));
    expectHandshakeError(() => i.send.encryptWithAd(EMPTY, EMPTY));
    expectHandshakeError(() => r.receive.decryptWithAd(EMPTY, new Uint8Array(16)));
  });

  it('rekey both ends the same way', () => {
    const [i, r] = handshake(nodeCrypto);
    i.send.rekey();
    r.receive.rekey();
    expect(r.receive.decryptWithAd(EMPTY, i.send.encryptWithAd(EMPTY, Uint8Array.of(9)))).toEqual(Uint8Array.of(9));
    expectHandshakeError(() => new CipherState().rekey());
  });

  it('pass plaintext through an empty cipher state, as the spec says', () => {
    expect(new CipherState().encryptWithAd(EMPTY, Uint8Array.of(1, 2))).toEqual(Uint8Array.of(1, 2));
  });

  it('refuse steps out of order and payloads past the Noise bound', () => {
    const { initiator, responder } = pair(nodeCrypto);
    expectHandshakeError(() => initiator.readMessage2(new Uint8Array(48)));
    expectHandshakeError(() => responder.writeMessage2(EMPTY));
    expectHandshakeError(() => initiator.writeMessage1(new Uint8Array(NOISE_MAX_MESSAGE)), 'payload');
    const m1 = initiator.writeMessage1(EMPTY);
    expectHandshakeError(() => initiator.writeMessage1(EMPTY));
    responder.readMessage1(m1);
    expectHandshakeError(() => responder.readMessage1(m1));
  });

  it('end a handshake at its first failure', () => {
    const { initiator, responder } = pair(nodeCrypto);
    const m1 = initiator.writeMessage1(EMPTY);
    const bad = m1.slice();
    bad[70]! ^= 1;
    expectHandshakeError(() => responder.readMessage1(bad));
    // The same responder cannot be tried again with the good message: a fresh one must be made.
    expectHandshakeError(() => responder.readMessage1(m1));
  });
});
