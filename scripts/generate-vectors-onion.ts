// Regenerates test/vectors/onion.json: onion packets (protocol/onion/) built
// from fixed relay keys and fixed ephemeral secrets, with the packet each
// hop receives and what it makes of it, a reply block and its reply, the
// keys one hop derives, one LIONESS block, and packets each hop must refuse
// with the error they must raise. Deterministic: every key and value comes
// from fixed labels. Every backend must build the same bytes, or nothing is
// written.
//
//   npx tsx scripts/generate-vectors-onion.ts

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { equalBytes, fromHex, toHex, utf8 } from '../protocol/bytes.ts';
import { ONION } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { naclCrypto } from '../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../protocol/crypto/noble.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import {
  createPacket,
  createSurb,
  encodeSurb,
  MemoryReplayStore,
  openReply,
  processPacket,
  replyPacket,
  type OnionHop,
  type Processed,
} from '../protocol/onion/index.ts';
import { hopKeys } from '../protocol/onion/kdf.ts';
import { ALPHA_OFFSET, BETA_OFFSET, GAMMA_OFFSET, HEADER_BYTES, MAC_BYTES, MAX_MESSAGE_BYTES, SLOT_BYTES } from '../protocol/onion/layout.ts';
import { lionessEncrypt } from '../protocol/onion/lioness.ts';
import { det } from './vector-kit.ts';


const EPOCH = 480_000;
const backends: CryptoBackend[] = [nodeCrypto, nobleCrypto, naclCrypto];
const relays = Array.from({ length: ONION.maxHops }, (_, i) => {
  const secret = det(`onion/relay/${i}/secret`, 32);
  return { secret, id: det(`onion/relay/${i}/id`, 32), onionKey: nodeCrypto.x25519PublicKey(secret) };
});
const route = (n: number, delays: readonly number[] = []): OnionHop[] =>
  relays.slice(0, n).map((r, i) => ({ id: r.id, onionKey: r.onionKey, delayMs: delays[i] ?? 0 }));
const relayById = (id: Uint8Array) => relays.find((r) => equalBytes(r.id, id))!;

/** Runs a packet along its route with `backend`, one fresh replay store per relay; every hop's input and output. */
function walk(backend: CryptoBackend, firstHop: Uint8Array, packet: Uint8Array) {
  const hops: { relay: number; packet: Uint8Array; replayTag: Uint8Array; out: Processed }[] = [];
  let at = firstHop;
  let p = packet;
  for (;;) {
    const relay = relayById(at);
    const alpha = p.subarray(ALPHA_OFFSET, ALPHA_OFFSET + 32);
    const replayTag = hopKeys(backend, alpha, backend.x25519(relay.secret, alpha)).replayTag;
    const out = processPacket(backend, p, { keys: { secretFor: (e) => (e === EPOCH ? relay.secret : undefined) }, replay: new MemoryReplayStore() });
    hops.push({ relay: relays.indexOf(relay), packet: p, replayTag, out });
    if (out.kind !== 'forward') return hops;
    at = out.next;
    p = out.packet;
  }
}

function hopJson(h: ReturnType<typeof walk>[number]) {
  const o = h.out;
  const result =
    o.kind === 'forward'
      ? { kind: o.kind, next: toHex(o.next), delayMs: o.delayMs }
      : o.kind === 'deliver'
        ? { kind: o.kind, destination: toHex(o.destination), delayMs: o.delayMs, message: toHex(o.message) }
        : { kind: o.kind, destination: toHex(o.destination), delayMs: o.delayMs, surbId: toHex(o.surbId), payload: toHex(o.payload) };
  return { relay: h.relay, packet: toHex(h.packet), replayTag: toHex(h.replayTag), result };
}

/** The same JSON from every backend, or nothing is written. */
function agreed<T>(name: string, make: (backend: CryptoBackend) => T): T {
  const [first, ...rest] = backends.map((b) => ({ name: b.name, json: JSON.stringify(make(b)) }));
  for (const other of rest) if (other.json !== first!.json) throw new SpareCyclesError('INTERNAL', `${name}: ${other.name} differs from ${first!.name}`);
  return JSON.parse(first!.json) as T;
}

const forwardCases = [
  { name: 'one hop', hops: 1, delays: [0], message: utf8('claim') },
  { name: 'three relays', hops: 3, delays: [0, 250, 0], message: det('onion/message/3', 700) },
  { name: 'the longest route, a full payload', hops: ONION.maxHops, delays: [1, 2, 3, 4, 5], message: det('onion/message/max', MAX_MESSAGE_BYTES) },
];

