// How the background reaches its engine. In Chromium the engine runs in an
// offscreen document and everything crosses as runtime messages
// (lib/offscreen-transport.ts); in Firefox it runs in the background page
// itself, where runtime.sendMessage never reaches its own sender, so the
// engine host is called directly (lib/in-page-transport.ts). The background
// controller sees only this interface.

import type { EngineStatus, OffscreenConfig, ToOffscreen } from './messages.ts';

/** What the controller tells its engine: configure, hold, release. */
export type EngineCommand = ToOffscreen;

/** What the engine tells the controller. */
export interface EngineEvents {
  /** The engine has loaded: the answer is its configuration, or undefined when sharing went off meanwhile (then it is closed). */
  ready(): OffscreenConfig | undefined;
  status(status: EngineStatus): void;
}

export interface EngineTransport {
  /**
   * Brings the engine up. 'created': it calls `events.ready()` once it has
   * loaded. 'existing': it was already up (a restarted service worker found
   * its offscreen document) and will not say it is ready again. A rejection
   * means it cannot start here.
   */
  open(events: EngineEvents): Promise<'created' | 'existing'>;
  /** Stops the engine and everything it runs; units in flight are dropped. */
  close(): Promise<void>;
  send(command: EngineCommand): Promise<void>;
}
