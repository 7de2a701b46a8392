// The onion packet format (protocol/onion/, docs/onion.md): the vectors in
// test/vectors/onion.json byte for byte with every backend; routes of every
// length there and back on reply blocks; what each hop can and cannot see;
// and every packet a relay must drop refused with its typed error.

import fc from 'fast-check';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import vectors from '../vectors/onion.json' with { type: 'json' };
import { equalBytes, fromHex, toHex, utf8 } from '../../protocol/bytes.ts';
import { ONION } from '../../protocol/constants.ts';
import type { CryptoBackend } from '../../protocol/crypto/backend.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { DecodeError, fromErrorRecord, KeyError, OnionError, SchemaError, SpareCyclesError, VersionError } from '../../protocol/errors.ts';
import {
  createPacket,
  createSurb,
  decodeSurb,
  encodeSurb,
  HEADER_BYTES,
  MAX_MESSAGE_BYTES,
  MemoryReplayStore,
  openReply,
  OVERHEAD,
  PAYLOAD_BYTES,
  processPacket,
  replyPacket,
  SURB_BYTES,
  type OnionHop,
  type Processed,
  type ReplayStore,
} from '../../protocol/onion/index.ts';
import { hkdfExpand, hmacSha256, hopKeys } from '../../protocol/onion/kdf.ts';
import { ALPHA_OFFSET, BETA_BYTES, SLOT_BYTES } from '../../protocol/onion/layout.ts';
import { lionessDecrypt, lionessEncrypt, stream } from '../../protocol/onion/lioness.ts';
import { caught } from '../support/caught.ts';

const BACKENDS: CryptoBackend[] = [nodeCrypto, nobleCrypto, naclCrypto];
const EPOCH = vectors.epoch;
const relays = vectors.relays.map((r) => ({ secret: fromHex(r.secret), id: fromHex(r.id), onionKey: fromHex(r.onionKey) }));

interface Relay {
  secret: Uint8Array;
  id: Uint8Array;
  onionKey: Uint8Array;
  replay: ReplayStore;
}

function freshRelays(backend: CryptoBackend, n: number): Relay[] {
  return Array.from({ length: n }, () => {
    const secret = backend.randomBytes(32);
    return { secret, id: backend.randomBytes(32), onionKey: backend.x25519PublicKey(secret), replay: new MemoryReplayStore() };
  });
}

const hopsOf = (rs: readonly Relay[]): OnionHop[] => rs.map((r) => ({ id: r.id, onionKey: r.onionKey }));
const keysAt = (secret: Uint8Array, epoch = EPOCH) => ({ secretFor: (e: number) => (e === epoch ? secret : undefined) });

/** Sends a packet along the relays it names; every packet seen on the way and the last hop's result. */
function walk(backend: CryptoBackend, network: readonly Relay[], firstHop: Uint8Array, packet: Uint8Array) {
  const seen: { relay: Relay; packet: Uint8Array; out: Processed }[] = [];
  let at = firstHop;
  let p = packet;
  for (;;) {
    const relay = network.find((r) => equalBytes(r.id, at));
    if (relay === undefined) throw new Error(`no relay ${toHex(at)}`);
    const out = processPacket(backend, p, { keys: keysAt(relay.secret), replay: relay.replay });
    seen.push({ relay, packet: p, out });
    if (out.kind !== 'forward') return { seen, last: out };
    at = out.next;
    p = out.packet;
  }
}

function codeOf(f: () => unknown): string | undefined {
  const error = caught(f);
  if (error === undefined) return undefined;
  if (!(error instanceof SpareCyclesError)) throw error;
  return error.code;
}

