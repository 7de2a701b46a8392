// The engine host (what the offscreen document and Firefox's background page
// run) with its parts handed in: a fake torrent client, scripted unit
// threads, and a fake engine that runs units through the pool it was given.
// Moving the CPU slider must resize that pool under the same engine, with
// no unit dropped; any other change to what the engine was built from
// starts everything afresh.

import { EventEmitter } from 'eventemitter3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EngineHost } from '../../extension/lib/engine-host.ts';
import type { EngineHostDeps, HostedEngine } from '../../extension/lib/engine-host.ts';
import type { EngineStatus, OffscreenConfig } from '../../extension/lib/messages.ts';
import { defaultSettings } from '../../extension/lib/settings.ts';
import type { Settings } from '../../extension/lib/settings.ts';
import type { Manifest } from '../../protocol/manifest.ts';
import type { UnitThread } from '../../units/pool.ts';
import type { ThreadReply } from '../../units/unit-thread.ts';
import type { WorkerEngineOptions, WorkerEvents, WorkerStats } from '../../worker/engine.ts';
import type { BrowserTorrentClient } from '../../worker/browser/webtorrent-port.ts';
import { waitFor } from '../../testnet/wait.ts';

const MAGNET = `magnet:?xt=urn:btih:${'ab'.repeat(20)}`;
const OTHER_MAGNET = `magnet:?xt=urn:btih:${'cd'.repeat(20)}`;
const SEED = '07'.repeat(32);

class FakeEngine extends EventEmitter<WorkerEvents> implements HostedEngine {
  readonly calls: string[] = [];
  readonly stats: WorkerStats = { assigned: 0, computed: 0, failed: 0, accepted: 0, rejected: 0, pending: 0, credits: 0 };
  manifest: Manifest | undefined;
  readonly infoHash = 'ab'.repeat(20);
  readonly unsettled = 0;
  readonly ready: Promise<Manifest>;
  fail: (error: Error) => void = () => {};

  constructor(
    readonly options: WorkerEngineOptions,
    readonly magnet: string,
  ) {
    super();
    this.ready = new Promise<Manifest>((_, reject) => (this.fail = reject));
    this.ready.catch(() => {});
  }

  /** Runs one unit through the pool the host gave it, as the real engine does. */
  compute(unit: number): Promise<number | string> {
    const request = { unit, input: new Uint8Array(0), memory: { minPages: 1, maxPages: 1 }, maxOutputBytes: 8 };
    return this.options.pool.run({} as WebAssembly.Module, request, 1000).then(
      (o) => o.output[0]!,
      (e: Error) => e.name,
    );
  }

  pause() {
    this.calls.push('pause');
  }
  resume() {
    this.calls.push('resume');
  }
  stop() {
    this.calls.push('stop');
  }
}

/** A unit thread whose jobs end only when the test says. */
function scriptedThread(log: string[], name: string) {
  const jobs: Array<{ unit: number; onStart: () => void; resolve: (r: ThreadReply) => void }> = [];
  const thread: UnitThread = {
    run: (job, onStart) =>
      new Promise<ThreadReply>((resolve) => {
        log.push(`${name} got ${job.request.unit}`);
        jobs.push({ unit: job.request.unit, onStart, resolve });
      }),
    terminate: () => void log.push(`${name} killed`),
  };
  const complete = (index: number) => {
    const job = jobs[index]!;
    job.onStart();
    job.resolve({ ok: true, output: Uint8Array.of(job.unit), busyMs: 10 });
  };
  return { thread, jobs, complete };
}

function fakeClient(log: string[]): BrowserTorrentClient {
  return {
    torrents: [],
    add: () => {
      throw new Error('the fake engine opens no torrent');
    },
    seed: () => {
      throw new Error('the fake engine seeds nothing');
    },
    on: () => undefined,
    destroy: () => void log.push('client destroyed'),
  };
}

