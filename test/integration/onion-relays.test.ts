// Three real relays forwarding onion packets on loopback, with fixed onion
// keys: clients (the `ws` package, as a worker or a tasker would be) send
// packets on 3-hop routes to a mailbox another client opened on the last
// relay, and to a mint exit whose mint is a small local HTTP server that
// echoes; the answer comes back on a reply block to the sender's mailbox.
// Relays dial each other and authenticate the links themselves. Then the
// hostile packets: each is dropped, counted in /metrics, and the relays
// stay up. Any log line at level 'error' fails the run.

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { equalBytes, toHex, utf8 } from '../../protocol/bytes.ts';
import { ONION, ONION_RELAY } from '../../protocol/constants.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { createPacket, createSurb, openReply, type OnionHop } from '../../protocol/onion/index.ts';
import { encodeEnvelope, mintExitId } from '../../protocol/onion/envelope.ts';
import { decodeLinkFrame, encodeLinkFrame, type LinkFrameOf } from '../../protocol/onion/link.ts';
import type { RelayServer } from '../../relay/relay.ts';
import type { LogLine } from '../../serve/log.ts';
import { WebSocketClient, type WsSocket } from '../../serve/ws.ts';
import { startTestnet, type Testnet } from '../../testnet/testnet.ts';
import { waitFor } from '../../testnet/wait.ts';

const EPOCH = 500_000;
const lines: LogLine[] = [];
let testnet: Testnet;
let mint: Server;
let mintOrigin: string;
const mintRequests: { type: string | undefined; body: string }[] = [];
const identities = [0, 1, 2].map(() => Identity.generate(backend));
const secrets = [0, 1, 2].map(() => backend.randomBytes(32));
const urls = new Map<string, string>();
let relays: RelayServer[];
const clients: WsSocket[] = [];

const route = (order: number[]): OnionHop[] =>
  order.map((i) => ({ id: identities[i]!.publicKey, onionKey: backend.x25519PublicKey(secrets[i]!) }));
const httpOf = (relay: RelayServer) => relay.url.replace(/^ws:/, 'http:');

/** A client of one relay's onion socket: sends packets, opens mailboxes, collects mail. */
class Client {
  readonly mail: LinkFrameOf<'mail'>[] = [];
  readonly frames: ReturnType<typeof decodeLinkFrame>[] = [];
  private constructor(readonly ws: WsSocket) {
    ws.on('message', (data: Buffer) => {
      const frame = decodeLinkFrame(new Uint8Array(data));
      this.frames.push(frame);
      if (frame.t === 'mail') this.mail.push(frame);
    });
  }

  static async connect(relay: RelayServer): Promise<Client> {
    const ws = new WebSocketClient(`${relay.url}${ONION_RELAY.path}`);
    clients.push(ws);
    const client = new Client(ws);
    await once(ws, 'open');
    await waitFor('the relay challenge', () => client.frames.length > 0, 5000, 5);
    const challenge = client.frames[0]!;
    // The client can check it reached the relay it meant to.
    expect(challenge.t === 'challenge' && equalBytes(challenge.k, relay.descriptor.key)).toBe(true);
    return client;
  }

  async open(): Promise<Uint8Array> {
    const before = this.frames.length;
    this.ws.send(encodeLinkFrame({ t: 'open', v: 1, x: backend.randomBytes(32) }), { binary: true });
    await waitFor('the mailbox to open', () => this.frames.slice(before).some((f) => f.t === 'opened'), 5000, 5);
    const opened = this.frames.slice(before).find((f) => f.t === 'opened')!;
    return (opened as LinkFrameOf<'opened'>).m;
  }

  send(packet: Uint8Array): void {
    this.ws.send(packet, { binary: true });
  }
}

async function metricsOf(relay: RelayServer): Promise<string> {
  return (await fetch(`${httpOf(relay)}/metrics`)).text();
}

