// The background's logic: it owns the sharing state machine, follows the
// settings in storage, carries out the machine's effects on the engine (an
// offscreen document in Chromium, the background page itself in Firefox: see
// lib/engine-transport.ts), and answers the popup. Everything
// platform-specific comes in as `deps`, so the background entrypoint stays a
// few lines of wiring.

import { toHex } from '../../protocol/bytes.ts';
import type { GuardStore } from '../../net/relay-view.ts';
import type { EngineCommand, EngineEvents, EngineTransport } from './engine-transport.ts';
import type { EngineStatus, OffscreenConfig, StatusView, ToBackground } from './messages.ts';
import type { Settings } from './settings.ts';
import { initialState, pauseReason, transition } from './sharing-state.ts';
import type { Conditions, Effect, SharingEvent, SharingState } from './sharing-state.ts';

export interface BackgroundDeps {
  loadSettings(): Promise<Settings>;
  loadSeed(): Promise<Uint8Array>;
  /** Where the engine runs: the offscreen document, or the background page itself. */
  engine: EngineTransport;
  /** Stealth mode's guard relay, for the offscreen document's routes; none kept without it. */
  guard?: GuardStore;
  log?(message: string, error?: unknown): void;
  /** How long switching off waits, once no unit runs, for the receipts of results already sent (default SETTLE_MS). */
  settleMs?: number;
}

/**
 * An accepted result's receipt carries its pay, and only a live engine hears
 * it: switching off waits for the receipts due, so the pay is in the wallet
 * before the engine closes. Bounded, so a tasker that never answers does not
 * keep the engine up for ever; a receipt still due then is not lost, as the
 * tasker keeps it until acknowledged and sends it again when this volunteer
 * next joins the task (the blinded outputs it pays wait in storage.local).
 */
export const SETTLE_MS = 30_000;

/** Settings the engine follows: a change sends it the new configuration, and the engine host decides what to rebuild (a CPU change only resizes its pool). */
const ENGINE_FIELDS = ['cpu', 'magnet', 'trackerUrls', 'maxPeerConnections', 'relayUrl', 'stealth'] as const;

export function engineSettingsChanged(a: Settings, b: Settings): boolean {
  return ENGINE_FIELDS.some((f) => JSON.stringify(a[f]) !== JSON.stringify(b[f]));
}

export class BackgroundController {
  state: SharingState = initialState();
  private settings: Settings | undefined;
  private seed: Uint8Array | undefined;
  private engine: EngineStatus | undefined;
  private readonly ready: Promise<void>;
  /** Runs while draining with no unit running but receipts still due; when it fires, the engine closes regardless. */
  private settleTimer: ReturnType<typeof setTimeout> | undefined;
  private settleExpired = false;
  /** What the engine's transport calls; the offscreen document's messages reach the same methods through handle(). */
  private readonly events: EngineEvents = {
    ready: () => this.engineReady(),
    status: (status) => this.engineStatus(status),
  };

  constructor(private readonly deps: BackgroundDeps) {
    this.ready = this.init();
    this.ready.catch((error) => deps.log?.('the background could not start', error));
  }

  private async init(): Promise<void> {
    const settings = await this.deps.loadSettings();
    this.seed = await this.deps.loadSeed();
    this.settings = settings;
    this.dispatch({ type: 'policy', policy: { onlyOnAc: settings.onlyOnAc, onlyWhenIdle: settings.onlyWhenIdle } });
    if (settings.sharing) this.dispatch({ type: 'enable' });
  }

  /** storage.onChanged brought a new settings record. */
  async settingsChanged(next: Settings): Promise<void> {
    await this.ready;
    const previous = this.settings!;
    this.settings = next;
    if (previous.onlyOnAc !== next.onlyOnAc || previous.onlyWhenIdle !== next.onlyWhenIdle) {
      this.dispatch({ type: 'policy', policy: { onlyOnAc: next.onlyOnAc, onlyWhenIdle: next.onlyWhenIdle } });
    }
    if (next.sharing !== previous.sharing) this.dispatch({ type: next.sharing ? 'enable' : 'disable' });
    const live = this.state.phase === 'sharing' || this.state.phase === 'paused';
    if (live && engineSettingsChanged(previous, next)) this.send({ target: 'offscreen', kind: 'configure', config: this.config() });
  }

  conditionsChanged(conditions: Partial<Conditions>): void {
    this.dispatch({ type: 'conditions', conditions });
  }

