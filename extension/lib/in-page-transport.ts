// The engine in the background's own page (Firefox): the page has a DOM,
// RTCPeerConnection, Web Workers and WebAssembly, so the EngineHost the
// offscreen document runs in Chromium runs here instead, called directly.
// Statuses are handed over in a microtask, as a runtime message would be, so
// the controller never re-enters the engine from inside one of its events.

import type { EngineCommand, EngineEvents, EngineTransport } from './engine-transport.ts';
import type { EngineStatus, OffscreenConfig } from './messages.ts';

/** The part of EngineHost (lib/engine-host.ts) the transport drives. */
export interface PageEngineHost {
  configure(config: OffscreenConfig): void;
  hold(): void;
  release(): void;
  stop(): void;
}

/** Loads what the engine needs and makes a host that reports through `report`. */
export type StartEngineHost = (report: (status: EngineStatus) => void) => Promise<PageEngineHost>;

export class InPageTransport implements EngineTransport {
  private host: PageEngineHost | undefined;
  private starting: Promise<PageEngineHost> | undefined;
  /** Bumped by close(), so a host that finishes loading after it is stopped at once. */
  private generation = 0;

  constructor(private readonly start: StartEngineHost) {}

  async open(events: EngineEvents): Promise<'created' | 'existing'> {
    if (this.host || this.starting) return 'existing';
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    const starting = this.start((status) => queueMicrotask(() => current() && events.status(status)));
    this.starting = starting;
    let host: PageEngineHost;
    try {
      host = await starting;
    } finally {
      if (current()) this.starting = undefined;
    }
    if (!current()) {
      host.stop();
      return 'created';
    }
    this.host = host;
    const config = events.ready();
    if (config && current()) host.configure(config);
    return 'created';
  }

  async close(): Promise<void> {
    this.generation++;
    const host = this.host;
    this.host = undefined;
    this.starting = undefined;
    host?.stop();
  }

  async send(command: EngineCommand): Promise<void> {
    // A command sent while the host loads waits for it; the configuration it
    // gets on ready already carries the held state, so order is kept.
    const host = this.host ?? (await this.starting);
    if (!host || host !== this.host) return;
    if (command.kind === 'configure') host.configure(command.config);
    else if (command.kind === 'hold') host.hold();
    else host.release();
  }
}
