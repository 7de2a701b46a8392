// A relay's onion forwarding without sockets: three routers whose links are
// function calls, fixed onion keys, real packets. Forwarding, delivery to
// mailboxes, exits answering on reply blocks, every refusal counted by its
// code, replays, limits; the onion socket with a stand-in WebSocket for
// clients' budgets and links' handshakes; the link frames themselves.

import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import vectors from '../vectors/onion-relay.json' with { type: 'json' };
import { equalBytes, fromHex, toHex } from '../../protocol/bytes.ts';
import { ONION, ONION_RELAY } from '../../protocol/constants.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { SignatureError, VersionError, type SpareCyclesError } from '../../protocol/errors.ts';
import { createPacket, createSurb, openReply, type OnionHop } from '../../protocol/onion/index.ts';
import { decodeEnvelope, encodeEnvelope, mailboxId, MAX_ENVELOPE_BODY, mintExitId } from '../../protocol/onion/envelope.ts';
import { decodeLinkFrame, encodeLinkFrame, linkTranscript, signLink, verifyLink } from '../../protocol/onion/link.ts';
import { RelayMetrics } from '../../relay/metrics.ts';
import { OnionLinks } from '../../relay/onion-links.ts';
import { Mailboxes, type Mail } from '../../relay/onion-mailboxes.ts';
import { ExitRegistry, OnionRouter, type RouterLimits } from '../../relay/onion-router.ts';
import { OnionSocket } from '../../relay/onion-socket.ts';
import { silentLogger } from '../../serve/log.ts';
import type { WsSocket } from '../../serve/ws.ts';

const EPOCH = 1000;

interface TestRelay {
  identity: Identity;
  secret: Uint8Array;
  metrics: RelayMetrics;
  mailboxes: Mailboxes;
  exits: ExitRegistry;
  router: OnionRouter;
}

/** Three relays whose links are calls into each other's routers. `down` names relays no link reaches. */
function mesh(limits: Partial<RouterLimits> = {}, down = new Set<string>()) {
  const relays: TestRelay[] = [];
  let epoch = EPOCH;
  for (let i = 0; i < 3; i++) {
    const identity = Identity.generate(backend);
    const secret = backend.randomBytes(32);
    const metrics = new RelayMetrics();
    const mailboxes = new Mailboxes(backend);
    const exits = new ExitRegistry();
    const router = new OnionRouter({
      backend,
      id: identity.publicKey,
      keys: { secretFor: (e) => (e === epoch || e === epoch - 1 ? secret : undefined) },
      epoch: () => epoch,
      send: (next, packet) => {
        const to = relays.find((r) => equalBytes(r.identity.publicKey, next));
        if (!to || down.has(toHex(next))) return false;
        metrics.onionOut++;
        to.router.receive(packet, 'link');
        return true;
      },
      mailboxes,
      exits,
      metrics,
      log: silentLogger,
      limits,
    });
    relays.push({ identity, secret, metrics, mailboxes, exits, router });
  }
  const route = (order: number[], delays: number[] = []): OnionHop[] =>
    order.map((i, k) => ({ id: relays[i]!.identity.publicKey, onionKey: backend.x25519PublicKey(relays[i]!.secret), delayMs: delays[k] ?? 0 }));
  return { relays, route, setEpoch: (e: number) => (epoch = e) };
}

/** A mailbox opened on `relay`, and the mail it got. */
function openMailbox(relay: TestRelay) {
  const secret = backend.randomBytes(32);
  const got: Mail[] = [];
  const id = relay.mailboxes.open(secret, (_box, mail) => (got.push(mail), true))!;
  return { id, secret, got };
}

const refused = (r: TestRelay, code: string) => r.metrics.onionRefused.get(code) ?? 0;

