// The relay flags a stealth worker and a tasker share: --relay (repeatable),
// the relays whose descriptors seed the view, beside the DHT's own. Every
// route is chosen from that one view (net/relay-view.ts).

import type DHT from 'bittorrent-dht';
import { OnionClient } from '../net/onion-client.ts';
import type { SocketConstructor } from '../net/relay-client.ts';
import { relayDescriptorsSource } from '../net/relay-http-sources.ts';
import { dhtDescriptorSource, fileGuardStore } from '../net/relay-sources.ts';
import { memoryGuardStore, RelayView } from '../net/relay-view.ts';
import { RELAY_URL_PATTERN } from '../protocol/messages/relay.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { WebSocketClient } from '../serve/ws.ts';
import { isLocalHost } from './network-args.ts';
import { UsageError } from './usage.ts';

export const relayOptions = {
  relay: { type: 'string', multiple: true },
} as const;

export interface RelayViewArgs {
  backend: CryptoBackend;
  relays: readonly string[];
  dht: DHT | false | null;
  /** Every address is on this machine: each relay (host and port) then counts as an address group of its own. */
  loopback: boolean;
  /** Where the guard is kept across runs; in memory only unless given. */
  guardFile?: string;
}

export function parseRelays(values: { relay?: string[] }): string[] {
  const relays = values.relay ?? [];
  for (const url of relays) if (!RELAY_URL_PATTERN.test(url)) throw new UsageError(`--relay: expected a ws:// or wss:// URL, got ${url}`);
  return relays;
}

/** A view filled once from the given relays and the DHT; routes are refused (NOT_FOUND) until it holds enough relays. */
export async function relayViewFor(args: RelayViewArgs): Promise<RelayView> {
  const view = new RelayView({
    backend: args.backend,
    sources: [
      ...args.relays.map((url) => relayDescriptorsSource(url)),
      ...(args.dht ? [dhtDescriptorSource({ dht: args.dht, backend: args.backend, lookupMs: 5_000 })] : []),
    ],
    guardStore: args.guardFile ? fileGuardStore(args.guardFile) : memoryGuardStore(),
    ...(args.loopback ? { groupOf: (ws: string) => new URL(ws).host } : {}),
  });
  await view.refresh(AbortSignal.timeout(20_000));
  return view;
}

/** Whether every URL names this machine (a private loopback network), as `networkArgs` decides it for the DHT and trackers. */
export function allOnLoopback(urls: readonly string[]): boolean {
  return urls.length > 0 && urls.every((url) => isLocalHost(new URL(url).hostname));
}

export function onionClientFor(backend: CryptoBackend, view: RelayView): OnionClient {
  return new OnionClient({ backend, view, WebSocket: WebSocketClient as unknown as SocketConstructor });
}