function counter(text: string, name: string, label = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`sparecycles_relay_${name}${label} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

beforeAll(async () => {
  mint = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      mintRequests.push({ type: req.headers['content-type'], body });
      if (req.method !== 'POST' || req.url !== ONION_RELAY.mintExitPath) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': ONION_RELAY.exitResponseType });
      res.end(body === 'big' ? 'x'.repeat(5000) : `echo:${body}`);
    });
  });
  mint.listen(0, '127.0.0.1');
  await once(mint, 'listening');
  mintOrigin = `http://127.0.0.1:${(mint.address() as { port: number }).port}`;

  testnet = await startTestnet({
    dhtNodes: 2,
    tracker: false,
    log: (line) => void lines.push(line),
    relays: identities.map((identity, i) => ({
      identity,
      log: (line: LogLine) => void lines.push(line),
      onion: {
        keys: { secretFor: (e: number) => (e === EPOCH ? secrets[i]! : undefined) },
        epoch: () => EPOCH,
        lookup: (id: Uint8Array) => urls.get(toHex(id)),
        ...(i === 2 ? { mintOrigins: [mintOrigin] } : {}),
        // The middle relay meters its clients tighter than the default, so a flood of a few hundred packets shows it.
        ...(i === 1 ? { limits: { perClientPerMinute: 600 } } : {}),
      },
    })),
  });
  relays = testnet.relays.map((r) => r.relay);
  for (const r of relays) urls.set(toHex(r.descriptor.key), r.url);
}, 60_000);

afterAll(async () => {
  for (const ws of clients) ws.terminate();
  await testnet?.stop();
  mint?.close();
  expect(lines.filter((l) => l.level === 'error')).toEqual([]);
});

