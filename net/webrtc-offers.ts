// When a Node peer makes WebRTC offers.
//
// A WebSocket tracker announce carries up to five WebRTC offers, each a
// PeerConnection that gathers candidates and waits up to 50 s for an answer.
// In Node that costs the event loop several milliseconds of blocking calls
// into libwebrtc per offer, and libwebrtc's threads keep working while the
// offers wait. Between Node peers it buys nothing: they meet over TCP, and
// WebTorrent then drops the WebRTC wire as a duplicate. Browsers, which can
// only use WebRTC, reach a Node peer with offers of their own, which it answers.
//
// So a Node torrent's first announce to a WebSocket tracker carries no offers.
// If the torrent still has no peer, connected or connecting, after
// OFFER_GRACE_MS (which is what happens when WebRTC is the only way in), it
// announces again with offers. Later announces are unchanged, so a browser
// that joined before us still gets our offers at our next regular announce.
// A torrent that a browser may be seeding already, such as a worker's result
// torrent, is fetched with offers from the start (addTorrent's offerAtOnce).
// In the browser, the extension's WebTorrent makes offers as it always did.

import WebSocketTracker from 'bittorrent-tracker/websocket-tracker';
import type { Torrent } from 'webtorrent';

/** How long a Node torrent waits for a peer by other means before it makes WebRTC offers. */
export const OFFER_GRACE_MS = 2000;

const POLICY = Symbol('sparecycles.offerPolicy');

interface OfferPolicy {
  connected(): boolean;
}

interface AnnounceOpts {
  event?: string;
  numwant?: number;
  [POLICY]?: OfferPolicy;
}

interface WebSocketTrackerInternals {
  destroyed: boolean;
  client: { _defaultAnnounceOpts(): AnnounceOpts };
  announce(opts: AnnounceOpts): void;
}

/**
 * WebTorrent's per-torrent `getAnnounceOpts` for a torrent of a Node peer. The
 * policy rides on a symbol key, which no tracker request ever serialises.
 */
export function sparingOffers(torrent: () => Torrent | undefined): () => AnnounceOpts {
  const policy: OfferPolicy = {
    // A peer still connecting counts: offering to a peer whose own offer we
    // are answering makes two connections cross, and WebTorrent then drops both.
    connected: () => {
      const t = torrent() as (Torrent & { _peers?: Map<string, unknown> }) | undefined;
      return t !== undefined && (t.wires.length > 0 || (t._peers?.size ?? 0) > 0);
    },
  };
  return () => ({ [POLICY]: policy });
}

let installed = false;

/** Installs the policy into bittorrent-tracker's WebSocket client, once. */
export function installOfferPolicy(): void {
  if (installed) return;
  installed = true;
  const proto = (WebSocketTracker as unknown as { prototype: WebSocketTrackerInternals }).prototype;
  const announce = proto.announce;
  // The library calls announce() again itself when the socket connects: one grace per tracker.
  const graced = new WeakSet<WebSocketTrackerInternals>();
  proto.announce = function (this: WebSocketTrackerInternals, opts: AnnounceOpts) {
    const policy = opts[POLICY];
    if (!policy || opts.event !== 'started') return announce.call(this, opts);
    announce.call(this, { ...opts, numwant: 0 });
    if (graced.has(this)) return;
    graced.add(this);
    const later = setTimeout(() => {
      if (this.destroyed || policy.connected()) return;
      // An update, not a second 'started': the tracker already counts us in the swarm.
      announce.call(this, this.client._defaultAnnounceOpts());
    }, OFFER_GRACE_MS);
    later.unref?.();
  };
}
