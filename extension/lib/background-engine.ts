// The engine in Firefox's background page: what entrypoints/offscreen/main.ts
// does in Chromium's offscreen document, as a StartEngineHost for
// lib/in-page-transport.ts. The page has a DOM, RTCPeerConnection, Web
// Workers and WebAssembly (it is an MV2 persistent background page), and the
// wallet lives in the same page, so Earnings are its calls, not messages.

import type { Earnings } from '../../worker/ports.ts';
import type { GuardStore } from '../../net/relay-view.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { openStealthRoutes } from './stealth-routes.ts';
import { spawnWebWorkerThread } from '../../units/browser/web-worker-thread.ts';
import type { BrowserTorrentClient } from '../../worker/browser/webtorrent-port.ts';
import { EngineHost } from './engine-host.ts';
import type { ClientOptions } from './engine-host.ts';
import { replaceRequestIdleCallback } from './idle-callback.ts';
import type { PageEngineHost } from './in-page-transport.ts';
import type { EngineStatus } from './messages.ts';

export interface BackgroundEngineDeps {
  /** The background wallet's Earnings (WalletService.earnings()). */
  earnings: Earnings;
  /** Stealth mode's guard relay, in storage.local. */
  guardStore: GuardStore;
  warn?(error: Error): void;
}

/** A StartEngineHost (lib/in-page-transport.ts) for the background page. */
export async function startBackgroundEngine(deps: BackgroundEngineDeps, report: (status: EngineStatus) => void): Promise<PageEngineHost> {
  replaceRequestIdleCallback();
  // Only now may the bundle load: it looks for requestIdleCallback as it starts.
  const { default: WebTorrent } = await import('webtorrent/dist/webtorrent.min.js');
  return new EngineHost({
    createClient: (options: ClientOptions): BrowserTorrentClient => new WebTorrent(options),
    spawnThread: spawnWebWorkerThread,
    cores: navigator.hardwareConcurrency || 1,
    earnings: deps.earnings,
    openRoutes: (relays) => openStealthRoutes({ backend: nobleCrypto, relays, guardStore: deps.guardStore }),
    report,
    ...(deps.warn ? { warn: deps.warn } : {}),
  });
}