describe('onion router', () => {
  it('forwards a packet along three relays to a mailbox on the last', () => {
    const { relays, route } = mesh();
    const box = openMailbox(relays[2]!);
    const message = new TextEncoder().encode('hello through three relays');
    const { firstHop, packet } = createPacket(backend, { epoch: EPOCH, route: route([0, 1, 2]), destination: box.id, message });
    expect(equalBytes(firstHop, relays[0]!.identity.publicKey)).toBe(true);
    relays[0]!.router.receive(packet, 'client');
    expect(box.got).toHaveLength(1);
    expect(box.got[0]!.data).toEqual(message);
    expect(box.got[0]!.surbId).toBeUndefined();
    expect(relays[0]!.metrics.onionIn.get('client')).toBe(1);
    expect(relays[1]!.metrics.onionIn.get('link')).toBe(1);
    expect(relays[2]!.metrics.onionDelivered.get('mailbox')).toBe(1);
    for (const r of relays) expect(r.metrics.onionRefused.size).toBe(0);
  });

  it('holds mail for an owner who is away, up to the cap and for the TTL, and hands it over on reopening', () => {
    let now = 0;
    const boxes = new Mailboxes(backend, { ttlMs: 1000, perMailbox: 2 }, () => now);
    const secret = backend.randomBytes(32);
    const owner = () => true;
    const id = boxes.open(secret, owner)!;
    expect(equalBytes(id, mailboxId(backend, secret))).toBe(true);
    boxes.release(owner);
    expect(boxes.put(id, { data: Uint8Array.of(1) })).toBe('held');
    expect(boxes.put(id, { data: Uint8Array.of(2) })).toBe('held');
    expect(boxes.put(id, { data: Uint8Array.of(3) })).toBe('full');
    expect(boxes.put(backend.randomBytes(32), { data: Uint8Array.of(4) })).toBe('unknown');
    const got: number[] = [];
    const back = (_id: Uint8Array, mail: Mail) => (got.push(mail.data[0]!), true);
    boxes.open(secret, back);
    expect(got).toEqual([1, 2]);
    expect(boxes.put(id, { data: Uint8Array.of(5) })).toBe('pushed');
    // Gone for longer than the TTL with nothing held: the mailbox is forgotten, one with an owner is not.
    boxes.release(back);
    boxes.open(backend.randomBytes(32), owner);
    expect(boxes.size).toBe(2);
    now = 5000;
    boxes.sweep();
    expect(boxes.size).toBe(1);
    expect(boxes.has(id)).toBe(false);
  });

  it('keeps the mailbox of an owner that was backed up, and hands over what it held, in order, once it drains', () => {
    const boxes = new Mailboxes(backend, { ttlMs: 60_000, perMailbox: 8 });
    const got: number[] = [];
    let backedUp = false;
    const owner = (_id: Uint8Array, mail: Mail) => !backedUp && (got.push(mail.data[0]!), true);
    const id = boxes.open(backend.randomBytes(32), owner)!;
    expect(boxes.put(id, { data: Uint8Array.of(1) })).toBe('pushed');
    backedUp = true;
    expect(boxes.put(id, { data: Uint8Array.of(2) })).toBe('held');
    expect(boxes.put(id, { data: Uint8Array.of(3) })).toBe('held');
    backedUp = false;
    // The owner is still connected: the next mail goes after what was held, with no reopening.
    expect(boxes.put(id, { data: Uint8Array.of(4) })).toBe('pushed');
    expect(got).toEqual([1, 2, 3, 4]);
    backedUp = true;
    expect(boxes.put(id, { data: Uint8Array.of(5) })).toBe('held');
    backedUp = false;
    // With no more mail coming, a sweep hands it over.
    boxes.sweep();
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(boxes.held).toBe(0);
  });

  it('gets an exit answer back on the reply block, which only its maker opens', async () => {
    const { relays, route } = mesh();
    const replyBox = openMailbox(relays[0]!);
    const exitId = backend.sha256(new TextEncoder().encode('an exit'));
    const seen: Uint8Array[] = [];
    relays[2]!.exits.set(exitId, (message, answer) => {
      const envelope = decodeEnvelope(message);
      seen.push(envelope.body);
      answer(envelope.surb, new TextEncoder().encode(`echo:${new TextDecoder().decode(envelope.body)}`));
    });
    const { surb, secrets } = createSurb(backend, { epoch: EPOCH, route: route([2, 1, 0]), mailbox: replyBox.id });
    const message = encodeEnvelope({ surb, body: new TextEncoder().encode('ping') });
    const { packet } = createPacket(backend, { epoch: EPOCH, route: route([0, 1, 2]), destination: exitId, message });
    relays[0]!.router.receive(packet, 'client');
    expect(seen).toHaveLength(1);
    // The reply block starts at the exit's own relay, which peels it on the next tick.
    await new Promise((r) => setImmediate(r));
    expect(replyBox.got).toHaveLength(1);
    const mail = replyBox.got[0]!;
    expect(mail.surbId).toEqual(secrets.id);
    expect(new TextDecoder().decode(openReply(backend, secrets, mail.data))).toBe('echo:ping');
    expect(relays[2]!.metrics.onionDelivered.get('exit')).toBe(1);
  });

  it('counts an exit that fails, by its code', async () => {
    const { relays, route } = mesh();
    const exitId = backend.randomBytes(32);
    relays[0]!.exits.set(exitId, () => Promise.reject(new VersionError('no', 9)));
    const { packet } = createPacket(backend, { epoch: EPOCH, route: route([0]), destination: exitId, message: Uint8Array.of(1) });
    relays[0]!.router.receive(packet, 'client');
    await new Promise((r) => setImmediate(r));
    expect(refused(relays[0]!, 'VERSION')).toBe(1);
  });

  it('refuses tampered, replayed, wrong-size, wrong-version, bad-key and expired packets, each counted by code', () => {
    const { relays, route, setEpoch } = mesh();
    const box = openMailbox(relays[0]!);
    const r0 = relays[0]!;
    const make = (epoch = EPOCH) =>
      createPacket(backend, { epoch, route: route([0]), destination: box.id, message: Uint8Array.of(7) }).packet;

    const tampered = make();
    tampered[100]! ^= 1;
    r0.router.receive(tampered, 'client');
    expect(refused(r0, 'ONION_MAC')).toBe(1);

    const once = make();
    r0.router.receive(once, 'client');
    r0.router.receive(once, 'client');
    expect(refused(r0, 'ONION_REPLAY')).toBe(1);
    expect(box.got).toHaveLength(1);

    r0.router.receive(make().subarray(0, ONION.packetBytes - 1), 'client');
    expect(refused(r0, 'DECODE')).toBe(1);

    const version = make();
    version[0] = 2;
    r0.router.receive(version, 'client');
    expect(refused(r0, 'VERSION')).toBe(1);

    const badAlpha = make();
    badAlpha.fill(0xff, 5, 37); // not a canonical u-coordinate
    r0.router.receive(badAlpha, 'client');
    expect(refused(r0, 'KEY')).toBe(1);

    r0.router.receive(make(EPOCH - 5), 'client');
    expect(refused(r0, 'ONION_EPOCH')).toBe(1);

    // A payload changed on the way passes the hops and fails where the route ends.
    const payload = make();
    payload[ONION.packetBytes - 1]! ^= 1;
    r0.router.receive(payload, 'client');
    expect(refused(r0, 'ONION_PAYLOAD')).toBe(1);

    // The next epoch: last epoch's packets still go, older ones are refused and their tags forgotten.
    setEpoch(EPOCH + 1);
    r0.router.receive(make(EPOCH), 'client');
    expect(box.got).toHaveLength(2);
    setEpoch(EPOCH + 2);
    r0.router.receive(once, 'client');
    expect(refused(r0, 'ONION_EPOCH')).toBe(2);
    expect(r0.router.replayTags).toBe(0);
    expect(box.got).toHaveLength(2);
  });

  it('counts destinations it does not know and next hops it cannot reach', () => {
    const down = new Set<string>();
    const { relays, route } = mesh({}, down);
    const r0 = relays[0]!;
    r0.router.receive(createPacket(backend, { epoch: EPOCH, route: route([0]), destination: backend.randomBytes(32), message: Uint8Array.of(1) }).packet, 'client');
    expect(refused(r0, 'NOT_FOUND')).toBe(1);
    down.add(toHex(relays[1]!.identity.publicKey));
    const box = openMailbox(relays[2]!);
    r0.router.receive(createPacket(backend, { epoch: EPOCH, route: route([0, 1, 2]), destination: box.id, message: Uint8Array.of(1) }).packet, 'client');
    expect(refused(r0, 'NETWORK')).toBe(1);
    expect(box.got).toHaveLength(0);
  });

  it('honours a hop delay up to its cap, holds no more than its cap, and forgets held packets on stop', async () => {
    const { relays, route } = mesh({ maxDelayMs: 20, maxDelayed: 1 });
    const box = openMailbox(relays[1]!);
    const r0 = relays[0]!;
    const send = () =>
      r0.router.receive(createPacket(backend, { epoch: EPOCH, route: route([0, 1], [3_600_000, 0]), destination: box.id, message: Uint8Array.of(1) }).packet, 'client');
    send();
    send();
    expect(r0.router.delayed).toBe(1);
    expect(refused(r0, 'BUSY')).toBe(1);
    expect(box.got).toHaveLength(0);
    // An hour asked for, the cap given: it arrives.
    await new Promise((r) => setTimeout(r, 200));
    expect(box.got).toHaveLength(1);
    send();
    r0.router.stop();
    expect(r0.router.delayed).toBe(0);
  });

  it('stops taking packets when its replay tags reach their cap', () => {
    const { relays, route } = mesh({ maxReplayTags: 1 });
    const box = openMailbox(relays[0]!);
    const send = () =>
      relays[0]!.router.receive(createPacket(backend, { epoch: EPOCH, route: route([0]), destination: box.id, message: Uint8Array.of(1) }).packet, 'client');
    send();
    send();
    expect(box.got).toHaveLength(1);
    expect(refused(relays[0]!, 'BUSY')).toBe(1);
  });
});

