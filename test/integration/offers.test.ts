// Offers as workers meet them: two taskers publish on a private loopback DHT,
// a separate DHT node finds them through the offer topic, the taskers'
// endpoints and their BEP 44 items. Then the attacks a public DHT invites:
// forged and replayed offers, an overwrite of a tasker's item, and hostile
// peers at an endpoint. No log line may be at level 'error'.

import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type DHT from 'bittorrent-dht';
import type { DhtItem } from 'bittorrent-dht';
import Wire from 'bittorrent-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogLine } from '../../serve/log.ts';
import { decode, encode, type BValue } from '../../protocol/bencode.ts';
import { concatBytes, equalBytes, fromHex, toHex, utf8 } from '../../protocol/bytes.ts';
import { OFFER_EXTENSION, OFFER_TOPIC_HEX } from '../../protocol/constants.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { decodeMessage, encodeMessage, signMessage, verifyMessage } from '../../protocol/messages/index.ts';
import type { Offer } from '../../protocol/messages/index.ts';
import type { Rendezvous } from '../../protocol/messages/offer.ts';
import { mailboxId } from '../../protocol/onion/envelope.ts';
import { SchemaError } from '../../protocol/errors.ts';
import { OfferPublisher, type OfferFields } from '../../tasker/offer-publisher.ts';
import { startTestnet, type Testnet } from '../../testnet/testnet.ts';
import { findOffers, magnetForOffer, type FoundOffer, type Rejection } from '../../net/offer-finder.ts';
import { waitFor } from '../../testnet/wait.ts';

const lines: LogLine[] = [];
const log = (line: LogLine) => void lines.push(line);
const cleanups: (() => Promise<void> | void)[] = [];

let testnet: Testnet;
let worker: DHT;
let alice: OfferPublisher;
let bob: OfferPublisher;
const aliceId = Identity.generate(backend);
const bobId = Identity.generate(backend);
const mallory = Identity.generate(backend);

const deadline = Math.floor(Date.now() / 1000) + 3600;
const aliceFields: OfferFields = {
  task: backend.randomBytes(20),
  name: 'mandelbrot',
  price: 5,
  left: 10,
  units: 10,
  deadline,
  mode: 'batch',
  mint: 'http://127.0.0.1:9/',
};
const bobFields: OfferFields = { task: backend.randomBytes(20), name: 'primes', price: 7, left: 4, units: 8, deadline, mode: 'immediate' };

async function publisher(identity: Identity, dht: DHT, fields: OfferFields): Promise<OfferPublisher> {
  const p = new OfferPublisher({ backend, identity, dht, log });
  cleanups.push(() => p.stop());
  await p.start(fields);
  return p;
}

async function find(): Promise<{ offers: FoundOffer[]; rejected: Rejection[] }> {
  const rejected: Rejection[] = [];
  const offers = await findOffers({ backend, dht: worker, onRejected: (r) => rejected.push(r) });
  return { offers, rejected };
}

const byKey = (offers: FoundOffer[], key: Uint8Array) => offers.find((f) => equalBytes(f.offer.tasker, key));

function offerBy(identity: Identity, fields: OfferFields, seq: number): Offer {
  return signMessage(backend, identity.exportSeed(), { ...fields, t: 'offer', v: 1, seq, tasker: identity.publicKey });
}

function announce(dht: DHT, port: number): Promise<void> {
  return new Promise((resolve, reject) => dht.announce(OFFER_TOPIC_HEX, port, (e) => (e ? reject(e) : resolve())));
}

function put(dht: DHT, k: Uint8Array, offer: Offer, seq: number, signer: Identity): Promise<void> {
  const seed = signer.exportSeed();
  return new Promise((resolve, reject) =>
    dht.put({ k, v: decode(encodeMessage(offer)), seq, sign: (b) => backend.ed25519Sign(seed, b) }, (e) =>
      e ? reject(e) : resolve(),
    ),
  );
}

/** The offer in an item, in plain Uint8Arrays (the DHT hands out Buffers). */
const readItem = (item: DhtItem) => decodeMessage(encode(item.v as BValue));

function get(dht: DHT, k: Uint8Array): Promise<DhtItem | null> {
  const target = createHash('sha1').update(k).digest();
  return new Promise((resolve, reject) => dht.get(target, { cache: false }, (e, item) => (e ? reject(e) : resolve(item))));
}

/**
 * An endpoint that speaks the protocol correctly but sends whatever bytes it
 * is given as its offer: the forger's (or a relay's) side of the exchange.
 */