describe('onion: the format', () => {
  it('has the sizes and labels the vectors were made with', () => {
    expect(vectors.version).toBe(ONION.version);
    expect(vectors.packetBytes).toBe(ONION.packetBytes);
    expect(vectors.headerBytes).toBe(HEADER_BYTES);
    expect(vectors.maxHops).toBe(ONION.maxHops);
    expect(vectors.labels).toEqual(ONION.labels);
    expect(HEADER_BYTES + PAYLOAD_BYTES).toBe(ONION.packetBytes);
    expect(ONION.maxHops).toBeGreaterThanOrEqual(5);
  });

  it('spends at most 15% of a packet on anything but the message, at any route length', () => {
    expect(OVERHEAD).toBeLessThanOrEqual(0.15);
    expect(OVERHEAD).toBe((ONION.packetBytes - MAX_MESSAGE_BYTES) / ONION.packetBytes);
  });

  it('rebuilds its error codes from a record', () => {
    for (const code of ['ONION_MAC', 'ONION_REPLAY', 'ONION_PAYLOAD', 'ONION_EPOCH'] as const) {
      const rebuilt = fromErrorRecord({ code, message: code });
      expect(rebuilt).toBeInstanceOf(OnionError);
      expect(rebuilt.code).toBe(code);
    }
  });

  it('builds its HMAC and HKDF over any backend to the same bytes as @noble/hashes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 200 }), (key, data, length) => {
        for (const backend of BACKENDS) {
          expect(toHex(hmacSha256(backend, key, data))).toBe(toHex(hmac(sha256, key, data)));
          const prk = hmac(sha256, key, data);
          expect(toHex(hkdfExpand(backend, prk, key, length))).toBe(toHex(hkdf(sha256, data, key, key, length)));
        }
      }),
      { numRuns: 100 },
    );
  });

  it.each(BACKENDS)('derives one hop\'s keys as the vector says ($name)', (backend) => {
    const alpha = fromHex(vectors.kdf.alpha);
    const shared = backend.x25519(relays[0]!.secret, alpha);
    expect(toHex(shared)).toBe(vectors.kdf.shared);
    const k = hopKeys(backend, alpha, shared);
    const { alpha: _alpha, shared: _shared, ...expected } = vectors.kdf;
    expect({
      headerMac: toHex(k.headerMac),
      headerStream: toHex(k.headerStream),
      payload: toHex(k.payload),
      blind: toHex(k.blind),
      replayTag: toHex(k.replayTag),
    }).toEqual(expected);
  });

  it('encrypts the LIONESS vector and decrypts it back', () => {
    const key = fromHex(vectors.lioness.key);
    for (const backend of BACKENDS) {
      expect(toHex(lionessEncrypt(backend, key, fromHex(vectors.lioness.plain)))).toBe(vectors.lioness.cipher);
      expect(toHex(lionessDecrypt(backend, key, fromHex(vectors.lioness.cipher)))).toBe(vectors.lioness.plain);
    }
  });

  it('garbles the whole LIONESS block when any one bit of it changes', () => {
    const key = nodeCrypto.randomBytes(32);
    const plain = new Uint8Array(PAYLOAD_BYTES);
    const cipher = lionessEncrypt(nodeCrypto, key, plain);
    fc.assert(
      fc.property(fc.nat(PAYLOAD_BYTES * 8 - 1), (bit) => {
        const bad = cipher.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        const out = lionessDecrypt(nodeCrypto, key, bad);
        // Not one 32-byte stretch survives, the zero tag least of all.
        for (let i = 0; i + 32 <= out.length; i += 32) expect(out.subarray(i, i + 32).every((b) => b === 0)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });
});

describe('onion: key blinding', () => {
  // X25519 clamps every scalar it is given (clears the low three bits, sets
  // bit 254), so a blinding factor b acts as the integer clamp(b). Two
  // clamped scalars still commute: [clamp(a)]([clamp(b)]P) = [clamp(b)]([clamp(a)]P)
  // for any point, as the relay and the sender need.
  it.each([nodeCrypto, nobleCrypto])('commutes under clamping, in any order ($name)', (backend) => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b, s) => {
        const p = backend.x25519PublicKey(s);
        expect(toHex(backend.x25519(a, backend.x25519(b, p)))).toBe(toHex(backend.x25519(b, backend.x25519(a, p))));
      }),
      { numRuns: 30 },
    );
  });

  it('lets the hop reach the secret the sender chained: sk·b1·b0·x·G both ways', () => {
    const backend = nobleCrypto;
    const [x, sk, b0, b1] = [1, 2, 3, 4].map(() => backend.randomBytes(32)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    const alpha2 = backend.x25519(b1, backend.x25519(b0, backend.x25519PublicKey(x)));
    const sender = backend.x25519(b1, backend.x25519(b0, backend.x25519(x, backend.x25519PublicKey(sk))));
    expect(toHex(backend.x25519(sk, alpha2))).toBe(toHex(sender));
  });
});

