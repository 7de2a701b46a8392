// Regenerates test/vectors/noise.json: `npx tsx scripts/generate-vectors-noise.ts`.
//
// The Noise_IK_25519_ChaChaPoly_SHA256 vectors are not ours: they are copied
// from the public Noise test vectors that other implementations check
// themselves against, with the source of each noted in its `source` field
// (only the IK vectors without PSKs, and only the fields a two-party run
// needs). The script runs every vector through protocol/noise.ts with every
// backend, message by message in both directions, and writes nothing unless
// each ciphertext comes out byte for byte. The small-order X25519 points are
// the usual list (RFC 7748 section 7 and the curve's order-8 points), which
// a handshake must refuse.

import { writeFileSync } from 'node:fs';
import { equalBytes, fromHex, toHex } from '../protocol/bytes.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { naclCrypto } from '../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../protocol/crypto/noble.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { IkInitiator, IkResponder, staticKeyFromSecret, type NoiseSession } from '../protocol/noise.ts';
import { SpareCyclesError } from '../protocol/errors.ts';

interface Upstream {
  source: string;
  protocol_name: string;
  init_prologue: string;
  init_static: string;
  init_ephemeral: string;
  init_remote_static: string;
  resp_prologue: string;
  resp_static: string;
  resp_ephemeral: string;
  handshake_hash?: string;
  messages: Array<{ payload: string; ciphertext: string }>;
}

const UPSTREAM: Upstream[] = [
  {
    source: "github.com/mcginty/snow, tests/vectors/snow.txt (commit 8ac60f51cfe3e010c84f0a454cc575ad9204fa12)",
    protocol_name: 'Noise_IK_25519_ChaChaPoly_SHA256',
    init_prologue: '5468657265206973206e6f20726967687420616e642077726f6e672e2054686572652773206f6e6c792066756e20616e6420626f72696e672e',
    init_static: 'f49f93c5112c0787acc808d61716d7e090e076a58f15a3f78d92773f8dcb473b',
    init_ephemeral: 'dae68498c41315cff7e4a34dded8d973199d8f0cf3fcb8b6651c169de77de8be',
    init_remote_static: '2ea5942829bac414e25aa4cbb1bcc43394816ebb1bd12550d7d0eb4415e42951',
    resp_prologue: '5468657265206973206e6f20726967687420616e642077726f6e672e2054686572652773206f6e6c792066756e20616e6420626f72696e672e',
    resp_static: 'b790546f98b1e933c48cd01f17e7b281469d46fcacc9a3b584ae65b1d6272e8e',
    resp_ephemeral: 'c0875a5b59c8492bd2135e5432d7d484f938e0a1f5009428c4bcb70b2f69f69f',
    messages: [
      { payload: '95a8f51c435a9530ff1f30868ed7b23ec952eb513c26a0774fed82d2978a8c81', ciphertext: '6d21fec9141f3f37cc464e936a48b2d9521b5a44e0f3d960895d3c3fba30282f731f445c25e898e2534ac0536715b24308c108fc46bd260c887b36c3f68e3a05654fc8295c068ed53fb2022560961224e0b10b0835e1efc82fc587cd50f7178fe3d9eb06e0351c6e7334162c10bed670bfa2a105f7b2768a140b3fd597782601' },
      { payload: 'b866b807a6d8b83182b884dbfedc861843c5082bd6e480cb54e4245a72083041', ciphertext: 'e64e1fb8701c4f4bc3850b255fea657d4d835338b059c89acc99628fbe52473b41a4e79e3c1e6abc46bf80f078a005e15d8a3e04f989af3e6cb99b52031165006163ac3e17b928af8c116009d7bf4fb2' },
      { payload: 'e3a4937faef391028f759758b428b57652e0069a8dee64dfed01b60846938740', ciphertext: '2bebe19102169cdfe79cf41e38930bfd20a5b2fc78ccf33e853ddd939c0983174656eb27b61464a607762848892ca1c0' },
      { payload: '693972f27b0cb98aeac1fb54d782125431e7540e0cb2fa882cf51a8184d724fd', ciphertext: 'c7c56da33b45d12f4754e17978bd49999c9c8f51d00db460f902aba2e6e245d0c46662f507915de8596f43b1d175f1db' },
    ],
  },
  {
    source: "github.com/mcginty/snow, tests/vectors/cacophony.txt (commit 8ac60f51cfe3e010c84f0a454cc575ad9204fa12), as published by the cacophony project (github.com/haskell-cryptography/cacophony, vectors/cacophony.txt)",
    protocol_name: 'Noise_IK_25519_ChaChaPoly_SHA256',
    init_prologue: '4a6f686e2047616c74',
    init_static: 'e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1',
    init_ephemeral: '893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a',
    init_remote_static: '31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62',
    resp_prologue: '4a6f686e2047616c74',
    resp_static: '4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893',
    resp_ephemeral: 'bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b',
    handshake_hash: '0b0f68fb0c27e03ce9b97565995ed4838cc0581b762ef72b062f6a546419fad7',
    messages: [
      { payload: '4c756477696720766f6e204d69736573', ciphertext: 'ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944718da798efbcd91528520204f904b9bd6c7413dccdc214d951e15253e39987f18146e8cd0873654207148333479d4d16c289f0294b29960a72f48e0b7bba2e89083169825e59642148d492020664ccf7' },
      { payload: '4d757272617920526f746862617264', ciphertext: '95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f1448088435361e70b2ed446e6c9ec387d1d6b3b840f194e373979d241b203c4acafccf5' },
      { payload: '462e20412e20486179656b', ciphertext: '050e9f3c8fac16b68dbce8f8c4bfbf6617c897f9ada4aa29aa19c8' },
      { payload: '4361726c204d656e676572', ciphertext: '344233a6cabb7141d80f3da2fedc311d9646bbb0f505afe403a667' },
      { payload: '4a65616e2d426170746973746520536179', ciphertext: '62cdeeb172ad7ade7aa7d9e069da5790f12331bfa00177787a1d0810c67dc3b2b4' },
      { payload: '457567656e2042f6686d20766f6e2042617765726b', ciphertext: '029bead1b40992327044d409d9a1f3ad8f36c3c452775d557e18bbeb2e8dfcead32d514024' },
    ],
  },
];