describe('onion relays', () => {
  it('carries a packet over three relays to a mailbox another client opened on the last', async () => {
    const tasker = await Client.connect(relays[2]!);
    const rendezvous = await tasker.open();
    const worker = await Client.connect(relays[0]!);
    const message = utf8('a claim, say');
    const { packet } = createPacket(backend, { epoch: EPOCH, route: route([0, 1, 2]), destination: rendezvous, message });
    worker.send(packet);
    await waitFor('the message at the rendezvous', () => tasker.mail.length === 1, 10_000, 5);
    expect(tasker.mail[0]!.d).toEqual(message);
    expect(equalBytes(tasker.mail[0]!.m, rendezvous)).toBe(true);
    const [m0, m1, m2] = await Promise.all(relays.map(metricsOf));
    expect(counter(m0!, 'onion_packets_in_total', '{from="client"}')).toBeGreaterThanOrEqual(1);
    expect(counter(m1!, 'onion_packets_in_total', '{from="link"}')).toBeGreaterThanOrEqual(1);
    expect(counter(m2!, 'onion_packets_delivered_total', '{to="mailbox"}')).toBeGreaterThanOrEqual(1);
    expect(counter(m0!, 'onion_links')).toBeGreaterThanOrEqual(1);
  });

  it('holds mail for a mailbox whose owner is away, and hands it over when it comes back', async () => {
    const secret = backend.randomBytes(32);
    const first = await Client.connect(relays[2]!);
    first.ws.send(encodeLinkFrame({ t: 'open', v: 1, x: secret }), { binary: true });
    await waitFor('opened', () => first.frames.some((f) => f.t === 'opened'), 5000, 5);
    const id = (first.frames.find((f) => f.t === 'opened') as LinkFrameOf<'opened'>).m;
    first.ws.close();
    await once(first.ws, 'close');
    const sender = await Client.connect(relays[0]!);
    sender.send(createPacket(backend, { epoch: EPOCH, route: route([0, 1, 2]), destination: id, message: utf8('while away') }).packet);
    await waitFor('the mail held', async () => counter(await metricsOf(relays[2]!), 'onion_held') >= 1, 10_000, 20);
    const back = await Client.connect(relays[2]!);
    back.ws.send(encodeLinkFrame({ t: 'open', v: 1, x: secret }), { binary: true });
    await waitFor('the held mail', () => back.mail.length === 1, 5000, 5);
    expect(new TextDecoder().decode(back.mail[0]!.d)).toBe('while away');
  });

  it('gets the mint exit’s answer back on a reply block to the sender’s mailbox', async () => {
    const worker = await Client.connect(relays[0]!);
    const replyTo = await worker.open();
    const { surb, secrets: kept } = createSurb(backend, { epoch: EPOCH, route: route([2, 1, 0]), mailbox: replyTo });
    const message = encodeEnvelope({ surb, body: utf8('sealed request') });
    worker.send(createPacket(backend, { epoch: EPOCH, route: route([0, 1, 2]), destination: mintExitId(backend, mintOrigin), message }).packet);
    await waitFor('the answer in the worker’s mailbox', () => worker.mail.length === 1, 10_000, 5);
    const reply = worker.mail[0]!;
    expect(reply.r).toEqual(kept.id);
    expect(new TextDecoder().decode(openReply(backend, kept, reply.d))).toBe('echo:sealed request');
    expect(mintRequests.at(-1)).toEqual({ type: ONION_RELAY.exitRequestType, body: 'sealed request' });
    expect(counter(await metricsOf(relays[2]!), 'onion_packets_delivered_total', '{to="exit"}')).toBeGreaterThanOrEqual(1);

    // An answer larger than a packet is refused, typed and counted, and nothing comes back.
    const { surb: surb2 } = createSurb(backend, { epoch: EPOCH, route: route([2, 1, 0]), mailbox: replyTo });
    const big = encodeEnvelope({ surb: surb2, body: utf8('big') });
    worker.send(createPacket(backend, { epoch: EPOCH, route: route([0, 1, 2]), destination: mintExitId(backend, mintOrigin), message: big }).packet);
    await waitFor('TOO_LARGE counted', async () => counter(await metricsOf(relays[2]!), 'onion_refused_total', '{code="TOO_LARGE"}') === 1, 10_000, 20);
    expect(worker.mail).toHaveLength(1);
  });

  it('drops hostile packets, counts each in /metrics, and stays up', async () => {
    const attacker = await Client.connect(relays[0]!);
    const tasker = await Client.connect(relays[0]!);
    const box = await tasker.open();
    const fresh = (epoch = EPOCH) => createPacket(backend, { epoch, route: route([0]), destination: box, message: utf8('x') }).packet;
    const before = await metricsOf(relays[0]!);

    const tampered = fresh();
    tampered[200]! ^= 0x40;
    attacker.send(tampered);
    const replayed = fresh();
    attacker.send(replayed);
    attacker.send(replayed);
    attacker.send(fresh().subarray(0, ONION.packetBytes - 1));
    const version = fresh();
    version[0] = 9;
    attacker.send(version);
    attacker.send(fresh(EPOCH - 1));
    attacker.ws.send('not binary');

    const codes = ['ONION_MAC', 'ONION_REPLAY', 'DECODE', 'VERSION', 'ONION_EPOCH'];
    const delta = (text: string, code: string) =>
      counter(text, 'onion_refused_total', `{code="${code}"}`) - counter(before, 'onion_refused_total', `{code="${code}"}`);
    await waitFor('every hostile packet counted', async () => {
      const now = await metricsOf(relays[0]!);
      return codes.every((c) => delta(now, c) >= 1);
    }, 10_000, 20);
    const after = await metricsOf(relays[0]!);
    expect(Object.fromEntries(codes.map((c) => [c, delta(after, c)]))).toEqual({ ONION_MAC: 1, ONION_REPLAY: 1, DECODE: 2, VERSION: 1, ONION_EPOCH: 1 });
    // Only the one good copy of the replayed packet arrived.
    expect(tasker.mail).toHaveLength(1);

    // Still up: health answers, and an honest packet still goes through.
    for (const r of relays) expect((await fetch(`${httpOf(r)}/health`)).status).toBe(200);
    attacker.send(fresh());
    await waitFor('an honest packet after the attack', () => tasker.mail.length === 2, 5000, 5);
  });

  it('rate-limits a client that floods, and counts it', async () => {
    const r = relays[1]!;
    // This relay's budget is a minute's 600 packets (set above).
    const flooder = await Client.connect(r);
    const packet = new Uint8Array(ONION.packetBytes);
    for (let i = 0; i < 700; i++) flooder.send(packet);
    await waitFor('RATE_LIMITED counted', async () => counter(await metricsOf(r), 'onion_refused_total', '{code="RATE_LIMITED"}') >= 90, 10_000, 20);
    expect((await fetch(`${httpOf(r)}/health`)).status).toBe(200);
  });

  it('forwards a burst on three hops (throughput printed, not asserted)', async () => {
    const tasker = await Client.connect(relays[2]!);
    const box = await tasker.open();
    // Several senders, so the clients' budgets are not what is measured.
    const senders = await Promise.all(Array.from({ length: 5 }, () => Client.connect(relays[0]!)));
    const n = 2500;
    const packets = Array.from({ length: n }, () => createPacket(backend, { epoch: EPOCH, route: route([0, 1, 2]), destination: box, message: utf8('p') }).packet);
    // In waves that fit a link's send buffer: a relay drops what it cannot queue, and this measures forwarding, not shedding.
    const wave = 500;
    const started = performance.now();
    for (let i = 0; i < n; i += wave) {
      packets.slice(i, i + wave).forEach((p, j) => senders[j % senders.length]!.send(p));
      await waitFor('a wave at the rendezvous', () => tasker.mail.length >= i + wave, 60_000, 2);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`onion relays: ${n} packets over 3 hops in ${seconds.toFixed(2)} s: ${Math.round(n / seconds)} packets/s end to end, all three relays and the clients on one machine`);
    expect(tasker.mail).toHaveLength(n);
  }, 90_000);
});