describe('onion: the vectors', () => {
  const relayByIndex = (i: number) => relays[i]!;

  it.each(BACKENDS)('builds and peels every forward vector byte for byte ($name)', (backend) => {
    for (const v of vectors.forward) {
      const route = relays.slice(0, v.route).map((r, i) => ({ id: r.id, onionKey: r.onionKey, delayMs: v.delays[i]! }));
      const { firstHop, packet } = createPacket(backend, {
        epoch: EPOCH,
        route,
        destination: fromHex(v.destination),
        message: fromHex(v.message),
        ephemeral: fromHex(v.ephemeral),
      });
      expect(toHex(firstHop)).toBe(toHex(relays[0]!.id));
      expect(toHex(packet)).toBe(v.hops[0]!.packet);
      checkHops(backend, v.hops);
    }
  });

  it.each(BACKENDS)('makes the reply block of the vector and peels its reply byte for byte ($name)', (backend) => {
    const v = vectors.surb;
    const route = relays.slice(0, v.route).map((r) => ({ id: r.id, onionKey: r.onionKey }));
    const made = createSurb(backend, { epoch: EPOCH, route, mailbox: fromHex(v.mailbox), id: fromHex(v.id), ephemeral: fromHex(v.ephemeral) });
    expect(toHex(encodeSurb(made.surb))).toBe(v.surb);
    const { packet } = replyPacket(backend, decodeSurb(fromHex(v.surb)), fromHex(v.message));
    expect(toHex(packet)).toBe(v.hops[0]!.packet);
    checkHops(backend, v.hops);
    const last = v.hops.at(-1)!.result as { payload: string };
    expect(toHex(openReply(backend, made.secrets, fromHex(last.payload)))).toBe(v.message);
  });

  function checkHops(backend: CryptoBackend, hops: readonly { relay: number; packet: string; replayTag: string; result: Record<string, unknown> }[]) {
    hops.forEach((hop, i) => {
      const relay = relayByIndex(hop.relay);
      const packet = fromHex(hop.packet);
      const alpha = packet.subarray(ALPHA_OFFSET, ALPHA_OFFSET + 32);
      expect(toHex(hopKeys(backend, alpha, backend.x25519(relay.secret, alpha)).replayTag)).toBe(hop.replayTag);
      const out = processPacket(backend, packet, { keys: keysAt(relay.secret), replay: new MemoryReplayStore() });
      const r = hop.result;
      expect(out.kind).toBe(r.kind);
      expect(out.delayMs).toBe(r.delayMs);
      if (out.kind === 'forward') {
        expect(toHex(out.next)).toBe(r.next);
        expect(toHex(out.packet)).toBe(hops[i + 1]!.packet);
      } else if (out.kind === 'deliver') {
        expect(toHex(out.destination)).toBe(r.destination);
        expect(toHex(out.message)).toBe(r.message);
      } else {
        expect(toHex(out.destination)).toBe(r.destination);
        expect(toHex(out.surbId)).toBe(r.surbId);
        expect(toHex(out.payload)).toBe(r.payload);
      }
    });
  }

  const applyEdit = (edit: { at: number; hex: string } | { length: number } | undefined): Uint8Array => {
    const base = fromHex(vectors.invalidBase);
    if (edit === undefined) return base;
    if ('length' in edit) {
      const out = new Uint8Array(edit.length);
      out.set(base.subarray(0, edit.length));
      return out;
    }
    base.set(fromHex(edit.hex), edit.at);
    return base;
  };

  it.each(vectors.invalid)('refuses $name with $code', (v) => {
    for (const backend of BACKENDS) {
      const replay = new MemoryReplayStore();
      const error = caught(() => processPacket(backend, applyEdit(v.edit), { keys: keysAt(relays[v.relay]!.secret), replay }));
      expect(error).toBeInstanceOf(SpareCyclesError);
      expect((error as SpareCyclesError).name).toBe(v.error);
      expect((error as SpareCyclesError).code).toBe(v.code);
      // Nothing but a packet whose MAC verified leaves a trace.
      expect(replay.size).toBe(0);
    }
  });

  it('refuses the base packet of the invalid vectors the second time', () => {
    const replay = new MemoryReplayStore();
    const keys = keysAt(relays[0]!.secret);
    expect(processPacket(nodeCrypto, fromHex(vectors.invalidBase), { keys, replay }).kind).toBe('forward');
    expect(codeOf(() => processPacket(nobleCrypto, fromHex(vectors.invalidBase), { keys, replay }))).toBe('ONION_REPLAY');
  });
});