/** Enough of a ws socket for OnionSocket: what it sends, and events to feed it. */
class FakeWs extends EventEmitter {
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  send(data: Uint8Array): void {
    this.sent.push(Uint8Array.from(data));
  }
  close(): void {
    this.readyState = 3;
    this.emit('close', 1000);
  }
  terminate(): void {
    this.close();
  }
  ping(): void {}
  feed(bytes: Uint8Array): void {
    this.emit('message', Buffer.from(bytes), true);
  }
}

function socketFixture(perClientPerMinute = 600) {
  const identity = Identity.generate(backend);
  const metrics = new RelayMetrics();
  const mailboxes = new Mailboxes(backend);
  const received: string[] = [];
  const refusedCodes: string[] = [];
  const links = new OnionLinks({
    backend,
    identity,
    lookup: () => undefined,
    receive: () => received.push('link'),
    refused: (c) => refusedCodes.push(c),
    metrics,
    log: silentLogger,
  });
  const ws = new FakeWs();
  let clients = 1;
  new OnionSocket(ws as unknown as WsSocket, {
    backend,
    identity,
    links,
    mailboxes,
    limits: { maxClients: 10, perClientPerMinute, mailboxesPerClient: 1 },
    receive: (_p, from) => received.push(from),
    refused: (c) => refusedCodes.push(c),
    clientGone: () => clients--,
  });
  const challenge = decodeLinkFrame(ws.sent[0]!);
  if (challenge.t !== 'challenge') throw new Error('expected a challenge first');
  return { identity, ws, links, mailboxes, received, refusedCodes, challenge, clients: () => clients };
}

