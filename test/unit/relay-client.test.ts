// The browser's side of the relay: it keeps only offers that verify under
// their own tasker key. The relay is played by a scripted socket here, since
// what is under test is the client's checking, not the network (the relay
// itself is tested for real in test/integration/relay.test.ts and the
// extension's end-to-end test).

import { describe, expect, it } from 'vitest';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { SpareCyclesError } from '../../protocol/errors.ts';
import { decodeMessage, encodeMessage, signMessage } from '../../protocol/messages/index.ts';
import type { Message, Offer } from '../../protocol/messages/index.ts';
import { chooseOffer, fetchOffersFromRelay, RelayError } from '../../net/relay-client.ts';
import type { SocketConstructor } from '../../net/relay-client.ts';

function offer(identity: Identity, fields: Partial<Offer> = {}): Offer {
  return signMessage(nodeCrypto, identity.exportSeed(), {
    t: 'offer',
    v: 1,
    task: new Uint8Array(20).fill(1),
    name: 'task',
    price: 1,
    left: 5,
    units: 10,
    deadline: Math.floor(Date.now() / 1000) + 3600,
    mode: 'immediate',
    seq: 1,
    tasker: identity.publicKey,
    ...fields,
  } as never) as Offer;
}

/** A socket whose "relay" answers every request with `answer(request)`. */
function scriptedRelay(answer: (request: Message) => Message): SocketConstructor {
  return class {
    binaryType = '';
    onopen: (() => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    onclose: (() => void) | null = null;
    constructor() {
      setTimeout(() => this.onopen?.(), 0);
    }
    send(data: Uint8Array) {
      const reply = encodeMessage(answer(decodeMessage(data)));
      setTimeout(() => this.onmessage?.({ data: reply.buffer.slice(reply.byteOffset, reply.byteOffset + reply.byteLength) }), 0);
    }
    close() {}
  };
}

describe('relay client', () => {
  it('keeps offers that verify and refuses forged ones', async () => {
    const honest = Identity.generate(nodeCrypto);
    const other = Identity.generate(nodeCrypto);
    const good = offer(honest, { price: 3 });
    const raised = { ...offer(honest), price: 99 }; // changed after signing
    const claimed = { ...offer(other), tasker: honest.publicKey }; // signed by someone else
    const WebSocket = scriptedRelay((request) => ({
      t: 'relay-offers',
      v: 1,
      id: (request as { id: Uint8Array }).id,
      offers: [good, raised, claimed].map((o) => encodeMessage(o)),
    }) as Message);
    const { offers, refused } = await fetchOffersFromRelay({ url: 'ws://relay', backend: nodeCrypto, WebSocket });
    expect(offers).toHaveLength(1);
    expect(offers[0]!.price).toBe(3);
    expect(refused).toBe(2);
  });

  it('reports a refusal from the relay as a RelayError', async () => {
    const WebSocket = scriptedRelay((request) => ({
      t: 'relay-error',
      v: 1,
      id: (request as { id: Uint8Array }).id,
      code: 'RATE_LIMITED',
      message: 'slow down',
    }) as Message);
    const refusal = fetchOffersFromRelay({ url: 'ws://relay', backend: nodeCrypto, WebSocket });
    await expect(refusal).rejects.toBeInstanceOf(RelayError);
    await expect(refusal).rejects.toBeInstanceOf(SpareCyclesError);
    await expect(refusal).rejects.toMatchObject({ code: 'RATE_LIMITED', message: expect.stringContaining('slow down') });
  });

  it('chooses the best paid offer with units left before its deadline', () => {
    const id = Identity.generate(nodeCrypto);
    const now = Date.now() / 1000;
    const offers = [
      offer(id, { price: 5, left: 0 }),
      offer(id, { price: 4, deadline: Math.floor(now) - 1 }),
      offer(id, { price: 2 }),
      offer(id, { price: 3 }),
    ];
    expect(chooseOffer(offers, now)?.price).toBe(3);
    expect(chooseOffer([], now)).toBeUndefined();
  });
});
