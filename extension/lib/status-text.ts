// The popup's words for the current state, kept pure so the wording is tested.

import { cpuBudget } from '../../units/cpu-budget.ts';
import type { StatusView } from './messages.ts';
import type { Settings } from './settings.ts';

export function describeStatus(view: StatusView): string {
  const engine = view.engine;
  switch (view.phase) {
    case 'off':
      return view.error ? `Not sharing — ${view.error}` : 'Not sharing';
    case 'starting':
      return 'Starting…';
    case 'paused':
      return `Paused — ${view.pauseReason ?? 'waiting for the right conditions'}`;
    case 'draining': {
      const running = engine?.units.running ?? 0;
      const settling = engine?.units.settling ?? 0;
      if (running > 0) return `Stopping — finishing ${running} running unit${running === 1 ? '' : 's'}`;
      return settling > 0 ? `Stopping — waiting for the tasker's answer to ${settling} result${settling === 1 ? '' : 's'}` : 'Stopping…';
    }
    case 'sharing': {
      if (!engine) return 'Sharing — starting the engine';
      if (engine.stage === 'failed') return `Sharing — the task failed: ${engine.error ?? 'unknown error'}`;
      if (engine.stage === 'waiting-for-task') return 'Sharing — waiting for a task (set a relay or a magnet)';
      if (engine.stage === 'finding-offer') return engine.stealth ? `Sharing in stealth mode — looking for offers with a rendezvous (${engine.stealth.relays} relays in view)` : 'Sharing — looking for offers through the relay';
      if (engine.stage === 'fetching') return `Sharing — fetching the task (${Math.round(engine.download * 100)}%)`;
      const task = engine.task;
      if (engine.stealth) return task ? `Sharing in stealth mode — computing ${task.name}, ${engine.units.computed}/${task.units} units` : 'Sharing in stealth mode — computing';
      return task ? `Sharing — computing ${task.name}, ${engine.units.computed}/${task.units} units` : 'Sharing — computing';
    }
  }
}

/** What the stealth switch does, or why it cannot be switched on; `shipped`: relays the extension starts from when none is set. */
export function describeStealth(settings: Pick<Settings, 'stealth' | 'relayUrl' | 'magnet'>, shipped: readonly string[]): string {
  if (!settings.relayUrl && shipped.length === 0) {
    return settings.stealth
      ? 'Stealth mode is on but has no relay to draw routes from: set a relay URL in the options.'
      : 'Stealth mode needs a relay: set a relay URL in the options first.';
  }
  if (settings.stealth && settings.magnet) return 'Stealth mode takes only offers that name a rendezvous: clear the magnet in the options.';
  return settings.stealth
    ? 'Taskers and mints are reached only through onion routes of three relays, under a fresh key for each task; the task itself comes the same way.'
    : 'Reach taskers and mints only through onion routes, so that nobody can tie your credits to your address.';
}

/** The CPU slider in words: "50% = 1 thread at 100%". */
export function describeCpu(fraction: number, cores: number): string {
  const { threads, dutyCycle } = cpuBudget(fraction, cores);
  return `${Math.round(fraction * 100)}% of ${cores} core${cores === 1 ? '' : 's'} = ${threads} thread${threads === 1 ? '' : 's'} × ${Math.round(dutyCycle * 100)}% busy`;
}

/** Units computed here against the task's size, 0–1, for the progress bar. */
export function progressOf(view: StatusView): number {
  const engine = view.engine;
  if (!engine?.task || engine.task.units === 0) return 0;
  return Math.min(1, engine.units.computed / engine.task.units);
}