const forward = forwardCases.map((c) =>
  agreed(c.name, (backend) => {
    const ephemeral = det(`onion/ephemeral/${c.hops}`, 32);
    const destination = det('onion/destination', 32);
    const { firstHop, packet } = createPacket(backend, { epoch: EPOCH, route: route(c.hops, c.delays), destination, message: c.message, ephemeral });
    const hops = walk(backend, firstHop, packet);
    const last = hops.at(-1)!.out;
    if (last.kind !== 'deliver' || !equalBytes(last.message, c.message)) throw new SpareCyclesError('INTERNAL', `${c.name}: does not deliver its message`);
    return {
      name: c.name,
      route: c.hops,
      delays: c.delays,
      ephemeral: toHex(ephemeral),
      destination: toHex(destination),
      message: toHex(c.message),
      hops: hops.map(hopJson),
    };
  }),
);

const surb = agreed('reply block', (backend) => {
  const ephemeral = det('onion/surb/ephemeral', 32);
  const mailbox = det('onion/surb/mailbox', 32);
  const id = det('onion/surb/id', 16);
  const made = createSurb(backend, { epoch: EPOCH, route: route(3, [0, 0, 0]), mailbox, id, ephemeral });
  const message = utf8('receipt for unit 42');
  const { firstHop, packet } = replyPacket(backend, made.surb, message);
  const hops = walk(backend, firstHop, packet);
  const last = hops.at(-1)!.out;
  if (last.kind !== 'reply' || !equalBytes(openReply(backend, made.secrets, last.payload), message)) throw new SpareCyclesError('INTERNAL', 'reply block: the reply does not open');
  return {
    name: 'a reply block over three relays',
    route: 3,
    ephemeral: toHex(ephemeral),
    mailbox: toHex(mailbox),
    id: toHex(id),
    surb: toHex(encodeSurb(made.surb)),
    message: toHex(message),
    hops: hops.map(hopJson),
  };
});

const kdf = agreed('hop keys', (backend) => {
  const alpha = backend.x25519PublicKey(det('onion/kdf/ephemeral', 32));
  const shared = backend.x25519(relays[0]!.secret, alpha);
  const k = hopKeys(backend, alpha, shared);
  return {
    alpha: toHex(alpha),
    shared: toHex(shared),
    headerMac: toHex(k.headerMac),
    headerStream: toHex(k.headerStream),
    payload: toHex(k.payload),
    blind: toHex(k.blind),
    replayTag: toHex(k.replayTag),
  };
});

const lioness = agreed('lioness', (backend) => {
  const key = det('onion/lioness/key', 32);
  const plain = det('onion/lioness/plain', 100);
  return { key: toHex(key), plain: toHex(plain), cipher: toHex(lionessEncrypt(backend, key, plain)) };
});

