// How the background's wallet reaches a mint: directly over HTTP, or, in
// stealth mode, sealed to the mint's key through onion routes (net/onion-mint.ts)
// so that the mint never learns the browser's address. Redeeming can wait:
// each of its requests is held back a random while (stealthDelayMs on
// average) and carries at most ONION_MINT_BATCH credits, one packet, so
// neither timing nor size ties the credits to when and how they were earned.
// Fetching the mint's public keys, which pay needs at once, is not held back.

import { MintClient } from '../../net/mint-client.ts';
import { ONION_MINT_BATCH, OnionMint, poissonDelay } from '../../net/onion-mint.ts';
import type { GuardStore } from '../../net/relay-view.ts';
import type { SocketConstructor } from '../../net/relay-client.ts';
import type { CryptoBackend } from '../../protocol/crypto/backend.ts';
import type { Settings } from './settings.ts';
import { SHIPPED_RELAYS } from './shipped-network.ts';
import { openStealthRoutes } from './stealth-routes.ts';
import type { StealthRoutes } from './stealth-routes.ts';
import type { MintAccess, MintPurpose } from './wallet-service.ts';

export interface StealthMintsDeps {
  backend: CryptoBackend;
  loadSettings(): Promise<Settings>;
  guardStore: GuardStore;
  /** The relays to start from when the settings name none; the shipped list by default. */
  relays?: readonly string[];
  WebSocket?: SocketConstructor;
}

export class StealthMints {
  /** The routes of one edge relay, opened on first use; another relay in the settings opens new ones. */
  private routes: { start: string; opening: Promise<StealthRoutes> } | undefined;
  private readonly mints = new Map<string, Promise<MintClient>>();

  constructor(private readonly deps: StealthMintsDeps) {}

  async access(url: string, purpose: MintPurpose): Promise<MintAccess> {
    const settings = await this.deps.loadSettings();
    if (!settings.stealth) return { client: new MintClient(url) };
    const delayMs = purpose === 'redeem' ? settings.stealthDelayMs : 0;
    const relays = settings.relayUrl ? [settings.relayUrl] : (this.deps.relays ?? SHIPPED_RELAYS);
    const start = relays.join(',');
    const key = `${start} ${delayMs} ${url}`;
    let client = this.mints.get(key);
    if (!client) {
      client = this.routesFor(relays).then((routes) =>
        new OnionMint({ backend: this.deps.backend, client: routes.client, url, ...(delayMs > 0 ? { delay: poissonDelay(delayMs) } : {}) }).mintClient(),
      );
      // A mint that could not be reached is asked afresh next time.
      client.catch(() => this.mints.delete(key));
      this.mints.set(key, client);
    }
    return { client: await client, batch: ONION_MINT_BATCH };
  }

  private routesFor(relays: readonly string[]): Promise<StealthRoutes> {
    const start = relays.join(',');
    if (this.routes?.start !== start) {
      const old = this.routes;
      if (old) {
        void old.opening.then((r) => r.stop(), () => {});
        for (const key of [...this.mints.keys()]) if (key.startsWith(`${old.start} `)) this.mints.delete(key);
      }
      const opening = openStealthRoutes({
        backend: this.deps.backend,
        relays,
        guardStore: this.deps.guardStore,
        ...(this.deps.WebSocket ? { WebSocket: this.deps.WebSocket } : {}),
      });
      const routes = { start, opening };
      opening.catch(() => {
        if (this.routes === routes) this.routes = undefined;
      });
      this.routes = routes;
    }
    return this.routes.opening;
  }

  stop(): void {
    void this.routes?.opening.then((r) => r.stop(), () => {});
    this.routes = undefined;
    this.mints.clear();
  }
}