  /** A runtime message for the background; the result is the reply, if any. */
  async handle(message: ToBackground): Promise<unknown> {
    await this.ready;
    switch (message.kind) {
      case 'get-status':
        return this.view();
      case 'offscreen-ready':
        return this.engineReady();
      case 'engine-status':
        this.engineStatus(message.status);
        return undefined;
      case 'engine-failed':
        this.dispatch({ type: 'start-failed', error: message.error });
        return undefined;
      case 'guard-load':
        return (await this.deps.guard?.load()) ?? null;
      case 'guard-save':
        // Only a relay key, or null to forget it: the message may come from any extension page.
        if (message.id !== null && !(typeof message.id === 'string' && /^[0-9a-f]{64}$/.test(message.id))) return undefined;
        await this.deps.guard?.save(message.id ?? undefined);
        return undefined;
    }
  }

  view(): StatusView {
    const reason = pauseReason(this.state.conditions, this.state.policy);
    return {
      phase: this.state.phase,
      ...(this.state.phase === 'paused' && reason ? { pauseReason: reason } : {}),
      ...(this.state.error ? { error: this.state.error } : {}),
      ...(this.engine && this.state.phase !== 'off' ? { engine: this.engine } : {}),
      engineHeld: this.state.phase === 'paused' || this.state.phase === 'draining',
    };
  }

  /** The engine has loaded: it gets its configuration as the reply. */
  private engineReady(): OffscreenConfig | undefined {
    if (this.state.phase === 'off') {
      // A document left over from an earlier life of the service worker, or sharing went off while the engine loaded.
      void this.deps.engine.close().catch(() => {});
      return undefined;
    }
    this.dispatch({ type: 'started' }, { quiet: true });
    return this.config();
  }

  private engineStatus(status: EngineStatus): void {
    if (this.state.phase === 'off') return;
    this.engine = status;
    if (status.onAc !== undefined && status.onAc !== this.state.conditions.onAc) {
      this.dispatch({ type: 'conditions', conditions: { onAc: status.onAc } });
    }
    this.checkDrained();
  }

  private config(): OffscreenConfig {
    return {
      settings: this.settings!,
      seed: toHex(this.seed!),
      held: this.state.phase !== 'sharing',
    };
  }

  /**
   * Runs one event through the machine and carries out its effects. `quiet`
   * skips the engine effects, for when the configuration carries them.
   */
  dispatch(event: SharingEvent, options: { quiet?: boolean } = {}): void {
    const { state, effects } = transition(this.state, event);
    this.state = state;
    for (const effect of effects) {
      if (options.quiet && (effect === 'pause-engine' || effect === 'resume-engine')) continue;
      this.apply(effect);
    }
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.state.phase !== 'draining') return this.stopSettling();
    const units = this.engine?.units;
    if ((units?.running ?? 0) > 0) return;
    if ((units?.settling ?? 0) > 0 && !this.settleExpired) {
      this.settleTimer ??= setTimeout(() => {
        this.settleExpired = true;
        this.deps.log?.(`closing the engine with ${this.engine?.units.settling ?? 0} result(s) still unanswered`);
        this.checkDrained();
      }, this.deps.settleMs ?? SETTLE_MS);
      return;
    }
    this.stopSettling();
    this.dispatch({ type: 'drained' });
  }

  private stopSettling(): void {
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    this.settleExpired = false;
  }

  private apply(effect: Effect): void {
    switch (effect) {
      case 'open-offscreen':
        this.deps.engine.open(this.events).then(
          (how) => {
            // A document that was already open never says it is ready again: configure it now.
            if (how === 'existing' && this.state.phase === 'starting') {
              this.dispatch({ type: 'started' }, { quiet: true });
              this.send({ target: 'offscreen', kind: 'configure', config: this.config() });
            }
          },
          (error: unknown) => this.dispatch({ type: 'start-failed', error: error instanceof Error ? error.message : String(error) }),
        );
        return;
      case 'close-offscreen':
        this.engine = undefined;
        void this.deps.engine.close().catch((error) => this.deps.log?.('could not close the engine', error));
        return;
      case 'pause-engine':
        this.send({ target: 'offscreen', kind: 'hold' });
        return;
      case 'resume-engine':
        this.send({ target: 'offscreen', kind: 'release' });
        return;
    }
  }

  private send(message: EngineCommand): void {
    this.deps.engine.send(message).catch((error) => this.deps.log?.(`could not send ${message.kind} to the engine`, error));
  }
}
