// onion_rtt_ms: a request through 3 relays and its answer back on a reply
// block, each relay a `cycles relay --onion` process of its own, on loopback.
//
// The requester and the responder are the real client (net/onion-client.ts
// over a net/relay-view.ts view of the three relays' /descriptors), in this
// process. The responder keeps a mailbox at the third relay (a rendezvous);
// the requester picks its route to it as a stealth worker would (its guard
// first) and sends an exit envelope: a 16-byte id and a reply block back
// along the same relays to its reply mailbox at the guard. The responder
// answers each request with its id on that block. Six relay hops a trip,
// every one peeling a packet and forwarding it over a WebSocket.

import { equalBytes, fromHex } from '../protocol/bytes.ts';
import { nodeCrypto as backend } from '../protocol/crypto/node.ts';
import { SpareCyclesError, TimeoutError } from '../protocol/errors.ts';
import { decodeEnvelope, encodeEnvelope } from '../protocol/onion/envelope.ts';
import { replyPacket } from '../protocol/onion/surb.ts';
import { OnionClient } from '../net/onion-client.ts';
import type { SocketConstructor } from '../net/relay-client.ts';
import { relayDescriptorsSource } from '../net/relay-http-sources.ts';
import { memoryGuardStore, RelayView } from '../net/relay-view.ts';
import { DEFAULT_CLIENT_LIMITS } from '../relay/onion-socket.ts';
import { WebSocketClient } from '../serve/ws.ts';
import { startRelayProcesses, type RelayProcesses } from '../testnet/relay-processes.ts';
import { startTestnet } from '../testnet/testnet.ts';
import type { Figure } from './results-file.ts';

/** Untimed round trips first: they dial the links between relays and warm every process's code paths. */
const WARM = 50;
const TRIPS = 500;
/** A trip not answered within this is counted lost (and fails the figure). */
const TRIP_MS = 5_000;
const ID_BYTES = 16;

const round = (x: number, places: number): number => Math.round(x * 10 ** places) / 10 ** places;
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;

// Each client sends every one of its packets on one socket, which a relay
// meters at perClientPerMinute with a full bucket to start: the whole run
// must fit in that bucket, or packets past it are dropped and read as lost.
if (WARM + TRIPS + 1 > DEFAULT_CLIENT_LIMITS.perClientPerMinute) {
  throw new SpareCyclesError('USAGE', `onion-rtt: expected at most ${DEFAULT_CLIENT_LIMITS.perClientPerMinute - 1} trips, got ${WARM + TRIPS}`);
}

async function viewOf(relays: RelayProcesses): Promise<RelayView> {
  const view = new RelayView({
    backend,
    sources: relays.relays.map((r) => relayDescriptorsSource(r.url)),
    // All on 127/8: one group per relay, as if each had an address of its own.
    groupOf: (ws) => new URL(ws).host,
    guardStore: memoryGuardStore(relays.keys[0]),
  });
  const report = await view.refresh();
  if (view.relays().length !== relays.keys.length) {
    throw new SpareCyclesError('NOT_FOUND', `expected ${relays.keys.length} relays in the view, got ${view.relays().length} (${JSON.stringify(report)})`);
  }
  return view;
}

export async function benchOnionRtt(): Promise<Record<string, Figure>> {
  const testnet = await startTestnet({ dhtNodes: 2, tracker: false });
  let relays: RelayProcesses | undefined;
  const clients: OnionClient[] = [];
  try {
    relays = await startRelayProcesses({ bootstrap: testnet.bootstrap });
    await relays.meshFormed();
    const clientOf = async (r: RelayProcesses) => {
      const client = new OnionClient({ backend, view: await viewOf(r), WebSocket: WebSocketClient as unknown as SocketConstructor });
      clients.push(client);
      return client;
    };
    const requester = await clientOf(relays);
    const responder = await clientOf(relays);

    let unanswerable = 0;
    const rendezvous = fromHex(relays.keys[2]!);
    const inbox = await responder.openMailbox(rendezvous, (message) => {
      let envelope;
      try {
        envelope = decodeEnvelope(message);
      } catch {
        unanswerable++;
        return;
      }
      const { firstHop, packet } = replyPacket(backend, envelope.surb, envelope.body);
      responder.sendPacket(firstHop, packet).catch(() => unanswerable++);
    });

    /** One round trip's milliseconds, or undefined when its answer did not come within TRIP_MS. */
    const trip = async (): Promise<number | undefined> => {
      const path = await requester.view.choosePath({ rendezvous });
      const epoch = path[0]!.epoch;
      const replyBox = await requester.replyMailbox(path[0]!.id);
      const id = backend.randomBytes(ID_BYTES);
      return new Promise<number | undefined>((resolve, reject) => {
        const start = performance.now();
        const timer = setTimeout(() => resolve(undefined), TRIP_MS);
        const surb = requester.makeSurb([path[2]!, path[1]!, path[0]!], epoch, replyBox, (answer) => {
          const ms = performance.now() - start;
          clearTimeout(timer);
          if (equalBytes(answer, id)) resolve(ms);
          else reject(new SpareCyclesError('PROTOCOL', 'onion-rtt: an answer that is not the request id'));
        });
        requester.send(path, inbox, encodeEnvelope({ surb, body: id }), epoch).catch((error: unknown) => {
          clearTimeout(timer);
          reject(error);
        });
      });
    };

    for (let i = 0; i < WARM; i++) {
      if ((await trip()) === undefined) throw new TimeoutError(`onion-rtt: warm-up trip ${i} got no answer within ${TRIP_MS} ms`);
    }
    const times: number[] = [];
    let lost = 0;
    for (let i = 0; i < TRIPS; i++) {
      const ms = await trip();
      if (ms === undefined) lost++;
      else times.push(ms);
    }
    if (times.length === 0) throw new TimeoutError(`onion-rtt: none of ${TRIPS} trips got an answer`);
    times.sort((a, b) => a - b);
    const p50 = round(quantile(times, 0.5), 1);
    const p99 = round(quantile(times, 0.99), 1);
    const relayErrors = relays.linesAt('error').length;
    const relayWarnings = relays.linesAt('warn').length;
    return {
      onion_rtt_ms: {
        value: p50,
        unit: 'ms (p50)',
        target: 'p50 < 25, p99 < 100',
        pass: p50 < 25 && p99 < 100 && lost === 0 && unanswerable === 0,
        p50_ms: p50,
        p99_ms: p99,
        min_ms: round(times[0]!, 1),
        max_ms: round(times.at(-1)!, 1),
        trips: TRIPS,
        lost,
        unanswerable,
        relay_errors: relayErrors,
        relay_warnings: relayWarnings,
        notes: `${TRIPS} sequential round trips after ${WARM} untimed ones, each from building the request to its answer opened: a 16-byte request in an exit envelope with a reply block, through 3 \`cycles relay --onion\` processes (127.0.0.2-.4, a private DHT) to a mailbox at the third, answered there by a client that sends the id back on the reply block along the same 3 relays to the requester's mailbox at its guard; both clients are net/onion-client.ts in the bench process, sharing its cores with the relays; lost: trips unanswered within ${TRIP_MS} ms`,
      },
    };
  } finally {
    for (const client of clients) client.stop();
    await relays?.stop();
    await testnet.stop();
  }
}