describe('onion: routes', () => {
  it('delivers over every route length from 1 to the most hops, with its delays and destination', () => {
    for (let n = 1; n <= ONION.maxHops; n++) {
      const network = freshRelays(nodeCrypto, n);
      const destination = nodeCrypto.randomBytes(32);
      const message = nodeCrypto.randomBytes(n * 100);
      const route = network.map((r, i) => ({ id: r.id, onionKey: r.onionKey, delayMs: 1000 * i + n }));
      const { firstHop, packet } = createPacket(nodeCrypto, { epoch: EPOCH, route, destination, message });
      expect(equalBytes(firstHop, network[0]!.id)).toBe(true);
      const { seen, last } = walk(nodeCrypto, network, firstHop, packet);
      expect(seen.map((s) => s.relay)).toEqual(network);
      expect(seen.map((s) => s.out.delayMs)).toEqual(route.map((r) => r.delayMs));
      expect(last.kind).toBe('deliver');
      if (last.kind === 'deliver') {
        expect(toHex(last.destination)).toBe(toHex(destination));
        expect(toHex(last.message)).toBe(toHex(message));
      }
    }
  });

  it('carries the empty message and the longest one', () => {
    const network = freshRelays(nodeCrypto, 3);
    for (const message of [new Uint8Array(0), nodeCrypto.randomBytes(MAX_MESSAGE_BYTES)]) {
      const { firstHop, packet } = createPacket(nodeCrypto, { epoch: EPOCH, route: hopsOf(network), destination: new Uint8Array(32), message });
      const { last } = walk(nodeCrypto, network, firstHop, packet);
      expect(last.kind === 'deliver' && toHex(last.message)).toBe(toHex(message));
    }
  });

  it('brings a reply back on a reply block over every route length, and only once', () => {
    for (let n = 1; n <= ONION.maxHops; n++) {
      const network = freshRelays(nodeCrypto, n);
      const mailbox = nodeCrypto.randomBytes(32);
      // The maker builds with the browser's backend, the replier and relays with Node's.
      const { surb, secrets } = createSurb(nobleCrypto, { epoch: EPOCH, route: hopsOf(network), mailbox });
      const carried = decodeSurb(encodeSurb(surb));
      expect(encodeSurb(surb).length).toBe(SURB_BYTES);
      const message = utf8(`receipt ${n}`);
      const reply = replyPacket(nodeCrypto, carried, message);
      const { last } = walk(nodeCrypto, network, reply.firstHop, reply.packet);
      expect(last.kind).toBe('reply');
      if (last.kind !== 'reply') continue;
      expect(toHex(last.destination)).toBe(toHex(mailbox));
      expect(toHex(last.surbId)).toBe(toHex(secrets.id));
      expect(openReply(nobleCrypto, secrets, last.payload)).toEqual(message);
      // A second answer on the same block has the same replay tag at its first hop.
      const again = replyPacket(nodeCrypto, carried, utf8('again'));
      expect(codeOf(() => walk(nodeCrypto, network, again.firstHop, again.packet))).toBe('ONION_REPLAY');
    }
  });

  it('never writes into the bytes it is given, Node Buffers included', () => {
    const network = freshRelays(nodeCrypto, 3);
    const out = createPacket(nodeCrypto, { epoch: EPOCH, route: hopsOf(network), destination: new Uint8Array(32).fill(7), message: utf8('a buffer') });
    // A Buffer's slice is a view: a decoder that slices and then writes would change the caller's packet.
    const given = Buffer.from(out.packet);
    const processed = processPacket(nodeCrypto, given, { keys: keysAt(network[0]!.secret), replay: network[0]!.replay });
    expect(equalBytes(given, out.packet)).toBe(true);
    expect(processed.kind).toBe('forward');

    const mailbox = nodeCrypto.randomBytes(32);
    const { surb, secrets } = createSurb(nodeCrypto, { epoch: EPOCH, route: hopsOf(network), mailbox });
    const encoded = Buffer.from(encodeSurb(surb));
    const decoded = decodeSurb(encoded);
    decoded.key.fill(0);
    expect(equalBytes(encoded, encodeSurb(surb))).toBe(true); // the fields own their memory
    const reply = replyPacket(nodeCrypto, decodeSurb(encodeSurb(surb)), utf8('twice'));
    const { last } = walk(nodeCrypto, network, reply.firstHop, reply.packet);
    if (last.kind !== 'reply') throw new Error('expected a reply');
    const payload = Buffer.from(last.payload);
    const other = createSurb(nodeCrypto, { epoch: EPOCH, route: hopsOf(network), mailbox }).secrets;
    // Trying the wrong secrets first leaves the payload whole for the right ones.
    expect(codeOf(() => openReply(nodeCrypto, other, payload))).toBe('ONION_PAYLOAD');
    expect(openReply(nodeCrypto, secrets, payload)).toEqual(utf8('twice'));
  });

  it('refuses a reply opened with another block\'s secrets', () => {
    const network = freshRelays(nodeCrypto, 3);
    const a = createSurb(nodeCrypto, { epoch: EPOCH, route: hopsOf(network), mailbox: new Uint8Array(32) });
    const b = createSurb(nodeCrypto, { epoch: EPOCH, route: hopsOf(network), mailbox: new Uint8Array(32) });
    const reply = replyPacket(nodeCrypto, a.surb, utf8('for a'));
    const { last } = walk(nodeCrypto, network, reply.firstHop, reply.packet);
    expect(last.kind).toBe('reply');
    if (last.kind === 'reply') expect(codeOf(() => openReply(nodeCrypto, b.secrets, last.payload))).toBe('ONION_PAYLOAD');
  });

  it('shows each hop its next hop and nothing further along', () => {
    const network = freshRelays(nodeCrypto, ONION.maxHops);
    const destination = nodeCrypto.randomBytes(32);
    const message = nodeCrypto.randomBytes(64);
    const { firstHop, packet } = createPacket(nodeCrypto, { epoch: EPOCH, route: hopsOf(network), destination, message });
    const { seen } = walk(nodeCrypto, network, firstHop, packet);
    seen.forEach(({ relay, packet: p }, i) => {
      // Everything the hop can open: its beta with a slot shifted in, decrypted.
      const alpha = p.subarray(ALPHA_OFFSET, ALPHA_OFFSET + 32);
      const keys = hopKeys(nodeCrypto, alpha, nodeCrypto.x25519(relay.secret, alpha));
      const padded = new Uint8Array(BETA_BYTES + SLOT_BYTES);
      padded.set(p.subarray(ALPHA_OFFSET + 32, ALPHA_OFFSET + 32 + BETA_BYTES));
      const open = stream(keys.headerStream, padded);
      const visible = [p, open];
      const next = i + 1 < network.length ? network[i + 1]!.id : destination;
      expect(indexOf(open, next)).toBe(5);
      for (const [j, other] of network.entries()) {
        if (j === i + 1) continue;
        for (const bytes of visible) expect(indexOf(bytes, other.id), `hop ${i} sees relay ${j}`).toBe(-1);
      }
      if (i < network.length - 1) {
        for (const bytes of visible) {
          expect(indexOf(bytes, destination), `hop ${i} sees the destination`).toBe(-1);
          expect(indexOf(bytes, message), `hop ${i} sees the message`).toBe(-1);
        }
      }
    });
  });

  it('hides the route length from the last hop: what follows its slot looks random for every length', () => {
    for (let n = 1; n <= ONION.maxHops; n++) {
      const network = freshRelays(nodeCrypto, n);
      const { firstHop, packet } = createPacket(nodeCrypto, { epoch: EPOCH, route: hopsOf(network), destination: new Uint8Array(32), message: utf8('x') });
      const { seen } = walk(nodeCrypto, network, firstHop, packet);
      const { relay, packet: p } = seen.at(-1)!;
      const alpha = p.subarray(ALPHA_OFFSET, ALPHA_OFFSET + 32);
      const keys = hopKeys(nodeCrypto, alpha, nodeCrypto.x25519(relay.secret, alpha));
      const open = stream(keys.headerStream, p.subarray(ALPHA_OFFSET + 32, ALPHA_OFFSET + 32 + BETA_BYTES));
      const rest = open.subarray(SLOT_BYTES);
      expect(rest.length).toBe(BETA_BYTES - SLOT_BYTES);
      // No run of 8 equal bytes (zero padding would give one): 2^-56 per place by chance.
      for (let i = 0; i + 8 <= rest.length; i++) expect(rest.subarray(i + 1, i + 8).every((b) => b === rest[i])).toBe(false);
    }
  });

  it('makes the packets at each hop one size and bitwise unrelated', () => {
    const network = freshRelays(nodeCrypto, ONION.maxHops);
    const message = new Uint8Array(MAX_MESSAGE_BYTES).fill(0x41);
    const { firstHop, packet } = createPacket(nodeCrypto, { epoch: EPOCH, route: hopsOf(network), destination: new Uint8Array(32), message });
    const { seen } = walk(nodeCrypto, network, firstHop, packet);
    const packets = seen.map((s) => s.packet);
    for (const p of packets) expect(p.length).toBe(ONION.packetBytes);
    // Beyond the version and the epoch (the same for every packet of an
    // epoch), no 8-byte string of one packet appears in another: by chance
    // that has odds of about 2^-40 for the lot.
    const windows = packets.map((p) => {
      const set = new Set<string>();
      for (let i = ALPHA_OFFSET; i + 8 <= p.length; i++) set.add(toHex(p.subarray(i, i + 8)));
      return set;
    });
    for (let a = 0; a < windows.length; a++) {
      for (let b = a + 1; b < windows.length; b++) {
        for (const w of windows[a]!) expect(windows[b]!.has(w), `hops ${a} and ${b} share ${w}`).toBe(false);
      }
    }
  });
});

