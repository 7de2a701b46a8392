// The sharing state machine, the background controller that drives it (with
// fake browser parts), and the popup's wording.

import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { BackgroundController } from '../../extension/lib/background-controller.ts';
import type { EngineStatus, StatusView, ToOffscreen } from '../../extension/lib/messages.ts';
import { defaultSettings } from '../../extension/lib/settings.ts';
import type { Settings } from '../../extension/lib/settings.ts';
import { initialState, pauseReason, transition } from '../../extension/lib/sharing-state.ts';
import type { SharingEvent, SharingState } from '../../extension/lib/sharing-state.ts';
import { describeCpu, describeStatus, describeStealth, progressOf } from '../../extension/lib/status-text.ts';
import { memoryGuardStore } from '../../net/relay-view.ts';

function run(events: SharingEvent[], state = initialState()): { state: SharingState; effects: string[][] } {
  const effects: string[][] = [];
  for (const event of events) {
    const t = transition(state, event);
    state = t.state;
    effects.push(t.effects);
  }
  return { state, effects };
}

describe('sharing state machine', () => {
  it('goes off → starting → sharing → draining → off', () => {
    const { state, effects } = run([{ type: 'enable' }, { type: 'started' }, { type: 'disable' }, { type: 'drained' }]);
    expect(state.phase).toBe('off');
    expect(effects).toEqual([['open-offscreen'], ['resume-engine'], ['pause-engine'], ['close-offscreen']]);
  });

  it('takes no new units while draining, and enabling again resumes without a restart', () => {
    const { state, effects } = run([{ type: 'enable' }, { type: 'started' }, { type: 'disable' }, { type: 'enable' }]);
    expect(state.phase).toBe('sharing');
    expect(effects.at(-1)).toEqual(['resume-engine']);
  });

  it('ignores events that do not apply', () => {
    expect(transition(initialState(), { type: 'disable' }).effects).toEqual([]);
    expect(transition(initialState(), { type: 'drained' }).state.phase).toBe('off');
    expect(transition(initialState(), { type: 'started' }).state.phase).toBe('off');
    const sharing = run([{ type: 'enable' }, { type: 'started' }]).state;
    expect(transition(sharing, { type: 'enable' })).toEqual({ state: sharing, effects: [] });
    expect(transition(sharing, { type: 'drained' }).state.phase).toBe('sharing');
  });

  it('closes the document when switched off while starting, and records a failed start', () => {
    expect(run([{ type: 'enable' }, { type: 'disable' }]).effects.at(-1)).toEqual(['close-offscreen']);
    const failed = run([{ type: 'enable' }, { type: 'start-failed', error: 'no offscreen API' }]).state;
    expect(failed).toMatchObject({ phase: 'off', error: 'no offscreen API' });
    expect(transition(failed, { type: 'enable' }).state.error).toBeUndefined();
  });

  it('pauses on battery when asked to run only on AC, and resumes on AC', () => {
    const policy = { onlyOnAc: true, onlyWhenIdle: false };
    const { state, effects } = run(
      [{ type: 'enable' }, { type: 'started' }, { type: 'conditions', conditions: { onAc: false } }, { type: 'conditions', conditions: { onAc: true } }],
      initialState(policy),
    );
    expect(state.phase).toBe('sharing');
    expect(effects.slice(2)).toEqual([['pause-engine'], ['resume-engine']]);
  });

  it('starts paused when the conditions say so, and an unknown power source does not block', () => {
    const start = { ...initialState({ onlyOnAc: true, onlyWhenIdle: true }) };
    const t = run([{ type: 'enable' }, { type: 'started' }], start);
    expect(t.state.phase).toBe('paused');
    expect(t.effects.at(-1)).toEqual(['pause-engine']);
    expect(pauseReason({ onAc: undefined, idle: true }, { onlyOnAc: true, onlyWhenIdle: true })).toBeUndefined();
    expect(pauseReason({ onAc: false, idle: true }, { onlyOnAc: true, onlyWhenIdle: true })).toBe('on battery power');
    expect(pauseReason({ onAc: true, idle: false }, { onlyOnAc: true, onlyWhenIdle: true })).toBe('the computer is in use');
  });

  it('follows a policy change: turning "only when idle" off resumes a paused engine', () => {
    const paused = run([{ type: 'enable' }, { type: 'started' }], initialState({ onlyOnAc: false, onlyWhenIdle: true })).state;
    expect(paused.phase).toBe('paused');
    const t = transition(paused, { type: 'policy', policy: { onlyOnAc: false, onlyWhenIdle: false } });
    expect(t).toMatchObject({ state: { phase: 'sharing' }, effects: ['resume-engine'] });
  });

  it('a paused engine that is switched off drains without another pause', () => {
    const paused = run([{ type: 'enable' }, { type: 'started' }], initialState({ onlyOnAc: false, onlyWhenIdle: true })).state;
    expect(transition(paused, { type: 'disable' })).toMatchObject({ state: { phase: 'draining' }, effects: [] });
  });
});

