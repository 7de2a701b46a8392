// The offscreen document: the only extension context with RTCPeerConnection
// and Web Workers under MV3. It runs the engine (lib/engine-host.ts) and
// talks to the background by runtime messages: it has no other extension API.
// Pay for its results is kept by the background's wallet, reached the same way.
// Any extension page may ask it for its engine's status ('get-status').

import { browser } from 'wxt/browser';
import { EngineHost } from '../../lib/engine-host.ts';
import { replaceRequestIdleCallback } from '../../lib/idle-callback.ts';
import type { ClientOptions } from '../../lib/engine-host.ts';
import { isMessageFor } from '../../lib/messages.ts';
import { remoteEarnings } from '../../lib/remote-earnings.ts';
import { openStealthRoutes, remoteGuardStore } from '../../lib/stealth-routes.ts';
import { nobleCrypto } from '../../../protocol/crypto/noble.ts';
import type { EngineStatus, OffscreenConfig, ToBackground } from '../../lib/messages.ts';
import { spawnWebWorkerThread } from '../../../units/browser/web-worker-thread.ts';
import type { BrowserTorrentClient } from '../../../worker/browser/webtorrent-port.ts';

function send(message: ToBackground): Promise<unknown> {
  return browser.runtime.sendMessage(message);
}

function watchBattery(host: EngineHost): void {
  const nav = navigator as Navigator & { getBattery?: () => Promise<EventTarget & { charging: boolean }> };
  if (typeof nav.getBattery !== 'function') return;
  void nav.getBattery().then((battery) => {
    const update = () => host.setPower(battery.charging);
    update();
    battery.addEventListener('chargingchange', update);
  }, () => {});
}

function main(): void {
  replaceRequestIdleCallback();
  // Only now may the bundle load: it looks for requestIdleCallback as it starts.
  const bundle = import('webtorrent/dist/webtorrent.min.js');
  let host: EngineHost | undefined;
  const pending: Array<(host: EngineHost) => void> = [];
  const withHost = (fn: (host: EngineHost) => void) => (host ? fn(host) : pending.push(fn));

  browser.runtime.onMessage.addListener((message: unknown, _sender, sendResponse: (reply: unknown) => void) => {
    if (!isMessageFor(message, 'offscreen')) return undefined;
    if (message.kind === 'get-status') sendResponse(host?.status() ?? null);
    else if (message.kind === 'configure') withHost((h) => h.configure(message.config));
    else if (message.kind === 'hold') withHost((h) => h.hold());
    else if (message.kind === 'release') withHost((h) => h.release());
    return undefined;
  });

  bundle
    .then(({ default: WebTorrent }) => {
      host = new EngineHost({
        createClient: (options: ClientOptions): BrowserTorrentClient => new WebTorrent(options),
        spawnThread: spawnWebWorkerThread,
        cores: navigator.hardwareConcurrency || 1,
        earnings: remoteEarnings((message) => browser.runtime.sendMessage(message)),
        openRoutes: (relays) => openStealthRoutes({ backend: nobleCrypto, relays, guardStore: remoteGuardStore(send) }),
        report: (status: EngineStatus) => void send({ target: 'background', kind: 'engine-status', status }).catch(() => {}),
        warn: (error) => console.warn('[sparecycles]', error.message),
      });
      watchBattery(host);
      for (const fn of pending.splice(0)) fn(host);
      return send({ target: 'background', kind: 'offscreen-ready' });
    })
    .then((config) => {
      if (config && host) host.configure(config as OffscreenConfig);
    })
    .catch((error: unknown) => {
      void send({ target: 'background', kind: 'engine-failed', error: `the engine could not start: ${String(error)}` }).catch(() => {});
    });
}

main();