describe('onion socket', () => {
  it('takes packets from a client within its budget, and counts the rest', () => {
    const f = socketFixture(3);
    const packet = new Uint8Array(ONION.packetBytes);
    f.ws.feed(packet);
    f.ws.feed(new Uint8Array(100)); // no link frame: DECODE
    f.ws.feed(packet);
    f.ws.feed(packet); // over budget
    expect(f.received).toEqual(['client', 'client']);
    expect(f.refusedCodes).toEqual(['DECODE', 'RATE_LIMITED']);
    f.ws.emit('message', Buffer.from('text'), false);
  });

  it('opens a client mailbox and pushes its mail; a second is over the cap', () => {
    const f = socketFixture();
    const secret = backend.randomBytes(32);
    f.ws.feed(encodeLinkFrame({ t: 'open', v: 1, x: secret }));
    const opened = decodeLinkFrame(f.ws.sent[1]!);
    expect(opened).toEqual({ t: 'opened', v: 1, m: mailboxId(backend, secret) });
    expect(f.mailboxes.put(mailboxId(backend, secret), { data: Uint8Array.of(9), surbId: new Uint8Array(16).fill(1) })).toBe('pushed');
    expect(decodeLinkFrame(f.ws.sent[2]!)).toMatchObject({ t: 'mail', d: Uint8Array.of(9) });
    f.ws.feed(encodeLinkFrame({ t: 'open', v: 1, x: backend.randomBytes(32) }));
    expect(decodeLinkFrame(f.ws.sent[3]!)).toMatchObject({ t: 'refused', c: 'BUSY' });
    // Once the client is gone its mail is held.
    f.ws.close();
    expect(f.mailboxes.put(mailboxId(backend, secret), { data: Uint8Array.of(10) })).toBe('held');
    expect(f.clients()).toBe(0);
  });

  it('becomes a link for a relay that signs the challenge, and refuses one that does not', () => {
    const f = socketFixture();
    const dialer = Identity.generate(backend);
    const nonce = backend.randomBytes(32);
    const transcript = { listenerKey: f.challenge.k, listenerNonce: f.challenge.n, dialerKey: dialer.publicKey, dialerNonce: nonce };
    // Signed as the wrong role (a reflected signature): refused, still a client.
    f.ws.feed(encodeLinkFrame({ t: 'link', v: 1, k: dialer.publicKey, n: nonce, s: signLink(dialer, 'listener', transcript) }));
    expect(f.refusedCodes).toEqual(['SIGNATURE']);
    expect(f.links.size).toBe(0);
    f.ws.feed(encodeLinkFrame({ t: 'link', v: 1, k: dialer.publicKey, n: nonce, s: signLink(dialer, 'dialer', transcript) }));
    expect(f.links.size).toBe(1);
    expect(f.clients()).toBe(0);
    const ok = decodeLinkFrame(f.ws.sent[1]!);
    if (ok.t !== 'link-ok') throw new Error('expected link-ok');
    expect(() => verifyLink(backend, 'listener', transcript, ok.s)).not.toThrow();
    f.ws.feed(new Uint8Array(ONION.packetBytes));
    expect(f.received).toEqual(['link']);
    // Only packets on a link.
    f.ws.feed(encodeLinkFrame({ t: 'open', v: 1, x: backend.randomBytes(32) }));
    expect(f.refusedCodes).toEqual(['SIGNATURE', 'PROTOCOL']);
    f.ws.close();
    expect(f.links.size).toBe(0);
  });
});

