// Stealth mode's onion routes from a browser: a view of the relay mesh seeded
// by the volunteer's edge relay, or the relays the extension ships with
// (their /descriptors, then those of the relays they name, so that no single
// relay draws the whole map), the first of them as the guard until a guard
// has been kept, and an OnionClient over the
// browser's own WebSocket. The offscreen document uses one for the tasker's
// rendezvous, the background another for the mint; both keep one guard, in
// storage.local (the offscreen document reaches it by runtime messages).

import { OnionClient } from '../../net/onion-client.ts';
import type { SocketConstructor } from '../../net/relay-client.ts';
import { knownRelaysSource, relayDescriptorsSource } from '../../net/relay-http-sources.ts';
import { RelayView } from '../../net/relay-view.ts';
import type { GuardStore } from '../../net/relay-view.ts';
import type { CryptoBackend } from '../../protocol/crypto/backend.ts';
import { SpareCyclesError } from '../../protocol/errors.ts';
import type { KeyValueArea } from './settings.ts';

export const GUARD_KEY = 'relayGuard';

/** How often a long-lived view asks its sources again: onion keys rotate, relays come and go. */
const REFRESH_MS = 10 * 60_000;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export interface StealthRoutesOptions {
  backend: CryptoBackend;
  /** Where the view starts (ws:// or wss://): the edge relay the volunteer set, or the shipped relays. The first is the guard unless one is kept. */
  relays: readonly string[];
  guardStore: GuardStore;
  WebSocket?: SocketConstructor;
  /** Bound on the first refresh of the view. */
  refreshMs?: number;
}

export interface StealthRoutes {
  readonly client: OnionClient;
  readonly view: RelayView;
  stop(): void;
}

/** Opens the view and its client; NOT_FOUND when the edge relay names too few relays for a route. */
export async function openStealthRoutes(options: StealthRoutesOptions): Promise<StealthRoutes> {
  const first = options.relays[0];
  if (first === undefined) throw new SpareCyclesError('USAGE', 'stealth mode needs a relay to start from: set a relay URL in the options');
  const edgeUrl = normalise(first);
  let edge: string | undefined;
  const view = new RelayView({
    backend: options.backend,
    sources: options.relays.map((url) => relayDescriptorsSource(url)),
    guardStore: {
      load: async () => (await options.guardStore.load()) ?? edge,
      save: (id) => options.guardStore.save(id),
    },
    // On one machine every relay shares an address: each host and port then stands for a group of its own.
    ...(options.relays.every((url) => LOOPBACK.has(new URL(url).hostname)) ? { groupOf: (ws: string) => new URL(ws).host } : {}),
  });
  view.addSource(knownRelaysSource(view));
  await view.refresh(AbortSignal.timeout(options.refreshMs ?? 20_000));
  // Relays tell of each other: a second pass asks the relays the first one named.
  await view.refresh(AbortSignal.timeout(options.refreshMs ?? 20_000));
  edge = view.relays().find((e) => normalise(e.descriptor.ws) === edgeUrl)?.id;
  if (view.relays().length < 3) {
    throw new SpareCyclesError('NOT_FOUND', `stealth mode needs at least 3 relays with onion keys; ${options.relays.join(', ')} led to ${view.relays().length}`);
  }
  const WebSocket = options.WebSocket ?? (globalThis as unknown as { WebSocket: SocketConstructor }).WebSocket;
  const client = new OnionClient({ backend: options.backend, view, WebSocket });
  const timer = setInterval(() => void view.refresh(AbortSignal.timeout(options.refreshMs ?? 20_000)).catch(() => {}), REFRESH_MS);
  return {
    client,
    view,
    stop() {
      clearInterval(timer);
      client.stop();
    },
  };
}

function normalise(ws: string): string {
  return ws.replace(/\/+$/, '').toLowerCase();
}

/** The guard's key in storage.local, beside the settings. */
export function storageGuardStore(area: KeyValueArea): GuardStore {
  return {
    async load() {
      const id = (await area.get(GUARD_KEY))[GUARD_KEY];
      return typeof id === 'string' && /^[0-9a-f]{64}$/.test(id) ? id : undefined;
    },
    save: (id) => area.set({ [GUARD_KEY]: id ?? null }),
  };
}

/** The guard kept by the background, for a page with no storage of its own (the offscreen document). */
export function remoteGuardStore(send: (message: { target: 'background'; kind: 'guard-load' } | { target: 'background'; kind: 'guard-save'; id: string | null }) => Promise<unknown>): GuardStore {
  return {
    async load() {
      const id = await send({ target: 'background', kind: 'guard-load' });
      return typeof id === 'string' && /^[0-9a-f]{64}$/.test(id) ? id : undefined;
    },
    async save(id) {
      await send({ target: 'background', kind: 'guard-save', id: id ?? null });
    },
  };
}
