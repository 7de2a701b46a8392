// Onion relays on a loopback mesh, as the stealth tests and benchmarks use
// them: each with its own onion keys, every one dialing the others (those of
// earlier calls on the same mesh too) at the URLs handed out here, and one
// (the third by default) an exit to the mesh's mint; and onion clients that
// see them all, with a chosen guard.

import { OnionClient } from '../net/onion-client.ts';
import type { SocketConstructor } from '../net/relay-client.ts';
import { relayDescriptorsSource } from '../net/relay-http-sources.ts';
import { memoryGuardStore, RelayView } from '../net/relay-view.ts';
import { toHex } from '../protocol/bytes.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../protocol/crypto/node.ts';
import { OnionKeys } from '../relay/onion-keys.ts';
import { WebSocketClient } from '../serve/ws.ts';
import type { Mesh } from './mesh.ts';
import type { TestRelay } from './testnet.ts';

export interface OnionRelays {
  relays: TestRelay[];
  identities: Identity[];
}

/** Every onion relay of a mesh, by key: relays added by separate calls dial one another too. */
const urlsOf = new WeakMap<Mesh, Map<string, string>>();

export async function addOnionRelays(mesh: Mesh, options: { count?: number; exit?: number } = {}): Promise<OnionRelays> {
  const mint = mesh.net.mint;
  const exit = options.exit ?? 2;
  const urls = urlsOf.get(mesh) ?? new Map<string, string>();
  urlsOf.set(mesh, urls);
  const relays: TestRelay[] = [];
  const identities: Identity[] = [];
  for (let i = 0; i < (options.count ?? 4); i++) {
    const identity = Identity.generate(backend);
    const relay = await mesh.net.addRelay({
      identity,
      onion: {
        keys: await OnionKeys.open({ backend }),
        lookup: (id) => urls.get(toHex(id)),
        ...(i === exit && mint ? { mintOrigins: [new URL(mint.url).origin] } : {}),
      },
    });
    urls.set(toHex(identity.publicKey), relay.relay.url);
    relays.push(relay);
    identities.push(identity);
  }
  return { relays, identities };
}

/** An onion client whose view holds every relay of `relays`, with `guard` as its first hop; the caller stops it. */
export async function loopbackOnionClient(relays: readonly TestRelay[], guard: Uint8Array): Promise<OnionClient> {
  const view = new RelayView({
    backend,
    sources: relays.map((r) => relayDescriptorsSource(r.relay.url)),
    // Every relay is on 127.0.0.1 here: each port stands for an address group of its own.
    groupOf: (ws) => new URL(ws).port,
    guardStore: memoryGuardStore(toHex(guard)),
  });
  await view.refresh();
  return new OnionClient({ backend, view, WebSocket: WebSocketClient as unknown as SocketConstructor });
}