function status(running: number, extra: Partial<EngineStatus> = {}): EngineStatus {
  return {
    stage: 'computing',
    task: { name: 'mandelbrot', units: 32, infoHash: 'ab'.repeat(20) },
    download: 1,
    peers: 1,
    units: { assigned: 12 + running, computed: 12, failed: 0, accepted: 10, rejected: 0, pending: 2, credits: 0, running, settling: 0 },
    threads: 1,
    dutyCycle: 1,
    ...extra,
  };
}

/** A status with `settling` results still waiting for their receipts (or their pay being kept). */
function settlingStatus(running: number, settling: number): EngineStatus {
  const s = status(running);
  return { ...s, units: { ...s.units, settling } };
}

function controller(settings: Partial<Settings> = {}, settleMs?: number) {
  const log: string[] = [];
  const sent: ToOffscreen[] = [];
  const guard = memoryGuardStore();
  const c = new BackgroundController({
    ...(settleMs === undefined ? {} : { settleMs }),
    guard,
    log: (message) => log.push(`log: ${message}`),
    loadSettings: async () => ({ ...defaultSettings(), ...settings }),
    loadSeed: async () => new Uint8Array(32).fill(7),
    engine: {
      open: async () => {
        log.push('open');
        return 'created';
      },
      close: async () => void log.push('close'),
      send: async (m) => void sent.push(m),
    },
  });
  return { c, log, sent, guard };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('background controller', () => {
  it('starts sharing from stored settings, configures the document when it is ready, and drains on switch-off', async () => {
    const { c, log, sent } = controller({ sharing: true, magnet: '' });
    const config = (await c.handle({ target: 'background', kind: 'offscreen-ready' })) as { seed: string; held: boolean };
    expect(log).toEqual(['open']);
    expect(config.seed).toBe('07'.repeat(32));
    expect(config.held).toBe(false);
    expect(c.state.phase).toBe('sharing');
    await c.handle({ target: 'background', kind: 'engine-status', status: status(2) });
    await c.settingsChanged({ ...defaultSettings(), sharing: false });
    expect(c.state.phase).toBe('draining');
    expect(sent.map((m) => m.kind)).toEqual(['hold']);
    expect(log).toEqual(['open']);
    await c.handle({ target: 'background', kind: 'engine-status', status: status(0) });
    expect(c.state.phase).toBe('off');
    expect(log).toEqual(['open', 'close']);
  });

  it('switched off, closes the engine only once the receipts of the results it sent are in', async () => {
    const { c, log } = controller({ sharing: true, magnet: '' }, 60_000);
    await c.handle({ target: 'background', kind: 'offscreen-ready' });
    await c.handle({ target: 'background', kind: 'engine-status', status: settlingStatus(1, 2) });
    await c.settingsChanged({ ...defaultSettings(), sharing: false });
    // No unit runs any more, but two results wait for their verdicts (and pay).
    await c.handle({ target: 'background', kind: 'engine-status', status: settlingStatus(0, 2) });
    expect(c.state.phase).toBe('draining');
    expect(describeStatus(c.view())).toBe("Stopping — waiting for the tasker's answer to 2 results");
    await c.handle({ target: 'background', kind: 'engine-status', status: settlingStatus(0, 1) });
    expect(c.state.phase).toBe('draining');
    expect(log).toEqual(['open']);
    await c.handle({ target: 'background', kind: 'engine-status', status: settlingStatus(0, 0) });
    expect(c.state.phase).toBe('off');
    expect(log).toEqual(['open', 'close']);
  });

  it('closes the engine after a bounded wait when the receipts never come', async () => {
    vi.useFakeTimers();
    onTestFinished(() => void vi.useRealTimers());
    const { c, log } = controller({ sharing: true, magnet: '' }, 30_000);
    await c.handle({ target: 'background', kind: 'offscreen-ready' });
    await c.handle({ target: 'background', kind: 'engine-status', status: settlingStatus(1, 0) });
    await c.settingsChanged({ ...defaultSettings(), sharing: false });
    await c.handle({ target: 'background', kind: 'engine-status', status: settlingStatus(0, 1) });
    expect(c.state.phase).toBe('draining');
    // Statuses keep coming while it waits; they do not restart the wait.
    vi.advanceTimersByTime(20_000);
    await c.handle({ target: 'background', kind: 'engine-status', status: settlingStatus(0, 1) });
    vi.advanceTimersByTime(9_999);
    expect(c.state.phase).toBe('draining');
    vi.advanceTimersByTime(1);
    expect(c.state.phase).toBe('off');
    expect(log).toEqual(['open', 'log: closing the engine with 1 result(s) still unanswered', 'close']);
  });

  it('switched on again while waiting for receipts, keeps sharing and forgets the wait', async () => {
    vi.useFakeTimers();
    onTestFinished(() => void vi.useRealTimers());
    const { c, log, sent } = controller({ sharing: true, magnet: '' }, 30_000);
    await c.handle({ target: 'background', kind: 'offscreen-ready' });
    await c.handle({ target: 'background', kind: 'engine-status', status: settlingStatus(1, 0) });
    await c.settingsChanged({ ...defaultSettings(), sharing: false });
    await c.handle({ target: 'background', kind: 'engine-status', status: settlingStatus(0, 1) });
    await c.settingsChanged({ ...defaultSettings(), sharing: true });
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(c.state.phase).toBe('sharing');
    expect(sent.map((m) => m.kind)).toEqual(['hold', 'release']);
    expect(log).toEqual(['open']);
  });

  it('reconfigures the engine when the magnet or CPU changes while sharing', async () => {
    const { c, sent } = controller({ sharing: true });
    await c.handle({ target: 'background', kind: 'offscreen-ready' });
    await c.settingsChanged({ ...defaultSettings(), sharing: true, cpu: 0.25 });
    expect(sent.at(-1)).toMatchObject({ kind: 'configure', config: { settings: { cpu: 0.25 } } });
  });

  it('pauses on a battery report from the offscreen document when only on AC', async () => {
    const { c, sent } = controller({ sharing: true, onlyOnAc: true });
    await c.handle({ target: 'background', kind: 'offscreen-ready' });
    await c.handle({ target: 'background', kind: 'engine-status', status: status(1, { onAc: false }) });
    const view = (await c.handle({ target: 'background', kind: 'get-status' })) as StatusView;
    expect(view).toMatchObject({ phase: 'paused', pauseReason: 'on battery power', engineHeld: true });
    expect(sent.map((m) => m.kind)).toEqual(['hold']);
  });

  it('reports a failed start', async () => {
    const { c } = controller({ sharing: true });
    await tick();
    await c.handle({ target: 'background', kind: 'engine-failed', error: 'boom' });
    expect(c.view()).toMatchObject({ phase: 'off', error: 'boom' });
  });
});

describe('popup wording', () => {
  const view = (v: Partial<StatusView>): StatusView => ({ phase: 'sharing', engineHeld: false, ...v });
  it('says the state in words', () => {
    expect(describeStatus(view({ phase: 'off' }))).toBe('Not sharing');
    expect(describeStatus(view({ engine: status(2) }))).toBe('Sharing — computing mandelbrot, 12/32 units');
    expect(describeStatus(view({ engine: { ...status(0), stage: 'waiting-for-task' } }))).toBe(
      'Sharing — waiting for a task (set a relay or a magnet)',
    );
    expect(describeStatus(view({ engine: { ...status(0), stage: 'finding-offer' } }))).toBe(
      'Sharing — looking for offers through the relay',
    );
    expect(describeStatus(view({ engine: { ...status(0), stage: 'fetching', download: 0.42 } }))).toBe('Sharing — fetching the task (42%)');
    expect(describeStatus(view({ phase: 'paused', pauseReason: 'on battery power' }))).toBe('Paused — on battery power');
    expect(describeStatus(view({ phase: 'draining', engine: status(1) }))).toBe('Stopping — finishing 1 running unit');
    expect(progressOf(view({ engine: status(0) }))).toBeCloseTo(12 / 32);
  });

  it('shows the CPU share as threads × duty cycle', () => {
    expect(describeCpu(0.5, 2)).toBe('50% of 2 cores = 1 thread × 100% busy');
    expect(describeCpu(0.25, 2)).toBe('25% of 2 cores = 1 thread × 50% busy');
    expect(describeCpu(0.75, 4)).toBe('75% of 4 cores = 3 threads × 100% busy');
  });
});

describe('the background keeps the stealth guard for the offscreen document', () => {
  it('saves a relay key, hands it back, forgets it on null, and ignores anything else', async () => {
    const { c, guard } = controller();
    expect(await c.handle({ target: 'background', kind: 'guard-load' })).toBeNull();
    const key = 'ab'.repeat(32);
    await c.handle({ target: 'background', kind: 'guard-save', id: key });
    expect(await c.handle({ target: 'background', kind: 'guard-load' })).toBe(key);
    for (const bad of ['AB'.repeat(32), 'ab', 7, { id: key }] as unknown[]) {
      await c.handle({ target: 'background', kind: 'guard-save', id: bad as string });
      expect(guard.value).toBe(key);
    }
    await c.handle({ target: 'background', kind: 'guard-save', id: null });
    expect(guard.value).toBeUndefined();
  });
});

describe('the stealth switch in words', () => {
  it('says what it needs before it can go on, and what it does once on', () => {
    expect(describeStealth({ stealth: false, relayUrl: '', magnet: '' }, [])).toMatch(/needs a relay/);
    expect(describeStealth({ stealth: true, relayUrl: '', magnet: '' }, [])).toMatch(/no relay/);
    expect(describeStealth({ stealth: true, relayUrl: 'ws://127.0.0.1:1', magnet: 'magnet:?xt=urn:btih:' + 'ab'.repeat(20) }, [])).toMatch(/clear the magnet/);
    expect(describeStealth({ stealth: true, relayUrl: 'ws://127.0.0.1:1', magnet: '' }, [])).toMatch(/onion routes of three relays/);
    // The shipped relays are enough to start from.
    expect(describeStealth({ stealth: true, relayUrl: '', magnet: '' }, ['wss://relay.example'])).toMatch(/onion routes of three relays/);
  });

  it('names stealth mode in the status while it looks for offers and computes', () => {
    const units = { assigned: 0, computed: 3, failed: 0, accepted: 0, rejected: 0, pending: 0, credits: 0, running: 0, settling: 0 };
    const engine = { stage: 'computing' as const, task: { name: 'm', units: 8, infoHash: 'ab'.repeat(20) }, download: 1, peers: 1, units, threads: 1, dutyCycle: 1, stealth: { relays: 4 } };
    expect(describeStatus({ phase: 'sharing', engine, engineHeld: false })).toBe('Sharing in stealth mode — computing m, 3/8 units');
    expect(describeStatus({ phase: 'sharing', engine: { ...engine, stage: 'finding-offer' }, engineHeld: false })).toBe(
      'Sharing in stealth mode — looking for offers with a rendezvous (4 relays in view)',
    );
  });
});