function setup(deps: { openRoutes?: EngineHostDeps['openRoutes'] } = {}) {
  const log: string[] = [];
  const threads = ['a', 'b', 'c', 'd'].map((name) => scriptedThread(log, name));
  let spawned = 0;
  const engines: FakeEngine[] = [];
  const clients: BrowserTorrentClient[] = [];
  const statuses: EngineStatus[] = [];
  const warned: string[] = [];
  const host = new EngineHost({
    createClient: () => {
      const client = fakeClient(log);
      clients.push(client);
      return client;
    },
    spawnThread: () => threads[spawned++]!.thread,
    cores: 2,
    report: (status) => statuses.push(status),
    warn: (error) => warned.push(error.message),
    createEngine: (options, magnet) => {
      const engine = new FakeEngine(options, magnet);
      engines.push(engine);
      return engine;
    },
    // No shipped relays: a test reaches no network it did not start.
    relays: [],
    ...deps,
  });
  onTestFinished(() => host.stop());
  const config = (settings: Partial<Settings>, held = false): OffscreenConfig => ({
    settings: { ...defaultSettings(), magnet: MAGNET, trackerUrls: ['ws://127.0.0.1:1'], relayUrl: '', ...settings },
    seed: SEED,
    held,
  });
  return { host, log, threads, engines, clients, statuses, warned, config };
}