describe('onion: tampering', () => {
  const network = freshRelays(nodeCrypto, 3);
  const route = hopsOf(network);
  const messageOf = (seed: number) => utf8(`unit ${seed}`);

  it('detects any single bit flipped anywhere in a packet, at whichever hop it happens', () => {
    fc.assert(
      fc.property(fc.nat(ONION.packetBytes * 8 - 1), fc.nat(2), fc.nat(1000), (bit, hop, seed) => {
        const replays = network.map((r) => ({ ...r, replay: new MemoryReplayStore() }));
        const { firstHop, packet } = createPacket(nodeCrypto, { epoch: EPOCH, route, destination: new Uint8Array(32), message: messageOf(seed) });
        // Carry it honestly to `hop`, then flip the bit on the link.
        let p = packet;
        let at = firstHop;
        for (let i = 0; i < hop; i++) {
          const out = processPacket(nodeCrypto, p, { keys: keysAt(replays[i]!.secret), replay: replays[i]!.replay });
          if (out.kind !== 'forward') throw new Error('delivered early');
          p = out.packet;
          at = out.next;
        }
        const bad = p.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        const inHeader = bit >> 3 < HEADER_BYTES;
        const error = caught(() => walk(nodeCrypto, replays, at, bad));
        expect(error).toBeInstanceOf(SpareCyclesError);
        const code = (error as SpareCyclesError).code;
        // A header is caught by the hop it reaches, a payload at the end of the route.
        if (inHeader) expect(['ONION_MAC', 'VERSION', 'ONION_EPOCH', 'KEY']).toContain(code);
        else expect(code).toBe('ONION_PAYLOAD');
        if (inHeader) expect(replays[hop]!.replay.size).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('detects any single bit flipped in a reply, when its maker opens it', () => {
    fc.assert(
      fc.property(fc.nat(PAYLOAD_BYTES * 8 - 1), (bit) => {
        const fresh = network.map((r) => ({ ...r, replay: new MemoryReplayStore() }));
        const { surb, secrets } = createSurb(nodeCrypto, { epoch: EPOCH, route, mailbox: new Uint8Array(32) });
        const reply = replyPacket(nodeCrypto, surb, utf8('receipt'));
        const bad = reply.packet.slice();
        bad[HEADER_BYTES + (bit >> 3)]! ^= 1 << (bit & 7);
        const { last } = walk(nodeCrypto, fresh, reply.firstHop, bad);
        expect(last.kind).toBe('reply');
        if (last.kind === 'reply') expect(codeOf(() => openReply(nodeCrypto, secrets, last.payload))).toBe('ONION_PAYLOAD');
      }),
      { numRuns: 50 },
    );
  });
});

describe('onion: what a relay refuses', () => {
  const [relay] = freshRelays(nodeCrypto, 1) as [Relay];
  const make = (epoch = EPOCH) => createPacket(nodeCrypto, { epoch, route: hopsOf([relay]), destination: new Uint8Array(32), message: utf8('x') }).packet;

  it('refuses a replay in the same epoch, and keeps epochs apart', () => {
    const replay = new MemoryReplayStore();
    const packet = make();
    expect(processPacket(nodeCrypto, packet, { keys: keysAt(relay.secret), replay }).kind).toBe('deliver');
    const error = caught(() => processPacket(nodeCrypto, packet, { keys: keysAt(relay.secret), replay }));
    expect(error).toBeInstanceOf(OnionError);
    expect((error as OnionError).code).toBe('ONION_REPLAY');
    // The same tag under another epoch is another key's tag.
    const tag = nodeCrypto.randomBytes(32);
    expect(replay.add(1, tag)).toBe(true);
    expect(replay.add(2, tag)).toBe(true);
    expect(replay.add(1, tag)).toBe(false);
    replay.forgetBefore(2);
    expect(replay.add(1, tag)).toBe(true);
    expect(replay.add(2, tag)).toBe(false);
  });

  it('refuses a packet under an expired epoch, and accepts it while the old key is kept', () => {
    const packet = make(EPOCH);
    const rotated = { secretFor: (e: number) => (e === EPOCH + 1 ? nodeCrypto.randomBytes(32) : undefined) };
    const error = caught(() => processPacket(nodeCrypto, packet, { keys: rotated, replay: new MemoryReplayStore() }));
    expect(error).toBeInstanceOf(OnionError);
    expect((error as OnionError).code).toBe('ONION_EPOCH');
    const grace = { secretFor: (e: number) => (e === EPOCH ? relay.secret : e === EPOCH + 1 ? nodeCrypto.randomBytes(32) : undefined) };
    expect(processPacket(nodeCrypto, packet, { keys: grace, replay: new MemoryReplayStore() }).kind).toBe('deliver');
  });

  it('refuses wrong sizes, unknown versions and a key that is not its own', () => {
    const packet = make();
    const replay = new MemoryReplayStore();
    for (const length of [0, 1, HEADER_BYTES, ONION.packetBytes - 1, ONION.packetBytes + 1, 2 * ONION.packetBytes]) {
      const p = new Uint8Array(length);
      p.set(packet.subarray(0, length));
      expect(caught(() => processPacket(nodeCrypto, p, { keys: keysAt(relay.secret), replay }))).toBeInstanceOf(DecodeError);
    }
    for (const version of [0, 2, 255]) {
      const p = packet.slice();
      p[0] = version;
      const error = caught(() => processPacket(nodeCrypto, p, { keys: keysAt(relay.secret), replay }));
      expect(error).toBeInstanceOf(VersionError);
      expect((error as VersionError).got).toBe(version);
    }
    expect(codeOf(() => processPacket(nodeCrypto, packet, { keys: keysAt(nodeCrypto.randomBytes(32)), replay }))).toBe('ONION_MAC');
    expect(replay.size).toBe(0);
  });

  it('refuses to build what it could not carry', () => {
    const destination = new Uint8Array(32);
    const six = freshRelays(nodeCrypto, ONION.maxHops + 1);
    const build = (over: Partial<Parameters<typeof createPacket>[1]>) =>
      caught(() => createPacket(nodeCrypto, { epoch: EPOCH, route: hopsOf([relay]), destination, message: utf8('x'), ...over }));
    expect(build({ route: [] })).toBeInstanceOf(SchemaError);
    expect(build({ route: hopsOf(six) })).toBeInstanceOf(SchemaError);
    expect(build({ message: new Uint8Array(MAX_MESSAGE_BYTES + 1) })).toBeInstanceOf(SchemaError);
    expect(build({ destination: new Uint8Array(31) })).toBeInstanceOf(SchemaError);
    expect(build({ epoch: -1 })).toBeInstanceOf(SchemaError);
    expect(build({ epoch: 2 ** 32 })).toBeInstanceOf(SchemaError);
    expect(build({ route: [{ id: relay.id, onionKey: new Uint8Array(31) }] })).toBeInstanceOf(KeyError);
    expect(build({ route: [{ id: relay.id, onionKey: new Uint8Array(32) }] })).toBeInstanceOf(KeyError);
    expect(build({ route: [{ id: new Uint8Array(20), onionKey: relay.onionKey }] })).toBeInstanceOf(SchemaError);
    expect(build({ route: [{ id: relay.id, onionKey: relay.onionKey, delayMs: -1 }] })).toBeInstanceOf(SchemaError);
    expect(build({ route: [{ id: relay.id, onionKey: relay.onionKey, delayMs: 2 ** 32 }] })).toBeInstanceOf(SchemaError);
  });

  it('refuses a reply block id of the wrong size or of zeros', () => {
    for (const id of [new Uint8Array(15), new Uint8Array(16)]) {
      expect(caught(() => createSurb(nodeCrypto, { epoch: EPOCH, route: hopsOf([relay]), mailbox: new Uint8Array(32), id }))).toBeInstanceOf(SchemaError);
    }
  });

  it('refuses a reply block of the wrong size or version', () => {
    const bytes = encodeSurb(createSurb(nodeCrypto, { epoch: EPOCH, route: hopsOf([relay]), mailbox: new Uint8Array(32) }).surb);
    expect(caught(() => decodeSurb(bytes.subarray(1)))).toBeInstanceOf(DecodeError);
    expect(caught(() => decodeSurb(Uint8Array.from([...bytes, 0])))).toBeInstanceOf(DecodeError);
    for (const at of [0, 33]) {
      const bad = bytes.slice();
      bad[at] = 2;
      expect(caught(() => decodeSurb(bad))).toBeInstanceOf(VersionError);
    }
  });
});

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
