// The network a fresh extension starts from, with no option set: the relays
// it asks for offers and for other relays' descriptors, and the WebSocket
// trackers it meets peers at. A build may replace either list
// (SPARECYCLES_RELAYS, SPARECYCLES_TRACKERS: comma-separated URLs, empty for
// none; see wxt.config.ts), so that tests and the local demo build an
// extension that knows only their loopback network and reaches nothing else.

/** The project's own relays. Anyone may run more; the view grows from these (lib/offer-search.ts). */
export const PROJECT_RELAYS: readonly string[] = ['wss://relay-1.sparecycles.org', 'wss://relay-2.sparecycles.org', 'wss://relay-3.sparecycles.org'];

/** Public WebTorrent trackers over WebSocket. */
export const PUBLIC_TRACKERS: readonly string[] = ['wss://tracker.openwebtorrent.com', 'wss://tracker.webtorrent.dev'];

declare const __SPARECYCLES_RELAYS__: string | undefined;
declare const __SPARECYCLES_TRACKERS__: string | undefined;

/** A build's list if it set one (empty text: none), the shipped one otherwise. */
export function builtList(built: string | undefined, shipped: readonly string[]): string[] {
  if (built === undefined) return [...shipped];
  return built
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
}

// Replaced at build time by Vite's define; outside a build (unit tests) the names do not exist.
export const SHIPPED_RELAYS: readonly string[] = builtList(typeof __SPARECYCLES_RELAYS__ === 'string' ? __SPARECYCLES_RELAYS__ : undefined, PROJECT_RELAYS);
export const SHIPPED_TRACKERS: readonly string[] = builtList(typeof __SPARECYCLES_TRACKERS__ === 'string' ? __SPARECYCLES_TRACKERS__ : undefined, PUBLIC_TRACKERS);