describe('engine host', () => {
  it('resizes the pool under the running engine when the CPU share changes, and drops no unit', async () => {
    const { host, log, threads, engines, clients, config } = setup();
    const [a, b] = threads;
    host.configure(config({ cpu: 0.5 }));
    expect(engines).toHaveLength(1);
    const engine = engines[0]!;
    expect(engine.magnet).toBe(MAGNET);
    expect(host.status()).toMatchObject({ threads: 1, dutyCycle: 1 });
    const first = [0, 1].map((u) => engine.compute(u));
    expect(log).toEqual(['a got 0', 'a got 1']);

    // Grow: the same engine and client, a second thread, and the engine asked to claim for it at once.
    host.configure(config({ cpu: 1 }));
    expect(engines).toHaveLength(1);
    expect(clients).toHaveLength(1);
    expect(engine.calls).toEqual(['resume']);
    expect(engine.options.pool.size).toBe(2);
    expect(host.status()).toMatchObject({ threads: 2, dutyCycle: 1 });
    const second = [2, 3].map((u) => engine.compute(u));
    expect(log).toEqual(['a got 0', 'a got 1', 'b got 2', 'b got 3']);

    // Shrink to one thread resting as long as it works: both hold units, so none is killed yet.
    host.configure(config({ cpu: 0.25 }));
    expect(host.status()).toMatchObject({ threads: 1, dutyCycle: 0.5 });
    expect(engine.options.pool.size).toBe(1);
    expect(log.filter((l) => l.includes('killed'))).toEqual([]);
    for (const i of [0, 1]) b!.complete(i);
    for (const i of [0, 1]) a!.complete(i);
    expect(await Promise.all([...first, ...second])).toEqual([0, 1, 2, 3]);
    expect(log.filter((l) => l.includes('killed'))).toEqual(['b killed']);
    expect(engines).toHaveLength(1);
    expect(clients).toHaveLength(1);
    expect(engine.calls).not.toContain('stop');
    expect(log).not.toContain('client destroyed');
  });

  it('keeps a held engine held through a CPU change, and releases it when the configuration says so', () => {
    const { host, engines, config } = setup();
    host.configure(config({ cpu: 0.5 }, true));
    const engine = engines[0]!;
    expect(engine.calls).toEqual(['pause']);
    host.configure(config({ cpu: 1 }, true));
    expect(engine.calls).toEqual(['pause', 'pause']);
    expect(host.status().threads).toBe(2);
    host.configure(config({ cpu: 1 }, false));
    expect(engine.calls).toEqual(['pause', 'pause', 'resume']);
    expect(engines).toHaveLength(1);
  });

  it('starts afresh when the magnet or the trackers change, dropping the old engine and its units', async () => {
    const { host, log, engines, clients, config } = setup();
    host.configure(config({ cpu: 0.5 }));
    const old = engines[0]!;
    const running = old.compute(0);
    host.configure(config({ cpu: 0.5, magnet: OTHER_MAGNET }));
    expect(engines).toHaveLength(2);
    expect(engines[1]!.magnet).toBe(OTHER_MAGNET);
    expect(clients).toHaveLength(2);
    expect(old.calls).toContain('stop');
    expect(await running).toBe('UnitCrashError');
    expect(log).toEqual(['a got 0', 'a killed', 'client destroyed']);
    host.configure(config({ cpu: 0.5, magnet: OTHER_MAGNET, trackerUrls: ['ws://127.0.0.1:2'] }));
    expect(engines).toHaveLength(3);
    expect(clients).toHaveLength(3);
  });

  it('retries a failed engine on the next configuration, even one that changes only the CPU share', async () => {
    const { host, engines, statuses, config } = setup();
    host.configure(config({ cpu: 0.5 }));
    engines[0]!.fail(new Error('the task torrent did not arrive'));
    await Promise.resolve();
    await Promise.resolve();
    expect(host.status()).toMatchObject({ stage: 'failed', error: 'the task torrent did not arrive' });
    expect(statuses.at(-1)?.stage).toBe('failed');
    host.configure(config({ cpu: 1 }));
    expect(engines).toHaveLength(2);
    expect(host.status().stage).toBe('fetching');
  });

  it('carries the engine’s latest warnings in its status', () => {
    const { host, engines, warned, config } = setup();
    host.configure(config({ cpu: 0.5 }));
    expect(host.status().warnings).toBeUndefined();
    for (let i = 0; i < 25; i++) engines[0]!.emit('warning', new Error(`peer ${i} sent nonsense`));
    const warnings = host.status().warnings!;
    expect(warnings).toHaveLength(20);
    expect(warnings[0]).toBe('peer 5 sent nonsense');
    expect(warnings.at(-1)).toBe('peer 24 sent nonsense');
    expect(warned).toHaveLength(25);
  });

  describe('in stealth mode', () => {
    it('refuses a magnet typed by hand: it names no rendezvous, so no engine starts', () => {
      const { host, engines, config } = setup({ openRoutes: () => Promise.reject(new Error('not asked')) });
      host.configure(config({ stealth: true, relayUrl: 'ws://127.0.0.1:9' }));
      expect(engines).toHaveLength(0);
      expect(host.status()).toMatchObject({ stage: 'failed', error: expect.stringMatching(/magnet/) });
    });

    it('refuses to start with no relay, set or shipped, to draw routes from', () => {
      const { host, engines, config } = setup({ openRoutes: () => Promise.reject(new Error('not asked')) });
      host.configure(config({ stealth: true, magnet: '', relayUrl: '' }));
      expect(engines).toHaveLength(0);
      expect(host.status()).toMatchObject({ stage: 'failed', error: expect.stringMatching(/needs a relay/) });
    });

    it('refuses where the platform gives it no routes', () => {
      const { host, engines, config } = setup();
      host.configure(config({ stealth: true, magnet: '', relayUrl: 'ws://127.0.0.1:9' }));
      expect(engines).toHaveLength(0);
      expect(host.status()).toMatchObject({ stage: 'failed', error: expect.stringMatching(/not available/) });
    });

    it('keeps looking while the routes do not open, warns why, and never falls back to a direct engine', async () => {
      let asked = 0;
      const { host, engines, warned, config } = setup({
        openRoutes: () => {
          asked++;
          return Promise.reject(new Error('stealth mode needs at least 3 relays with onion keys'));
        },
      });
      host.configure(config({ stealth: true, magnet: '', relayUrl: 'ws://127.0.0.1:9' }));
      await waitFor('the first try to fail', () => warned.length > 0, 5_000, 5);
      expect(asked).toBe(1);
      expect(warned[0]).toMatch(/3 relays/);
      expect(host.status().stage).toBe('finding-offer');
      expect(host.status().stealth).toBeUndefined();
      expect(engines).toHaveLength(0);
    });
  });
});