describe('link frames and exit envelopes', () => {
  it('round-trip, and refuse other versions, types and sizes', () => {
    const frame = { t: 'mail' as const, v: 1 as const, m: backend.randomBytes(32), d: backend.randomBytes(100) };
    expect(decodeLinkFrame(encodeLinkFrame(frame))).toEqual(frame);
    expect(() => decodeLinkFrame(new TextEncoder().encode('d1:t4:open1:vi2ee'))).toThrow(VersionError);
    expect(() => decodeLinkFrame(new TextEncoder().encode('d1:t4:nope1:vi1ee'))).toThrow(/unknown type/);
    expect(() => decodeLinkFrame(new Uint8Array(ONION.packetBytes))).toThrow(/is a packet/);
    expect(() => decodeLinkFrame(new Uint8Array(ONION_RELAY.frameBytes + 1))).toThrow(/at most/);
  });

  it('binds a link signature to its role and both nonces', () => {
    const a = Identity.generate(backend);
    const t = { listenerKey: a.publicKey, listenerNonce: backend.randomBytes(32), dialerKey: backend.randomBytes(32), dialerNonce: backend.randomBytes(32) };
    const s = signLink(a, 'listener', t);
    expect(() => verifyLink(backend, 'listener', t, s)).not.toThrow();
    expect(() => verifyLink(backend, 'listener', { ...t, dialerNonce: backend.randomBytes(32) }, s)).toThrow(SignatureError);
  });

  it('carries a body up to the one-packet limit', () => {
    const { relays, route } = mesh();
    const { surb } = createSurb(backend, { epoch: EPOCH, route: route([0]), mailbox: backend.randomBytes(32) });
    const body = backend.randomBytes(MAX_ENVELOPE_BODY);
    const bytes = encodeEnvelope({ surb, body });
    expect(decodeEnvelope(bytes).body).toEqual(body);
    expect(() => encodeEnvelope({ surb, body: backend.randomBytes(MAX_ENVELOPE_BODY + 1) })).toThrow(/at most/);
    expect(relays).toHaveLength(3);
  });
});

