// A stealth worker and outputs too large to ride inline, on a loopback
// network of real parts: four relays forwarding onion packets, a tasker that
// keeps its rendezvous at one of them, a direct worker (which gives each unit
// its second answer) and a stealth worker. The stealth worker's large
// outputs go back in parts through routes, where a direct worker seeds a
// result torrent; and, fetching the task through routes too, it joins no
// swarm: its torrent client never holds the task, and no wire of the
// tasker's torrent ever has its peer id. Either way the merge is exactly the
// local run's.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Wire } from 'webtorrent';
import { OnionClient } from '../../net/onion-client.ts';
import { keepStream, RendezvousHost } from '../../net/onion-stream.ts';
import { toHex } from '../../protocol/bytes.ts';
import { LIMITS } from '../../protocol/constants.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import type { TaskerSession } from '../../tasker/session.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { addOnionRelays, loopbackOnionClient, type OnionRelays } from '../../testnet/onion-relays.ts';
import { makeLargeOutputTask, type LargeOutputTask } from '../support/large-output-task.ts';

let mesh: Mesh;
let task: LargeOutputTask;
let onion: OnionRelays;
const stops: (() => void)[] = [];

beforeAll(async () => {
  mesh = await Mesh.start();
  onion = await addOnionRelays(mesh);
  task = await makeLargeOutputTask(4, 2);
}, 60_000);

afterAll(async () => {
  for (const stop of stops.reverse()) stop();
  await mesh?.stop();
});

async function clientOf(guard: number): Promise<OnionClient> {
  const client = await loopbackOnionClient(onion.relays, onion.identities[guard]!.publicKey);
  stops.push(() => client.stop());
  return client;
}

/** A task published with a rendezvous at the last relay, and a direct worker on it. */
async function publishWithRendezvous(): Promise<{ session: TaskerSession; host: RendezvousHost }> {
  const session = await mesh.publish(task.dir);
  const host = await RendezvousHost.open({ backend, client: await clientOf(3), relay: onion.identities[3]!.publicKey }, session.frames);
  stops.push(() => host.stop());
  await mesh.worker(session.magnet, { pool: mesh.pool(0.25) });
  return { session, host };
}

/** Results the session took from `key` (pending news counts: each had its whole output). */
function resultsFrom(session: TaskerSession, key: string): { units: number[] } {
  const units: number[] = [];
  session.on('result', (r) => {
    if (r.worker === key && r.status !== 'rejected') units.push(r.unit);
  });
  return { units };
}

describe('a stealth worker with outputs past the inline limit', () => {
  it('returns them in parts through routes, and the merge is exact', async () => {
    const { session, host } = await publishWithRendezvous();
    const stealth = await mesh.worker(session.magnet, { pool: mesh.pool(0.25), stealth: true });
    const taken = resultsFrom(session, toHex(stealth.identity.publicKey));
    const stream = keepStream({ backend, client: await clientOf(0) }, host.rendezvous, stealth.engine.frames);
    stops.push(() => stream.stop());

    const merged = await session.done;
    expect(Buffer.from(merged).equals(task.expected)).toBe(true);
    // Every output of this task is past the inline limit: whatever the stealth worker got in came in parts.
    expect(stealth.engine.stats.computed).toBeGreaterThan(0);
    expect(taken.units.length).toBeGreaterThan(0);
    expect(stealth.engine.stats.failed).toBe(0);
    expect(session.stats().parts).toEqual({ outputs: 0, bytes: 0 });
    expect(session.coordinator.groupOf(toHex(stealth.identity.publicKey))).toBe('stealth');
    expect(task.expected.length).toBeGreaterThan(4 * LIMITS.inlineOutputBytes);
  }, 180_000);

  it('fetches the task through routes, joins no swarm, and the merge is exact', async () => {
    const session = await mesh.publish(task.dir, { identity: Identity.generate(backend) });
    // Every peer id that ever had a wire to the tasker's torrent.
    const peers = new Set<string>();
    for (const wire of session.torrent.wires) peers.add(String(wire.peerId));
    session.torrent.on('wire', (wire: Wire) => {
      const note = () => peers.add(String(wire.peerId));
      note();
      wire.once('handshake', note);
    });
    const host = await RendezvousHost.open({ backend, client: await clientOf(3), relay: onion.identities[3]!.publicKey }, session.frames);
    stops.push(() => host.stop());
    await mesh.worker(session.magnet, { pool: mesh.pool(0.25) });

    const stealth = await mesh.worker(session.magnet, { pool: mesh.pool(0.25), stealth: true, routeTask: true });
    const taken = resultsFrom(session, toHex(stealth.identity.publicKey));
    const stream = keepStream({ backend, client: await clientOf(1) }, host.rendezvous, stealth.engine.frames);
    stops.push(() => stream.stop());

    await stealth.engine.ready;
    const merged = await session.done;
    expect(Buffer.from(merged).equals(task.expected)).toBe(true);
    expect(taken.units.length).toBeGreaterThan(0);
    // The worker's torrent client never held the task, so it never had a wire for it; the tasker's torrent never saw its peer id.
    expect(stealth.torrents.client.torrents).toHaveLength(0);
    expect(peers.has((stealth.torrents.client as unknown as { peerId: string }).peerId)).toBe(false);
    expect(peers.size).toBeGreaterThan(0);
    expect(session.taskServer.counts.served).toBeGreaterThan(0);
  }, 180_000);
});
