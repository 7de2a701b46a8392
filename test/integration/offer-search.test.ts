// Where a browser with no relay set looks for offers (extension/lib/offer-search.ts),
// run in Node against real relays on a loopback mesh with a real DHT. Node's
// WebSocket client stands in for the browser's, which Node 20 lacks.

import { afterAll, describe, expect, it } from 'vitest';
import { OfferSearch } from '../../extension/lib/offer-search.ts';
import type { SocketConstructor } from '../../net/relay-client.ts';
import { toHex } from '../../protocol/bytes.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { WebSocketClient } from '../../serve/ws.ts';
import { freePort } from '../../testnet/relay-processes.ts';
import { Mesh } from '../../testnet/mesh.ts';

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;
const WebSocket = WebSocketClient as unknown as SocketConstructor;

let mesh: Mesh | undefined;
afterAll(async () => {
  await mesh?.stop();
});

describe('looking for offers with no relay set', () => {
  it('skips a shipped relay that is down, finds the offer at one that answers, and learns the relays it names', async () => {
    mesh = await Mesh.start({ relays: 2 });
    const [known, named] = mesh.net.relays.map((r) => r.relay);
    const session = await mesh.publish(EXAMPLE, { offer: true });
    await Promise.all([known!.refreshOffers(), known!.learnRelays()]);
    // Nothing listens here: a shipped relay that has gone away.
    const dead = `ws://127.0.0.1:${await freePort('127.0.0.1')}`;

    const search = new OfferSearch({ backend, relays: [dead, known!.url], grow: true, WebSocket });
    const found = await search.find();
    expect(found?.relay).toBe(known!.url);
    expect(toHex(found!.offer.task)).toBe(session.infoHash);
    // The dead relay went to the back, and the relay only the other one named is now in the list.
    const after = search.relays();
    expect(after.at(-1)).toBe(dead);
    expect(after).toContain(named!.url);
    // A filter no offer passes finds nothing, without an error: the relays answered.
    await expect(search.find(() => false)).resolves.toBeUndefined();
  }, 60_000);

  it('says why when no relay answers at all', async () => {
    const dead = `ws://127.0.0.1:${await freePort('127.0.0.1')}`;
    const search = new OfferSearch({ backend, relays: [dead], grow: false, WebSocket });
    await expect(search.find()).rejects.toMatchObject({ code: 'NETWORK' });
    expect(search.relays()).toEqual([dead]);
  });

  it('asks only the relay the volunteer chose when one is set', () => {
    const search = new OfferSearch({ backend, relays: ['ws://127.0.0.1:9/'], grow: false, WebSocket });
    expect(search.relays()).toEqual(['ws://127.0.0.1:9']);
  });
});
