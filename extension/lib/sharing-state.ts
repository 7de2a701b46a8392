// The sharing state machine, as a pure reducer: (state, event) → (state,
// effects). The background feeds it events (the toggle, the offscreen
// document's reports, idle and power changes) and carries out the effects.
//
//   off ──enable──▶ starting ──started──▶ sharing ◀──conditions──▶ paused
//    ▲                 │                     │                        │
//    │              disable               disable                  disable
//    │                 ▼                     ▼                        ▼
//    └──────────────── off ◀──drained── draining ◀────────────────────┘
//
// Draining lets the units already running finish and return, and takes no
// new ones; enabling again while draining goes straight back to sharing. The
// background sends 'drained' only once the receipts of the results sent are
// in too, or a bounded wait for them ran out (lib/background-controller.ts).
// Paused (not on AC power, or the user is active) also takes no new units,
// but keeps the task and its swarm so it resumes at once.

export type Phase = 'off' | 'starting' | 'sharing' | 'paused' | 'draining';

export interface Conditions {
  /** undefined: the platform cannot tell (no Battery API). */
  onAc: boolean | undefined;
  /** The user is away or the screen is locked (browser.idle). */
  idle: boolean;
}

export interface Policy {
  onlyOnAc: boolean;
  onlyWhenIdle: boolean;
}

export interface SharingState {
  phase: Phase;
  conditions: Conditions;
  policy: Policy;
  /** Why the last start failed, shown to the user until the next start. */
  error?: string;
}

export type SharingEvent =
  | { type: 'enable' }
  | { type: 'disable' }
  | { type: 'started' }
  | { type: 'start-failed'; error: string }
  | { type: 'drained' }
  | { type: 'conditions'; conditions: Partial<Conditions> }
  | { type: 'policy'; policy: Policy };

export type Effect =
  | 'open-offscreen'
  | 'close-offscreen'
  /** Take no new units; running ones finish. */
  | 'pause-engine'
  | 'resume-engine';

export interface Transition {
  state: SharingState;
  effects: Effect[];
}

export function initialState(policy: Policy = { onlyOnAc: false, onlyWhenIdle: false }): SharingState {
  return { phase: 'off', conditions: { onAc: undefined, idle: false }, policy };
}

/** Why sharing may not take units now, or undefined when it may. An unknown power source does not block. */
export function pauseReason(conditions: Conditions, policy: Policy): string | undefined {
  if (policy.onlyOnAc && conditions.onAc === false) return 'on battery power';
  if (policy.onlyWhenIdle && !conditions.idle) return 'the computer is in use';
  return undefined;
}

function allowed(state: SharingState): boolean {
  return pauseReason(state.conditions, state.policy) === undefined;
}

/** The phase an active (started) engine belongs in under the current conditions. */
function activePhase(state: SharingState): 'sharing' | 'paused' {
  return allowed(state) ? 'sharing' : 'paused';
}

export function transition(state: SharingState, event: SharingEvent): Transition {
  const stay: Transition = { state, effects: [] };
  switch (event.type) {
    case 'enable': {
      if (state.phase === 'off') {
        const { error: _dropped, ...rest } = state;
        return { state: { ...rest, phase: 'starting' }, effects: ['open-offscreen'] };
      }
      if (state.phase === 'draining') {
        const phase = activePhase(state);
        return { state: { ...state, phase }, effects: phase === 'sharing' ? ['resume-engine'] : [] };
      }
      return stay;
    }
    case 'disable': {
      if (state.phase === 'starting') return { state: { ...state, phase: 'off' }, effects: ['close-offscreen'] };
      if (state.phase === 'sharing') return { state: { ...state, phase: 'draining' }, effects: ['pause-engine'] };
      if (state.phase === 'paused') return { state: { ...state, phase: 'draining' }, effects: [] };
      return stay;
    }
    case 'started': {
      if (state.phase !== 'starting') return stay;
      const phase = activePhase(state);
      return { state: { ...state, phase }, effects: [phase === 'sharing' ? 'resume-engine' : 'pause-engine'] };
    }
    case 'start-failed': {
      if (state.phase === 'off') return stay;
      return { state: { ...state, phase: 'off', error: event.error }, effects: ['close-offscreen'] };
    }
    case 'drained': {
      if (state.phase !== 'draining') return stay;
      return { state: { ...state, phase: 'off' }, effects: ['close-offscreen'] };
    }
    case 'conditions':
    case 'policy': {
      const next: SharingState =
        event.type === 'conditions'
          ? { ...state, conditions: { ...state.conditions, ...event.conditions } }
          : { ...state, policy: { ...event.policy } };
      if (next.phase === 'sharing' && !allowed(next)) return { state: { ...next, phase: 'paused' }, effects: ['pause-engine'] };
      if (next.phase === 'paused' && allowed(next)) return { state: { ...next, phase: 'sharing' }, effects: ['resume-engine'] };
      return { state: next, effects: [] };
    }
  }
}
