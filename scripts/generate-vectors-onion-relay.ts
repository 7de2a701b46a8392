// Regenerates test/vectors/onion-relay.json: the frames relays and clients
// exchange on an onion socket and the exit envelope (protocol/onion/link.ts,
// envelope.ts), from fixed keys and nonces: each frame's bytes, the link
// transcripts and both signatures, a mailbox id, a mint exit id, an envelope
// with its reply block, and bytes each decoder must refuse with the error
// it must raise. Deterministic; every backend must agree, or nothing is
// written.
//
//   npx tsx scripts/generate-vectors-onion-relay.ts

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { toHex, utf8 } from '../protocol/bytes.ts';
import { ONION_RELAY } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { naclCrypto } from '../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../protocol/crypto/noble.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { createSurb, encodeSurb } from '../protocol/onion/index.ts';
import { decodeEnvelope, encodeEnvelope, mailboxId, mintExitId } from '../protocol/onion/envelope.ts';
import { decodeLinkFrame, encodeLinkFrame, linkTranscript, signLink, type LinkFrame } from '../protocol/onion/link.ts';
import { det } from './vector-kit.ts';


function build(backend: CryptoBackend) {
  const listener = Identity.fromSeed(backend, det('onion-relay/listener', 32));
  const dialer = Identity.fromSeed(backend, det('onion-relay/dialer', 32));
  const t = {
    listenerKey: listener.publicKey,
    listenerNonce: det('onion-relay/listener-nonce', 32),
    dialerKey: dialer.publicKey,
    dialerNonce: det('onion-relay/dialer-nonce', 32),
  };
  const v = ONION_RELAY.linkVersion;
  const mailboxSecret = det('onion-relay/mailbox-secret', 32);
  const frames: Record<string, LinkFrame> = {
    challenge: { t: 'challenge', v, k: t.listenerKey, n: t.listenerNonce },
    link: { t: 'link', v, k: t.dialerKey, n: t.dialerNonce, s: signLink(dialer, 'dialer', t) },
    'link-ok': { t: 'link-ok', v, s: signLink(listener, 'listener', t) },
    open: { t: 'open', v, x: mailboxSecret },
    opened: { t: 'opened', v, m: mailboxId(backend, mailboxSecret) },
    mail: { t: 'mail', v, m: mailboxId(backend, mailboxSecret), d: utf8('a delivered message') },
    'mail-reply': { t: 'mail', v, m: mailboxId(backend, mailboxSecret), d: det('onion-relay/reply-payload', 64), r: det('onion-relay/surb-id', 16) },
    refused: { t: 'refused', v, c: 'BUSY' },
  };
  const hop = { id: det('onion-relay/hop-id', 32), onionKey: backend.x25519PublicKey(det('onion-relay/hop-secret', 32)) };
  const { surb } = createSurb(backend, {
    epoch: 480_000,
    route: [hop],
    mailbox: mailboxId(backend, mailboxSecret),
    id: det('onion-relay/surb-id', 16),
    ephemeral: det('onion-relay/surb-ephemeral', 32),
  });
  const origin = 'https://mint.example';
  const envelope = encodeEnvelope({ surb, body: utf8('an oblivious request') });
  return {
    linkVersion: v,
    envelopeVersion: ONION_RELAY.envelopeVersion,
    labels: ONION_RELAY.labels,
    link: {
      listenerSeed: toHex(det('onion-relay/listener', 32)),
      dialerSeed: toHex(det('onion-relay/dialer', 32)),
      listenerKey: toHex(t.listenerKey),
      dialerKey: toHex(t.dialerKey),
      listenerNonce: toHex(t.listenerNonce),
      dialerNonce: toHex(t.dialerNonce),
      dialerTranscript: toHex(linkTranscript('dialer', t)),
      listenerTranscript: toHex(linkTranscript('listener', t)),
    },
    frames: Object.entries(frames).map(([name, frame]) => ({ name, encoded: toHex(encodeLinkFrame(frame)) })),
    mailbox: { secret: toHex(mailboxSecret), id: toHex(mailboxId(backend, mailboxSecret)) },
    mintExit: { origin, id: toHex(mintExitId(backend, origin)) },
    envelope: { surb: toHex(encodeSurb(surb)), body: toHex(utf8('an oblivious request')), encoded: toHex(envelope) },
    invalid: [
      ...invalid('frame', decodeLinkFrame, [
        ['not bencode', utf8('x')],
        ['another version', utf8('d1:t4:open1:vi2e1:x32:' + 'a'.repeat(32) + 'e')],
        ['unknown type', utf8('d1:t4:nope1:vi1ee')],
        ['a short secret', utf8('d1:t4:open1:vi1e1:x3:abce')],
        ['keys out of order', utf8('d1:t7:refused1:c4:BUSY1:vi1ee')],
        ['an unknown field', utf8('d1:c4:BUSY1:t7:refused1:vi1e1:zi0ee')],
      ]),
      ...invalid('envelope', decodeEnvelope, [
        ['not bencode', utf8('d')],
        ['another version', utf8('d1:b0:1:s0:1:vi2ee')],
        ['a short reply block', utf8('d1:b0:1:s3:abc1:vi1ee')],
        ['no body', spliceSurb(surb)],
      ]),
    ],
  };

  function invalid(kind: string, decode: (b: Uint8Array) => unknown, cases: [string, Uint8Array][]) {
    return cases.map(([name, bytes]) => {
      try {
        decode(bytes);
      } catch (error) {
        if (!(error instanceof SpareCyclesError)) throw error;
        return { kind, name, encoded: toHex(bytes), code: error.code };
      }
      throw new SpareCyclesError('INTERNAL', `${kind} ${name}: decoded, but must not`);
    });
  }
}

/** {s, v} with the right reply block and no body. */
function spliceSurb(surb: Parameters<typeof encodeSurb>[0]): Uint8Array {
  const s = encodeSurb(surb);
  const head = utf8(`d1:s${s.length}:`);
  const tail = utf8('1:vi1ee');
  const out = new Uint8Array(head.length + s.length + tail.length);
  out.set(head);
  out.set(s, head.length);
  out.set(tail, head.length + s.length);
  return out;
}

const built = [nodeCrypto, nobleCrypto, naclCrypto].map((b) => JSON.stringify(build(b), null, 2));
if (built.some((b) => b !== built[0])) throw new SpareCyclesError('INTERNAL', 'onion-relay vectors: the backends disagree');
// Decoding the envelope must give back what was encoded.
decodeEnvelope(Buffer.from(JSON.parse(built[0]!).envelope.encoded, 'hex'));
const path = fileURLToPath(new URL('../test/vectors/onion-relay.json', import.meta.url));
writeFileSync(path, `${built[0]}\n`);
console.log(`wrote ${path}`);
