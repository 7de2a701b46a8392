// Onion relays on a test mesh, as the stealth tests use them: each with its
// own onion keys, every one of them dialing the others (those of earlier
// calls on the same mesh too) at the URLs this helper hands out, and one (by default the third) an exit to the mesh's mint.

import { toHex } from '../../protocol/bytes.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { OnionKeys } from '../../relay/onion-keys.ts';
import type { TestRelay } from '../../testnet/testnet.ts';
import type { Mesh } from '../../testnet/mesh.ts';

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