async function rawEndpoint(payload: Uint8Array): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const wire = new Wire();
    wire.on('error', () => socket.destroy());
    class Send {
      declare name: string;
      constructor(readonly wire: Wire) {}
      onExtendedHandshake() {
        this.wire.extended(OFFER_EXTENSION, payload);
      }
    }
    Send.prototype.name = OFFER_EXTENSION;
    wire.use(Send);
    wire.on('handshake', () => wire.handshake(OFFER_TOPIC_HEX, randomBytes(20)));
    socket.pipe(wire).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as net.AddressInfo;
  await announce(testnet.dht[2]!, port);
  return port;
}

function handshakeBytes(infoHashHex: string, extended: boolean): Uint8Array {
  const reserved = new Uint8Array(8);
  if (extended) reserved[5] = 0x10;
  return concatBytes(utf8('\x13BitTorrent protocol'), reserved, fromHex(infoHashHex), randomBytes(20));
}

/** Connects to the endpoint, sends `bytes` (if any) and waits, boundedly, for the endpoint to hang up. */
function probe(port: number, bytes: Uint8Array | undefined, waitMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the endpoint kept the connection open for ${waitMs} ms`));
    }, waitMs);
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    if (bytes) socket.write(bytes);
  });
}


const warnings = (event: string, mark = 0) => lines.slice(mark).filter((l) => l.level === 'warn' && l.event === event);

beforeAll(async () => {
  testnet = await startTestnet({ dhtNodes: 5, tracker: false, log });
  // The worker's own node; the testnet returns it once it and every other node know each other.
  worker = await testnet.addDhtNode();
  alice = await publisher(aliceId, testnet.dht[0]!, aliceFields);
  bob = await publisher(bobId, testnet.dht[1]!, bobFields);
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await testnet?.stop();
  expect(lines.filter((l) => l.level === 'error')).toEqual([]);
});

describe('offers on the DHT', () => {
  it('a worker finds both taskers, best price first, with every field intact', async () => {
    const { offers, rejected } = await find();
    expect(rejected).toEqual([]);
    expect(offers.map((f) => f.offer.name)).toEqual(['primes', 'mandelbrot']);
    const [b, a] = offers as [FoundOffer, FoundOffer];
    expect(a.offer).toEqual(alice.current);
    expect(b.offer).toEqual(bob.current);
    expect(a.offer).toMatchObject({ ...aliceFields, seq: 1, tasker: aliceId.publicKey });
    expect(b.offer).toMatchObject({ ...bobFields, seq: 1, tasker: bobId.publicKey });
    expect(a.endpoint).toBe(`127.0.0.1:${alice.port}`);
    expect(b.endpoint).toBe(`127.0.0.1:${bob.port}`);
    for (const found of offers) verifyMessage(backend, found.offer);

    const magnet = magnetForOffer(a.offer, ['udp://127.0.0.1:6969', 'ws://127.0.0.1:8000/']);
    expect(magnet).toBe(
      `magnet:?xt=urn:btih:${toHex(aliceFields.task)}&dn=mandelbrot` +
        '&tr=udp%3A%2F%2F127.0.0.1%3A6969&tr=ws%3A%2F%2F127.0.0.1%3A8000%2F',
    );
  });

  it('the BEP 44 item holds the same signed offer, under the tasker key', async () => {
    const item = await get(worker, aliceId.publicKey);
    expect(item?.seq).toBe(1);
    expect(readItem(item!)).toEqual(alice.current);
  });

  it('sees an update (seq 2) on the next lookup', async () => {
    await alice.update({ left: 3 });
    expect(alice.current).toMatchObject({ left: 3, seq: 2, price: 5 });
    const { offers } = await find();
    expect(byKey(offers, aliceId.publicKey)?.offer).toEqual(alice.current);
    expect((await get(worker, aliceId.publicKey))?.seq).toBe(2);
  });

  it('names a rendezvous opened after the start in a new offer at once, keeps it through updates, and drops it on request', async () => {
    const erinId = Identity.generate(backend);
    const erin = await publisher(erinId, testnet.dht[2]!, { ...bobFields, name: 'erin', price: 2 });
    expect(erin.current).not.toHaveProperty('rendezvous');
    const rendezvous: Rendezvous = { relay: Identity.generate(backend).publicKey, mailbox: mailboxId(backend, backend.randomBytes(32)) };
    await erin.setRendezvous(rendezvous);
    expect(erin.current).toMatchObject({ rendezvous, seq: 2, name: 'erin' });
    verifyMessage(backend, erin.current);
    expect(readItem((await get(worker, erinId.publicKey))!)).toEqual(erin.current);
    // The same rendezvous again is no change: nothing is signed.
    await erin.setRendezvous({ relay: rendezvous.relay.slice(), mailbox: rendezvous.mailbox.slice() });
    expect(erin.current.seq).toBe(2);
    await erin.update({ left: 1 });
    expect(erin.current).toMatchObject({ rendezvous, left: 1, seq: 3 });

    // What a worker finds carries it, verified with the rest of the offer.
    const { offers } = await find();
    const found = byKey(offers, erinId.publicKey);
    expect(found?.offer).toEqual(erin.current);
    const seen: Rendezvous | undefined = found?.offer.rendezvous;
    expect(seen).toEqual(rendezvous);

    // A malformed one is refused and changes nothing.
    const error = await erin.setRendezvous({ ...rendezvous, mailbox: rendezvous.mailbox.subarray(0, 31) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaError);
    expect((error as SchemaError).field).toBe('rendezvous.mailbox');
    expect(erin.current).toMatchObject({ rendezvous, seq: 3 });

    await erin.setRendezvous(undefined);
    expect(erin.current.seq).toBe(4);
    expect(erin.current).not.toHaveProperty('rendezvous');
    expect(readItem((await get(worker, erinId.publicKey))!)).toEqual(erin.current);
  });

  it('puts a rendezvous known before the start in the first offer', async () => {
    const frankId = Identity.generate(backend);
    const rendezvous: Rendezvous = { relay: Identity.generate(backend).publicKey, mailbox: mailboxId(backend, backend.randomBytes(32)) };
    const frank = new OfferPublisher({ backend, identity: frankId, dht: testnet.dht[3]!, log, rendezvous });
    cleanups.push(() => frank.stop());
    // Changing the caller's copy afterwards changes no offer.
    const mailbox = toHex(rendezvous.mailbox);
    rendezvous.mailbox.fill(0);
    await frank.start({ ...bobFields, name: 'frank', price: 2 });
    expect(frank.current.seq).toBe(1);
    expect(toHex(frank.current.rendezvous!.mailbox)).toBe(mailbox);
    expect(readItem((await get(worker, frankId.publicKey))!)).toEqual(frank.current);
  });

  it('puts and announces again on a timer, quietly when the nodes already hold the item', async () => {
    const daveId = Identity.generate(backend);
    const target = toHex(createHash('sha1').update(daveId.publicKey).digest());
    let puts = 0;
    const onPut = (key: Uint8Array) => void (toHex(key) === target && puts++);
    for (const node of testnet.dht) node.on('put', onPut);
    const mark = lines.length;
    const dave = new OfferPublisher({ backend, identity: daveId, dht: testnet.dht[4]!, log, reannounceMs: 100 });
    cleanups.push(() => dave.stop());
    await dave.start({ ...bobFields, name: 'dave' });
    const first = puts;
    expect(first).toBeGreaterThan(0);
    await waitFor('two more rounds of puts', async () => (puts >= first * 3 ? true : undefined));
    await dave.stop();
    for (const node of testnet.dht) node.off('put', onPut);
    expect(lines.slice(mark).filter((l) => l.level !== 'info' && l.level !== 'debug')).toEqual([]);
    expect(readItem((await get(worker, daveId.publicKey))!)).toEqual(dave.current);
  });

  it('takes the fresher BEP 44 copy over a stale endpoint', async () => {
    const carolId = Identity.generate(backend);
    const carol = await publisher(carolId, testnet.dht[3]!, { ...bobFields, name: 'carol', price: 1 });
    const first = carol.current;
    await carol.update({ left: 1 });
    await carol.stop();
    // A relay that still hands out carol's first offer: genuine, but old.
    const relay = await rawEndpoint(encodeMessage(first));
    const { offers, rejected } = await find();
    expect(byKey(offers, carolId.publicKey)).toMatchObject({
      offer: { seq: 2, left: 1, name: 'carol' },
      source: 'dht',
      endpoint: `127.0.0.1:${relay}`,
    });
    // Carol's own endpoint (and dave's, from the last test) is gone: unreachable, not forged.
    expect(rejected.map((r) => r.reason)).toContain('unreachable');
    expect(rejected.filter((r) => r.reason !== 'unreachable')).toEqual([]);
  });

  it('rejects forged offers from endpoints and still finds the honest ones', async () => {
    const broken = { ...alice.current, sig: Uint8Array.from(alice.current.sig) };
    broken.sig[0]! ^= 1;
    const brokenPort = await rawEndpoint(encodeMessage(broken));
    // Signed by mallory, claiming to be alice's.
    const impostor = { ...offerBy(mallory, { ...aliceFields, price: 1000 }, 9), tasker: aliceId.publicKey };
    const impostorPort = await rawEndpoint(encodeMessage(impostor));
    const garbagePort = await rawEndpoint(randomBytes(64));

    const { offers, rejected } = await find();
    const at = (port: number) => rejected.find((r) => r.endpoint === `127.0.0.1:${port}`);
    expect(at(brokenPort)).toMatchObject({ reason: 'bad-signature', source: 'endpoint' });
    expect(at(impostorPort)).toMatchObject({ reason: 'bad-signature', source: 'endpoint' });
    expect(at(garbagePort)).toMatchObject({ reason: 'invalid', source: 'endpoint' });
    expect(byKey(offers, aliceId.publicKey)?.offer).toEqual(alice.current);
    expect(byKey(offers, bobId.publicKey)?.offer).toEqual(bob.current);
    expect(offers.every((f) => f.offer.price < 1000)).toBe(true);
  });

  it('rejects a BEP 44 item that holds another tasker\u2019s offer', async () => {
    // Mallory's own offer is genuine; her item copies alice's offer at a higher seq.
    const malloryOffer = offerBy(mallory, { ...bobFields, name: 'mallory' }, 1);
    await put(testnet.dht[3]!, mallory.publicKey, alice.current, 50, mallory);
    const port = await rawEndpoint(encodeMessage(malloryOffer));

    const { offers, rejected } = await find();
    expect(rejected).toContainEqual(
      expect.objectContaining({ reason: 'tasker-mismatch', source: 'dht', endpoint: `127.0.0.1:${port}` }),
    );
    expect(byKey(offers, mallory.publicKey)?.offer).toEqual(malloryOffer);
    expect(byKey(offers, aliceId.publicKey)).toMatchObject({ offer: alice.current, endpoint: `127.0.0.1:${alice.port}` });
  });

  it('refuses to let anyone but the tasker overwrite its BEP 44 item', async () => {
    const fake = { ...alice.current, price: 1, left: 0 };
    // Every node drops a put whose signature is not by k, so no node answers it.
    await expect(put(testnet.dht[4]!, aliceId.publicKey, fake as Offer, 100, mallory)).rejects.toThrow();
    const item = await get(worker, aliceId.publicKey);
    expect(item?.seq).toBe(alice.current.seq);
    expect(readItem(item!)).toEqual(alice.current);
  });
});

describe('the offer endpoint under hostile peers', () => {
  it('drops garbage, a wrong info-hash, a peer without BEP 10, and a silent socket', async () => {
    const mark = lines.length;
    const garbage = randomBytes(4096);
    garbage[0] = 0xfe; // anything but 19, the length of "BitTorrent protocol"
    await Promise.all([
      probe(alice.port, garbage),
      probe(alice.port, handshakeBytes(toHex(randomBytes(20)), true)),
      probe(alice.port, handshakeBytes(OFFER_TOPIC_HEX, false)),
      probe(alice.port, undefined),
    ]);
    const reasons = warnings('offer-peer-dropped', mark).map((l) => String(l.reason));
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/BitTorrent protocol/),
        expect.stringMatching(/offer topic/),
        expect.stringMatching(/BEP 10/),
        expect.stringMatching(/nothing useful/),
      ]),
    );
  });

  it('caps a flood of 100 connections and serves again afterwards', async () => {
    const mark = lines.length;
    const sockets = Array.from({ length: 100 }, () => net.connect({ host: '127.0.0.1', port: alice.port }));
    const settled = sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.on('error', () => {});
          s.once('connect', () => resolve());
          s.once('close', () => resolve());
        }),
    );
    await Promise.all(settled);
    await waitFor('refusals at the cap', async () => (warnings('offer-peer-refused', mark).length > 0 ? true : undefined));
    for (const s of sockets) s.destroy();

    const found = await waitFor('alice to be served again', async () => {
      const { offers } = await find();
      return byKey(offers, aliceId.publicKey);
    });
    expect(found.offer).toEqual(alice.current);
  });
});
