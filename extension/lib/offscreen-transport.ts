// The engine in an offscreen document (Chromium, MV3): the only context there
// with RTCPeerConnection and Web Workers. Commands go as runtime messages with
// `target: 'offscreen'`; the document's own messages ('offscreen-ready',
// 'engine-status', 'engine-failed') reach the background's onMessage, which
// hands them to BackgroundController.handle, so `events` is not used here.

import type { EngineCommand, EngineTransport } from './engine-transport.ts';
import { SpareCyclesError } from '../../protocol/errors.ts';

/** The part of browser.offscreen used here. */
export interface OffscreenApi {
  hasDocument(): Promise<boolean>;
  createDocument(parameters: { url: string; reasons: string[]; justification: string }): Promise<void>;
  closeDocument(): Promise<void>;
}

export interface OffscreenTransportDeps {
  /** browser.offscreen; undefined where the browser has none. */
  offscreen: OffscreenApi | undefined;
  /** browser.runtime.sendMessage. */
  sendMessage(message: EngineCommand): Promise<unknown>;
  url: string;
}

export function offscreenTransport(deps: OffscreenTransportDeps): EngineTransport {
  const { offscreen } = deps;
  return {
    async open() {
      if (!offscreen) throw new SpareCyclesError('INTERNAL', 'this browser has no offscreen documents: this is the Chromium build (Firefox has its own, wxt build -b firefox)');
      if (await offscreen.hasDocument()) return 'existing';
      await offscreen.createDocument({
        url: deps.url,
        reasons: ['WORKERS', 'WEB_RTC'],
        justification: 'Runs SpareCycles task units in Web Workers and talks to task peers over WebRTC.',
      });
      return 'created';
    },
    async close() {
      if (offscreen && (await offscreen.hasDocument())) await offscreen.closeDocument();
    },
    async send(command) {
      await deps.sendMessage(command);
    },
  };
}