describe('onion relay vectors (test/vectors/onion-relay.json)', () => {
  it('decodes and re-encodes every frame and the envelope byte for byte, and refuses every invalid one with its code', () => {
    for (const f of vectors.frames) {
      const bytes = fromHex(f.encoded);
      expect(encodeLinkFrame(decodeLinkFrame(bytes)), f.name).toEqual(bytes);
    }
    const envelope = decodeEnvelope(fromHex(vectors.envelope.encoded));
    expect(toHex(envelope.body)).toBe(vectors.envelope.body);
    expect(toHex(encodeEnvelope(envelope))).toBe(vectors.envelope.encoded);
    for (const bad of vectors.invalid) {
      const decoder = bad.kind === 'frame' ? decodeLinkFrame : decodeEnvelope;
      let code: string | undefined;
      try {
        decoder(fromHex(bad.encoded));
      } catch (error) {
        code = (error as SpareCyclesError).code;
      }
      expect(code, `${bad.kind}: ${bad.name}`).toBe(bad.code);
    }
  });

  it('gives the same ids, transcripts and signatures', () => {
    expect(toHex(mailboxId(backend, fromHex(vectors.mailbox.secret)))).toBe(vectors.mailbox.id);
    expect(toHex(mintExitId(backend, vectors.mintExit.origin))).toBe(vectors.mintExit.id);
    const l = vectors.link;
    const t = { listenerKey: fromHex(l.listenerKey), listenerNonce: fromHex(l.listenerNonce), dialerKey: fromHex(l.dialerKey), dialerNonce: fromHex(l.dialerNonce) };
    expect(toHex(linkTranscript('dialer', t))).toBe(l.dialerTranscript);
    expect(toHex(linkTranscript('listener', t))).toBe(l.listenerTranscript);
    const dialer = Identity.fromSeed(backend, fromHex(l.dialerSeed));
    const link = decodeLinkFrame(fromHex(vectors.frames.find((f) => f.name === 'link')!.encoded));
    const ok = decodeLinkFrame(fromHex(vectors.frames.find((f) => f.name === 'link-ok')!.encoded));
    if (link.t !== 'link' || ok.t !== 'link-ok') throw new Error('expected link and link-ok');
    expect(link.s).toEqual(signLink(dialer, 'dialer', t));
    expect(() => verifyLink(backend, 'dialer', t, link.s)).not.toThrow();
    expect(() => verifyLink(backend, 'listener', t, ok.s)).not.toThrow();
    expect(() => verifyLink(backend, 'listener', t, link.s)).toThrow(SignatureError);
    expect(vectors.labels).toEqual(ONION_RELAY.labels);
  });
});
