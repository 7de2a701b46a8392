// The in-page engine transport (Firefox's background page) over a fake
// EngineHost, and the controller driving it: the host is configured with the
// controller's configuration once it has loaded, commands reach it, statuses
// come back after the call that caused them, and a close while the host
// still loads stops it as soon as it exists.

import { describe, expect, it } from 'vitest';
import { BackgroundController } from '../../extension/lib/background-controller.ts';
import { InPageTransport } from '../../extension/lib/in-page-transport.ts';
import type { PageEngineHost } from '../../extension/lib/in-page-transport.ts';
import type { EngineStatus, OffscreenConfig } from '../../extension/lib/messages.ts';
import { defaultSettings } from '../../extension/lib/settings.ts';
import type { Settings } from '../../extension/lib/settings.ts';

function status(running: number): EngineStatus {
  return {
    stage: 'computing',
    download: 1,
    peers: 1,
    units: { assigned: running, computed: 0, failed: 0, accepted: 0, rejected: 0, pending: 0, credits: 0, running, settling: 0 },
    threads: 1,
    dutyCycle: 1,
  };
}

class FakeHost implements PageEngineHost {
  calls: string[] = [];
  configs: OffscreenConfig[] = [];
  running = 1;
  constructor(private readonly report: (s: EngineStatus) => void) {}
  configure(config: OffscreenConfig) {
    this.calls.push('configure');
    this.configs.push(config);
    this.report(status(this.running));
  }
  hold() {
    this.calls.push('hold');
    this.report(status(this.running));
  }
  release() {
    this.calls.push('release');
  }
  stop() {
    this.calls.push('stop');
  }
}

function setup(settings: Partial<Settings>) {
  const hosts: FakeHost[] = [];
  let loaded: () => void = () => {};
  const gate = new Promise<void>((resolve) => (loaded = resolve));
  const transport = new InPageTransport(async (report) => {
    await gate;
    const host = new FakeHost(report);
    hosts.push(host);
    return host;
  });
  const controller = new BackgroundController({
    loadSettings: async () => ({ ...defaultSettings(), ...settings }),
    loadSeed: async () => new Uint8Array(32).fill(7),
    engine: transport,
  });
  return { hosts, loaded, transport, controller };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('in-page engine transport', () => {
  it('configures the host once it has loaded, passes statuses and commands, and stops it when drained', async () => {
    const { hosts, loaded, controller } = setup({ sharing: true, magnet: '' });
    await settle();
    expect(controller.state.phase).toBe('starting');
    loaded();
    await settle();
    const host = hosts[0]!;
    expect(host.calls).toEqual(['configure']);
    expect(host.configs[0]).toMatchObject({ seed: '07'.repeat(32), held: false });
    expect(controller.state.phase).toBe('sharing');
    expect(controller.view().engine?.units.running).toBe(1);

    await controller.settingsChanged({ ...defaultSettings(), sharing: false, magnet: '' });
    expect(controller.state.phase).toBe('draining');
    await settle();
    expect(host.calls).toEqual(['configure', 'hold']);
    // The last unit finishes: the status drains the machine, and the host is stopped.
    host.running = 0;
    host.hold();
    await settle();
    expect(controller.state.phase).toBe('off');
    expect(host.calls.at(-1)).toBe('stop');
  });

  it('stops a host that finishes loading after sharing was switched off, and ignores its statuses', async () => {
    const { hosts, loaded, controller } = setup({ sharing: true });
    await settle();
    await controller.settingsChanged({ ...defaultSettings(), sharing: false });
    expect(controller.state.phase).toBe('off');
    loaded();
    await settle();
    expect(hosts[0]!.calls).toEqual(['stop']);
    expect(controller.view().engine).toBeUndefined();
  });

  it('opens afresh after a close', async () => {
    const { hosts, loaded, transport } = setup({});
    loaded();
    const events = { ready: () => undefined, status: () => {} };
    const ready = { ...events, ready: () => ({ settings: defaultSettings(), seed: '00'.repeat(32), held: true }) };
    expect(await transport.open(ready)).toBe('created');
    expect(await transport.open(ready)).toBe('existing');
    await transport.close();
    expect(await transport.open(events)).toBe('created');
    // ready() said no: the second host is not configured; the controller closes it.
    expect(hosts.map((h) => h.calls)).toEqual([['configure', 'stop'], []]);
    await transport.close();
    expect(hosts[1]!.calls).toEqual(['stop']);
  });
});
