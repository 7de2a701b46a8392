// The task wire's frames over onion routes between a worker and a tasker's
// rendezvous, on four real relays on loopback with real onion keys: every
// frame arrives whole and in order both ways, answers come back on reply
// blocks the worker supplied, and a relay killed mid-stream costs nothing
// but a retry on another route.

import { WebSocketClient } from '../../serve/ws.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { equalBytes, toHex } from '../../protocol/bytes.ts';
import type { FrameChannel } from '../../protocol/channel.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { OnionClient } from '../../net/onion-client.ts';
import { RendezvousHost, StealthStream } from '../../net/onion-stream.ts';
import { relayDescriptorsSource } from '../../net/relay-http-sources.ts';
import { memoryGuardStore, RelayView } from '../../net/relay-view.ts';
import type { SocketConstructor } from '../../net/relay-client.ts';
import { OnionKeys } from '../../relay/onion-keys.ts';
import type { LogLine } from '../../serve/log.ts';
import { startTestnet, type Testnet } from '../../testnet/testnet.ts';
import { waitFor } from '../../testnet/wait.ts';

const lines: LogLine[] = [];
const urls = new Map<string, string>();
const identities = [0, 1, 2, 3].map(() => Identity.generate(backend));
let testnet: Testnet;
const clients: OnionClient[] = [];
const hosts: RendezvousHost[] = [];

const byPort = (ws: string) => new URL(ws).port;

async function viewOf(guard: number): Promise<RelayView> {
  const view = new RelayView({
    backend,
    sources: testnet.relays.map((r) => relayDescriptorsSource(r.relay.url)),
    groupOf: byPort,
    guardStore: memoryGuardStore(toHex(identities[guard]!.publicKey)),
  });
  await view.refresh();
  return view;
}

async function clientOf(guard: number): Promise<OnionClient> {
  const client = new OnionClient({ backend, view: await viewOf(guard), WebSocket: WebSocketClient as unknown as SocketConstructor });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  const keys = await Promise.all(identities.map(() => OnionKeys.open({ backend })));
  testnet = await startTestnet({
    dhtNodes: 2,
    tracker: false,
    log: (line) => void lines.push(line),
    relays: identities.map((identity, i) => ({
      identity,
      log: (line: LogLine) => void lines.push(line),
      onion: { keys: keys[i]!, lookup: (id: Uint8Array) => urls.get(toHex(id)) },
    })),
  });
  for (const r of testnet.relays) urls.set(toHex(r.relay.descriptor.key), r.relay.url);
}, 60_000);

afterAll(async () => {
  for (const host of hosts) host.stop();
  for (const client of clients) client.stop();
  await testnet?.stop();
  expect(lines.filter((l) => l.level === 'error')).toEqual([]);
});

/** Frames of many sizes up to `most` bytes, each naming its place, some longer than a packet. */
function framesFor(n: number, most = 20_000): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const frame = backend.randomBytes(1 + ((i * 3_777) % most));
    frame[0] = i;
    return frame;
  });
}

describe('stealth streams', () => {
  it('carries frames whole and in order both ways, the tasker answering on reply blocks', async () => {
    const taskerClient = await clientOf(3);
    const workerClient = await clientOf(0);
    const taskerEnd = { opened: [] as FrameChannel[], frames: [] as Uint8Array[] };
    const host = await RendezvousHost.open(
      { backend, client: taskerClient, relay: identities[3]!.publicKey },
      {
        open: (channel) => void taskerEnd.opened.push(channel),
        // The tasker echoes every frame back.
        frame: (channel, frame) => {
          taskerEnd.frames.push(frame);
          channel.send(frame);
        },
        closed: () => {},
      },
    );
    hosts.push(host);
    const heard: Uint8Array[] = [];
    let closed = 0;
    const stream = new StealthStream({ backend, client: workerClient }, host.rendezvous, {
      open: () => {},
      frame: (_, frame) => void heard.push(frame),
      closed: () => void closed++,
    });
    const frames = framesFor(40);
    for (const frame of frames) stream.send(frame);
    await waitFor('every frame echoed', () => heard.length === frames.length, 60_000, 20);
    expect(taskerEnd.opened).toHaveLength(1);
    expect(taskerEnd.opened[0]!.route).toBe('onion');
    expect(stream.route).toBe('onion');
    expect(taskerEnd.frames.every((f, i) => equalBytes(f, frames[i]!))).toBe(true);
    expect(heard.every((f, i) => equalBytes(f, frames[i]!))).toBe(true);
    // The tasker knows the stream by a label of its id, never by an address.
    expect(taskerEnd.opened[0]!.peer).toMatch(/^onion:[0-9a-f]{12}$/);
    stream.close();
    await waitFor('the tasker to hear the close', () => host.streams === 0, 20_000, 20);
    expect(closed).toBe(1);
  }, 90_000);

  it('gets every frame through when a middle relay is killed mid-stream', async () => {
    const taskerClient = await clientOf(3);
    const workerClient = await clientOf(0);
    const heardAtTasker: Uint8Array[] = [];
    const host = await RendezvousHost.open(
      { backend, client: taskerClient, relay: identities[3]!.publicKey, timing: { initialRtoMs: 800 } },
      {
        open: () => {},
        frame: (channel, frame) => {
          heardAtTasker.push(frame);
          channel.send(frame);
        },
        closed: () => {},
      },
    );
    hosts.push(host);
    const heard: Uint8Array[] = [];
    const stream = new StealthStream({ backend, client: workerClient, timing: { initialRtoMs: 800 } }, host.rendezvous, {
      open: () => {},
      frame: (_, frame) => void heard.push(frame),
      closed: () => {},
    });
    // Messages of the task wire's sizes (claims, receipts, small results), not a bulk transfer.
    const frames = framesFor(30, 6_000);
    for (const frame of frames.slice(0, 10)) stream.send(frame);
    await waitFor('the first frames', () => heard.length >= 3, 30_000, 10);
    // Relays 1 and 2 are the only middles between the guard (0) and the rendezvous (3): one goes.
    await testnet.relays[1]!.relay.stop();
    for (const frame of frames.slice(10)) stream.send(frame);
    await waitFor('every frame echoed after the kill', () => heard.length === frames.length, 180_000, 20);
    expect(heardAtTasker.every((f, i) => equalBytes(f, frames[i]!))).toBe(true);
    expect(heard.every((f, i) => equalBytes(f, frames[i]!))).toBe(true);
    // A round trip goes and comes back through one middle, so a loss is blamed on the middle it took:
    // the live one is never put aside for the dead one's losses.
    expect(workerClient.view.isAside(identities[2]!.publicKey)).toBe(false);
    stream.close();
  }, 240_000);
});