// Packets a relay must refuse, each with the error it raises: an edit of
// one good packet (bytes written at an offset, or a new length), processed
// by the relay named, with a fresh replay store.
const invalidBase = createPacket(nodeCrypto, {
  epoch: EPOCH,
  route: route(3),
  destination: det('onion/destination', 32),
  message: utf8('claim'),
  ephemeral: det('onion/ephemeral/invalid', 32),
}).packet;
type Edit = { at: number; hex: string } | { length: number };
const flip = (at: number, bit = 0): Edit => ({ at, hex: toHex(Uint8Array.of(invalidBase[at]! ^ (1 << bit))) });
const invalidCases: { name: string; relay?: number; edit?: Edit; error: string; code: string }[] = [
  { name: 'one byte short', edit: { length: ONION.packetBytes - 1 }, error: 'DecodeError', code: 'DECODE' },
  { name: 'one byte long', edit: { length: ONION.packetBytes + 1 }, error: 'DecodeError', code: 'DECODE' },
  { name: 'empty', edit: { length: 0 }, error: 'DecodeError', code: 'DECODE' },
  { name: 'version 0', edit: { at: 0, hex: '00' }, error: 'VersionError', code: 'VERSION' },
  { name: 'version 2', edit: { at: 0, hex: '02' }, error: 'VersionError', code: 'VERSION' },
  { name: 'an epoch the relay holds no key for', edit: flip(4), error: 'OnionError', code: 'ONION_EPOCH' },
  { name: 'alpha with its top bit set (not canonical)', edit: flip(ALPHA_OFFSET + 31, 7), error: 'KeyError', code: 'KEY' },
  { name: 'alpha of order 1 (u = 0)', edit: { at: ALPHA_OFFSET, hex: '00'.repeat(32) }, error: 'KeyError', code: 'KEY' },
  { name: 'alpha of order 4 (u = 1)', edit: { at: ALPHA_OFFSET, hex: `01${'00'.repeat(31)}` }, error: 'KeyError', code: 'KEY' },
  { name: 'alpha one bit off', edit: flip(ALPHA_OFFSET, 1), error: 'OnionError', code: 'ONION_MAC' },
  { name: "beta one bit off in this hop's slot", edit: flip(BETA_OFFSET + 3), error: 'OnionError', code: 'ONION_MAC' },
  { name: 'beta one bit off in the last slot', edit: flip(BETA_OFFSET + (ONION.maxHops - 1) * SLOT_BYTES + 7), error: 'OnionError', code: 'ONION_MAC' },
  { name: 'gamma one bit off', edit: flip(GAMMA_OFFSET + MAC_BYTES - 1, 7), error: 'OnionError', code: 'ONION_MAC' },
  { name: 'a packet for another relay', relay: 1, error: 'OnionError', code: 'ONION_MAC' },
];
const applyEdit = (edit: Edit | undefined): Uint8Array => {
  if (edit === undefined) return invalidBase.slice();
  if ('length' in edit) {
    const out = new Uint8Array(edit.length);
    out.set(invalidBase.subarray(0, edit.length));
    return out;
  }
  const out = invalidBase.slice();
  out.set(fromHex(edit.hex), edit.at);
  return out;
};
const invalid = invalidCases.map((c) => {
  const packet = applyEdit(c.edit);
  for (const backend of backends) {
    const relay = relays[c.relay ?? 0]!;
    try {
      processPacket(backend, packet, { keys: { secretFor: (e) => (e === EPOCH ? relay.secret : undefined) }, replay: new MemoryReplayStore() });
    } catch (error) {
      if (!(error instanceof SpareCyclesError) || error.name !== c.error || error.code !== c.code) throw new SpareCyclesError('INTERNAL', `${c.name}: expected ${c.code}, got ${String(error)}`);
      continue;
    }
    throw new SpareCyclesError('INTERNAL', `${c.name}: accepted by ${backend.name}`);
  }
  return { name: c.name, relay: c.relay ?? 0, ...(c.edit === undefined ? {} : { edit: c.edit }), error: c.error, code: c.code };
});
// The base itself goes through relay 0 once and is refused the second time.
{
  const replay = new MemoryReplayStore();
  const keys = { secretFor: (e: number) => (e === EPOCH ? relays[0]!.secret : undefined) };
  processPacket(nodeCrypto, invalidBase, { keys, replay });
  try {
    processPacket(nodeCrypto, invalidBase, { keys, replay });
    throw new SpareCyclesError('INTERNAL', 'a replay was accepted');
  } catch (error) {
    if (!(error instanceof SpareCyclesError) || error.code !== 'ONION_REPLAY') throw error;
  }
}

const file = {
  description:
    'SpareCycles onion packets (protocol/onion/, docs/onion.md): Sphinx over X25519 with fixed-size packets. `relays` are the ' +
    'X25519 onion secrets and ids of the relays routes are drawn from; every packet is under `epoch`. In `forward` and `surb`, ' +
    '`hops[i].packet` is what relay `hops[i].relay` receives, `replayTag` the tag it records and `result` what it makes of it; ' +
    'a forward result\'s packet is the next hop\'s. `kdf` is one hop\'s keys from alpha and its shared secret; `lioness` one ' +
    'block under the payload cipher. `invalidBase` goes through relay 0 once and is a replay (ONION_REPLAY) the second time; each `invalid` ' +
    'packet is `invalidBase` with `edit` applied (`hex` written at byte `at`, or cut or zero-padded to `length`), and, processed by relay ' +
    '`relay` with a fresh replay store, must raise `error` with `code`.',
  generatedBy: 'npx tsx scripts/generate-vectors-onion.ts',
  version: ONION.version,
  packetBytes: ONION.packetBytes,
  headerBytes: HEADER_BYTES,
  maxHops: ONION.maxHops,
  labels: ONION.labels,
  epoch: EPOCH,
  relays: relays.map((r) => ({ secret: toHex(r.secret), id: toHex(r.id), onionKey: toHex(r.onionKey) })),
  kdf,
  lioness,
  forward,
  surb,
  invalidBase: toHex(invalidBase),
  invalid,
};

const path = fileURLToPath(new URL('../test/vectors/onion.json', import.meta.url));
writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
console.log(`wrote ${forward.length} forward packets, a reply block and ${invalid.length} invalid packets to ${path}`);