const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new SpareCyclesError('INTERNAL', `generate-vectors-noise: ${what}`);
}

/** Runs one vector: the two handshake messages, then transport messages alternating initiator, responder. */
function runVector(backend: CryptoBackend, v: Upstream): string[] {
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
  const [m1, m2, ...rest] = v.messages;
  const out: string[] = [];
  const c1 = initiator.writeMessage1(fromHex(m1!.payload));
  out.push(toHex(c1));
  check(toHex(responder.readMessage1(c1).payload) === m1!.payload, 'message 1 payload');
  const answer = responder.writeMessage2(fromHex(m2!.payload));
  out.push(toHex(answer.message));
  const read = initiator.readMessage2(answer.message);
  check(toHex(read.payload) === m2!.payload, 'message 2 payload');
  const ends: [NoiseSession, NoiseSession] = [read.session, answer.session];
  if (v.handshake_hash) check(toHex(read.session.handshakeHash) === v.handshake_hash, 'handshake hash');
  check(equalBytes(read.session.handshakeHash, answer.session.handshakeHash), 'the two ends disagree on the handshake hash');
  rest.forEach((m, i) => {
    const [from, to] = i % 2 === 0 ? ends : [ends[1], ends[0]];
    const ct = from.send.encryptWithAd(new Uint8Array(0), fromHex(m.payload));
    check(toHex(to.receive.decryptWithAd(new Uint8Array(0), ct)) === m.payload, `transport message ${i}`);
    out.push(toHex(ct));
  });
  return out;
}

for (const v of UPSTREAM) {
  for (const backend of [nodeCrypto, naclCrypto, nobleCrypto]) {
    const got = runVector(backend, v);
    v.messages.forEach((m, i) => check(got[i] === m.ciphertext, `${backend.name}: ${v.source}: message ${i} differs`));
  }
}

const vectors = {
  description:
    'Noise_IK_25519_ChaChaPoly_SHA256 (Noise revision 34) test vectors copied from the public Noise vector files named in each `source`, and X25519 points of small order that a handshake must refuse. scripts/generate-vectors-noise.ts checks them against protocol/noise.ts with every backend.',
  vectors: UPSTREAM,
  smallOrder: SMALL_ORDER,
};
writeFileSync(new URL('../test/vectors/noise.json', import.meta.url), `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`noise vectors: ${UPSTREAM.length} handshakes, ${UPSTREAM.reduce((n, v) => n + v.messages.length, 0)} messages`);
