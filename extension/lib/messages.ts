// Runtime messages between the extension's parts. Every message names its
// target, because runtime.sendMessage reaches every extension page at once
// (popup, options and the offscreen document alike). The `wallet` target is
// answered by the background too, by its wallet (lib/wallet-messages.ts).

import type { WorkerStats } from '../../worker/engine.ts';
import type { Settings } from './settings.ts';
import type { Phase } from './sharing-state.ts';
import type { ToWallet } from './wallet-messages.ts';

export type UnitCounts = WorkerStats & {
  /** Assigned and not yet finished here. */
  running: number;
  /** Results sent without a final receipt yet, plus pay still being kept: what closing the engine now would lose. */
  settling: number;
};

/** What the offscreen document reports about its engine. */
export interface EngineStatus {
  stage: 'waiting-for-task' | 'finding-offer' | 'fetching' | 'computing' | 'failed';
  task?: { name: string; units: number; infoHash: string };
  /** Task torrent download, 0–1. */
  download: number;
  peers: number;
  units: UnitCounts;
  threads: number;
  dutyCycle: number;
  /** From the Battery API where the page has one. */
  onAc?: boolean;
  error?: string;
  /** In stealth mode: relays in the view the routes are drawn from. */
  stealth?: { relays: number };
  /** The engine's latest warnings (a relay that did not answer, a peer that broke the protocol), newest last. */
  warnings?: string[];
}

/** Everything the popup shows. */
export interface StatusView {
  phase: Phase;
  pauseReason?: string;
  error?: string;
  engine?: EngineStatus;
  /** The engine was told to take no new units (paused or draining). */
  engineHeld: boolean;
}

/** What the offscreen document needs to start. */
export interface OffscreenConfig {
  settings: Settings;
  /** Hex ed25519 seed; the offscreen document has no storage API of its own. */
  seed: string;
  /** Start without taking units (sharing is paused by a condition). */
  held: boolean;
}

export type ToBackground =
  | { target: 'background'; kind: 'get-status' }
  | { target: 'background'; kind: 'offscreen-ready' }
  | { target: 'background'; kind: 'engine-status'; status: EngineStatus }
  | { target: 'background'; kind: 'engine-failed'; error: string }
  // Stealth mode's guard relay, kept in storage.local, which the offscreen document cannot reach itself.
  | { target: 'background'; kind: 'guard-load' }
  | { target: 'background'; kind: 'guard-save'; id: string | null };

export type ToOffscreen =
  | { target: 'offscreen'; kind: 'configure'; config: OffscreenConfig }
  | { target: 'offscreen'; kind: 'hold' }
  | { target: 'offscreen'; kind: 'release' };

/**
 * Asks the offscreen document for its engine's status now, answered with an
 * EngineStatus (null while its engine is still loading). The background holds
 * only the last status reported; this one is live, and answering it shows the
 * document's event loop is free.
 */
export type OffscreenQuery = { target: 'offscreen'; kind: 'get-status' };

export type ExtensionMessage = ToBackground | ToOffscreen | OffscreenQuery | ToWallet;

export function isMessageFor<T extends ExtensionMessage['target']>(
  message: unknown,
  target: T,
): message is Extract<ExtensionMessage, { target: T }> {
  return typeof message === 'object' && message !== null && (message as { target?: unknown }).target === target;
}
